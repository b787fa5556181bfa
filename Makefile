# smallext developer tasks. `make test` builds .venv from nothing, installs the project with
# everything its tests need (pinned by constraints.txt), lints, builds the documentation (strict), and runs the
# test suite. `make docs` builds the documentation site into site/.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
# Label Studio (for the review round-trip test) pins Django-era versions of packages the project also uses
# (numpy, openai, ...), so it gets a virtual environment of its own; the test drives it over HTTP.
LS_VENV  := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed

.PHONY: test lint docs install labelstudio browser demo bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -c constraints.txt -e ".[all,test,docs]"
	touch $(STAMP)

install: $(STAMP)

$(LS_STAMP):
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet "label-studio==1.23.2"
	touch $(LS_STAMP)

labelstudio: $(LS_STAMP)

# Debian's chromium, for the examples page's check in a real headless browser (tests/test_visualize.py): installed
# with apt-get when /usr/bin/chromium is missing (as root; otherwise it says what to run).
browser:
	@test -x /usr/bin/chromium || { \
	  test "$$(id -u)" = 0 || { echo "chromium is missing: run 'sudo apt-get install -y --no-install-recommends chromium' (Debian)" >&2; exit 1; }; \
	  apt-get install -y --no-install-recommends chromium || { apt-get update && apt-get install -y --no-install-recommends chromium; }; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# The site (mkdocs.yml, docs/) with --strict: a broken link, a missing page or a docstring that does not render
# fails. NO_MKDOCS_2_WARNING silences Material's banner about MkDocs 2.0 and its own end of life (see its notes).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint docs labelstudio browser
	SMALLEXT_REQUIRE_LABEL_STUDIO=1 SMALLEXT_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/smallext models install qwen2.5-coder-1.5b
	$(BIN)/smallext distill examples/crossner-ai.yaml

clean:
	rm -rf $(VENV) $(LS_VENV) build dist site *.egg-info src/*.egg-info
