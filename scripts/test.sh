#!/usr/bin/env bash
# The project's test command (README.md names it; .ci/run runs it).
# 0. the stacks' npm dependencies (once);
# 1. gates: rustfmt, clippy with warnings as errors;
# 2. a PostgreSQL server for the store's PostgreSQL half: $CLOUD_TEST_POSTGRES_URL when set,
#    otherwise a throwaway cluster (scripts/pg-cluster.sh) stopped when this script exits;
# 3. the offline query caches match the queries (`cargo sqlx prepare --check` per store crate,
#    against freshly migrated empty databases: scripts/sqlx-prepare.sh --check);
# 4. the Rust suite (unit, integration, end-to-end through the Pulumi stand-in; the store suite
#    on SQLite and on PostgreSQL);
# 5. the TypeScript stacks: typecheck and unit tests under Pulumi's mock runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

# The stacks' dependencies first: the Rust suite also runs `cloud stacks inspect` on a real
# program, which needs them.
if [ -f stacks/package.json ] && [ ! -d stacks/node_modules ]; then
  (cd stacks && npm ci --ignore-scripts --no-audit --no-fund)
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cluster=""
stop_cluster() { if [ -n "$cluster" ]; then scripts/pg-cluster.sh stop "$cluster"; fi; }
trap stop_cluster EXIT
if [ -z "${CLOUD_TEST_POSTGRES_URL:-}" ]; then
  out=$(scripts/pg-cluster.sh start)
  eval "$out"
  cluster=$PGC_DIR
  export CLOUD_TEST_POSTGRES_URL=$PGC_URL
fi

scripts/sqlx-prepare.sh --check

cargo test --workspace --locked --all-targets

if [ -f stacks/package.json ]; then
  (
    cd stacks
    npm run --silent typecheck
    npm test
  )
fi
