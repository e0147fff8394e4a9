"""The data layer: load + clean + split of ML-1M and of the Amazon Books sample against the same
pipeline written in pandas, and `load("parquet")` + `build_dataset` + `train()` on a large
synthetic Parquet log in a fresh process (wall time and peak RSS).

The unids pipeline is `unids.data.loaders.load` → `unids.data.dataset.build_dataset` (default
`CleanConfig`) → `Dataset.train()`, `Dataset.targets("valid")`, `Dataset.targets("test")`. The
pandas pipeline does the same work the way a pandas user would write it: `pd.read_csv` of the same
files, unknown ratings to NaN, users with fewer than 3 interactions dropped, a stable sort by
(user, timestamp), contiguous ids from `pd.factorize(sort=True)`, a leave-one-out split by
`groupby(user).cumcount(ascending=False)` and the training rows as `groupby(user).agg(list)`. Both
outputs are compared for every user. A fresh process per synthetic step keeps its peak RSS its
own; `--profile` adds a cProfile run of that step (done anyway when its floor fails).

The data folder is `$UNIDS_DATA`, else `../shared/data` relative to the repository root.

    python benches/bench_data.py [--quick]      (needs pandas: pip install pandas)
"""

from __future__ import annotations

import cProfile
import csv
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from unids.config import DATA_ENV, data_dir
from unids.data.dataset import HOLDOUT, CleanConfig, build_dataset
from unids.data.loaders import load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO_ROOT,
    emit,
    floor_rows,
    fmt_bytes,
    fmt_ratio,
    fmt_s,
    markdown_table,
    median,
    peak_rss_bytes,
    repo_relative,
    time_runs,
)

try:
    import pandas as pd
except ImportError:  # pragma: no cover - peer missing
    pd = None

MIN_LENGTH = CleanConfig().min_length
FLOOR_SMALL_S, FLOOR_RATIO = 3.0, 3.0
FLOOR_BIG_S, BOUND_BYTES = 60.0, 8 * 1024**3
BIG_ROWS, QUICK_ROWS = 50_000_000, 5_000_000
ROWS_PER_USER, ITEMS, ZIPF_S = 100, 100_000, 1.0
CHUNK = 5_000_000
ML1M_USERS = ["user_id", "gender", "age", "occupation", "zip"]
ML1M_MOVIES = ["item_id", "title", "genres"]


