"""Landing -> bronze over a real Delta lake: every file is accounted for and no file stops the others."""

import datetime as dt
import gzip
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from assets.telemetry.ingest import ingest_landing
from assets.telemetry.transform import clean_telemetry
from tests.unit.helpers import equipment
from warehouse.registry import BRONZE_TELEMETRY, LANDING_FILES
from warehouse.storage import Lake

HEADER = "uscc,equipment_id,metric,ts,value,unit\n"
NOW = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
LANDED = dt.datetime(2026, 11, 3, 0, 20, tzinfo=dt.UTC).timestamp()


def row(ts: str, value: str = "10.5") -> str:
    return f"91370102MA3C123469,EQ000001,power,{ts},{value},kW\n"


GOOD = HEADER + row("2026-11-02T08:00:00+08:00") + row("2026-11-02T08:15:00+08:00")


def drop(root: Path, rel: str, data: bytes, mtime: float = LANDED) -> Path:
    path = root / "telemetry" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def ingest(root: Path, lake: Lake, run: str = "r1", **kw):
    return ingest_landing(root, lake, run_id=run, now=kw.pop("now", NOW), **kw)


def ledger(lake: Lake) -> dict[str, tuple[str, str | None]]:
    files = lake.read(LANDING_FILES)
    return {f: (s, r) for f, s, r in files.select("source_file", "status", "reason").iter_rows()}


@pytest.fixture
def home(tmp_path):
    return tmp_path / "landing", Lake(tmp_path / "lake")


def test_a_field_over_the_limit_rejects_only_its_file_with_a_ledger_row(home):
    root, lake = home
    drop(root, "gw/a.csv", GOOD.encode())
    drop(root, "gw/big.csv", (GOOD + f'U,E,power,t,"{"9" * 140_000}",kW\n').encode())
    drop(root, "gw/z.csv", GOOD.replace("10.5", "11.5").encode())
    result = ingest(root, lake)
    assert ledger(lake) == {
        "telemetry/gw/a.csv": ("ingested", None),
        "telemetry/gw/big.csv": ("rejected", "field_too_large"),
        "telemetry/gw/z.csv": ("ingested", None),
    }
    assert result.records == 4 == lake.read(BRONZE_TELEMETRY).height
    assert (root / "rejected/telemetry/gw/big.csv").exists() and not (root / "telemetry/gw/big.csv").exists()
    assert (root / "rejected/telemetry/gw/big.csv.reason").read_text().startswith("field_too_large\n")


def test_compressed_and_unknown_files_are_rejected_as_unsupported_format(home):
    root, lake = home
    drop(root, "gw/a.csv.gz", gzip.compress(GOOD.encode()))
    drop(root, "gw/a.zip", b"PK\x03\x04 not really")
    ingest(root, lake)
    assert ledger(lake) == {
        "telemetry/gw/a.csv.gz": ("rejected", "unsupported_format"),
        "telemetry/gw/a.zip": ("rejected", "unsupported_format"),
    }
    assert sorted(p.name for p in (root / "rejected/telemetry/gw").iterdir()) == [
        "a.csv.gz",
        "a.csv.gz.reason",
        "a.zip",
        "a.zip.reason",
    ]


def test_a_symlink_to_a_file_outside_landing_is_rejected_unread(home, tmp_path):
    root, lake = home
    outside = tmp_path / "outside.csv"
    outside.write_text(HEADER + row("2026-11-02T08:00:00+08:00", "SECRET-VALUE"))
    drop(root, "gw/a.csv", GOOD.encode())
    link = root / "telemetry/gw/link.csv"
    link.symlink_to(outside)
    (root / "telemetry/linked-dir").symlink_to(tmp_path, target_is_directory=True)
    ingest(root, lake)
    assert ledger(lake) == {
        "telemetry/gw/a.csv": ("ingested", None),
        "telemetry/gw/link.csv": ("rejected", "symlink"),
        "telemetry/linked-dir": ("rejected", "symlink"),
    }
    assert "SECRET" not in str(lake.read(BRONZE_TELEMETRY)["value"].to_list())
    moved = root / "rejected/telemetry/gw/link.csv"
    assert moved.is_symlink() and outside.exists()  # the link moved, the target untouched
    reason = (root / "rejected/telemetry/gw/link.csv.reason").read_text()
    assert reason.startswith("symlink\n") and "SECRET" not in reason


