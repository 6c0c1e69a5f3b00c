#!/usr/bin/env bash
# `make lint`: gofmt, go vet, staticcheck on every module, workflowcheck on the
# workflows. The linters are built from the pinned tools module on first use.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
mapfile -t MODULES < <(go_modules)
[ ${#MODULES[@]} -gt 0 ] || die "go.work lists no modules (is go on PATH?)"

build_lint_tool() { # name package
  [ -x "$TOOLS_BIN/$1" ] && return 0
  say "building $1"
  mkdir -p "$TOOLS_BIN"
  (cd scripts/tools/lint && GOWORK=off GOFLAGS=-mod=mod go build -o "$TOOLS_BIN/$1" "$2")
}
build_lint_tool staticcheck honnef.co/go/tools/cmd/staticcheck
build_lint_tool workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck

status=0
say "gofmt"
unformatted=$(gofmt -l "${MODULES[@]}")
[ -z "$unformatted" ] || { echo "$unformatted"; status=1; }
for m in "${MODULES[@]}"; do
  say "go vet + staticcheck: $m"
  (cd "$m" && go vet ./... && "$TOOLS_BIN/staticcheck" ./...) || status=1
done
say "workflowcheck: workflows"
(cd workflows && "$TOOLS_BIN/workflowcheck" ./...) || status=1
[ $status = 0 ] && say "lint clean" || say "lint FAILED"
exit $status
