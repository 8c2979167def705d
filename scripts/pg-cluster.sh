#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and for `cargo sqlx prepare`: a fresh data
# directory under /tmp, a free port on 127.0.0.1, trust authentication, no fsync.
#
#   out=$(scripts/pg-cluster.sh start) || exit 1   # not eval "$(...)": set -e would miss a failure
#   eval "$out"                                     # exports PGC_DIR and PGC_URL
#   trap 'scripts/pg-cluster.sh stop "$PGC_DIR"' EXIT
#
# start       initdb + pg_ctl start; prints `export PGC_DIR=… PGC_URL=postgres://postgres@127.0.0.1:<port>/postgres`.
#             On failure it removes what it created and exits non-zero.
# stop [DIR]  stop the server (immediate mode) and remove DIR (default $PGC_DIR); a no-op if DIR is gone.
#
# The server binaries come from $PG_BIN, /usr/lib/postgresql/<major>/bin (newest first) or PATH;
# .ci/run installs Debian's `postgresql` package when there are none. As root, the cluster runs as
# the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

log() { echo "pg-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_bin() {
    if [[ -n "${PG_BIN:-}" && -x "$PG_BIN/initdb" ]]; then echo "$PG_BIN"; return 0; fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return 0; fi
    done
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"; return 0
    fi
    return 1
}

# Run a command as the cluster's owner.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! port_in_use "$p"; then echo "$p"; return 0; fi
    done
    return 1
}

cmd_start() {
    local bin dir port=""
    bin=$(find_bin) || die "no PostgreSQL server binaries (initdb, pg_ctl); run .ci/run, or apt-get install postgresql, or set PG_BIN"
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server as"
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pgc.XXXXXX")
    trap 'rc=$?; if [[ $rc -ne 0 ]]; then cmd_stop "$dir" >/dev/null 2>&1 || true; fi' EXIT
    chmod 0755 "$dir"
    mkdir "$dir/data" "$dir/sock"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$dir"; fi
    echo "$bin" >"$dir/bin"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    # A port that was free when picked can be taken before the server binds it: retry.
    local try
    for try in 1 2 3 4 5; do
        port=$(pick_port) || die "no free port"
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null 2>&1; then
            break
        fi
        port=""
        log "could not start on a port (try $try)"; tail -n 5 "$dir/server.log" >&2 || true
    done
    [[ -n "$port" ]] || die "could not start postgres"
    local url="postgres://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    trap - EXIT
    log "started $("$bin/postgres" --version) in $dir on port $port"
    printf 'export PGC_DIR=%q\nexport PGC_URL=%q\n' "$dir" "$url"
}

cmd_stop() {
    local dir="${1:-${PGC_DIR:-}}" bin pid
    [[ -n "$dir" ]] || die "stop: no cluster directory (argument or \$PGC_DIR)"
    [[ -d "$dir" ]] || return 0
    [[ "$(basename "$dir")" == pgc.* ]] || die "stop: $dir is not a pg-cluster directory"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        bin=$(cat "$dir/bin" 2>/dev/null || find_bin || true)
        if [[ -n "$bin" ]]; then
            as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        if [[ -f "$dir/data/postmaster.pid" ]]; then
            # pg_ctl could not stop it: this cluster's own postmaster, by its recorded pid.
            pid=$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 start | stop [DIR]" >&2; exit 2 ;;
esac
