#!/usr/bin/env bash
# The reverse proxy in front of the service's replicas: nginx.   scripts/proxy.sh start|stop|reload|install|config|url
#
#   start   Installs Debian's nginx package if nginx is missing, writes var/proxy/nginx.conf for the upstreams in
#           PM_PROXY_UPSTREAMS (host:port,host:port,...; default 127.0.0.1:8000), starts nginx on
#           $PM_PROXY_HOST:$PM_PROXY_PORT (default 127.0.0.1:8080) and prints its URL on stdout. Running already:
#           rewrites the configuration, reloads it and prints the URL.
#   stop    Stops it; nothing to do when it is not running.
#   reload  Rewrites the configuration (new upstreams, say) and reloads it without dropping connections.
#   install Installs Debian's nginx package if nginx is missing (make test runs this, as it runs browser.sh), and
#           prints the nginx binary's path.
#   config  Prints the configuration it would write (for review or for the compose file's proxy).
#   url     Prints the URL when the proxy runs; fails otherwise.
#
# What the proxy decides (docs/deployment.md explains why): bodies are read whole before a replica sees them
# (a slow client ties up an nginx connection, never a gunicorn thread); its own timeouts for slow clients; a
# 1 MiB body limit; JSON errors, in the API's shape, for everything nginx answers itself; a replica that fails
# to connect is skipped, and POST /v1/match (a read) is retried on another replica even once sent.
#
# PM_PROXY_FOREGROUND=1 makes start exec nginx in the foreground (the proxy container of compose.yaml).
# nginx runs unprivileged (as root: as www-data, the user Debian's package creates) on a high port, with its pid
# file, logs and temporary files under var/proxy/ (or PM_PROXY_DIR). Only the URL goes to stdout.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="${PM_PROXY_HOST:-127.0.0.1}"
PORT="${PM_PROXY_PORT:-8080}"
UPSTREAMS="${PM_PROXY_UPSTREAMS:-127.0.0.1:8000}"
DIR="${PM_PROXY_DIR:-$REPO/var/proxy}"
WORKERS="${PM_PROXY_WORKERS:-1}"
MAX_BODY=1048576  # the service's own MAX_CONTENT_LENGTH (its 413 message is repeated below)
NGINX=/usr/sbin/nginx

say() { echo "proxy.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

OWNER="$(id -un)"
is_root && OWNER=www-data

as_owner() {
    if ! is_root; then
        "$@"
    else
        (cd / && runuser -u "$OWNER" -- "$@")  # cd /: the owner may not be allowed into the caller's directory
    fi
}

# var/proxy/ (or PM_PROXY_DIR); when the user nginx runs as cannot reach it (a folder under /root, a private
# temporary folder), a directory under /tmp named after it, so that start and stop always agree on it.
PRIMARY_DIR="$DIR"
FALLBACK_DIR="${TMPDIR:-/tmp}/partner-matcher-proxy-$(printf '%s' "$PRIMARY_DIR" | cksum | cut -d ' ' -f 1)"
[ -f "$FALLBACK_DIR/nginx.pid" ] && DIR="$FALLBACK_DIR"

choose_dir() {
    local dir
    for dir in "$PRIMARY_DIR" "$FALLBACK_DIR"; do
        mkdir -p "$dir/tmp"
        is_root && chown -R "$OWNER": "$dir"
        if as_owner test -w "$dir" -a -x "$dir"; then
            [ "$dir" = "$PRIMARY_DIR" ] || say "the $OWNER user cannot reach $PRIMARY_DIR; using $dir instead"
            DIR="$dir"
            return 0
        fi
    done
    die "the $OWNER user can write neither to $PRIMARY_DIR nor to $FALLBACK_DIR: set PM_PROXY_DIR to a directory it can reach"
}

install_nginx() {
    command -v apt-get >/dev/null ||
        die "nginx is not installed and there is no apt-get to install it: install nginx (Debian/Ubuntu:" \
            "apt-get install nginx) and run this again"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null || die "nginx is not installed and installing it needs root: run 'apt-get install nginx' as root"
        sudo=(sudo)
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0)
    say "nginx is not installed: installing Debian's nginx package with apt-get"
    # A fresh image has empty package lists; stale ones point at files the mirror no longer has: refresh once.
    apt-cache show nginx >/dev/null 2>&1 || "${apt[@]}" update >&2
    if ! "${apt[@]}" install --no-install-recommends nginx >&2; then
        "${apt[@]}" update >&2
        "${apt[@]}" install --no-install-recommends nginx >&2 || die "apt-get could not install nginx (see above)"
    fi
    [ -x "$NGINX" ] || die "apt-get installed nginx, but there is still no $NGINX"
}

