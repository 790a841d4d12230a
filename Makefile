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
	$(PY) -m airflow_provider_asana.emulator.demo

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .demo
