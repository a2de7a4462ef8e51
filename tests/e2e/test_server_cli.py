"""Server-profile settings errors at the CLI: one line, exit 2 for a bad value, 1 for a dead service."""

import os
import subprocess
import sys
from pathlib import Path

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ) | {"LAKEHOUSE_HOME": str(tmp_path / "home")} | env
    return subprocess.run(
        [LAKEHOUSE, "server", "down"], env=full, capture_output=True, text=True, timeout=120
    )


def test_unknown_profile_is_a_one_line_usage_error(tmp_path):
    r = _run(tmp_path, LAKEHOUSE_PROFILE="cluster")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: LAKEHOUSE_PROFILE='cluster': expected one of embedded, server"
    ]


def test_unreachable_postgres_is_a_one_line_failure(tmp_path):
    r = _run(tmp_path, LAKEHOUSE_PROFILE="server", LAKEHOUSE_PG_URL="postgresql://postgres@127.0.0.1:1/x")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PostgreSQL at 127.0.0.1:1:")
    assert "Traceback" not in r.stderr