# The JSON body nginx answers with for one status: the API's error shape (service/errors.py).
error_location() {  # error_location STATUS CODE MESSAGE [DETAILS_JSON]
    # A URI, not a named location: nginx cannot redirect to a named one before it has read the request line.
    printf '        location = /.proxy-error/%s {\n            internal;\n            default_type application/json;\n' "$1"
    printf "            return %s '{\"error\": {\"code\": \"%s\", \"message\": \"%s\", \"details\": %s}}';\n" \
        "$1" "$2" "$3" "${4:-null}"
    printf '        }\n'
}

config() {
    local servers="" upstream
    IFS=, read -r -a list <<<"$UPSTREAMS"
    for upstream in "${list[@]}"; do
        [ -n "$upstream" ] || continue
        # One failure marks a replica down for 5 s: the next requests go straight to the others.
        servers+="        server ${upstream} max_fails=1 fail_timeout=5s;"$'\n'
    done
    [ -n "$servers" ] || die "PM_PROXY_UPSTREAMS names no upstream (host:port,host:port,...)"
    local tries="${#list[@]}"
    cat <<EOF
# Written by scripts/proxy.sh for $REPO; rewritten on every start and reload.
worker_processes $WORKERS;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log $DIR/access.log;
    client_body_temp_path $DIR/tmp/body;
    proxy_temp_path $DIR/tmp/proxy;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    server_tokens off;
    default_type application/json;

    # Slow clients are nginx's to hold: the request is read whole (headers, then the body, buffered in memory up
    # to the body limit) before a replica is given it, and a client that stalls is dropped after these.
    client_header_timeout 10s;
    client_body_timeout 10s;
    send_timeout 30s;
    keepalive_timeout 15s;
    reset_timedout_connection on;
    client_max_body_size $MAX_BODY;
    client_body_buffer_size $MAX_BODY;
    large_client_header_buffers 4 8k;
    merge_slashes on;

    upstream partner_matcher {
$servers        keepalive 32;
    }

    server {
        listen $HOST:$PORT default_server;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$http_host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_request_buffering on;
        proxy_buffering on;
        proxy_connect_timeout 2s;
        proxy_send_timeout 30s;
        proxy_read_timeout 300s;  # a bulk import with the real model embeds for minutes
        # Try another replica when one refuses or is still loading; requests other than GET/HEAD are only
        # retried when they had not reached the replica yet (nginx's rule for non-idempotent methods).
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_tries $tries;
        proxy_next_upstream_timeout 15s;

        # In each location below (not the server: its error page would run the check again): raw bytes outside
        # printable ASCII in the request line are refused in JSON; clients send them percent-encoded, and gunicorn
        # would answer them with an HTML 400.
        location / {
            if (\$request_uri ~ "[^\\x21-\\x7e]") {
                return 400;
            }
            # A path with '//' goes on merged (a changed URI is passed normalised), so no replica redirects it.
            if (\$request_uri ~ "^[^?]*//") {
                rewrite ^(.*)\$ \$1 break;
            }
            proxy_pass http://partner_matcher;
        }
        # A match is a read: safe to send again to another replica when the first died holding it.
        location = /v1/match {
            if (\$request_uri ~ "[^\\x21-\\x7e]") {
                return 400;
            }
            proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
            proxy_pass http://partner_matcher;
        }

        error_page 400 /.proxy-error/400;
        error_page 404 /.proxy-error/404;
        error_page 408 /.proxy-error/408;
        error_page 411 /.proxy-error/411;
        error_page 413 /.proxy-error/413;
        error_page 414 /.proxy-error/414;
        error_page 494 =431 /.proxy-error/431;
        error_page 500 /.proxy-error/500;
        error_page 501 /.proxy-error/501;
        error_page 502 /.proxy-error/502;
        error_page 503 /.proxy-error/503;
        error_page 504 /.proxy-error/504;
$(error_location 400 bad_request "the request could not be read (a malformed request line, header or body); check how it is sent")
$(error_location 404 not_found "no such path on the proxy; the API is under /v1 (see /openapi.json)")
$(error_location 408 request_timeout "the request was not received in time (the proxy waits 10 s for each part of the headers and of the body); send it again without pausing")
$(error_location 411 length_required "the request has a body without a length; send Content-Length or a chunked body")
$(error_location 413 payload_too_large "the request body is larger than the 1,048,576-byte limit; send a shorter brief" "{\"max_bytes\": $MAX_BODY}")
$(error_location 414 uri_too_long "the request line is longer than 8 KiB; send long values in a JSON body instead")
$(error_location 431 request_header_fields_too_large "the request headers are too large (at most 8 KiB for one header and 32 KiB in all); send fewer or shorter headers")
$(error_location 500 internal_error "the proxy failed to handle the request; it has been logged")
$(error_location 501 not_implemented "the request uses a transfer encoding or method the proxy does not support; send a plain body with Content-Length")
$(error_location 502 bad_gateway "no replica of the service answered; retry in a few seconds")
$(error_location 503 service_unavailable "the service is starting or overloaded; retry in a few seconds")
$(error_location 504 gateway_timeout "the service did not answer in time; retry, or send a smaller request")
    }
}
EOF
}

