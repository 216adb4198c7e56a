# The two commands the README starts with. Go lives at /usr/local/go on the
# project's machines, which a fresh shell may not have on its PATH.
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: demo test
demo:
	sh examples/demo/run.sh
test:
	scripts/test.sh
