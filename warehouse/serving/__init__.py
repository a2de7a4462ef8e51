"""DuckDB serving: one database file per role, holding native copies of the registry tables it may see.

Why copies and not views over `delta_scan`: a view can only read the lake if the session can, and a session
that can read a table's Delta folder can read every column in it (the grade-3 `legal_representative_id`,
personal data in clear). So a role's file holds native tables: only the columns its grade allows, personal
data already masked (DOMAIN.md), plus the marts. Sessions are sealed (`connect`): no file, extension or
network access, configuration locked. The file carries no path into the lake, so a moved or restored
home reads its own tables from the first query.

Why files are replaced, never written in place: analysts keep the file open read-only (DuckDB CLI,
DBeaver), and a read-write open would need a lock they hold. A refresh copies the live file beside it,
applies what changed in the lake (only the changed partitions of partitioned tables, found in the Delta
log), then renames it over the live one. Open sessions keep their snapshot; new sessions see the new
one. Writers serialize on `<warehouse>.lock` (fcntl), never on a database file.

The delta extension comes from the PyPI package `duckdb-extension-delta` (no download at run time); only
refreshes load it.

Modules, one concept each (import from them; this file re-exports nothing):
- session: the sealed read-only session on a role's file (`connect`, `open_role`, `query`).
- contents: what a role's file holds: its columns of each table (`select_sql`, `view_sql`) and the marts.
- delta: how a platform session reads the lake (extensions, S3 secret, `delta_scan` at a version).
- state: the bookkeeping a role file carries (format, lake identity, versions) to refresh incrementally.
- plan: what a refresh must do to one role file (tables copied, partitions replaced, drops, marts).
- refresh: running the plans: build beside the live file, publish by rename, under the writer lock.
"""
