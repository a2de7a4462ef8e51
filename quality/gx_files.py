"""Great Expectations' files under ``gx_home`` that the project handles itself: the lock every writer takes,
and the retention of stored validation results and their Data Docs pages (housekeeping).

Plain files: nothing here imports GX, so housekeeping prunes without paying for the import.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


@contextlib.contextmanager
def file_lock(home: Path) -> Iterator[None]:
    """Serialise config writes across processes: GX rewrites great_expectations.yml whole on each change."""
    with open(home / ".gx.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Where a file context keeps results and their pages: <root>/<suite path>/<run name>/<run time>/<batch>.
RESULT_ROOTS = ("gx/uncommitted/validations", "gx/uncommitted/data_docs/local_site/validations")
_RUN_TIME = re.compile(r"^\d{8}T\d{6}(\.\d+)?Z$")


@dataclass
class PruneOutcome:
    results_removed: int  # run folders of stored results (JSON)
    pages_removed: int  # run folders of Data Docs pages (HTML)
    files_removed: int
    bytes_removed: int


def prune_results(gx_home: Path, older_than: timedelta, now: datetime) -> PruneOutcome:
    """Delete stored validation results and their Data Docs pages older than `older_than`.

    The newest result of each suite and partition stays whatever its age (a failed partition keeps the
    page its Dagster check links to). The site index is rebuilt by the next `build_data_docs`
    (catalog_job); until then it may list a removed page. Plain files, no GX import.
    """
    home = Path(gx_home).resolve()
    cutoff = now - older_than
    removed = {root: 0 for root in RESULT_ROOTS}
    files = size = 0
    if not home.is_dir():
        return PruneOutcome(0, 0, 0, 0)
    with file_lock(home):
        for root in RESULT_ROOTS:
            base = home / root
            if not base.is_dir():
                continue
            runs: dict[tuple[str, str], list[tuple[str, Path]]] = {}
            for run_time in base.rglob("*"):
                if not (run_time.is_dir() and _RUN_TIME.match(run_time.name)):
                    continue
                run_name = run_time.parent
                suite = str(run_name.parent.relative_to(base))
                runs.setdefault((suite, run_name.name.split(":", 1)[0]), []).append((run_time.name, run_time))
            for group in runs.values():
                group.sort()
                for name, folder in group[:-1]:  # the newest of the suite and partition stays
                    stamp = datetime.strptime(name.split(".")[0], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
                    if stamp >= cutoff:
                        continue
                    for f in folder.rglob("*"):
                        if f.is_file():
                            files, size = files + 1, size + f.stat().st_size
                    shutil.rmtree(folder, ignore_errors=True)
                    removed[root] += 1
                    with contextlib.suppress(OSError):
                        folder.parent.rmdir()  # the run name's folder, once empty
    return PruneOutcome(removed[RESULT_ROOTS[0]], removed[RESULT_ROOTS[1]], files, size)
