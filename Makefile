# Every install goes through constraints-3.11.txt: the exact set this project is tested with
# (Airflow's own install method: pip with constraints).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := constraints-3.11.txt
STAMP := $(VENV)/.installed-$(shell cat $(CONSTRAINTS) pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install test demo bench system-test clean

install: $(STAMP)

$(STAMP): $(CONSTRAINTS) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24" --constraint $(CONSTRAINTS)
	$(PIP) install --quiet --constraint $(CONSTRAINTS) -e ".[test,s3]"
	rm -f $(VENV)/.installed-*
	touch $@

test: install
	$(PY) -m pytest -q -p no:cacheprovider

demo: install
	$(PY) -m demo

bench: install
	$(PY) -m benchmarks

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

clean:
	rm -rf $(VENV) .demo
