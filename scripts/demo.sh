#!/usr/bin/env bash
# The main job: build the bundled sample graphs and open the dashboard on them at http://127.0.0.1:8050/
# (Ctrl-C stops it). Extra arguments go to `graphscope dashboard` (e.g. --port 8051, or graph/profile files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh graphviz  # the Graph page draws with Graphviz
bash scripts/setup.sh dashboard
.venv/bin/python sample_graphs/build.py
exec .venv/bin/graphscope dashboard --samples sample_graphs "$@"
