"""Child-process side of the benchmark: `python -m bench.child <spec.json>`.

The spec names a task (generate, ours, polars, duckdb, gate, analyst, sync, housekeeping) and its parameters; the child runs
it, timing named steps and sampling its own RSS per step, and writes a result JSON next to the spec with
the timings, its peak RSS (getrusage high-water mark) and whatever the task returns.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.02


class Steps:
    """Wall time and peak RSS per named step; steps may nest ("silver" > "silver.clean")."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.rss_peak: dict[str, int] = {}
        self._active: list[str] = []
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._note()

    def _note(self) -> None:
        try:
            rss = self._proc.memory_info().rss
        except psutil.Error:
            return
        with self._lock:
            for name in self._active:
                if rss > self.rss_peak.get(name, 0):
                    self.rss_peak[name] = rss

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        with self._lock:
            self._active.append(name)
        self._note()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self._note()
            with self._lock:
                self._active.remove(name)

    def wrap(self, name: str, fn):
        """`fn` timed on every call (accumulated) as `<outermost active step>.<name>`.

        For instrumenting project functions called from several steps (a Delta write in ingest and in
        silver is accounted to each).
        """

        def wrapper(*args, **kwargs):
            with self._lock:
                outer = self._active[0] if self._active else None
            label = name if outer is None or name.startswith(outer + ".") else f"{outer}.{name}"
            with self.step(label):
                return fn(*args, **kwargs)

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark.

    VmHWM of /proc/self/status is the high-water mark of this process's own address space. getrusage's
    ru_maxrss is not used where VmHWM exists: Linux carries the forking parent's high-water mark across
    fork + exec into it, so a child would report at least the parent's RSS.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run(spec: dict) -> dict:
    t_start = time.perf_counter()
    steps = Steps()
    task = spec["task"]
    try:
        with steps.step("import"):
            if task == "generate":
                from bench.data import generate_task as fn
            elif task in ("ours", "polars", "duckdb"):
                from bench import bare, engines

                fn = {"ours": engines.ours, "polars": bare.bare_polars, "duckdb": bare.bare_duckdb}[task]
            elif task == "gate":
                from bench.gate import gate_task as fn
            elif task == "analyst":
                from bench.analyst import analyst_task as fn
            elif task == "sync":
                from bench.sync import sync_task as fn
            elif task == "housekeeping":
                from bench.housekeeping import housekeeping_task as fn
            else:
                raise ValueError(f"unknown task {task}")
        rss_after_import = psutil.Process().memory_info().rss
        if spec.get("profile"):
            import cProfile

            prof = cProfile.Profile()
            out = prof.runcall(fn, spec, steps)
            prof.dump_stats(spec["profile"])
        else:
            out = fn(spec, steps)
        status, error = "ok", None
    except Exception as exc:  # reported to the parent, which fails loudly
        out, status, error = {}, "error", "".join(traceback.format_exception(exc))
        rss_after_import = 0
    finally:
        steps.close()
    return {
        "task": task,
        "status": status,
        "error": error,
        "seconds": steps.seconds,
        "rss_peak_step": steps.rss_peak,
        "rss_after_import": rss_after_import,
        "peak_rss": peak_rss_bytes(),
        "wall": time.perf_counter() - t_start,
        "pid": os.getpid(),
        **out,
    }


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    result = run(spec)
    Path(spec["result_path"]).write_text(json.dumps(result, indent=1, default=str))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
