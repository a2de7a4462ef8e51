"""Release to the national center: aggregates by grade, signed batches, a ledger, one Dagster asset.

Plain functions (measures, aggregate, release, batch, signing, transport, ledger, sync) carry the logic;
`assets.py` is the thin Dagster asset over them.
"""
