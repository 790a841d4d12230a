# Every install goes through constraints-3.X.txt for the Python that runs it: the exact set this project is
# tested with on that Python (Airflow's own install method: pip with constraints, one file per Python).
# scripts/update-constraints regenerates them all.
PYTHON ?= python3.11
SUPPORTED := $(sort $(patsubst constraints-%.txt,%,$(wildcard constraints-3.*.txt)))
# "<path> <X.Y>" of $(PYTHON), empty when it does not run.
PYTHON_INFO := $(shell scripts/find-python $(PYTHON))
PYTHON_EXE := $(word 1,$(PYTHON_INFO))
PYTHON_VERSION := $(word 2,$(PYTHON_INFO))
# One venv per Python: .venv for 3.11 (the default, the one the docs name), .venv-3.X for the others.
VENV := $(if $(filter 3.11,$(PYTHON_VERSION)),.venv,.venv-$(PYTHON_VERSION))
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := constraints-$(PYTHON_VERSION).txt
STAMP := $(VENV)/.installed-$(shell cat $(CONSTRAINTS) pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
# TESTS=fast: every test but tests/system (the example Dags run through dag.test() and the Airflow CLI);
# anything else is passed to pytest as it is (paths, -k ...).
TESTS ?=
TEST_SELECTION := $(if $(filter fast,$(TESTS)),--ignore=tests/system $(filter-out fast,$(TESTS)),$(TESTS))

.PHONY: install test demo bench docs system-test constraints clean

install: $(STAMP)

$(STAMP): $(wildcard $(CONSTRAINTS)) pyproject.toml
	@test -n "$(PYTHON_EXE)" || { echo "make: $(PYTHON) not found or does not run. Install one of Python \
	$(SUPPORTED), or name it: make PYTHON=/path/to/python3.X"; exit 1; }
	@test -f "$(CONSTRAINTS)" || { echo "make: $(PYTHON) is Python $(PYTHON_VERSION), which is not tested (no \
	$(CONSTRAINTS)). Use one of Python $(SUPPORTED), e.g. make PYTHON=python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON_EXE) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24" --constraint $(CONSTRAINTS)
	$(PIP) install --quiet --constraint $(CONSTRAINTS) -e ".[test,s3]"
	rm -f $(VENV)/.installed-*
	touch $@

test: install
	$(PY) -m pytest -q -p no:cacheprovider $(TEST_SELECTION)

demo: install
	$(PY) -m demo

bench: install
	$(PY) -m benchmarks

# Refresh the code blocks docs/*.md include from example_dags/ (scripts/markdown_docs.py; standard library only).
docs:
	$(PYTHON) scripts/markdown_docs.py

# The production-shaped system test (tests/deployment/, pytest -m deployment): PostgreSQL, Redis, Chromium
# from Debian (installed only when missing), the Celery provider, the Postgres drivers and Playwright from
# PyPI (the system-test extra, through the constraints). PYTEST_ARGS='-k scenario_2' picks scenarios;
# KEEP=1 keeps the temporary directory. Exit 5 (pytest: no test selected) fails the target too.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_TEST_LOG := -o log_cli=true --log-cli-level=INFO --log-cli-format='%(asctime)s %(message)s' \
	--log-cli-date-format=%H:%M:%S

system-test: install
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "system-test: apt-get install$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq$$missing >/dev/null || exit 1; \
	fi
	@$(PY) -c "import airflow.providers.celery, psycopg2, asyncpg, playwright" 2>/dev/null || \
		$(PIP) install --quiet --constraint $(CONSTRAINTS) -e ".[test,s3,system-test]"
	$(PY) -m pytest -p no:cacheprovider -m deployment $(SYSTEM_TEST_LOG) tests/deployment $(PYTEST_ARGS) || \
		{ status=$$?; [ $$status -ne 5 ] || echo "system-test: no deployment test was selected"; exit $$status; }

# Re-resolve and freeze every constraints-3.X.txt, each on its own Python (after adding a dependency or an
# extra); the script itself needs Python 3.11 or newer.
constraints:
	$(PYTHON_EXE) scripts/update-constraints

clean:
	rm -rf .venv .venv-3.* .demo

# Airflow's lint and type gate, then the release check: ruff check (Airflow's rules, see pyproject.toml), ruff
# format --check, mypy, and scripts/check_dist.py (build the sdist and the wheel, twine check, their files,
# entry points and metadata). Every step runs; the target fails if any failed. The tools are the lint extra,
# installed through the constraints. .pre-commit-config.yaml runs the same tools from .venv.
LINT_STAMP := $(VENV)/.lint-installed-$(shell cat $(CONSTRAINTS) pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: lint dist-check

lint: $(LINT_STAMP)
	@status=0; \
	echo "== ruff check"; $(PY) -m ruff check . || status=1; \
	echo "== ruff format --check"; $(PY) -m ruff format --check . || status=1; \
	echo "== mypy"; $(PY) -m mypy || status=1; \
	echo "== scripts/check_dist.py"; $(PY) scripts/check_dist.py || status=1; \
	exit $$status

# The wheel installed into a fresh venv through the constraints, as a user installs it: Airflow finds the
# provider and its connection type, every module imports, asana-emulator runs. A minute or two (a fresh
# Airflow install), so not part of lint; .ci/run runs it.
dist-check: $(LINT_STAMP)
	$(PY) scripts/check_dist.py --install --constraints $(CONSTRAINTS)

$(LINT_STAMP): $(STAMP)
	$(PIP) install --quiet --constraint $(CONSTRAINTS) -e ".[test,s3,lint]"
	rm -f $(VENV)/.lint-installed-*
	touch $@