def shared_data() -> Path:
    """`unids.config.data_dir()`; its default (`../shared/data`) taken from the repo root."""
    path = data_dir()
    if DATA_ENV not in os.environ and not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    return path


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def vm_hwm_bytes() -> int:
    """This process's own peak RSS (VmHWM). Unlike ru_maxrss, which Linux carries across
    fork + exec (a child starts from its parent's peak), it starts afresh at exec."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------------------------------------
# The two pipelines (each returns per-stage seconds beside its output)
# ------------------------------------------------------------------------------------------------


def unids_pipeline(source: str, path: Path) -> tuple[dict[str, float], Any]:
    t0 = time.perf_counter()
    raw = load(source, path)
    t1 = time.perf_counter()
    dataset = build_dataset(raw)
    t2 = time.perf_counter()
    train = dataset.train()
    valid, test = dataset.targets("valid"), dataset.targets("test")
    t3 = time.perf_counter()
    stages = {"read": t1 - t0, "prepare": t2 - t1, "split": t3 - t2}
    return stages, (dataset, train, valid, test)


def pandas_read_ml1m(folder: Path, engine: str | None) -> tuple[Any, Any, Any]:
    kwargs = {} if engine is None else {"engine": engine}
    ratings = pd.read_csv(folder / "ratings_reconstructed.tsv.gz", sep="\t", **kwargs)
    ratings = ratings.rename(columns={"movie_id": "item_id"})
    ratings["rating"] = ratings["rating"].astype("float64")
    ratings.loc[ratings["rating_known"] == 0, "rating"] = np.nan
    users = pd.read_csv(
        folder / "users.dat",
        sep="::",
        engine="python",
        header=None,
        names=ML1M_USERS,
        encoding="latin-1",
    )
    movies = pd.read_csv(
        folder / "movies.dat",
        sep="::",
        engine="python",
        header=None,
        names=ML1M_MOVIES,
        encoding="latin-1",
    )
    movies["genres"] = movies["genres"].str.split("|")
    return ratings[["user_id", "item_id", "timestamp", "rating"]], users, movies


def pandas_read_amazon(folder: Path, engine: str | None) -> tuple[Any, Any, Any]:
    kwargs = {} if engine is None else {"engine": engine}
    log = pd.read_csv(folder / "interactions.tsv.gz", sep="\t", **kwargs)
    # Titles are unquoted free text: no quoting, and "NA", "null", … stay titles.
    items = pd.read_csv(folder / "items.tsv.gz", sep="\t", quoting=csv.QUOTE_NONE, na_filter=False)
    return log, None, items


def pandas_prepare(log, users, items, label: tuple[str, float] | None):
    """Clean (min length), stable time order per user, contiguous ids, the label column."""
    log = log[log["user_id"].map(log["user_id"].value_counts()) >= MIN_LENGTH]
    log = log.sort_values(["user_id", "timestamp"], kind="stable")
    user_codes, user_raw = pd.factorize(log["user_id"], sort=True)
    item_codes, item_raw = pd.factorize(log["item_id"], sort=True)
    log = log.assign(user=user_codes + 1, item=item_codes + 1)
    if label is not None:
        column, threshold = label
        log["label"] = (log[column] >= threshold).astype("Int8").mask(log[column].isna())
    user_table = None if users is None else users.set_index("user_id").reindex(user_raw)
    item_table = items.set_index("item_id").reindex(item_raw)
    return log, user_raw, item_raw, user_table, item_table


def pandas_split(log):
    """Leave-one-out: train = all but the last HOLDOUT of each user (as lists), valid = the
    second to last row, test = the last row."""
    columns = [c for c in ("item", "timestamp", "rating", "label") if c in log.columns]
    groups = log.groupby("user", sort=True)
    position, from_end = groups.cumcount(), groups.cumcount(ascending=False)
    train = log[from_end >= HOLDOUT].groupby("user", sort=True)[columns].agg(list)
    targets = [
        log.loc[from_end == k, ["user", *columns]].assign(history_length=position[from_end == k])
        for k in (1, 0)
    ]
    return train, targets[0], targets[1]


def pandas_pipeline(
    reader: Callable, folder: Path, engine: str | None, label: tuple[str, float] | None
) -> tuple[dict[str, float], Any]:
    t0 = time.perf_counter()
    log, users, items = reader(folder, engine)
    t1 = time.perf_counter()
    log, user_raw, item_raw, user_table, item_table = pandas_prepare(log, users, items, label)
    t2 = time.perf_counter()
    train, valid, test = pandas_split(log)
    t3 = time.perf_counter()
    stages = {"read": t1 - t0, "prepare": t2 - t1, "split": t3 - t2}
    return stages, (user_raw, item_raw, user_table, item_table, train, valid, test)


# ------------------------------------------------------------------------------------------------
# Equality of the two outputs
# ------------------------------------------------------------------------------------------------


def _none(value: Any) -> Any:
    """NaN and pd.NA as None (Arrow's null); numbers as Python numbers."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _lists(series) -> list[list[Any]]:
    return [[_none(v) for v in seq] for seq in series.tolist()]


def compare(ours: Any, theirs: Any, behaviors: tuple[str, ...]) -> list[tuple[str, bool]]:
    dataset, train, valid, test = ours
    user_raw, item_raw, user_table, item_table, ptrain, pvalid, ptest = theirs
    n = dataset.n_users
    checks = [
        (
            f"same users ({n:,}) and items ({dataset.n_items:,}), raw ids in the same order",
            np.array_equal(dataset.users["raw_user_id"].to_numpy(), np.asarray(user_raw))
            and np.array_equal(dataset.items["raw_item_id"].to_numpy(), np.asarray(item_raw))
            and train.users.tolist() == ptrain.index.tolist(),
        ),
        (f"train items equal, all {n:,} users", train.items.to_pylist() == _lists(ptrain["item"])),
        (
            f"train timestamps equal, all {n:,} users",
            train.timestamps.to_pylist() == _lists(ptrain["timestamp"]),
        ),
    ]
    for behavior in (*behaviors, *(["label"] if "label" in train.behaviors else [])):
        checks.append(
            (
                f"train `{behavior}` equal, all {n:,} users (NaN / NA = null)",
                train.behaviors[behavior].to_pylist() == _lists(ptrain[behavior]),
            )
        )
    for name, table, frame in (("valid", valid, pvalid), ("test", test, ptest)):
        same = all(
            table[c].to_pylist() == [_none(v) for v in frame[c].tolist()]
            for c in table.column_names
        )
        checks.append((f"{name} targets equal ({', '.join(table.column_names)})", same))
    titles = dataset.items["title"].to_pylist()
    checks.append(("item titles equal", titles == [_none(v) for v in item_table["title"]]))
    if user_table is not None:
        same = dataset.users["gender"].to_pylist() == user_table["gender"].tolist()
        checks.append(("user side table equal (gender)", same))
    return checks


# ------------------------------------------------------------------------------------------------
# One dataset against pandas
# ------------------------------------------------------------------------------------------------


def bench_source(
    label: str,
    source: str,
    folder: Path,
    reader: Callable,
    big_file: Path,
    pandas_label: tuple[str, float] | None,
    behaviors: tuple[str, ...],
    repeat: int,
) -> dict[str, Any]:
    click.echo(f"{label}: unids …", err=True)
    times, ours = time_runs(lambda: unids_pipeline(source, folder), repeat, warmup=1)
    rec: dict[str, Any] = {"unids": times}
    dataset = ours[1][0]
    # Per-stage medians come from separately timed runs (time_runs keeps only the last result).
    rec["unids_stages"] = stage_medians(lambda: unids_pipeline(source, folder)[0], repeat)
    rec["shape"] = {
        "users": dataset.n_users,
        "items": dataset.n_items,
        "interactions": dataset.n_interactions,
    }
    # Lower bounds for the read: gunzip of the log (one thread, as the loader does), and
    # pyarrow's CSV parser on the decompressed bytes.
    raw_bytes = big_file.read_bytes()
    rec["gunzip_s"] = median(time_runs(lambda: zlib.decompress(raw_bytes, wbits=31), repeat)[0])
    text = zlib.decompress(raw_bytes, wbits=31)
    rec["pyarrow_csv_s"] = median(
        time_runs(
            lambda: pacsv.read_csv(
                io.BytesIO(text), parse_options=pacsv.ParseOptions(delimiter="\t")
            ),
            repeat,
        )[0]
    )
    rec["file_bytes"], rec["text_bytes"] = len(raw_bytes), len(text)
    rec["pandas"], rec["checks"] = {}, []
    if pd is None:
        return rec
    for engine in (None, "pyarrow"):
        name = engine or "c"
        click.echo(f"{label}: pandas (read_csv engine={name}) …", err=True)
        times, theirs = time_runs(
            lambda engine=engine: pandas_pipeline(reader, folder, engine, pandas_label),
            repeat,
            warmup=1,
        )
        rec["pandas"][name] = {
            "times": times,
            "stages": stage_medians(
                lambda engine=engine: pandas_pipeline(reader, folder, engine, pandas_label)[0],
                repeat,
            ),
        }
        if engine is None:
            rec["checks"] = compare(ours[1], theirs[1], behaviors)
    return rec


def stage_medians(fn: Callable[[], dict[str, float]], repeat: int) -> dict[str, float]:
    runs = [fn() for _ in range(max(repeat, 1))]
    return {k: median([r[k] for r in runs]) for k in runs[0]}


# ------------------------------------------------------------------------------------------------
# The synthetic Parquet log (written by the parent, measured in a child process)
# ------------------------------------------------------------------------------------------------


def write_synthetic(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """`rows` interactions of ~rows/100 users (activity ~ log-normal(0, 1), sparse int64 ids)
    over ITEMS items (Zipf(ZIPF_S) popularity, ids 1..ITEMS shuffled), uniform float64
    timestamps, rows in random order; written in CHUNK-row row groups."""
    rng = np.random.default_rng(seed)
    n_users = max(rows // ROWS_PER_USER, 1)
    user_ids = np.sort(rng.choice(10**10, n_users, replace=False)).astype(np.int64)
    user_cdf = np.cumsum(rng.lognormal(0.0, 1.0, n_users))
    user_cdf /= user_cdf[-1]
    item_cdf = np.cumsum(1.0 / np.arange(1, ITEMS + 1) ** ZIPF_S)
    item_cdf /= item_cdf[-1]
    item_ids = rng.permutation(np.arange(1, ITEMS + 1, dtype=np.int64))
    schema = pa.schema(
        [("user_id", pa.int64()), ("item_id", pa.int64()), ("timestamp", pa.float64())]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            users = user_ids[np.minimum(np.searchsorted(user_cdf, rng.random(n)), n_users - 1)]
            items = item_ids[np.minimum(np.searchsorted(item_cdf, rng.random(n)), ITEMS - 1)]
            stamps = rng.uniform(1.0e9, 1.7e9, n)
            writer.write_table(
                pa.table([users, items, stamps], schema=schema), row_group_size=CHUNK
            )
    return {"rows": rows, "users_drawn": n_users, "items": ITEMS, "file_bytes": path.stat().st_size}


def synthetic_child(path: Path, profile: bool) -> dict[str, Any]:
    """load("parquet") + build_dataset + train() once, with the peak RSS after each stage."""
    baseline_rss, baseline_peak, baseline_hwm = (
        current_rss_bytes(),
        peak_rss_bytes(),
        vm_hwm_bytes(),
    )
    profiler = None
    if profile:
        expose_numpy_to_profiler()
        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    raw = load("parquet", path)
    t1 = time.perf_counter()
    peak_load = peak_rss_bytes()
    dataset = build_dataset(raw)
    t2 = time.perf_counter()
    peak_build = peak_rss_bytes()
    train = dataset.train()
    t3 = time.perf_counter()
    if profiler is not None:
        profiler.disable()
    out: dict[str, Any] = {
        "rows": raw.interactions.num_rows,
        "columns_bytes": raw.interactions.nbytes,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "interactions": dataset.n_interactions,
        "train_interactions": len(train.items.values),
        "seconds": t3 - t0,
        "stages": {"load": t1 - t0, "build_dataset": t2 - t1, "train": t3 - t2},
        "baseline_rss": baseline_rss,
        "baseline_peak_rss": baseline_peak,
        "baseline_vm_hwm": baseline_hwm,
        "peak_rss_after": {
            "load": peak_load,
            "build_dataset": peak_build,
            "train": peak_rss_bytes(),
        },
        "peak_rss": peak_rss_bytes(),
        "vm_hwm": vm_hwm_bytes(),
        "rss_end": current_rss_bytes(),
        "profiled": profile,
    }
    if profiler is not None:
        out["profile"] = {key: profile_lines(profiler, key) for key in ("tottime", "cumulative")}
    return out


def expose_numpy_to_profiler() -> None:
    """cProfile does not see numpy's C-level array functions (`np.lexsort`, …): it charges them
    to the caller. A thin Python wrapper on each `np.` attribute (one code object per name) makes
    calls through `np.` show under `np.<name>`. Array indexing stays in the caller's own time."""
    for name in dir(np):
        func = getattr(np, name)
        if type(func).__name__ != "_ArrayFunctionDispatcher":
            continue

        def wrapper(*args: Any, _func: Callable = func, **kwargs: Any) -> Any:
            return _func(*args, **kwargs)

        wrapper.__code__ = wrapper.__code__.replace(co_name=f"np.{name}")
        setattr(np, name, wrapper)


def profile_lines(profiler: cProfile.Profile, key: str, top: int = 20) -> str:
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats(key).print_stats(top)
    lines = stream.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


def run_child(*args: str) -> dict[str, Any]:
    """This script with hidden options in a fresh interpreter; its last stdout line is JSON."""
    cmd = [sys.executable, __file__, *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def source_rows(label: str, rec: dict[str, Any]) -> list[tuple]:
    t_ours = median(rec["unids"])
    st = rec["unids_stages"]
    rows = [
        (
            f"{label}: unids `load` → `build_dataset` → `train`/`targets`",
            fmt_s(t_ours),
            fmt_s(st["read"]),
            fmt_s(st["prepare"]),
            fmt_s(st["split"]),
            "1.0×",
        )
    ]
    for engine, peer in rec["pandas"].items():
        t = median(peer["times"])
        st = peer["stages"]
        rows.append(
            (
                f"{label}: pandas (`read_csv` engine `{engine}`)",
                fmt_s(t),
                fmt_s(st["read"]),
                fmt_s(st["prepare"]),
                fmt_s(st["split"]),
                fmt_ratio(t, t_ours),
            )
        )
    if not rec["pandas"]:
        rows.append((f"{label}: pandas", "not importable (pip install pandas)", "", "", "", ""))
    rows.append(
        (
            f"{label}: lower bounds — gunzip the log (one thread) / pyarrow CSV parse of it",
            "",
            f"{fmt_s(rec['gunzip_s'])} / {fmt_s(rec['pyarrow_csv_s'])}",
            "",
            "",
            "",
        )
    )
    return rows


def best_pandas(rec: dict[str, Any]) -> float | None:
    times = [median(p["times"]) for p in rec["pandas"].values()]
    return min(times) if times else None


@click.command()
@click.option("--repeat", default=5, show_default=True, help="runs of each pipeline (median)")
@click.option(
    "--quick", is_flag=True, help=f"smoke run: {QUICK_ROWS:,}-row synthetic log, ≤ 2 runs"
)
@click.option("--rows", type=int, default=None, help=f"synthetic rows [{BIG_ROWS:,}]")
@click.option(
    "--profile",
    is_flag=True,
    help="also run the synthetic case under cProfile (done anyway when a floor fails)",
)
@click.option("--child-write", type=(click.Path(path_type=Path), int), default=None, hidden=True)
@click.option("--child-parquet", type=click.Path(path_type=Path), default=None, hidden=True)
@click.option("--child-profile", is_flag=True, hidden=True)
def main(
    repeat: int,
    quick: bool,
    rows: int | None,
    profile: bool,
    child_write: tuple[Path, int] | None,
    child_parquet: Path | None,
    child_profile: bool,
) -> None:
    if child_write is not None:
        start = time.perf_counter()
        out = write_synthetic(*child_write)
        print(json.dumps({**out, "write_s": time.perf_counter() - start}))
        return
    if child_parquet is not None:
        print(json.dumps(synthetic_child(child_parquet, child_profile)))
        return
    if quick:
        repeat = min(repeat, 2)
    rows = rows or (QUICK_ROWS if quick else BIG_ROWS)
    data = shared_data()
    ml1m, books = data / "ml-1m", data / "amazon" / "books-2014-sample"
    rec: dict[str, Any] = {"data_dir": repo_relative(data)}

    # --- synthetic Parquet log (first, while this process is small: see vm_hwm_bytes) ----------
    with tempfile.TemporaryDirectory(prefix="unids-bench-data-") as tmp:
        path = Path(tmp) / "log.parquet"
        click.echo(f"writing a {rows:,}-row Parquet log to {path} …", err=True)
        gen = run_child("--child-write", str(path), str(rows))
        click.echo("synthetic: load + build_dataset + train() in a fresh process …", err=True)
        big = run_child("--child-parquet", str(path))
        over = big["seconds"] > FLOOR_BIG_S or big["peak_rss"] > BOUND_BYTES
        prof = None
        if profile or over:
            click.echo("synthetic: again under cProfile …", err=True)
            prof = run_child("--child-parquet", str(path), "--child-profile")
    rec["synthetic"] = {"generator": gen, "run": big, "profile_run": prof}

    rec["ml1m"] = bench_source(
        "ML-1M",
        "ml-1m",
        ml1m,
        pandas_read_ml1m,
        ml1m / "ratings_reconstructed.tsv.gz",
        ("rating", 4.0),
        ("rating",),
        repeat,
    )
    rec["amazon"] = bench_source(
        "Amazon Books sample",
        "amazon",
        books,
        pandas_read_amazon,
        books / "interactions.tsv.gz",
        None,
        (),
        repeat,
    )

    # --- report ------------------------------------------------------------------------------
    headers = ["pipeline", "total", "read", "prepare", "split", "pandas / unids"]
    table_rows = source_rows("ML-1M", rec["ml1m"]) + source_rows(
        "Amazon Books sample", rec["amazon"]
    )
    checks = [(f"ML-1M: {c}", ok) for c, ok in rec["ml1m"]["checks"]]
    checks += [(f"Amazon: {c}", ok) for c, ok in rec["amazon"]["checks"]]
    m, a = rec["ml1m"], rec["amazon"]
    body = [
        f"**ML-1M ({m['shape']['users']:,} users, {m['shape']['interactions']:,} interactions, "
        f"{m['shape']['items']:,} items) and the Amazon Books 2014 sample "
        f"({a['shape']['users']:,} users, {a['shape']['interactions']:,} interactions, "
        f"{a['shape']['items']:,} items), from `{repo_relative(data)}`.** Median of {repeat} "
        "runs after one warm-up (files in the page cache); the stage columns are medians of "
        "separate runs. "
        "unids: `load(source, folder)` → `build_dataset(raw)` → `train()`, `targets('valid')`, "
        "`targets('test')`; its read includes SHA-256 of every source file and the value checks. "
        "pandas: `read_csv` of the same files (ML-1M: ratings TSV, `users.dat` / `movies.dat` "
        "with `sep='::', engine='python', encoding='latin-1'`, genres split), unknown ratings "
        "→ NaN, users with < 3 interactions dropped, `sort_values(['user_id', 'timestamp'], "
        "kind='stable')`, `pd.factorize(sort=True)` for contiguous ids, label = "
        "`rating >= 4` as `Int8` with NA where the rating is unknown, "
        "side tables `reindex`ed to the new ids; split: position from the end by "
        "`groupby('user').cumcount(ascending=False)`, train = `groupby('user').agg(list)` of "
        "the rows ≥ 2 from the end, valid / test = the rows 1 / 0 from the end. unids' "
        "prepare is `build_dataset` (which also builds the per-user lists of the whole log), "
        "its split `train()` + both `targets`; pandas makes its lists in the split. The faster "
        "of the two `read_csv` engines is the baseline of the floor.",
        "",
        markdown_table(headers, table_rows),
        "",
        markdown_table(
            ["check (unids vs pandas, read_csv engine c)", "result"],
            [(c, "ok" if ok else "**MISMATCH**") for c, ok in checks]
            or [("pandas not importable: no check", "—")],
        ),
    ]

    st = big["stages"]
    cols = big["columns_bytes"]
    above = big["peak_rss"] - cols
    above_base = big["peak_rss"] - big["baseline_rss"] - cols
    pk = big["peak_rss_after"]
    body += [
        "",
        f"**Synthetic Parquet log: {big['rows']:,} rows** (user_id int64, ~{gen['users_drawn']:,} "
        f"users with log-normal(0, 1) activity and sparse ids; item_id int64, {ITEMS:,} items, "
        f"Zipf s = {ZIPF_S}; timestamp float64 uniform; random row order; "
        f"{fmt_bytes(gen['file_bytes'])} on disk, snappy, written in {fmt_s(gen['write_s'])}, "
        "not timed). One run in a fresh process: `load('parquet', path)` → `build_dataset(raw)` "
        "→ `dataset.train()`, the raw log, dataset and train part all kept alive, as a script "
        f"would. After cleaning: {big['users']:,} users, {big['items']:,} items, "
        f"{big['interactions']:,} interactions ({big['train_interactions']:,} in train).",
        "",
        markdown_table(
            ["stage", "time", "peak RSS so far"],
            [
                ("`load('parquet')`", fmt_s(st["load"]), fmt_bytes(pk["load"])),
                ("`build_dataset`", fmt_s(st["build_dataset"]), fmt_bytes(pk["build_dataset"])),
                ("`train()`", fmt_s(st["train"]), fmt_bytes(pk["train"])),
                ("**total**", f"**{fmt_s(big['seconds'])}**", f"**{fmt_bytes(big['peak_rss'])}**"),
            ],
        ),
        "",
        f"RSS after imports {fmt_bytes(big['baseline_rss'])}; the log's columns in memory "
        f"(`raw.interactions.nbytes`, 24 B/row) {fmt_bytes(cols)}; peak RSS − columns "
        f"{fmt_bytes(above)} ({above / big['rows']:.1f} B/row); peak − RSS after imports − "
        f"columns {fmt_bytes(above_base)} ({above_base / big['rows']:.1f} B/row, "
        f"{big['peak_rss'] / cols:.1f}× the columns). Peak RSS is `ru_maxrss`; the child's own "
        f"high-water mark `VmHWM` reads {fmt_bytes(big['vm_hwm'])}. (Linux carries a parent's "
        "peak into `ru_maxrss` of its child, so the parent runs this part first, while it is "
        f"small: the child's `ru_maxrss` right after its imports was "
        f"{fmt_bytes(big['baseline_peak_rss'])}.)",
    ]
    if prof is not None:
        body += [
            "",
            f"cProfile of the same steps in another fresh process (wall "
            f"{fmt_s(prof['seconds'])} under the profiler; numpy's array functions wrapped so "
            "that they show as `np.<name>`, array indexing stays in the caller's own time), top "
            "functions by own time:",
            "",
            "```",
            prof["profile"]["tottime"],
            "```",
        ]

    t_ml, t_am = median(m["unids"]), median(a["unids"])
    p_ml, p_am = best_pandas(m), best_pandas(a)
    body += [
        "",
        "*Where the time goes.* ML-1M: unids reads in "
        f"{fmt_s(m['unids_stages']['read'])} (the ratings log alone: gunzip "
        f"{fmt_s(m['gunzip_s'])} of {fmt_bytes(m['file_bytes'])} → "
        f"{fmt_bytes(m['text_bytes'])}, pyarrow's CSV parse {fmt_s(m['pyarrow_csv_s'])}), "
        f"builds in {fmt_s(m['unids_stages']['prepare'])} and splits in "
        f"{fmt_s(m['unids_stages']['split'])}. Amazon: read "
        f"{fmt_s(a['unids_stages']['read'])} (gunzip {fmt_s(a['gunzip_s'])}, parse "
        f"{fmt_s(a['pyarrow_csv_s'])}), build {fmt_s(a['unids_stages']['prepare'])}, split "
        f"{fmt_s(a['unids_stages']['split'])}. pandas spends its time in `read_csv` and in "
        "`groupby().agg(list)`, which makes one Python object per value.",
    ]

    def ratio_pass(peer: float | None, ours: float) -> bool | None:
        return None if peer is None else peer / ours >= FLOOR_RATIO

    at_full = rows == BIG_ROWS
    where = "" if at_full else f" (at {rows:,} rows, not {BIG_ROWS:,})"
    floors = [
        (f"ML-1M load + clean + split ≤ {FLOOR_SMALL_S:g} s", fmt_s(t_ml), t_ml <= FLOOR_SMALL_S),
        (
            f"ML-1M ≥ {FLOOR_RATIO:g}× faster than pandas",
            fmt_ratio(p_ml, t_ml),
            ratio_pass(p_ml, t_ml),
        ),
        (
            f"Amazon Books sample load + clean + split ≤ {FLOOR_SMALL_S:g} s",
            fmt_s(t_am),
            t_am <= FLOOR_SMALL_S,
        ),
        (
            f"Amazon Books sample ≥ {FLOOR_RATIO:g}× faster than pandas",
            fmt_ratio(p_am, t_am),
            ratio_pass(p_am, t_am),
        ),
        (
            f"50M-row Parquet: load + build_dataset + train ≤ {FLOOR_BIG_S:g} s",
            fmt_s(big["seconds"]) + where,
            big["seconds"] <= FLOOR_BIG_S if at_full else None,
        ),
        (
            "50M-row Parquet: bounded memory (this bench's bound: peak RSS ≤ 8 GiB)",
            fmt_bytes(big["peak_rss"]) + where,
            big["peak_rss"] <= BOUND_BYTES if at_full else None,
        ),
    ]
    if quick:
        floors = [(f, mm, None) for f, mm, _ in floors]
    body += ["", floor_rows(floors)]

    for key in ("ml1m", "amazon"):
        rec[key]["checks"] = [{"check": c, "ok": bool(ok)} for c, ok in rec[key]["checks"]]
    payload = {
        **rec,
        "floors": [{"floor": f, "measured": mm, "passed": p} for f, mm, p in floors],
        "_extra_versions": {"pandas": pd.__version__} if pd is not None else {},
    }
    emit("bench_data", "Data layer (bench_data.py)", "\n".join(body), payload, quick)


if __name__ == "__main__":
    main()
