# agentOS Jobs: every command a user needs. Only python3, make and git are assumed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 3000
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test lint bench install clean

$(STAMP): requirements.txt requirements-dev.txt
	@echo "==> installing into $(VENV) (first run only)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(PY) -m scripts.devstack --port $(PORT)

# PYTEST_ARGS: extra pytest options (.ci/run adds coverage: --cov=chalicelib).
test: $(STAMP)
	@$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# Tool settings live in pyproject.toml (ruff: pyflakes, pycodestyle, isort, pyupgrade, bugbear;
# mypy: strict on chalicelib/; import-linter: chalicelib's floors, an import may only point down).
# All three run; the target fails if any finds something.
lint: $(STAMP)
	@$(VENV)/bin/ruff check .; r=$$?; $(VENV)/bin/mypy; m=$$?; \
		$(VENV)/bin/lint-imports --no-logo --no-cache; i=$$?; test $$r -eq 0 -a $$m -eq 0 -a $$i -eq 0

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis

# --- AWS deployment (infra/, docs/operations.md) -------------------------------------
# `make package` builds build/$(STAGE)/sam.json + deployment.zip offline (no credentials:
# chalice runs with fake ones) and lints it. `make deploy` needs the AWS CLI v2, real
# credentials, ARTIFACTS_BUCKET (an S3 bucket in the region, for the code zip) and the
# SecureString parameter /agentos-jobs/$(STAGE)/api-tokens; re-running it is a no-op.
STAGE ?= dev
ARTIFACTS_BUCKET ?=
ALARM_EMAIL ?=
TOKENS_PARAM = /agentos-jobs/$(STAGE)/api-tokens
CALLBACK_PARAM = /agentos-jobs/$(STAGE)/callback-secret

.PHONY: package deploy

package: $(STAMP)
	@$(PY) -m infra.package $(STAGE)
	@$(VENV)/bin/cfn-lint build/$(STAGE)/sam.json && echo "==> build/$(STAGE)/sam.json: cfn-lint clean"

deploy: package
	@command -v aws >/dev/null || { echo "deploy: needs the AWS CLI v2 (https://aws.amazon.com/cli/)"; exit 1; }
	@test -n "$(ARTIFACTS_BUCKET)" || { echo "deploy: set ARTIFACTS_BUCKET=<S3 bucket in $(AWS_DEFAULT_REGION)>"; exit 1; }
	@aws ssm describe-parameters --parameter-filters "Key=Name,Values=$(TOKENS_PARAM)" \
		--query 'Parameters[0].Name' --output text | grep -q api-tokens || { \
		echo "deploy: create the API token parameter first (docs/operations.md, Rotate API tokens):"; \
		echo "  aws ssm put-parameter --name $(TOKENS_PARAM) --type SecureString --value \"\$$(openssl rand -hex 32)\""; \
		exit 1; }
	@aws ssm describe-parameters --parameter-filters "Key=Name,Values=$(CALLBACK_PARAM)" \
		--query 'Parameters[0].Name' --output text | grep -q callback-secret || { \
		echo "deploy: create the callback secret parameter first (docs/operations.md):"; \
		echo "  aws ssm put-parameter --name $(CALLBACK_PARAM) --type SecureString --value \"\$$(openssl rand -hex 32)\""; \
		exit 1; }
	aws cloudformation package --template-file build/$(STAGE)/sam.json --use-json \
		--s3-bucket $(ARTIFACTS_BUCKET) --s3-prefix agentos-jobs/$(STAGE) \
		--output-template-file build/$(STAGE)/packaged.json
	aws cloudformation deploy --template-file build/$(STAGE)/packaged.json \
		--stack-name agentos-jobs-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
		--no-fail-on-empty-changeset $(if $(ALARM_EMAIL),--parameter-overrides AlarmEmail=$(ALARM_EMAIL))
	@aws cloudformation describe-stacks --stack-name agentos-jobs-$(STAGE) \
		--query 'Stacks[0].Outputs[?OutputKey==`EndpointURL` || OutputKey==`DashboardUrl`]' --output table

.PHONY: bench
bench: $(STAMP)
	@$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	@$(PY) -m bench.run
