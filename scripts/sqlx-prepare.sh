#!/usr/bin/env bash
# Regenerate (default) or verify (--check) the store's offline query caches:
#   crates/cloud-store-sqlite/.sqlx    against a fresh, migrated, empty SQLite file
#   crates/cloud-store-postgres/.sqlx  against a fresh, migrated, empty PostgreSQL database
# PostgreSQL: the server at $CLOUD_TEST_POSTGRES_URL (a postgres://…/postgres URL of a user that may
# CREATE DATABASE) if set, otherwise a throwaway cluster (scripts/pg-cluster.sh), stopped at exit.
# Run it after adding or changing a query (docs/development.md); scripts/test.sh runs --check.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=()
case "${1:-}" in
  --check) mode=(--check) ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
if ! cargo sqlx --version >/dev/null 2>&1; then
  echo "cargo sqlx is missing: cargo install sqlx-cli --version 0.8.6 --no-default-features --features sqlite,postgres,rustls --locked" >&2
  exit 2
fi

# A DATABASE_URL in the environment would point both crates at one database; each gets its own.
unset DATABASE_URL
work=$(mktemp -d "${TMPDIR:-/tmp}/sqlx-prepare.XXXXXX")
own_cluster=""
cleanup() {
  if [ -n "$own_cluster" ]; then scripts/pg-cluster.sh stop "$own_cluster"; fi
  rm -rf "$work"
}
trap cleanup EXIT

server="${CLOUD_TEST_POSTGRES_URL:-}"
if [ -z "$server" ]; then
  out=$(scripts/pg-cluster.sh start)
  eval "$out"
  own_cluster=$PGC_DIR
  server=$PGC_URL
fi
sqlite_url="sqlite://$work/prepare.db"   # absolute: the macros run with the workspace as cwd
postgres_url="${server%/*}/sqlx_prepare_$$"

# The migration tool has no query macro: it builds whatever the caches say.
cargo build --quiet -p cloud-store --bin cloud-store-migrate
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
migrate="$target_dir/debug/cloud-store-migrate"
"$migrate" --fresh "$sqlite_url"
"$migrate" --fresh "$postgres_url"

# `cargo sqlx prepare` touches the crate's src/lib.rs to make `cargo check` expand its macros
# again; that would make the next build recompile the store crate and everything above it.
# Nothing in the file changes, so give it its modification time back afterwards.
prepare() {
  local crate=$1 url=$2 rc=0
  touch -r "crates/$crate/src/lib.rs" "$work/$crate.mtime"
  (cd "crates/$crate" && cargo sqlx prepare "${mode[@]}" -D "$url") || rc=1
  touch -r "$work/$crate.mtime" "crates/$crate/src/lib.rs"
  return $rc
}
# One crate after the other: both check into the same target/sqlx-prepare-check directory.
rc=0
prepare cloud-store-sqlite "$sqlite_url" || rc=1
prepare cloud-store-postgres "$postgres_url" || rc=1
"$migrate" --drop "$postgres_url" 2>/dev/null || true
if [ "$rc" -ne 0 ]; then
  echo "the offline query caches are out of date: run scripts/sqlx-prepare.sh and commit crates/*/.sqlx" >&2
fi
exit $rc
