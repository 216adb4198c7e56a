# The two commands the README starts with.
.PHONY: demo test
demo:
	scripts/demo.sh
test:
	scripts/test.sh
