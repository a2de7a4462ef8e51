"""The reference national center node: a separate program receiving provincial batches.

It shares only the wire format (`national_node/wire.py`) with the provincial lakehouse, never code:
`python -m national_node serve --port 8737 --home DIR` with keys in NATIONAL_NODE_KEYS.
"""
