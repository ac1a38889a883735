#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite.   scripts/postgres.sh start|stop|url
#
#   start  Installs Debian's postgresql package if no server is installed, creates a cluster under var/pg/ the
#          first time, starts it on 127.0.0.1:$PM_PG_PORT (default 54329), creates the database
#          partner_matcher_test and prints its SQLAlchemy URL on stdout. Already running: prints the URL at once.
#   stop   Stops this checkout's cluster; nothing to do when it is not running.
#   url    Prints the URL when the server answers; fails (and says how to start it) otherwise.
#
# Only the URL goes to stdout, so `url=$(scripts/postgres.sh start)` captures it; progress goes to stderr.
# The cluster trusts every connection from 127.0.0.1 and runs with fsync off: test data only, never real data.
# `make clean` deletes var/; stop the server first (scripts/postgres.sh stop).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PM_PG_PORT:-54329}"
DB=partner_matcher_test
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/${DB}"
# A custom setting written into every cluster this script creates: a server on our port that has it is one of
# ours (this checkout's, or another checkout's) and can be shared; any other server there is left alone.
MARK_SETTING=partner_matcher.cluster
MARK_VALUE=test-server

say() { echo "postgres.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user the package creates.
OWNER="$(id -un)"
is_root && OWNER=postgres

as_owner() {
    if ! is_root; then
        "$@"
    elif command -v runuser >/dev/null; then
        (cd / && runuser -u "$OWNER" -- "$@")  # cd /: the owner may not be allowed into the caller's directory
    else
        (cd / && su -s /bin/bash "$OWNER" -c "$(printf '%q ' "$@")")
    fi
}

# ---------------------------------------------------------------------------------------------- server binaries
newest_bin_dir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] && dirname "$found"
}

install_server() {
    command -v apt-get >/dev/null ||
        die "no PostgreSQL server under /usr/lib/postgresql/*/bin and no apt-get to install one: install the" \
            "PostgreSQL server (Debian/Ubuntu: apt-get install postgresql) and run this again"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null ||
            die "PostgreSQL is not installed and installing it needs root: run 'apt-get install postgresql' as root"
        sudo=(sudo)
    fi
    local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
                   postgresql)
    local t0; t0="$(now)"
    say "no PostgreSQL server installed: installing Debian's postgresql package with apt-get"
    if ! "${install[@]}" >&2; then
        say "apt-get install failed; refreshing the package lists (apt-get update) and trying once more"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
            die "apt-get update failed (see above): check the network and the apt sources"
        "${install[@]}" >&2 || die "apt-get could not install postgresql (see above)"
    fi
    say "installed PostgreSQL in $(since "$t0")s"
}

BIN="$(newest_bin_dir || true)"
if [ -z "$BIN" ] && [ "${1:-}" = start ]; then
    install_server
    BIN="$(newest_bin_dir || true)"
    [ -n "$BIN" ] || die "apt-get installed postgresql, but there is still no /usr/lib/postgresql/*/bin/pg_ctl"
fi
if is_root && ! id -u "$OWNER" >/dev/null 2>&1; then
    die "running as root, but there is no '$OWNER' user to own the cluster (PostgreSQL refuses to run as root):" \
        "create one (useradd --system --user-group postgres) or run this script as a normal user"
fi

# ---------------------------------------------------------------------------------------------- where the data lives
# var/pg/ in the checkout. When the cluster's owner cannot reach it (a checkout under /root, say), a directory
# under /tmp named after the checkout is used instead, so that start and stop always agree on it.
PRIMARY_ROOT="$REPO/var/pg"
FALLBACK_ROOT="${TMPDIR:-/tmp}/partner-matcher-pg-$(printf '%s' "$REPO" | cksum | cut -d ' ' -f 1)"

existing_root() {  # the root holding this checkout's cluster, if it has one
    local root
    for root in "$PRIMARY_ROOT" "$FALLBACK_ROOT"; do
        [ -f "$root/data/PG_VERSION" ] && { echo "$root"; return 0; }
    done
    return 1
}

prepare_root() {  # create (if needed) and print a root directory the owner can write to
    local root
    for root in "$PRIMARY_ROOT" "$FALLBACK_ROOT"; do
        mkdir -p "$root"
        is_root && chown "$OWNER": "$root"
        if as_owner test -w "$root" -a -x "$root"; then
            [ "$root" = "$PRIMARY_ROOT" ] || say "the $OWNER user cannot reach $PRIMARY_ROOT; using $root instead"
            echo "$root"
            return 0
        fi
    done
    die "the $OWNER user can write neither to $PRIMARY_ROOT nor to $FALLBACK_ROOT"
}

