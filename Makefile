# smallext developer tasks. `make test` builds .venv from nothing, installs the project with
# everything its tests need (pinned by constraints.txt), lints, and runs the test suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed

.PHONY: test lint install demo bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/smallext models install qwen2.5-coder-1.5b
	$(BIN)/smallext distill examples/crossner-ai.yaml

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info