def test_fifos_and_sockets_are_rejected_without_being_opened(home):
    root, lake = home
    drop(root, "gw/a.csv", GOOD.encode())
    os.mkfifo(root / "telemetry/gw/pipe.csv")  # opening it for reading would block forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "telemetry/gw/s.csv"))
    try:
        ingest(root, lake)
    finally:
        sock.close()
    got = ledger(lake)
    assert got["telemetry/gw/pipe.csv"] == ("rejected", "special_file")
    assert got["telemetry/gw/s.csv"] == ("rejected", "special_file")
    assert got["telemetry/gw/a.csv"] == ("ingested", None)


def test_in_progress_files_are_not_ingested_and_get_a_ledger_row_once_stale(home):
    root, lake = home
    for name in ("a.csv.part", "a.csv.tmp", "a.csv~", ".a.csv", "a.csv.inprogress", "a.csv.partial"):
        drop(root, f"gw/{name}", GOOD.encode(), mtime=NOW.timestamp() - 600)
    first = ingest(root, lake)
    assert first.records == 0 and ledger(lake) == {}
    later = NOW + dt.timedelta(hours=25)
    second = ingest(root, lake, run="r2", now=later)
    assert second.records == 0
    got = ledger(lake)
    assert len(got) == 6 and {s for s, _ in got.values()} == {"in_progress"}
    assert all(r.startswith("stale_in_progress") for _, r in got.values())
    ingest(root, lake, run="r3", now=later)  # recorded once, not every run
    assert lake.read(LANDING_FILES).height == 6
    assert all((root / "telemetry/gw" / n).exists() for n in (".a.csv", "a.csv.part"))


def test_a_reading_stamped_in_the_future_is_quarantined_in_its_batch_day(home):
    root, lake = home
    future = row("2099-01-01T08:00:00+08:00")
    near = row("2026-11-03T10:30:00+08:00")  # 30 minutes ahead of NOW: within the 60-minute tolerance
    drop(root, "gw/a.csv", (GOOD + future + near).encode())
    ingest(root, lake)
    bronze = lake.read(BRONZE_TELEMETRY).sort("line_no")
    assert bronze["reading_day"].to_list() == [dt.date(2026, 11, 2)] * 3 + [dt.date(2026, 11, 3)]
    day = bronze.filter(pl.col("reading_day") == dt.date(2026, 11, 2))
    result = clean_telemetry(day, equipment(), day=dt.date(2026, 11, 2), run_id="r")
    assert result.reasons == {"future_timestamp": 1} and result.clean.height == 2 and result.reconciles
    tomorrow = clean_telemetry(
        bronze.filter(pl.col("reading_day") == dt.date(2026, 11, 3)),
        equipment(),
        day=dt.date(2026, 11, 3),
        run_id="r",
    )
    assert tomorrow.reasons == {} and tomorrow.clean.height == 1


def test_future_tolerance_is_a_setting(home):
    root, lake = home
    drop(root, "gw/a.csv", (GOOD + row("2026-11-03T10:30:00+08:00")).encode())
    ingest(root, lake, future_tolerance=dt.timedelta(minutes=5))
    bronze = lake.read(BRONZE_TELEMETRY)
    assert bronze["reading_day"].to_list() == [dt.date(2026, 11, 2)] * 3
    result = clean_telemetry(
        bronze, equipment(), day=dt.date(2026, 11, 2), run_id="r", future_tolerance=dt.timedelta(minutes=5)
    )
    assert result.reasons == {"future_timestamp": 1}


_KILL_AT_MOVE = textwrap.dedent(
    """
    import datetime as dt, os, shutil, signal, sys
    from pathlib import Path

    def die_if_rejecting(dst):
        if "/rejected/" in str(dst) and not str(dst).endswith((".reason", ".tmp")):
            os.kill(os.getpid(), signal.SIGKILL)  # crash between the ledger and the move

    for mod, name in ((os, "replace"), (os, "rename"), (shutil, "move")):
        real = getattr(mod, name)
        def patched(src, dst, *a, _real=real, **k):
            die_if_rejecting(dst)
            return _real(src, dst, *a, **k)
        setattr(mod, name, patched)

    from assets.telemetry.ingest import ingest_landing
    from warehouse.storage import Lake
    ingest_landing(Path(sys.argv[1]), Lake(Path(sys.argv[2])), run_id="killed",
                   now=dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC))
    """
)


