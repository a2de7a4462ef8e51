"""`lakehouse serve-sql`: a PostgreSQL wire-protocol endpoint over the role databases.

Why our own protocol layer (about 600 lines over the stdlib) rather than a library: `riffq` (0.1.11) ships
no wheel for our Python and its source build fetches a Rust toolchain and crates from the network;
`buenavista` (0.5.0, last release 2024) keeps clear-text passwords and speaks MD5 only, with no TLS and no
cancel. The subset psql, psycopg, DBeaver and Superset need is small and stable (protocol 3.0: startup,
SCRAM-SHA-256 via `scramp`, simple and extended query, cancel, TLS), and owning it lets every statement
pass through one place that enforces limits and writes the audit trail.

Each connection is a thread holding one sealed DuckDB session on its role's file
(`warehouse.serving.session.connect`: no file access, grade-limited columns, masked personal data). A statement
runs under a timer that calls `interrupt()` on that session only; a runaway query is cancelled and the
others carry on. Consistency: a session keeps the file it opened (a refresh renames a new file over it,
so the open one stays intact); between statements outside a transaction, a session whose file was
replaced reopens it, so every statement sees one whole snapshot and the next one sees the new version.

Modules: wire (protocol, types, errors), scram (login), session (a connection), portal (extended
query), catalog (psql's describe queries), pgcatalog and pgrewrite (pg_catalog for GUI clients and
JDBC), audit (catalog.query_audit), server (listening, start, stop).
"""

from __future__ import annotations

from warehouse.pgwire.audit import (  # noqa: F401
    Audit,
    tables_touched,
)
from warehouse.pgwire.catalog import (  # noqa: F401
    catalog_shim,
    pg_syntax,
)
from warehouse.pgwire.portal import (  # noqa: F401
    CLIENT_SETTING,
    Portal,
)
from warehouse.pgwire.scram import (  # noqa: F401
    ScramExchange,
)
from warehouse.pgwire.server import (  # noqa: F401
    ServerState,
    SqlServer,
    configure_logging,
    running,
)
from warehouse.pgwire.session import (  # noqa: F401
    Session,
)
from warehouse.pgwire.wire import (  # noqa: F401  (the protocol's framing stays in wire)
    BINARY_DECODERS,
    PG_TYPE_NAMES,
    PG_TYPES,
    SERVER_VERSION,
    PgError,
    duck_message,
    log,
    pg_type,
    sqlstate,
    text_value,
)
