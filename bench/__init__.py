"""Benchmark of the lakehouse against bare polars and bare DuckDB doing the same work.

Entry points: `bench.run.run_bench(rows, runs, out_dir, markdown)` (what `lakehouse bench` calls) and
`bench.run.main(argv)` (argparse, also `python -m bench`). Every measured step runs in a fresh child
process (`python -m bench.child`), which reports its own timings and peak RSS.

Names are re-exported lazily so that the child processes do not import the parent's reporting code.
"""

from __future__ import annotations

import warehouse.allocator  # noqa: F401  (before polars, here and in every child: the same allocator for all engines)

__all__ = ["DEFAULT_ROWS", "LARGE_ROWS", "BenchMismatch", "main", "run_bench"]


def __getattr__(name: str):
    if name in __all__:
        from bench import run

        return getattr(run, name)
    raise AttributeError(name)
