# The two commands of the README. Everything else lives in scripts/.
.PHONY: dev test build

## Run the local stack with demo data on 127.0.0.1:$${PORT:-3000}.
dev:
	@scripts/dev.sh

## Run every check: fmt, clippy, cfn-lint, unit and integration tests against moto, the arm64 build.
test:
	@scripts/test.sh

## Build every function for Lambda (arm64).
build:
	@bash -c 'source scripts/env.sh && ensure_venv && build_lambdas'
