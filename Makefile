# agentOS Jobs: every command a user needs. Only python3, make and git are assumed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 3000
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test bench install clean

$(STAMP): requirements.txt requirements-dev.txt
	@echo "==> installing into $(VENV) (first run only)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(PY) -m scripts.localstack --port $(PORT)

test: $(STAMP)
	@$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis
