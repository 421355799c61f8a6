"""Build the bundled sample graphs (deterministic: fixed seeds) into this directory.

    python sample_graphs/build.py [--force] [--only mlp,cnn]

The model code lives in graphscope/samples/models.py; the .gsg files are generated, not committed.
"""

from __future__ import annotations

import argparse
import os
import time

from graphscope import samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), help="output directory")
    ap.add_argument("--force", action="store_true", help="rebuild files that already exist")
    ap.add_argument("--only", default=None, help="comma-separated sample names (default: all)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    only = args.only.split(",") if args.only else None
    paths = samples.ensure_samples(args.out, only=only, force=args.force)
    total = sum(os.path.getsize(p) for p in paths)
    print(f"{len(paths)} sample graphs in {args.out} ({total / 2**20:.1f} MiB, {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
