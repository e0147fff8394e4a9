"""`unids format` in memory vs `--engine spark --master local[2]` on a synthetic prepared
dataset: wall time, peak memory, the ratio between them, and whether the outputs are equal.

The dataset looks like a large ML-1M: users with ≥ 3 interactions (log-normal activity), Zipf
item popularity, clock timestamps, ratings 1–5 with a label (rating ≥ 4), a user `age` and
item `genres` — so the recall stage runs the DP with `domain` tokens and the fine stage
interleaves rating tokens and uses `behavior` tokens. `sequences.parquet` is written in row
groups of 65,536 users (the Spark tasks read ranges of them). Each run is a fresh `unids
format` process; peak = largest resident set of its process tree (driver, JVM, workers).

    python benches/bench_format_spark.py [--sizes 10 --sizes 50] [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, fmt_bytes, fmt_s, markdown_table
from bench_stream import PeakSampler

ITEMS, ZIPF_S, GENRES = 50_000, 1.0, 18
USERS_PER_GROUP = 1 << 16
STAGES = ("recall", "fine")
WAYS = ("memory", "spark")
SPARK_CONF = ("spark.driver.memory=8g", "spark.ui.enabled=false",
              f"spark.local.dir={tempfile.gettempdir()}")


def write_dataset(directory: Path, total: int, users: int, seed: int = 0) -> None:
    """A prepared dataset (the layout `unids data prepare` writes) of `total` interactions."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.0, users)
    lengths = 3 + rng.multinomial(total - 3 * users, weights / weights.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    cdf = np.cumsum(1.0 / np.arange(1, ITEMS + 1) ** ZIPF_S)
    cdf /= cdf[-1]
    ids = rng.permutation(ITEMS).astype(np.int32) + 1
    items = ids[np.minimum(np.searchsorted(cdf, rng.random(total), side="right"), ITEMS - 1)]
    gaps = rng.choice([0.0, 30.0, 600.0, 86400.0, 2.6e6], total)
    times = np.cumsum(gaps)
    times -= np.repeat(times[offsets[:-1]], lengths)  # every user starts at 0
    ratings = rng.integers(1, 6, total).astype(np.float64)

    def lists(values: np.ndarray) -> pa.ListArray:
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))

    directory.mkdir(parents=True)
    sequences = pa.table({"user": pa.array(np.arange(1, users + 1, dtype=np.int32)),
                          "items": lists(items), "timestamps": lists(times),
                          "rating": lists(ratings), "label": lists((ratings >= 4).astype(np.int8))})
    pq.write_table(sequences, directory / "sequences.parquet", row_group_size=USERS_PER_GROUP)
    pq.write_table(pa.table({"user": np.arange(1, users + 1, dtype=np.int32),
                             "age": rng.choice([1, 18, 25, 35, 45, 50, 56], users)}),
                   directory / "users.parquet")
    genres = [sorted({f"g{g}" for g in rng.integers(0, GENRES, rng.integers(1, 4))})
              for _ in range(ITEMS)]
    pq.write_table(pa.table({"item": np.arange(1, ITEMS + 1, dtype=np.int32),
                             "genres": pa.array(genres, pa.list_(pa.string()))}),
                   directory / "items.parquet")
    manifest = {"schema_version": 1, "name": f"synthetic-{total // 1_000_000}M",
                "counts": {"users": users, "items": ITEMS, "interactions": total},
                "split": {"kind": "leave-one-out", "holdout": 2}, "behaviors": ["rating"],
                "label": {"column": "rating", "threshold": 4.0}, "sources": [], "notes": []}
    (directory / "manifest.json").write_text(json.dumps(manifest))


