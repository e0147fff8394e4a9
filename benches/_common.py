"""Shared helpers for the benchmark scripts: timing, machine info, markdown and JSON output."""

from __future__ import annotations

import datetime as dt
import gc
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benches" / "results"
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"
BENCH_VENV = REPO_ROOT / ".venv-bench"
SKMOB_VENV = REPO_ROOT / ".venv-skmob"

PACKAGES = (
    "unids",
    "numpy",
    "pyarrow",
    "fastmob",
    "ProcessEntropy",
    "LCSFinder",
    "seq2pat",
    "scikit-learn",
    "click",
)


def repo_relative(path: str | Path) -> str:
    """A path as the repository's records keep it: relative to the repository root (the
    shared data is `../shared/data`), so no machine's absolute paths land in the repo."""
    return os.path.relpath(Path(path).resolve(), REPO_ROOT)


def load_reference() -> ModuleType | None:
    """tests/reference.py (the plain-Python definitions), if it exists."""
    path = REPO_ROOT / "tests" / "reference.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("unids_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------


def time_runs(fn: Callable[[], Any], repeat: int, warmup: int = 0) -> tuple[list[float], Any]:
    """Wall-clock seconds of `repeat` calls of `fn` (after `warmup` untimed calls) and the last
    result. The garbage collector is run before and disabled during each call."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(repeat, 1)):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return times, result


def median(times: Sequence[float]) -> float:
    return float(statistics.median(times))


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fmt_s(seconds: float | None) -> str:
    """Seconds with a sensible unit."""
    if seconds is None or seconds != seconds:  # None or NaN
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def fmt_ratio(peer: float | None, ours: float | None) -> str:
    if not peer or not ours:
        return "—"
    return f"{peer / ours:,.1f}×"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


# ------------------------------------------------------------------------------------------------
# Machine and versions
# ------------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(extra_versions: dict[str, str] | None = None) -> dict[str, Any]:
    """nproc, CPU model, RAM, Python and the versions of the packages this interpreter sees."""
    versions = {name: _version(name) for name in PACKAGES}
    versions.update(extra_versions or {})
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_bytes": _ram_bytes(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {k: v for k, v in versions.items() if v is not None},
        "unids_git": _git_rev(),
    }


def _git_rev() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "rust", "python"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_markdown(info: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return (
        f"Machine: {info['nproc']} cores (`nproc`), {info['cpu']}, "
        f"{fmt_bytes(info['ram_bytes'])} RAM, Python {info['python']}, {info['platform']}.  \n"
        f"Versions: {versions}; unids at git {info['unids_git']}."
    )


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def floor_rows(floors: Sequence[tuple[str, str, bool | None]]) -> str:
    """(floor, measured, passed) triples as a markdown table."""
    verdict = {True: "**pass**", False: "**FAIL**", None: "n/a"}
    return markdown_table(
        ["floor (from the issue)", "measured", "result"],
        [(f, m, verdict[p]) for f, m, p in floors],
    )


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def write_json(script: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{script}-{utc_stamp()}.json"
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    return path


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def append_markdown(title: str, body: str, info: dict[str, Any], quick: bool) -> None:
    """Append a dated section to BENCHMARKS.md (creating the file with a preamble if needed)."""
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text(
            "# Benchmarks\n\n"
            "Appended by the scripts in `benches/` (newest last); raw numbers are in "
            "`benches/results/*.json`. Recreate the peer environments with "
            "`bash benches/setup_peers.sh`.\n"
        )
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    tag = " (--quick smoke run, not a measurement)" if quick else ""
    section = f"\n## {title} — {when}{tag}\n\n{machine_markdown(info)}\n\n{body.strip()}\n"
    with BENCHMARKS_MD.open("a") as fh:
        fh.write(section)


def emit(script: str, title: str, body: str, payload: dict[str, Any], quick: bool) -> None:
    """Print the markdown, append it to BENCHMARKS.md and write the JSON record."""
    info = machine_info(payload.pop("_extra_versions", None))
    payload = {"script": script, "utc": utc_stamp(), "quick": quick, "machine": info, **payload}
    print(f"\n## {title}\n\n{machine_markdown(info)}\n\n{body}")
    append_markdown(title, body, info, quick)
    path = write_json(script, payload)
    print(
        f"\nappended to {BENCHMARKS_MD.relative_to(REPO_ROOT)}; JSON: {path.relative_to(REPO_ROOT)}"
    )