# ---------------------------------------------------------------------------------------------- the running server
psql_at() {  # psql_at DATABASE SQL: one value, over TCP (the cluster has no Unix socket)
    "$BIN/psql" -X -A -t -q -h 127.0.0.1 -p "$PORT" -U postgres -d "$1" -c "$2"
}

answers() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 3; }

is_ours() { [ "$(psql_at postgres "SELECT current_setting('$MARK_SETTING', true)" 2>/dev/null)" = "$MARK_VALUE" ]; }

ensure_database() {
    if [ "$(psql_at postgres "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
        "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2
        say "created database $DB"
    fi
}

init_cluster() {  # init_cluster ROOT
    local data="$1/data" version t0
    version="$(basename "$(dirname "$BIN")")"
    if [ -f "$data/PG_VERSION" ]; then
        [ "$(cat "$data/PG_VERSION")" = "$version" ] && return 0
        say "the cluster in $data was made by PostgreSQL $(cat "$data/PG_VERSION"), the server is $version:" \
            "recreating it (it only ever holds test data)"
    fi
    rm -rf "$data"  # a half-made or outdated throwaway cluster
    t0="$(now)"
    local out
    out="$(as_owner "$BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale --no-sync 2>&1)" ||
        { echo "$out" >&2; die "initdb could not create a cluster in $data (its output is above)"; }
    as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- scripts/postgres.sh: a throwaway test server -------------------------------------------------------------
listen_addresses = '127.0.0.1'
unix_socket_directories = ''   # TCP only: no socket path-length limits, no /var/run/postgresql needed
fsync = off                    # test data is recreated at will; durability only slows the tests down
synchronous_commit = off
full_page_writes = off
$MARK_SETTING = '$MARK_VALUE'
EOF
    as_owner tee "$data/pg_hba.conf" >/dev/null <<EOF
# scripts/postgres.sh: trust connections from this machine's loopback address only.
host all all 127.0.0.1/32 trust
EOF
    say "created a PostgreSQL $version cluster in $data in $(since "$t0")s"
}

start() {
    if answers; then
        is_ours || die "port $PORT is taken by a PostgreSQL server this script did not start: stop it, or pick a" \
                       "free port for this one (PM_PG_PORT=54330 scripts/postgres.sh start, and PM_PG_PORT=54330" \
                       "make test)"
        ensure_database
        say "already running on 127.0.0.1:$PORT"
        echo "$URL"
        return 0
    fi
    local root data t0
    root="$(existing_root || prepare_root)"
    data="$root/data"
    if as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        die "the cluster in $data is running, but not on port $PORT (it uses $(sed -n 4p "$data/postmaster.pid")):" \
            "run scripts/postgres.sh stop, or set PM_PG_PORT to that port"
    fi
    init_cluster "$root"
    t0="$(now)"
    # 9>&-: the server must not inherit the lock held by this start, or it would keep it for as long as it runs.
    if ! as_owner "$BIN/pg_ctl" -D "$data" -l "$root/postgres.log" -o "-p $PORT" -w -t 60 -s start >&2 9>&-; then
        tail -n 20 "$root/postgres.log" >&2 || true
        die "the server did not start (log above, in full in $root/postgres.log). If port $PORT is in use," \
            "choose another: PM_PG_PORT=54330 make test"
    fi
    say "started on 127.0.0.1:$PORT in $(since "$t0")s"
    ensure_database
    echo "$URL"
}

stop() {
    local root
    if [ -z "$BIN" ] || ! root="$(existing_root)"; then
        say "no cluster in $PRIMARY_ROOT: nothing to stop"
        return 0
    fi
    if as_owner "$BIN/pg_ctl" -D "$root/data" status >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" -D "$root/data" -m fast -w -s stop >&2
        say "stopped ($root/data)"
    else
        say "not running ($root/data)"
    fi
}

url() {
    [ -n "$BIN" ] && answers && is_ours || die "no test server of ours answers on 127.0.0.1:$PORT: run scripts/postgres.sh start"
    echo "$URL"
}

case "${1:-}" in
    start | stop | url)
        if [ "$1" = start ]; then
            # One start at a time (parallel CI jobs in one checkout): the second finds the server running.
            mkdir -p "$PRIMARY_ROOT"
            exec 9>"$PRIMARY_ROOT/.lock"
            flock 9
        fi
        "$1"
        ;;
    *)
        echo "usage: $0 start|stop|url   (PM_PG_PORT overrides the port, default 54329)" >&2
        exit 2
        ;;
esac