def run(way: str, stage: str, dataset: Path, out: Path) -> dict:
    cmd = [sys.executable, "-m", "unids", "format", str(dataset), "--stage", stage, "-o",
           str(out), "--json"]
    if way == "spark":
        cmd += ["--engine", "spark", "--master", "local[2]"]
        for pair in SPARK_CONF:
            cmd += ["--spark-conf", pair]
    load = os.getloadavg()[0]  # the machine is shared: record how busy it was
    with PeakSampler() as peak:
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{way} {stage} failed:\n{done.stderr[-4000:]}")
    summary = json.loads(done.stdout)
    return {"way": way, "stage": stage, "seconds": seconds, "peak_tree_rss": peak.peak,
            "patterns": summary["counts"]["patterns"], "tokens": summary["counts"]["tokens"],
            "load_before": load, "load_after": os.getloadavg()[0]}


def same_output(a: Path, b: Path) -> bool:
    tables_equal = all(pq.read_table(a / n).equals(pq.read_table(b / n), check_metadata=True)
                       for n in ("pt.parquet", "patterns.parquet"))
    manifests = [json.loads((d / "manifest.json").read_text()) | {"seconds": 0} for d in (a, b)]
    return tables_equal and manifests[0] == manifests[1] and \
        (a / "vocabulary.json").read_text() == (b / "vocabulary.json").read_text()


@click.command()
@click.option("--sizes", multiple=True, type=int, default=(10, 50), show_default=True,
              help="Millions of interactions (users = interactions / 50).")
@click.option("--quick", is_flag=True, help="smoke run: 1M interactions")
def main(sizes: tuple[int, ...], quick: bool) -> None:
    sizes = (1,) if quick else sizes
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_format_spark-") as tmp:
        for millions in sizes:
            total, users = millions * 1_000_000, millions * 20_000
            dataset = Path(tmp) / f"data-{millions}M"
            start = time.perf_counter()
            write_dataset(dataset, total, users)
            click.echo(f"{millions}M: wrote the dataset in {fmt_s(time.perf_counter() - start)}",
                       err=True)
            for stage in STAGES:
                outputs = {}
                for way in WAYS:
                    outputs[way] = Path(tmp) / f"{way}-{stage}-{millions}"
                    result = run(way, stage, dataset, outputs[way])
                    result.update(interactions=total, users=users)
                    runs.append(result)
                    click.echo(f"  {stage:7s} {way:7s} {fmt_s(result['seconds']):>9s}  peak "
                               f"{fmt_bytes(result['peak_tree_rss'])}", err=True)
                runs[-1]["equal_to_memory"] = same_output(outputs["spark"], outputs["memory"])
    emit("bench_format_spark", "PT formatting on Spark local[2] vs in memory "
         "(bench_format_spark.py)", report(runs),
         {"runs": runs, "spark_conf": SPARK_CONF, "items": ITEMS, "zipf_s": ZIPF_S}, quick)


def report(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        memory = next(m for m in runs if m["way"] == "memory" and m["stage"] == r["stage"]
                      and m["interactions"] == r["interactions"])
        rows.append([f"{r['interactions']:,}", r["stage"], r["way"], fmt_s(r["seconds"]),
                     fmt_bytes(r["peak_tree_rss"]), f"{r['seconds'] / memory['seconds']:.2f}×",
                     f"{r['tokens']:,}", {True: "yes", False: "NO"}.get(
                         r.get("equal_to_memory"), "—"),
                     f"{r['load_before']:.1f} → {r['load_after']:.1f}"])
    table = markdown_table(["interactions", "stage", "way", "time", "peak memory", "÷ memory",
                            "tokens", "same output", "load"], rows)
    return (f"Synthetic prepared datasets ({ITEMS:,} items, Zipf s = {ZIPF_S}, 50 interactions "
            f"per user on average, ≥ 3 each; clock times, ratings 1–5, user age, 1–3 of "
            f"{GENRES} genres per item; `sequences.parquet` in row groups of "
            f"{USERS_PER_GROUP:,} users). Each row is one `unids format` process; Spark: "
            f"`--master local[2]`, {', '.join(SPARK_CONF)}. The 2 cores are shared with "
            f"other jobs (load = 1-minute load average before → after).\n\n{table}\n")


if __name__ == "__main__":
    main()
