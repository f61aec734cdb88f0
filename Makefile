# EcomFlow: the two commands are `make demo` and `make test`; everything else is reached from them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONHASHSEED := 0

.PHONY: setup os-deps jvm-archive iceberg-jars demo test test-glue bench clean

$(STAMP): setup.py requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (AWS Glue 5.1 runs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==24.3.1
	$(BIN)/pip install -q -r requirements.lock  # the pinned `[local,test,dev]` set of setup.py
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

## The local Spark driver's class archive (a faster JVM start; lib/ecomflow/local/jvm_archive.py).
## An optimisation only: setup goes on without it.
jvm-archive: $(STAMP) iceberg-jars
	@$(BIN)/ecomflow --log-level WARNING jvm-archive || echo "warning: no JVM class archive (local Spark starts slower)"

## The local Apache Iceberg runtime for Spark 3.5 (docs/iceberg-local.md): PyPI's jar plus pyspark's
## Jackson relocated by jarjar, in ${ECOMFLOW_CACHE:-~/.cache/ecomflow}/iceberg/. Unlike the archive,
## required: a failure stops setup (the lake needs it). Does nothing when already built.
iceberg-jars: $(STAMP)
	$(BIN)/python scripts/build_iceberg_jars.py

os-deps:
	bash scripts/install-os-deps.sh

setup: os-deps $(STAMP) iceberg-jars jvm-archive

## The main command: the whole pipeline on the embedded local stack (no AWS account).
demo: setup
	$(BIN)/ecomflow demo

## The test command (CI runs exactly this): the house rules (import contracts, lint, types), then the suite.
LINTED := lib tests bench jobs lambdas scripts cloudformation setup.py
test: setup
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy
	$(BIN)/pytest

## The same suite inside the AWS Glue 5 container, where the real GlueContext exists.
## Docker is not available on the project's build machines: this target follows the image's
## documentation and has not been run here.
GLUE_IMAGE ?= public.ecr.aws/glue/aws-glue-libs:5
test-glue:
	docker run --rm -v "$(CURDIR)":/home/hadoop/workspace -w /home/hadoop/workspace \
	  -e AWS_REGION=us-east-1 -e ECOMFLOW_RUNTIME=glue -e ECOMFLOW_IN_GLUE_CONTAINER=1 \
	  --entrypoint bash $(GLUE_IMAGE) -c \
	  "pip3 install -q -e . 'chispa==0.12.0' 'pytest==9.2.0' 'pytest-timeout==2.4.0' && python3 -m pytest -m 'not integration'"

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf .state build dist lib/*.egg-info

## ---- Deploy to AWS (README, "Deploy to AWS") -------------------------------------------------
## `make package` builds dist/ (wheel, job scripts, Lambda zips, templates with the Athena named
## queries rendered from lib/ecomflow/sql/athena); `make deploy STAGE=dev [ALERT_EMAIL=...]
## [DEPLOY_PARAMS="Key=Value ..."]` deploys the bootstrap stack, uploads the code and deploys the suite.
.PHONY: package deploy outputs
STAGE ?= dev
STACK ?= ecomflow-$(STAGE)
BOOTSTRAP_STACK ?= $(STACK)-bootstrap
AWS ?= aws
ALERT_EMAIL ?=
DEPLOY_PARAMS ?=
AWS_REGION_ARG = $(if $(AWS_REGION),--region $(AWS_REGION))

package: $(STAMP)
	$(BIN)/python cloudformation/build.py all --dist dist

deploy: package
	@command -v $(AWS) >/dev/null 2>&1 || { echo "deploy: needs the AWS CLI with credentials for the target account"; exit 1; }
	$(BIN)/python cloudformation/build.py check --dist dist
	$(AWS) $(AWS_REGION_ARG) cloudformation deploy --stack-name $(BOOTSTRAP_STACK) \
	  --template-file cloudformation/bootstrap.yaml --parameter-overrides Stage=$(STAGE) --no-fail-on-empty-changeset
	set -euo pipefail; \
	out() { $(AWS) $(AWS_REGION_ARG) cloudformation describe-stacks --stack-name $(BOOTSTRAP_STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	bucket=$$(out ArtifactBucketName); logs=$$(out AccessLogBucketName); \
	prefix=$$(cat dist/ARTIFACT_PREFIX); wheel=$$(cat dist/WHEEL); \
	$(AWS) $(AWS_REGION_ARG) s3 sync dist/artifacts "s3://$$bucket/$$prefix/" --only-show-errors; \
	$(AWS) $(AWS_REGION_ARG) cloudformation package --template-file dist/cloudformation/main.yaml \
	  --s3-bucket "$$bucket" --s3-prefix "$$prefix/templates" --output-template-file dist/packaged.yaml; \
	$(AWS) $(AWS_REGION_ARG) cloudformation deploy --stack-name $(STACK) --template-file dist/packaged.yaml \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
	  --tags project=ecomflow stage=$(STAGE) \
	  --parameter-overrides Stage=$(STAGE) ArtifactBucket="$$bucket" ArtifactPrefix="$$prefix" \
	    WheelFile="$$wheel" AccessLogBucket="$$logs" $(if $(ALERT_EMAIL),AlertEmail=$(ALERT_EMAIL)) $(DEPLOY_PARAMS)
	$(BIN)/ecomflow warehouse setup --stack $(STACK)  # as the admin: migrations, users' passwords, usage limit
	$(MAKE) --no-print-directory outputs STAGE=$(STAGE)

outputs:
	$(AWS) $(AWS_REGION_ARG) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output table
