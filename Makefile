# Meridian — see README.md. Every target works on a fresh machine with Go.
SHELL := /bin/bash

.PHONY: run test bench lint tokens migrate fmt tools board

run: ## bring up everything and print URLs and demo tokens
	@scripts/run.sh

test: ## the whole suite, against real PostgreSQL, Redis and Temporal
	@scripts/test.sh

bench: ## system vs raw baselines, side by side with ratios
	@scripts/bench.sh

board: ## build the board and GraphiQL (Node.js 20+, npm ci) for the gateway to embed
	@source scripts/lib.sh && build_board

tokens: ## print a demo token per persona
	@cd services/worker && go run ./cmd/meridianctl tokens

migrate: ## apply migrations to DATABASE_URL
	@cd services/worker && go run ./cmd/meridianctl migrate

fmt: ## gofmt every module go.work lists
	@source scripts/lib.sh && gofmt -w $$(go_modules)

lint: ## gofmt, go vet, staticcheck and workflowcheck
	@scripts/lint.sh

tools: ## build the Temporal CLI dev server into .tools/bin
	@source scripts/lib.sh && ensure_temporal_cli
