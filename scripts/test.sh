#!/usr/bin/env bash
# The project's test command (README.md names it; .ci/run runs it).
# 0. the stacks' npm dependencies (once);
# 1. the Rust suite (unit, integration, end-to-end through the Pulumi stand-in);
# 2. the TypeScript stacks: typecheck and unit tests under Pulumi's mock runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

# The stacks' dependencies first: the Rust suite also runs `cloud stacks inspect` on a real
# program, which needs them.
if [ -f stacks/package.json ] && [ ! -d stacks/node_modules ]; then
  (cd stacks && npm ci --ignore-scripts --no-audit --no-fund)
fi

cargo test --workspace --locked --all-targets

if [ -f stacks/package.json ]; then
  (
    cd stacks
    npm run --silent typecheck
    npm test
  )
fi
