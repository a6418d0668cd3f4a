"""`make bench`: runs every benchmarks/bench_*.py (or the ones named) and records them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> int:
    names = sys.argv[1:] or sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    for name in names:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
