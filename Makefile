# The two commands the README starts with.
.PHONY: demo test
demo:
	sh examples/demo/run.sh
test:
	scripts/test.sh
