#!/usr/bin/env bash
# `make bench`: the system against its raw baselines (plain pgx transaction,
# plain Redis Pub/Sub round trip), side by side with ratios. Runs the real
# gateway and worker in-process against real PostgreSQL and Redis and a
# Temporal dev server of its own (headless, in-memory), stopped at exit.
# Arguments go to the benchmark: scripts/bench.sh -quick, -clients 64, -help …
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_redis
ensure_temporal_cli

export MERIDIAN_BENCH_DATABASE_URL="${MERIDIAN_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export MERIDIAN_BENCH_REDIS_URL="${MERIDIAN_BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}"
ensure_postgis "$MERIDIAN_BENCH_DATABASE_URL"
BENCH_TEMPORAL_PORT="${MERIDIAN_BENCH_TEMPORAL_PORT:-7255}"
export MERIDIAN_BENCH_TEMPORAL_ADDRESS="127.0.0.1:$BENCH_TEMPORAL_PORT"

# Part 6 (the board) loads the built board from the gateway the bench embeds
# and drives Debian's Chromium with playwright-core: build the board (before
# `go run`, so the embedded files are the fresh build) and install the driver.
bench_parts=all
bench_args=("$@")
for ((i = 0; i < ${#bench_args[@]}; i++)); do
  case "${bench_args[i]}" in
    -parts | --parts) bench_parts="${bench_args[i + 1]:-}" ;;
    -parts=* | --parts=*) bench_parts="${bench_args[i]#*=}" ;;
  esac
done
if [ "$bench_parts" = all ] || [ "$bench_parts" = board ]; then
  build_board     # services/board -> services/gateway/web/static/dist
  ensure_chromium # Debian's chromium, and playwright-core in e2e/browser
fi

mkdir -p "$ROOT/.data"
# No DB file: the dev server keeps its state in memory and loses it at exit.
start_temporal "$BENCH_TEMPORAL_PORT" none "" "$ROOT/.data/temporal-bench.log"
if [ -n "$TEMPORAL_PID" ]; then
  trap 'kill $TEMPORAL_PID 2>/dev/null; wait $TEMPORAL_PID 2>/dev/null || true' EXIT
fi

say "benchmark (PostgreSQL ${MERIDIAN_BENCH_DATABASE_URL%%\?*}, Redis $MERIDIAN_BENCH_REDIS_URL, Temporal $MERIDIAN_BENCH_TEMPORAL_ADDRESS)"
cd bench && go run ./cmd/bench "$@"
