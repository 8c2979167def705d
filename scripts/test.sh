#!/usr/bin/env bash
# The project's test command (README.md names it; .ci/run runs it).
# 1. the Rust suite (unit, integration, end-to-end through the Pulumi stand-in);
# 2. the TypeScript stacks: typecheck and unit tests under Pulumi's mock runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --locked --all-targets

if [ -f stacks/package.json ]; then
  (
    cd stacks
    [ -d node_modules ] || npm ci --ignore-scripts --no-audit --no-fund
    npm run --silent typecheck
    npm test
  )
fi
