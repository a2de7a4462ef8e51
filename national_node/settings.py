"""The node's settings, read once from its environment (a separate program: not the lakehouse's settings).

| variable | default | meaning |
|---|---|---|
| NATIONAL_NODE_HOME | (required) | storage directory |
| NATIONAL_NODE_KEYS | (required) | provinces' keys, see keys.py |
| NATIONAL_NODE_READERS | none | the center's own readers' keys (read every province) |
| NATIONAL_NODE_ROLE | `national` | `national`, or an industry node of contract.ROLES (`energy`, ...): what it accepts |
| NATIONAL_NODE_ID | the role | this node's id, in every receipt |
| NATIONAL_NODE_MAX_BODY_BYTES | 8388608 | largest request body accepted (larger: 413 before reading it) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from national_node.contract import NATIONAL_ROLE, ROLES, Role
from national_node.keys import KeyRing, parse_keys, parse_readers
from national_node.wire import PROVINCES

KEYS_ENV, HOME_ENV, READERS_ENV = "NATIONAL_NODE_KEYS", "NATIONAL_NODE_HOME", "NATIONAL_NODE_READERS"
NODE_ID_ENV, MAX_BODY_ENV = "NATIONAL_NODE_ID", "NATIONAL_NODE_MAX_BODY_BYTES"
ROLE_ENV = "NATIONAL_NODE_ROLE"
DEFAULT_NODE_ID = "national"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # a province-day batch is well under 1 MiB


@dataclass(frozen=True)
class NodeSettings:
    home: Path
    keys: KeyRing = field(repr=False)
    node_id: str = DEFAULT_NODE_ID
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    role: Role = NATIONAL_ROLE


def load_node_settings(env: dict[str, str] | None = None) -> NodeSettings:
    """Settings from the environment; ValueError (naming the variable, never a secret) when unusable."""
    env = dict(os.environ) if env is None else env
    home = env.get(HOME_ENV)
    if not home:
        raise ValueError(f"{HOME_ENV} (or --home) must name the node's home directory")
    ring = KeyRing(parse_keys(env.get(KEYS_ENV, "")), parse_readers(env.get(READERS_ENV, "")))
    if not ring.keys:
        raise ValueError(f"{KEYS_ENV} is empty: no province could sign (e.g. {KEYS_ENV}='37=<secret>')")
    if strangers := sorted(ring.provinces - PROVINCES):
        raise ValueError(f"{KEYS_ENV}: {strangers} are not GB/T 2260 province codes")
    ring.check_secrets()
    try:
        max_body = int(env.get(MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES))
    except ValueError as exc:
        raise ValueError(f"{MAX_BODY_ENV} must be a number of bytes") from exc
    if max_body < 1024:
        raise ValueError(f"{MAX_BODY_ENV} must be at least 1024")
    role = ROLES.get(env.get(ROLE_ENV) or NATIONAL_ROLE.name)
    if role is None:
        raise ValueError(f"{ROLE_ENV} must be one of {sorted(ROLES)}")
    node_id = env.get(NODE_ID_ENV) or (DEFAULT_NODE_ID if role is NATIONAL_ROLE else role.name)
    return NodeSettings(Path(home), ring, node_id, max_body, role)
