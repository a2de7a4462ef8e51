"""Storage, registry, settings and serving of the lakehouse."""

from warehouse import allocator  # noqa: F401  (before polars: see warehouse/allocator.py)
