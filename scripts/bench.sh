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

mkdir -p "$ROOT/.data"
# No DB file: the dev server keeps its state in memory and loses it at exit.
start_temporal "$BENCH_TEMPORAL_PORT" none "" "$ROOT/.data/temporal-bench.log"
if [ -n "$TEMPORAL_PID" ]; then
  trap 'kill $TEMPORAL_PID 2>/dev/null; wait $TEMPORAL_PID 2>/dev/null || true' EXIT
fi

say "benchmark (PostgreSQL ${MERIDIAN_BENCH_DATABASE_URL%%\?*}, Redis $MERIDIAN_BENCH_REDIS_URL, Temporal $MERIDIAN_BENCH_TEMPORAL_ADDRESS)"
cd bench && go run ./cmd/bench "$@"
