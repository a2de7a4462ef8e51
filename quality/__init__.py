"""Quality gates: row rules, partition rules and Great Expectations."""

import warehouse.allocator  # noqa: F401  (before polars: see warehouse/allocator.py)