pid_running() {
    [ -f "$DIR/nginx.pid" ] && kill -0 "$(cat "$DIR/nginx.pid")" 2>/dev/null
}

write_config() {
    pid_running || choose_dir
    config >"$DIR/nginx.conf.new"
    is_root && chown "$OWNER": "$DIR/nginx.conf.new"
    local out
    out="$(as_owner "$NGINX" -t -q -p "$DIR" -c "$DIR/nginx.conf.new" -e "$DIR/error.log" 2>&1)" ||
        { echo "$out" >&2; die "nginx refused the configuration written to $DIR/nginx.conf.new (above)"; }
    mv "$DIR/nginx.conf.new" "$DIR/nginx.conf"
}

url() { echo "http://$HOST:$PORT"; }

start() {
    [ -x "$NGINX" ] || install_nginx
    write_config
    if pid_running; then
        as_owner "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log" -s reload
        sleep 0.5  # the master starts new workers with it; the old ones finish their requests
        say "already running (pid $(cat "$DIR/nginx.pid")): configuration reloaded"
        url
        return 0
    fi
    if [ "${PM_PROXY_FOREGROUND:-0}" = 1 ]; then  # a container's main process (compose.yaml): nginx in its place
        say "nginx on $HOST:$PORT in front of $UPSTREAMS (foreground)"
        if is_root; then
            exec runuser -u "$OWNER" -- "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log" -g "daemon off;"
        fi
        exec "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log" -g "daemon off;"
    fi
    as_owner "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log" ||
        { tail -n 20 "$DIR/error.log" >&2 || true; die "nginx did not start (log above). If port $PORT is in use, choose another: PM_PROXY_PORT=8081 scripts/proxy.sh start"; }
    local i
    for i in $(seq 50); do
        pid_running && break
        sleep 0.1
    done
    pid_running || die "nginx did not write its pid file $DIR/nginx.pid (see $DIR/error.log)"
    say "nginx (pid $(cat "$DIR/nginx.pid")) on $HOST:$PORT in front of $UPSTREAMS"
    url
}

stop() {
    if ! pid_running; then
        say "not running ($DIR)"
        return 0
    fi
    local pid
    pid="$(cat "$DIR/nginx.pid")"
    kill -QUIT "$pid"  # graceful: finish the requests in flight
    local waited=""
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { waited=yes; break; }
        sleep 0.1
    done
    if [ -n "$waited" ]; then
        say "stopped (pid $pid)"
    else
        kill -TERM "$pid" 2>/dev/null || true
        say "stopped (pid $pid, after 10 s)"
    fi
    # A stand-in under /tmp holds nothing but this run's logs: removed with it.
    [ "$DIR" != "$FALLBACK_DIR" ] || rm -rf "$FALLBACK_DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    reload)
        pid_running || die "not running: scripts/proxy.sh start"
        write_config
        as_owner "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log" -s reload
        ;;
    install) [ -x "$NGINX" ] || install_nginx; echo "$NGINX" ;;
    config) config ;;
    url) pid_running || die "not running: scripts/proxy.sh start"; url ;;
    *)
        echo "usage: $0 start|stop|reload|install|config|url   (PM_PROXY_PORT, PM_PROXY_HOST, PM_PROXY_UPSTREAMS, PM_PROXY_DIR)" >&2
        exit 2
        ;;
esac
