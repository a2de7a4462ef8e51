"""The identifier resolver (工业互联网标识解析, the province's secondary node): a separate program.

It answers `GET /v1/identifiers/{handle}` and `POST /v1/identifiers:resolve` from silver.identifier and
the tables the handles name, read from the lake (imports only warehouse/ and the national node's
signed-request verification). `python -m resolver serve` or `lakehouse resolver serve` starts it.
"""
