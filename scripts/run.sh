#!/usr/bin/env bash
# `make run`: everything a newcomer needs, on one machine. Ctrl-C stops all
# that this script started; running it again is safe.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

export MERIDIAN_ENV="${MERIDIAN_ENV:-development}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/meridian?sslmode=disable}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}"
export GATEWAY_ADDR="${GATEWAY_ADDR:-127.0.0.1:8080}"
export WORKER_HTTP_ADDR="${WORKER_HTTP_ADDR:-127.0.0.1:8081}"
PAGESINK_ADDR="${PAGESINK_ADDR:-127.0.0.1:8089}"
# Short tiers so a newcomer sees the climb to the global leads in a minute.
export MERIDIAN_ESCALATION_TIER_WAIT="${MERIDIAN_ESCALATION_TIER_WAIT:-1m}"
export LOG_FORMAT="${LOG_FORMAT:-text}"

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  say "stopping"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

ensure_postgres
ensure_postgis "${DATABASE_URL%/*}/postgres"
ensure_redis
ensure_temporal_cli

mkdir -p .data bin
build_board
say "building gateway, worker and meridianctl"
(cd services/gateway && go build -o "$ROOT/bin/gateway" ./cmd/gateway)
(cd services/worker && go build -o "$ROOT/bin/worker" ./cmd/worker && go build -o "$ROOT/bin/meridianctl" ./cmd/meridianctl)

say "Temporal dev server (state in .data/temporal.db)"
start_temporal "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$ROOT/.data/temporal.db" "$ROOT/.data/temporal.log"
[ -n "$TEMPORAL_PID" ] && PIDS+=("$TEMPORAL_PID")

say "migrations and demo data"
bin/meridianctl migrate
bin/meridianctl seed

PAGESINK_SMTP_ADDR="${PAGESINK_SMTP_ADDR:-127.0.0.1:2525}"
if [ -z "${MERIDIAN_PAGER_WEBHOOK_URL:-}" ]; then
  export MERIDIAN_PAGER_WEBHOOK_URL="http://$PAGESINK_ADDR/pages"
  # Email pages go to the sink too, unless a real relay is configured.
  export MERIDIAN_SMTP_ADDR="${MERIDIAN_SMTP_ADDR:-$PAGESINK_SMTP_ADDR}"
  bin/meridianctl pagesink -addr "$PAGESINK_ADDR" -smtp "$PAGESINK_SMTP_ADDR" &
  PIDS+=($!)
fi

# The official advisory feeds and the earthquake feed: unless their URLs are
# set, the development feed server serves the project's fixtures (no
# internet needed), and the schedules read them every few minutes.
FEEDSERVER_ADDR="${FEEDSERVER_ADDR:-127.0.0.1:8090}"
if [ -z "${MERIDIAN_FEED_US_STATE_URL:-}${MERIDIAN_FEED_UK_FCDO_URL:-}${MERIDIAN_FEED_CA_URL:-}${MERIDIAN_FEED_AU_URL:-}${MERIDIAN_FEED_USGS_URL:-}" ]; then
  export MERIDIAN_FEED_US_STATE_URL="http://$FEEDSERVER_ADDR/us/TAsTWs.xml"
  export MERIDIAN_FEED_UK_FCDO_URL="http://$FEEDSERVER_ADDR/uk"
  export MERIDIAN_FEED_CA_URL="http://$FEEDSERVER_ADDR/ca/travel-voyage/index-updated.json"
  export MERIDIAN_FEED_AU_URL="http://$FEEDSERVER_ADDR/au/destinations-export"
  export MERIDIAN_FEED_USGS_URL="http://$FEEDSERVER_ADDR/usgs/2.5_day.geojson"
  export MERIDIAN_FEED_INTERVAL="${MERIDIAN_FEED_INTERVAL:-10m}"
  bin/meridianctl feedserver -addr "$FEEDSERVER_ADDR" &
  PIDS+=($!)
fi

MERIDIAN_MIGRATE=false bin/worker &
PIDS+=($!)
bin/gateway &
PIDS+=($!)

read -r ghost gport <<<"${GATEWAY_ADDR/:/ }"
wait_port "$ghost" "$gport" 30 gateway
for ((i = 0; i < 100; i++)); do
  curl -fsS "http://$GATEWAY_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

cat <<EOM

  Meridian is running.

  The board (in a browser)      http://$GATEWAY_ADDR/   (sign in: pick a demo persona)
  GraphQL (POST and WebSocket)  http://$GATEWAY_ADDR/graphql
  GraphiQL (in a browser)       http://$GATEWAY_ADDR/graphql
  Temporal UI                   http://127.0.0.1:$TEMPORAL_UI_PORT
  Feeds (development fixtures)  http://$FEEDSERVER_ADDR (advisories in a minute: try { countryRisk(country: "HT") { level rule } })
  Gateway health / metrics      http://$GATEWAY_ADDR/readyz  http://$GATEWAY_ADDR/metrics
  Worker health / metrics       http://$WORKER_HTTP_ADDR/readyz  http://$WORKER_HTTP_ADDR/metrics
  Pages (webhook, Slack, email) printed below as PAGE lines; the sink takes
                                http://$PAGESINK_ADDR/pages/{who}, http://$PAGESINK_ADDR/slack/{who}
                                and email at smtp://${MERIDIAN_SMTP_ADDR:-(none)}

  Demo tokens (valid 30 days; send as "Authorization: Bearer <token>"):

EOM
bin/meridianctl tokens | sed 's/^/  /'
cat <<EOM
  Try it:
    TOKEN=<the global lead's token above>
    curl -s http://$GATEWAY_ADDR/graphql -H "Authorization: Bearer \$TOKEN" \\
      -H 'Content-Type: application/json' -d '{"query":"{ sites(first: 3) { edges { node { id code status { level version } } } } }"}'

  Ctrl-C stops everything this command started.
EOM
wait -n "${PIDS[@]}" || true
say "a process exited; stopping the rest"
