"""Beyond memory: real entropy and pattern mining of a synthetic Parquet log, five ways —
in memory (`load_sequences` + the Rust core, what `unids entropy|mine` does), streamed in
batches of whole users (`--stream`), as a Spark `local[2]` job (`--engine spark`: shuffle by
user), as the Spark job on a log grouped by user whose row groups the tasks read with pyarrow
(`--presorted` on Parquet: `read_parquet_log`), and as the job on a DataFrame told it is
grouped (`presorted=True` on a DataFrame, what `--presorted` does on CSV: no shuffle but for
the users at partition edges) — with wall time, peak memory and the ratios between them, on
the same file in the same run.

The log is `bench_scale.synthetic_log` (Zipf item popularity, log-normal user activity) written
as Parquet grouped by user, timestamps 0, 1, 2, … per user, row groups of 1M rows. Every
(size, way, task) runs in a fresh process; its peak memory is the peak resident set of the
whole process tree, sampled every 50 ms (for Spark: the driver, the JVM and the Python
workers), and the answers of the four ways are compared (identical tables or summaries).

    python benches/bench_stream.py [--sizes 10 --sizes 50] [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, fmt_bytes, fmt_s, markdown_table

WAYS = ("memory", "stream", "spark", "spark-pyarrow", "spark-presorted", "spark-presorted-df")
TASKS = ("entropy", "mine")
ITEMS, ZIPF_S = 50_000, 1.0
ROW_GROUP = 1 << 20
SPARK_CONF = {"spark.driver.memory": "8g", "spark.ui.enabled": "false",
              "spark.local.dir": tempfile.gettempdir()}


# --- data -----------------------------------------------------------------------------------


def write_log(path: Path, total: int, users: int) -> None:
    from bench_scale import synthetic_log

    seqs = synthetic_log(total, users, ITEMS, ZIPF_S, seed=total)
    offsets = seqs.offsets.to_numpy().astype(np.int64)
    values = seqs.values.to_numpy()
    schema = pa.schema([("user_id", pa.int64()), ("item_id", pa.int32()),
                        ("timestamp", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, total, ROW_GROUP):
            stop = min(start + ROW_GROUP, total)
            owner = np.searchsorted(offsets, np.arange(start, stop), side="right") - 1
            stamp = (np.arange(start, stop) - offsets[owner]).astype(np.float64)
            writer.write_table(pa.table({"user_id": owner, "item_id": values[start:stop],
                                         "timestamp": stamp}, schema=schema))


# --- peak memory of a process tree ------------------------------------------------------------


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * 4096
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class PeakSampler:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            self._stop.wait(0.05)

    def __enter__(self) -> PeakSampler:
        self.base = _tree_rss(os.getpid())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- one (way, task) in a fresh process ----------------------------------------------------------


def child(way: str, task: str, path: str, out: str) -> dict:
    import unids
    from unids.io import load_sequences
    from unids.io.streaming import stream_sequences
    from unids.mining.partial import mine_in_passes
    from unids.quality.entropy import entropy_table, entropy_table_batches

    result: dict = {"way": way, "task": task}
    with PeakSampler() as peak:
        start = time.perf_counter()
        if way == "memory":
            train = load_sequences(path).truncate_tail(2)
            result["load_s"] = time.perf_counter() - start
            if task == "entropy":
                table, summary = entropy_table(train.users, train.items)
            else:
                table = unids.mine_patterns(train.items)
        elif way == "stream":
            if task == "entropy":
                table, summary = entropy_table_batches(stream_sequences(path, holdout=2))
            else:
                table, _ = mine_in_passes(
                    lambda: (b.items for b in stream_sequences(path, holdout=2)))
        else:
            from unids.distributed import spark as backend

            session = backend.session("local[2]", config=SPARK_CONF)
            session.sparkContext.setLogLevel("ERROR")
            result["session_s"] = time.perf_counter() - start
            presorted = way == "spark-presorted-df"
            if way in ("spark-pyarrow", "spark-presorted"):
                df = backend.read_parquet_log(session, path, grouped=way == "spark-presorted")
                result["tasks"] = len(df.ranges)
            else:
                df = session.read.parquet(path)
            if task == "entropy":
                table = backend.real_entropy_spark(df, holdout=2, presorted=presorted).toArrow()
                table = table.sort_by("user_id").combine_chunks()
                from unids.quality.entropy import summarize

                summary = summarize(table, "exact")
            else:
                result["levels"] = []
                table, _ = backend.mine_patterns_spark(df, holdout=2, presorted=presorted,
                                                       stats=result["levels"])
            result["job_s"] = time.perf_counter() - start - result["session_s"]
        result["seconds"] = time.perf_counter() - start
        if way.startswith("spark"):
            session.stop()
    result["peak_tree_rss"] = peak.peak
    result["rss_before"] = peak.base
    if task == "entropy":
        result["summary"] = summary.as_dict()
        table = table.take(pa.array(np.argsort(table["user_id"].to_numpy(), kind="stable")))
    else:
        result["patterns"] = table.num_rows
        meta = table.schema.metadata or {}
        result["theta"] = meta.get(b"theta", b"").decode()
    pq.write_table(table, out)
    return result


def run_child(way: str, task: str, path: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", way, task, str(path), str(out)]
    load = os.getloadavg()[0]  # the machine is shared: record how busy it was
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{way} {task} failed:\n{done.stderr[-4000:]}")
    run = json.loads(done.stdout.strip().splitlines()[-1])
    run["load_before"], run["load_after"] = load, os.getloadavg()[0]
    return run


def same(a: Path, b: Path) -> bool:
    """Same rows and θ/H1; floats compared bit for bit (NaN included)."""
    x, y = pq.read_table(a), pq.read_table(b)
    for key in (b"theta", b"h1"):
        if (x.schema.metadata or {}).get(key) != (y.schema.metadata or {}).get(key):
            return False
    if x.column_names != y.column_names or x.num_rows != y.num_rows:
        return False
    for name in x.column_names:
        p, q = x[name].combine_chunks(), y[name].combine_chunks()
        if pa.types.is_floating(p.type):
            if not np.array_equal(p.to_numpy().view(np.int64), q.to_numpy().view(np.int64)):
                return False
        elif not p.equals(q):
            return False
    return True


@click.command()
@click.option("--sizes", multiple=True, type=int, default=(10, 50), show_default=True,
              help="Millions of interactions (users = interactions / 50).")
@click.option("--quick", is_flag=True, help="smoke run: 1M interactions")
@click.option("--ways", multiple=True, type=click.Choice(WAYS), default=WAYS, show_default=True)
@click.option("--child", "child_args", nargs=4, type=str, default=None, hidden=True)
def main(sizes: tuple[int, ...], quick: bool, ways: tuple[str, ...],
         child_args: tuple[str, str, str, str] | None) -> None:
    if child_args is not None:
        print(json.dumps(child(*child_args)))
        return
    sizes = (1,) if quick else sizes
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_stream-") as tmp:
        for millions in sizes:
            total, users = millions * 1_000_000, millions * 20_000
            path = Path(tmp) / f"log-{millions}M.parquet"
            start = time.perf_counter()
            write_log(path, total, users)
            click.echo(f"{millions}M: wrote {fmt_bytes(path.stat().st_size)} in "
                       f"{fmt_s(time.perf_counter() - start)}", err=True)
            for task in TASKS:
                outputs = {}
                for way in ways:
                    out = Path(tmp) / f"{way}-{task}-{millions}.parquet"
                    run = run_child(way, task, path, out)
                    run.update(interactions=total, users=users, file_bytes=path.stat().st_size)
                    outputs[way] = out
                    runs.append(run)
                    click.echo(f"  {task:8s} {way:18s} {fmt_s(run['seconds']):>9s}  peak "
                               f"{fmt_bytes(run['peak_tree_rss'])}", err=True)
                reference = outputs.get("memory") or next(iter(outputs.values()))
                for way, out in outputs.items():
                    for run in runs:
                        if run["way"] == way and run["task"] == task and \
                                run["interactions"] == total:
                            run["equal_to_memory"] = same(out, reference)
            path.unlink()
    body = report(runs, ways)
    emit("bench_stream", "Beyond memory: streaming and Spark local[2] (bench_stream.py)", body,
         {"runs": runs, "spark_conf": SPARK_CONF, "items": ITEMS, "zipf_s": ZIPF_S}, quick)


def report(runs: list[dict], ways: tuple[str, ...]) -> str:
    def find(total: int, task: str, way: str) -> dict | None:
        return next((r for r in runs if r["interactions"] == total and r["task"] == task
                     and r["way"] == way), None)

    rows = []
    for run in runs:
        memory = find(run["interactions"], run["task"], "memory")
        stream = find(run["interactions"], run["task"], "stream")
        extra = ""
        if run["way"].startswith("spark"):
            extra = f"session {fmt_s(run['session_s'])}, job {fmt_s(run['job_s'])}"
            if "tasks" in run:
                extra += f", {run['tasks']} tasks"
        elif run["way"] == "memory":
            extra = f"load + sort {fmt_s(run['load_s'])}"
        rows.append((
            f"{run['interactions']:,}", run["task"], run["way"], fmt_s(run["seconds"]), extra,
            fmt_bytes(run["peak_tree_rss"]),
            f"{run['seconds'] / memory['seconds']:.2f}×" if memory else "—",
            f"{run['seconds'] / stream['seconds']:.2f}×" if stream else "—",
            "yes" if run.get("equal_to_memory") else "NO",
            f"{run['load_before']:.1f} → {run['load_after']:.1f}",
        ))
    lines = [
        f"**Synthetic Parquet logs** ({ITEMS:,} items, Zipf s = {ZIPF_S}, 50 interactions per "
        "user on average, grouped by user, int64 user, int32 item, float64 timestamp). Holdout 2 "
        "(the CLI default); mining at defaults. Each row is one fresh process; peak = the "
        "largest resident set of its whole process tree (Spark: driver, JVM, Python workers). "
        "The 2 cores are shared with other jobs whose load comes and goes (load = the 1-minute "
        "load average before → after the row; 2.0 is both cores busy); runs of the same code "
        "have differed by up to 2× (Spark most), so compare rows of one run. "
        f"Spark: `local[2]`, {json.dumps(SPARK_CONF)}.",
        "",
        markdown_table(["interactions", "task", "way", "time", "of which", "peak memory",
                        "÷ memory", "÷ stream", "same answer", "load"], rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
