# `make all` is exactly what CI runs.
.PHONY: all test serve
all test:
	bash scripts/test
serve:
	python3 -m pip install -e . && stagehook serve
