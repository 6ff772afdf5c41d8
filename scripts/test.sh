#!/usr/bin/env bash
# The whole test suite: setup (idempotent), type check, layering lint, C format check,
# unit tests, then integration tests (root, real registry, real kernel).
# Usage: scripts/test.sh            (as root on Debian 12; what .ci/run and README use)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${BERTH_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh
fi

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json
echo "== lint"
node scripts/lint-layers.mjs
clang-format --dry-run --Werror common/sys/native/*.c runtime/native/*.c runtime/native/*.h bin/launcher.c test/fixtures/bpf-devices/*.c
echo "== unit tests"
npx vitest run --project unit
echo "== integration tests"
BERTH_INTEGRATION=1 npx vitest run --project integration
