#!/usr/bin/env bash
# The main job: build the bundled sample graphs and print a profile report of the transformer block.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python sample_graphs/build.py
.venv/bin/graphscope info sample_graphs/transformer.gsg
.venv/bin/graphscope run sample_graphs/transformer.gsg --repeat 20 --warmup 2
