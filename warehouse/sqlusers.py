"""Users of the SQL endpoint (`lakehouse serve-sql`): a 0600 JSON file under LAKEHOUSE_HOME/secrets.

Each user has a role (warehouse.access.ROLES) and a SCRAM-SHA-256 verifier (salt, StoredKey, ServerKey,
iteration count; RFC 5802/7677, the same thing PostgreSQL keeps in pg_authid). The password itself is
never stored, and the verifier does not let anyone log in: the server proves it knows the ServerKey, the
client proves it knows the password. Nothing about users lives in the repo.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scramp import ScramMechanism

from warehouse.access import ROLES

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096  # PostgreSQL's default scram_iterations
NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,62}$")


class UserError(ValueError):
    """A bad user name, role or password, or an unknown user."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def auth_info(self) -> tuple[bytes, bytes, bytes, int]:
        """What scramp's server needs to check a client's proof."""
        return self.salt, self.stored_key, self.server_key, self.iterations


def users_file(home: Path) -> Path:
    return home / "secrets" / "sql_users.json"


def load_users(path: Path) -> dict[str, User]:
    """All users; an absent file means none (the endpoint then refuses every login)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    users = {}
    for name, u in raw.get("users", {}).items():
        users[name] = User(
            name,
            u["role"],
            base64.b64decode(u["salt"]),
            base64.b64decode(u["stored_key"]),
            base64.b64decode(u["server_key"]),
            int(u["iterations"]),
        )
    return users


def add_user(path: Path, name: str, role: str, password: str, *, replace: bool = False) -> User:
    """Add a user (or, with replace, set an existing user's password/role)."""
    if not NAME.match(name):
        raise UserError(f"bad user name {name!r}: lower-case letters, digits, _ . -, at most 63")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise UserError("password too short: at least 8 characters")
    salt, stored_key, server_key, iterations = ScramMechanism(MECHANISM).make_auth_info(
        password, iteration_count=ITERATIONS
    )
    user = User(name, role, salt, stored_key, server_key, iterations)
    with _locked(path) as users:
        if name in users and not replace:
            raise UserError(f"user {name!r} exists (use `lakehouse users passwd`)")
        if name not in users and replace:
            raise UserError(f"no user {name!r}")
        users[name] = user
    return user


def remove_user(path: Path, name: str) -> None:
    with _locked(path) as users:
        if users.pop(name, None) is None:
            raise UserError(f"no user {name!r}")


def set_password(path: Path, name: str, password: str) -> User:
    users = load_users(path)
    if name not in users:
        raise UserError(f"no user {name!r}")
    return add_user(path, name, users[name].role, password, replace=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict[str, User]]:
    """Read-modify-write under a lock; the new file (0600) replaces the old one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users = load_users(path)
        yield users
        doc = {
            "users": {
                u.name: {
                    "role": u.role,
                    "mechanism": MECHANISM,
                    "salt": base64.b64encode(u.salt).decode(),
                    "stored_key": base64.b64encode(u.stored_key).decode(),
                    "server_key": base64.b64encode(u.server_key).decode(),
                    "iterations": u.iterations,
                }
                for u in sorted(users.values(), key=lambda u: u.name)
            },
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
