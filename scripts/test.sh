#!/usr/bin/env bash
# Lint and run the whole test suite. Extra arguments go to pytest (e.g. scripts/test.sh -k trace).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh graphviz chromium || exit 1
bash scripts/setup.sh dev || exit 1
.venv/bin/ruff check . || exit 1
.venv/bin/python -m pytest -q "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose (exit 5 must not pass silently)" >&2
  exit 1
fi
exit "$rc"
