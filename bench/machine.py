"""Where and on what the benchmark runs: the repo and its commit, the machine, the work folder, and
the child processes every measured step runs in (peak RSS, timeout, RSS limit)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from rich.console import Console

from warehouse.settings import THIRD_PARTY_ENV

REPO = Path(__file__).resolve().parent.parent


GIB = 1 << 30


MIB = 1 << 20


class BenchMismatch(AssertionError):
    """The engines disagree on the per-equipment output: no time is reported."""


class ChildFailed(RuntimeError):
    pass


def work_dir_of(work_dir: Path | None) -> Path:
    if work_dir is not None:
        return Path(work_dir).resolve()
    env = os.environ.get("LAKEHOUSE_BENCH_HOME")
    return Path(env).resolve() if env else REPO / "bench" / "work"


def write_results(name: str, results: dict) -> Path:
    """A service bench's numbers: bench/results/<name>.json (beside make bench's), and on stdout."""
    path = REPO / "bench" / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return path


def resolve(path: Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else REPO / path


def fmt_rows(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def git_info() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or "nogit",
        "dirty": bool(git("status", "--porcelain")),
    }


CODE_UNDER_TEST = (
    "assets/telemetry/landing.py",
    "assets/telemetry/formats.py",
    "assets/telemetry/ingest.py",
    "assets/telemetry/buckets.py",
    "assets/telemetry/transform.py",
    "assets/telemetry/shards.py",
    "assets/theme/energy.py",
    "assets/enterprise/master.py",
    "warehouse/storage.py",
    "warehouse/lake_files.py",
    "warehouse/registry/telemetry.py",
    "quality/rules/telemetry.py",
    "quality/checks.py",
    "quality/gx.py",
)


def code_fingerprint() -> dict[str, str]:
    """SHA-256 (12 hex) of each project file the benchmark exercises: the worktree may differ from HEAD."""
    import hashlib

    out = {}
    for rel in CODE_UNDER_TEST:
        path = REPO / rel
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "missing"
    return out


def machine_info() -> dict:
    import deltalake
    import duckdb
    import polars
    import pyarrow

    vm = psutil.virtual_memory()
    try:  # the distribution's version, without paying the ~10 s import
        from importlib.metadata import version

        gx_version = version("great_expectations")
    except Exception:
        gx_version = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_model": cpu_model(),
        "ram_gib": round(vm.total / GIB, 1),
        "ram_available_gib_at_start": round(vm.available / GIB, 1),
        "loadavg_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "polars": polars.__version__,
            "duckdb": duckdb.__version__,
            "deltalake": deltalake.__version__,
            "pyarrow": pyarrow.__version__,
            "great_expectations": gx_version,
        },
    }


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def run_child(spec: dict, spec_dir: Path, *, timeout: float, rss_limit: int) -> dict:
    """Run one task in a fresh `python -m bench.child` process; poll its RSS; return its result JSON."""
    spec_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{spec['task']}-{int(time.time() * 1000)}"
    spec = {**spec, "result_path": str(spec_dir / f"{stem}.result.json")}
    spec_path = spec_dir / f"{stem}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1, default=str))
    load_before = os.getloadavg()[0]
    Path(spec["result_path"]).unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    for name, value in THIRD_PARTY_ENV.items():
        env.setdefault(name, value)
    env.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    log = spec_dir / f"{stem}.log"
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.child", str(spec_path)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        ps = psutil.Process(proc.pid)
        polled, killed = 0, None
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
                polled = max(polled, rss)
            except psutil.Error:
                pass
            if polled > rss_limit:
                killed = f"peak RSS passed the limit of {rss_limit / GIB:.1f} GiB"
            elif time.perf_counter() - t0 > timeout:
                killed = f"timeout after {timeout:.0f} s"
            if killed:
                proc.kill()  # our own child, by pid
                proc.wait()
                break
            time.sleep(0.05)
    wall = time.perf_counter() - t0
    if killed:
        return {
            "task": spec["task"],
            "status": "killed",
            "error": killed,
            "wall": wall,
            "polled_peak_rss": polled,
            "peak_rss": polled,
            "seconds": {},
        }
    result_path = Path(spec["result_path"])
    if not result_path.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise ChildFailed(f"child {spec['task']} exited {proc.returncode} without a result:\n{tail}")
    result = json.loads(result_path.read_text())
    result["polled_peak_rss"] = polled
    result["process_wall"] = wall
    result["loadavg1_before"] = load_before
    if result["status"] != "ok":
        raise ChildFailed(f"child {spec['task']} failed:\n{result.get('error')}")
    return result


@dataclass
class Bench:
    """What every phase of a benchmark run shares: where it works and how it runs children."""

    console: Console
    work: Path
    specs: Path
    timeout: float
    rss_limit: int
    shard_workers: int | None = None  # None: the settings' (LAKEHOUSE_SHARD_WORKERS or its default)
    shard_rows: int | None = None
    skipped: str = ""  # why the last size was skipped

    def child(self, spec: dict, what: str) -> dict:
        with self.console.status(what):
            return run_child(spec, self.specs, timeout=self.timeout, rss_limit=self.rss_limit)


def rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
