"""The province's signing key: from the environment, or for the demo a random key kept in LAKEHOUSE_HOME.

Production sets LAKEHOUSE_SYNC_KEY (and LAKEHOUSE_SYNC_KEY_ID, default `default`) from its secret store.
The demo has no secret store: without LAKEHOUSE_SYNC_KEY a random key is generated once per
LAKEHOUSE_HOME into `secrets/national_sync.key` (directory 0700, file 0600, a `.gitignore` of `*` beside
it) and the demo node is started with the same key through its environment. A key is never printed,
logged, put on a command line or written inside the repository.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.domain import PROVINCE_CODE

KEY_ENV, KEY_ID_ENV, NODE_URL_ENV = "LAKEHOUSE_SYNC_KEY", "LAKEHOUSE_SYNC_KEY_ID", "LAKEHOUSE_SYNC_NODE_URL"
DEFAULT_KEY_ID, DEMO_KEY_ID = "default", "demo"
DEFAULT_NODE_URL = "http://127.0.0.1:8737"
SECRETS_DIR, KEY_FILE = "secrets", "national_sync.key"


@dataclass(frozen=True)
class SyncKey:
    key_id: str
    secret: str = field(repr=False)
    source: str = "environment"

    def node_keys(self, province: str = PROVINCE_CODE) -> str:
        """The node's NATIONAL_NODE_KEYS entry for this key (to pass through an environment, never argv)."""
        return f"{province}:{self.key_id}={self.secret}"


def demo_key(home: Path) -> SyncKey:
    """The demo key of a LAKEHOUSE_HOME, created on first use (0600 inside a 0700 directory)."""
    folder = Path(home) / SECRETS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    path = folder / KEY_FILE
    if not path.exists():
        data = json.dumps({"key_id": DEMO_KEY_ID, "secret": secrets.token_urlsafe(32)})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
    os.chmod(path, 0o600)
    data = json.loads(path.read_text(encoding="utf-8"))
    return SyncKey(data["key_id"], data["secret"], source=f"demo key in {path}")


def sync_key(home: Path, env: dict[str, str] | None = None) -> SyncKey:
    """LAKEHOUSE_SYNC_KEY if set, else the home's demo key."""
    env = dict(os.environ) if env is None else env
    if env.get(KEY_ENV):
        return SyncKey(env.get(KEY_ID_ENV) or DEFAULT_KEY_ID, env[KEY_ENV])
    return demo_key(home)


def export_sync_env(home: Path) -> SyncKey:
    """Make the sync settings resolvable as Dagster EnvVars in this process (demo key if none is set)."""
    key = sync_key(home)
    os.environ.setdefault(NODE_URL_ENV, DEFAULT_NODE_URL)
    os.environ[KEY_ID_ENV] = key.key_id
    os.environ[KEY_ENV] = key.secret
    return key
