#!/usr/bin/env bash
# `make test`: the whole suite across every module, against real PostgreSQL,
# Redis and a Temporal dev server, starting whatever is not already running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

mapfile -t MODULES < <(go_modules)
[ ${#MODULES[@]} -gt 0 ] || die "go.work lists no modules (is go on PATH?)"

ensure_postgres
ensure_redis
ensure_temporal_cli

export MERIDIAN_TEST_DATABASE_URL="${MERIDIAN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
ensure_postgis "$MERIDIAN_TEST_DATABASE_URL"
export MERIDIAN_TEST_REDIS_URL="${MERIDIAN_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
TEST_TEMPORAL_PORT="${MERIDIAN_TEST_TEMPORAL_PORT:-7244}"
export MERIDIAN_TEST_TEMPORAL_ADDRESS="${MERIDIAN_TEST_TEMPORAL_ADDRESS:-127.0.0.1:$TEST_TEMPORAL_PORT}"

mkdir -p "$ROOT/.data"
if [ "$MERIDIAN_TEST_TEMPORAL_ADDRESS" = "127.0.0.1:$TEST_TEMPORAL_PORT" ]; then
  start_temporal "$TEST_TEMPORAL_PORT" none "" "$ROOT/.data/temporal-test.log"
  [ -n "$TEMPORAL_PID" ] && trap 'kill $TEMPORAL_PID 2>/dev/null; wait $TEMPORAL_PID 2>/dev/null || true' EXIT
fi

# The reference GraphQL-over-WebSocket client (the graphql-ws npm package)
# the end-to-end test drives against the gateway.
if [ -f e2e/graphql-ws-client/package.json ]; then
  command -v npm >/dev/null || apt_install nodejs npm
  (cd e2e/graphql-ws-client && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The board's browser test drives Debian's chromium through playwright-core
# (never a downloaded browser) against a gateway that embeds the built
# board, so the board is built before the Go tests compile the gateway.
ensure_chromium
build_board

say "go vet"
for m in "${MODULES[@]}"; do (cd "$m" && go vet ./...); done

say "go test (PostgreSQL ${MERIDIAN_TEST_DATABASE_URL%%\?*}, Redis $MERIDIAN_TEST_REDIS_URL, Temporal $MERIDIAN_TEST_TEMPORAL_ADDRESS)"
status=0
for m in "${MODULES[@]}"; do
  (cd "$m" && go test -count=1 -timeout 10m ${GOTESTFLAGS:-} ./...) || status=1
done
[ $status = 0 ] && say "all tests passed" || say "some tests FAILED"
exit $status
