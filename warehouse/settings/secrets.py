"""The sync's keys (national center and industry nodes) and privacy settings. Production sets LAKEHOUSE_SYNC_KEY (and _KEY_ID) from
its secret store; the demo has none, so a random key is generated once per home (see demo_key). A key
is never printed, logged, put on a command line or written inside the repository."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.domain import PROVINCE_CODE

# The province's signing key. Production sets LAKEHOUSE_SYNC_KEY (and LAKEHOUSE_SYNC_KEY_ID) from its
# secret store. The demo has none: a random key is generated once per home into
# `secrets/national_sync.key` (directory 0700, file 0600, a `.gitignore` of `*` beside it), and the demo node
# gets the same key through its environment. A key is never printed, logged, put on a command line or
# written inside the repository.
KEY_ENV, KEY_ID_ENV, NODE_URL_ENV = "LAKEHOUSE_SYNC_KEY", "LAKEHOUSE_SYNC_KEY_ID", "LAKEHOUSE_SYNC_NODE_URL"


DEFAULT_KEY_ID, DEMO_KEY_ID = "default", "demo"


DEFAULT_NODE_URL = "http://127.0.0.1:8737"


SECRETS_DIR, KEY_FILE = "secrets", "national_sync.key"


DP_EPSILON_ENV, DP_BUDGET_ENV = "LAKEHOUSE_SYNC_DP_EPSILON", "LAKEHOUSE_SYNC_DP_BUDGET"


@dataclass(frozen=True)
class SyncPrivacy:
    """A channel's differential privacy: `epsilon` spent by each enterprise of a noisy cell per release
    of a day, and the `budget` an enterprise may spend per period (day) over every channel and version."""

    epsilon: float
    budget: float


@dataclass(frozen=True)
class SyncKey:
    key_id: str
    secret: str = field(repr=False)
    source: str = "environment"

    def node_keys(self, province: str = PROVINCE_CODE) -> str:
        """The node's NATIONAL_NODE_KEYS entry for this key (to pass through an environment, never argv)."""
        return f"{province}:{self.key_id}={self.secret}"


NATIONAL = "national"  # the national channel's name (warehouse.registry.NATIONAL_CHANNEL)


def channel_env(channel: str, name: str) -> str:
    """A channel's variable: LAKEHOUSE_SYNC_KEY for the national center, LAKEHOUSE_SYNC_ENERGY_KEY for the
    energy node (`name`: KEY, KEY_ID or NODE_URL)."""
    return f"LAKEHOUSE_SYNC_{name}" if channel == NATIONAL else f"LAKEHOUSE_SYNC_{channel.upper()}_{name}"


@dataclass(frozen=True)
class ChannelAccess:
    """An industry node's URL and the province's key for it, from LAKEHOUSE_SYNC_<CHANNEL>_*."""

    channel: str
    url: str  # empty: not configured (the channel is not synced unless a URL is given)
    key_id: str
    secret: str = field(repr=False)


def demo_key(home: Path, channel: str = NATIONAL) -> SyncKey:
    """The demo key of a LAKEHOUSE_HOME for one channel, created on first use (0600 inside a 0700
    directory): each node gets its own key, so one node's key signs nothing for another."""
    folder = Path(home) / SECRETS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    path = folder / (KEY_FILE if channel == NATIONAL else f"{channel}_sync.key")
    if not path.exists():
        data = json.dumps({"key_id": DEMO_KEY_ID, "secret": secrets.token_urlsafe(32)})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
    os.chmod(path, 0o600)
    data = json.loads(path.read_text(encoding="utf-8"))
    return SyncKey(data["key_id"], data["secret"], source=f"demo key in {path}")