def test_a_kill_between_ledger_and_move_leaves_a_rejection_that_the_next_run_completes(home, tmp_path):
    root, lake = home
    drop(root, "gw/a.csv", GOOD.encode())
    drop(root, "gw/empty.csv", b"")
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", _KILL_AT_MOVE, str(root), str(lake.root)], cwd=repo, capture_output=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    # the crash came after the ledger commit: the rejection is accounted for, the file not yet moved
    assert ledger(lake)["telemetry/gw/empty.csv"] == ("rejected", "empty_file")
    assert (root / "telemetry/gw/empty.csv").exists()
    result = ingest(root, lake, run="r2")
    assert result.moved == 1 and result.files.height == 0
    assert not (root / "telemetry/gw/empty.csv").exists()
    assert (root / "rejected/telemetry/gw/empty.csv").exists()
    assert (root / "rejected/telemetry/gw/empty.csv.reason").read_text().startswith("empty_file\n")
    assert lake.read(LANDING_FILES).height == 2 and lake.read(BRONZE_TELEMETRY).height == 2


def test_bronze_committed_without_its_ledger_is_recorded_not_ingested_twice(home, monkeypatch):
    root, lake = home
    drop(root, "gw/a.csv", GOOD.encode())

    def crash(*a, **k):
        raise RuntimeError("killed before the ledger commit")

    monkeypatch.setattr(Lake, "upsert", crash)
    with pytest.raises(RuntimeError):
        ingest(root, lake)
    monkeypatch.undo()
    assert lake.read(BRONZE_TELEMETRY).height == 2 and ledger(lake) == {}
    ingest(root, lake, run="r2")
    assert lake.read(BRONZE_TELEMETRY).height == 2
    files = lake.read(LANDING_FILES)
    assert files.select("status", "records", "reading_days").rows() == [
        ("ingested", 2, [dt.date(2026, 11, 2)])
    ]


def test_threaded_reads_record_what_a_one_by_one_pass_would_in_listing_order(home, monkeypatch):
    """Files are read and parsed ahead on threads; fates are still decided in listing order: the first
    name of a content is the earliest listed, a copy of a rejected file is rejected again, and a copy of
    a file rejected in an earlier run is parsed (its bytes were skipped as known) and rejected again."""
    import assets.telemetry.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "PARSE_BATCH", 2)  # files read and parsed two by two
    monkeypatch.setattr(ingest_module, "PARSE_AHEAD", 3)  # settle while later batches are still in flight
    root, lake = home
    bad = (GOOD + f'U,E,power,t,"{"9" * 140_000}",kW\n').encode()
    drop(root, "gw/0-bad.csv", bad)
    drop(root, "gw/1-copy-of-bad.csv", bad)
    for i in range(12):
        drop(root, f"gw/2-{i:02d}.csv", GOOD.replace("10.5", f"{i}.5").encode())
    drop(root, "gw/3-copy-of-00.csv", GOOD.replace("10.5", "0.5").encode())
    ingest(root, lake)
    first = ledger(lake)
    assert first["telemetry/gw/0-bad.csv"] == ("rejected", "field_too_large")
    assert first["telemetry/gw/1-copy-of-bad.csv"] == ("rejected", "field_too_large")
    assert first["telemetry/gw/3-copy-of-00.csv"] == (
        "duplicate_file",
        "same content as telemetry/gw/2-00.csv",
    )
    assert lake.read(BRONZE_TELEMETRY).height == 24
    drop(root, "gw/4-bad-again.csv", bad)  # known digest (rejected before) under a new name
    ingest(root, lake, run="r2")
    assert ledger(lake)["telemetry/gw/4-bad-again.csv"] == ("rejected", "field_too_large")
    assert lake.read(BRONZE_TELEMETRY).height == 24
