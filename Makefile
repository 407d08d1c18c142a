# The two commands of the README: `make run` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := chromium fonts-ipaexfont-gothic libharfbuzz-subset0 poppler-utils
TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/postgres
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the app is reached: printed with the demo logins and used in mail links.
BASE_URL ?= http://$(HOST):$(PORT)

# The Japanese catalogue: the .po is committed, the .mo the app reads is compiled from it here.
CATALOGUE := app/locales/ja/LC_MESSAGES/messages

.PHONY: run test test-postgres lint setup system-packages python-packages frontend-packages translations messages

# Migrate, load the demo once (a second run changes nothing), print the URL and the demo
# logins, then serve until Ctrl-C. `make run PORT=8765` serves elsewhere.
run: setup
	$(BIN)/kippu migrate
	BASE_URL=$(BASE_URL) $(BIN)/kippu seed-demo
	BASE_URL=$(BASE_URL) exec $(BIN)/kippu serve --host $(HOST) --port $(PORT)

# One pytest-xdist worker per core; a test file stays on one worker (its module fixtures are built once).
PYTEST := $(BIN)/pytest -n auto --dist loadfile

test: setup lint
	$(PYTEST)

test-postgres: setup lint
	KIPPU_TEST_POSTGRES=$(TEST_POSTGRES) $(PYTEST)

# The import contracts of pyproject.toml ([tool.importlinter]): the layers app -> billing -> pricing,
# no cycles, what the app's packages may import. Fails the test command on any breach.
lint: python-packages
	$(BIN)/lint-imports --no-cache --no-logo

setup: system-packages python-packages frontend-packages translations

# Fonts for Japanese PDFs, HarfBuzz subsetting, the browser for the page tests, a PDF reader.
# Installed when this machine has apt and we may use it; otherwise the app says what is missing.
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing system packages: $$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || echo "warning: could not install $$missing (install them by hand)"; \
	fi

python-packages: $(BIN)/.installed

$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

translations: $(CATALOGUE).mo

# Untranslated and fuzzy entries are left out: the app shows their English and logs it.
$(CATALOGUE).mo: $(CATALOGUE).po $(BIN)/.installed
	$(BIN)/pybabel compile -l ja -i $< -o $@

# After changing marked English text in code or templates: extract it again into messages.pot and
# merge that into the Japanese catalogue. New text arrives untranslated (or fuzzy, with a guess);
# tests/unit/test_translations.py names every such entry until it is translated. Text no longer
# used leaves the catalogue. One line per entry and file names without line numbers, so that
# branches merge without conflicts from moved lines.
messages: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg -o messages.pot --project=Kippu --sort-output --no-wrap \
	  --add-location=file --add-comments=Translators: --ignore-dirs='.* ._ node_modules var' \
	  --header-comment='# The English text Kippu marks for translation, as `make messages` extracts it.' .
	$(BIN)/pybabel update -i messages.pot -o $(CATALOGUE).po -l ja --no-wrap --ignore-obsolete

frontend-packages: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Regenerate the lock after changing dependencies in pyproject.toml (needs `pip install uv`).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes -p 3.11 -q -o requirements.lock
