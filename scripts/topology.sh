#!/usr/bin/env bash
# The production topology on one machine: PostgreSQL, N service replicas, nginx in front.
#   scripts/topology.sh start|stop|status|kill N
#
#   start   PostgreSQL (scripts/postgres.sh, unless PM_DATABASE_URL names a database already), then replicas 1..N
#           (PM_REPLICAS, default 2), each `matcher serve` with its own data folder var/topology/replica-N and
#           port PM_REPLICA_PORT+N-1 (default 8001...), one after the other so that the second and later ones read
#           the first one's vectors from the shared embedding cache instead of embedding again; then the proxy
#           (scripts/proxy.sh) on PM_PROXY_PORT (default 8080) in front of them. Prints the proxy's URL on stdout
#           once every replica answers /readyz.
#           PM_TOPOLOGY_PARALLEL=1 starts every replica at once (quicker on a small corpus or a warm database).
#   stop    Stops the proxy and the replicas, and PostgreSQL when this script started it.
#   status  One line per replica: number, port, pid, /readyz status.
#   kill N  SIGKILL replica N (master and workers): what a crashed host looks like to the proxy.
#
# Replicas run with PM_TRUSTED_PROXIES=1 (client addresses from the proxy's X-Forwarded-For) and with gunicorn's
# header-count limit raised (GUNICORN_CMD_ARGS): the proxy bounds the headers (8 KiB each, 32 KiB in all) and
# answers over-long ones with JSON. Other PM_* settings (PM_MODEL, PM_API_KEYS, PM_WORKERS: workers per
# replica, default 1) pass through. PYTHON names the interpreter (default .venv/bin/python). Logs:
# var/topology/replica-N.log. The PostgreSQL server of scripts/postgres.sh is a throwaway (fsync off): for real
# data, set PM_DATABASE_URL to a real server.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${PM_TOPOLOGY_DIR:-$REPO/var/topology}"
REPLICAS="${PM_REPLICAS:-2}"
BASE_PORT="${PM_REPLICA_PORT:-8001}"
PROXY_PORT="${PM_PROXY_PORT:-8080}"
WORKERS="${PM_WORKERS:-1}"
TIMEOUT="${PM_TOPOLOGY_TIMEOUT:-900}"  # seconds a replica may take to be ready (a cold build of a big corpus)
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"

say() { echo "topology.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

replica_pid() { cat "$DIR/replica-$1.pid" 2>/dev/null || true; }
alive() { local pid; pid="$(replica_pid "$1")"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
readyz() {  # the HTTP status of /readyz on a port ("000" when nothing answers)
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/readyz" || true
}

start_replica() {  # start_replica N DATABASE_URL
    local n="$1" port=$((BASE_PORT + $1 - 1)) started
    if alive "$n"; then
        say "replica $n already running (pid $(replica_pid "$n"), port $port)"
        return 0
    fi
    mkdir -p "$DIR/replica-$n"
    started="$(date +%s.%N)"
    # setsid: the replica is its own process group, so `kill N` and `stop` reach gunicorn's workers too.
    PM_DATA_DIR="$DIR/replica-$n" PM_DATABASE_URL="$2" PM_TRUSTED_PROXIES=1 \
        GUNICORN_CMD_ARGS="--limit-request-fields 32768 --limit-request-field_size 16384" \
        setsid "$PYTHON" -m matcher.cli serve --host 127.0.0.1 --port "$port" --workers "$WORKERS" \
        >>"$DIR/replica-$n.log" 2>&1 </dev/null &
    echo $! >"$DIR/replica-$n.pid"
    local deadline=$((SECONDS + TIMEOUT))
    until [ "$(readyz "$port")" = 200 ]; do
        alive "$n" || { tail -n 30 "$DIR/replica-$n.log" >&2; die "replica $n exited before it was ready (log above)"; }
        [ "$SECONDS" -lt "$deadline" ] || die "replica $n was not ready within ${TIMEOUT}s (see $DIR/replica-$n.log)"
        sleep 0.2
    done
    say "replica $n ready on 127.0.0.1:$port (pid $(replica_pid "$n")) in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
}

wait_all() {  # wait for every background job; fail if any did
    local job failed=0
    for job in $(jobs -p); do
        wait "$job" || failed=1
    done
    [ "$failed" = 0 ] || die "a replica did not start (see above)"
}

start() {
    [ -x "$PYTHON" ] || die "no Python at $PYTHON: run make install, or set PYTHON"
    mkdir -p "$DIR"
    local url="${PM_DATABASE_URL:-}"
    if [ -z "$url" ]; then
        "$REPO/scripts/postgres.sh" url >/dev/null 2>&1 || touch "$DIR/started-postgres"  # stop stops only ours
        url="$("$REPO/scripts/postgres.sh" start)"
    fi
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    local upstreams="" n
    if [ "${PM_TOPOLOGY_PARALLEL:-0}" = 1 ]; then  # all at once: safe, but each cold one embeds for itself
        for n in $(seq "$REPLICAS"); do
            start_replica "$n" "$url" &
        done
        wait_all
    else
        for n in $(seq "$REPLICAS"); do
            start_replica "$n" "$url"
        done
    fi
    for n in $(seq "$REPLICAS"); do
        upstreams+="${upstreams:+,}127.0.0.1:$((BASE_PORT + n - 1))"
    done
    echo "$REPLICAS $BASE_PORT" >"$DIR/replicas"
    PM_PROXY_PORT="$PROXY_PORT" PM_PROXY_UPSTREAMS="$upstreams" PM_PROXY_DIR="$DIR/proxy" "$REPO/scripts/proxy.sh" start
}

stop_replica() {
    local n="$1" pid
    pid="$(replica_pid "$n")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
        say "replica $n stopped (pid $pid)"
    fi
    rm -f "$DIR/replica-$n.pid"
}

stop() {
    PM_PROXY_DIR="$DIR/proxy" PM_PROXY_PORT="$PROXY_PORT" "$REPO/scripts/proxy.sh" stop
    local f n
    for f in "$DIR"/replica-*.pid; do
        [ -e "$f" ] || continue
        n="${f##*/replica-}"
        stop_replica "${n%.pid}"
    done
    if [ -e "$DIR/started-postgres" ]; then
        "$REPO/scripts/postgres.sh" stop
        rm -f "$DIR/started-postgres"
    fi
}

status() {
    local n count base
    read -r count base <"$DIR/replicas" 2>/dev/null || { count="$REPLICAS"; base="$BASE_PORT"; }
    for n in $(seq "$count"); do
        local port=$((base + n - 1))
        echo "replica $n port $port pid $(replica_pid "$n" || true) readyz $(readyz "$port")"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    kill)
        [ -n "${2:-}" ] || die "usage: $0 kill N"
        pid="$(replica_pid "$2")"
        [ -n "$pid" ] || die "no replica $2 running"
        kill -KILL -- "-$pid"
        say "replica $2 killed (SIGKILL to process group $pid)"
        ;;
    *)
        echo "usage: $0 start|stop|status|kill N   (PM_REPLICAS, PM_REPLICA_PORT, PM_PROXY_PORT, PM_DATABASE_URL, PYTHON)" >&2
        exit 2
        ;;
esac
