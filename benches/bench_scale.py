"""`mine_patterns` (defaults) on synthetic logs of growing size: wall time and peak memory.

Each size runs in a fresh subprocess, so that `ru_maxrss` (the peak resident set size) belongs to
that size alone. The log is generated with numpy in chunks (to keep the generator's temporaries
small): user lengths ~ 1 + multinomial over log-normal weights, items drawn from a Zipf(s)
popularity over `--items` ids (ids shuffled so popularity is not id order), handed to unids as a
pyarrow ListArray built from the offsets and values buffers.

    .venv-bench/bin/python benches/bench_scale.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    emit,
    floor_rows,
    fmt_bytes,
    fmt_s,
    markdown_table,
    median,
    peak_rss_bytes,
    time_runs,
)

# (interactions, users)
SIZES = ((1_000_000, 20_000), (10_000_000, 200_000), (50_000_000, 1_000_000))
QUICK_SIZES = ((100_000, 2_000), (1_000_000, 20_000))
CHUNK = 4_000_000
FLOOR_S, FLOOR_BYTES = 180.0, 6 * 1024**3


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def synthetic_log(total: int, users: int, items: int, zipf_s: float, seed: int) -> pa.ListArray:
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.0, users)
    lengths = 1 + rng.multinomial(total - users, weights / weights.sum())
    offsets = np.zeros(users + 1, dtype=np.int32 if total < 2**31 else np.int64)
    np.cumsum(lengths, out=offsets[1:])
    cdf = np.cumsum(1.0 / np.arange(1, items + 1) ** zipf_s)
    cdf /= cdf[-1]
    ids = rng.permutation(items).astype(np.int32)
    values = np.empty(total, dtype=np.int32)
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        rank = np.searchsorted(cdf, rng.random(stop - start), side="right")
        values[start:stop] = ids[np.minimum(rank, items - 1)]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def child(
    total: int, users: int, items: int, zipf_s: float, theta_scale: float, repeat: int
) -> dict:
    import unids  # imported here so the baseline includes it

    start = time.perf_counter()
    seqs = synthetic_log(total, users, items, zipf_s, seed=total)
    gen_s = time.perf_counter() - start
    values = seqs.values.to_numpy()
    t_sum = median(time_runs(lambda: values.sum(dtype=np.int64), 3)[0])
    base_peak, base_now = peak_rss_bytes(), current_rss_bytes()
    times, table = time_runs(lambda: unids.mine_patterns(seqs, theta_scale=theta_scale), repeat)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return {
        "interactions": total,
        "users": users,
        "generate_s": gen_s,
        "np_sum_s": t_sum,
        "times": times,
        "seconds": median(times),
        "baseline_peak_rss": base_peak,
        "baseline_rss": base_now,
        "peak_rss": peak_rss_bytes(),
        "patterns": table.num_rows,
        "theta": float(meta.get("theta", "nan")),
    }


@click.command()
@click.option("--repeat", default=1, show_default=True, help="mine_patterns runs per size")
@click.option("--quick", is_flag=True, help="smoke run: 100k and 1M interactions")
@click.option("--items", default=50_000, show_default=True, help="distinct item ids")
@click.option("--zipf-s", default=1.0, show_default=True, help="Zipf exponent of popularity")
@click.option(
    "--theta-scale", default=1.0, show_default=True, help="θ = this × H1 (1.0 = the default)"
)
@click.option("--child-size", type=(int, int), default=None, hidden=True)
def main(
    repeat: int, quick: bool, items: int, zipf_s: float, theta_scale: float, child_size
) -> None:
    if child_size is not None:
        print(json.dumps(child(*child_size, items, zipf_s, theta_scale, repeat)))
        return
    runs = []
    for total, users in QUICK_SIZES if quick else SIZES:
        cmd = [sys.executable, __file__, "--child-size", str(total), str(users)]
        cmd += ["--repeat", str(repeat), "--items", str(items), "--zipf-s", str(zipf_s)]
        cmd += ["--theta-scale", str(theta_scale)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        run = json.loads(out.strip().splitlines()[-1])
        runs.append(run)
        click.echo(
            f"  {total:,}: {fmt_s(run['seconds'])}, peak RSS {fmt_bytes(run['peak_rss'])}",
            err=True,
        )

    rows = []
    for r in runs:
        rows.append(
            (
                f"{r['interactions']:,}",
                f"{r['users']:,}",
                fmt_s(r["seconds"]),
                f"{r['seconds'] / r['interactions'] * 1e9:.0f} ns",
                fmt_bytes(r["peak_rss"]),
                fmt_bytes(r["baseline_rss"]),
                fmt_bytes(max(0, r["peak_rss"] - r["baseline_rss"])),
                f"{r['patterns']:,}",
                fmt_s(r["np_sum_s"]),
            )
        )
    biggest = runs[-1]
    per = [r["seconds"] / r["interactions"] for r in runs]
    setting = "at defaults" if theta_scale == 1.0 else f"with `theta_scale={theta_scale}`"
    body = [
        f"**`mine_patterns()` {setting} on synthetic logs** ({items:,} items, Zipf s = {zipf_s}, "
        "user lengths 1 + multinomial over log-normal(0, 1) weights; each size in a fresh process; "
        f"median of {repeat} run(s); generation excluded, its time is in the JSON). "
        "RSS after generation = the process's resident memory with the log built and unids "
        "imported; the increase is peak − that.",
        "",
        markdown_table(
            [
                "interactions",
                "users",
                "mine time",
                "per interaction",
                "peak RSS",
                "RSS after generation",
                "increase",
                "patterns",
                "np.sum(values)",
            ],
            rows,
        ),
        "",
        f"Time per interaction, largest / smallest size: {per[-1] / per[0]:.2f} "
        "(1.0 = linear growth).",
    ]
    inc = max(0, biggest["peak_rss"] - biggest["baseline_rss"])
    body += [
        "",
        f"*Where the time goes.* At {biggest['interactions']:,} interactions `np.sum` over the "
        f"values buffer takes {fmt_s(biggest['np_sum_s'])}; `mine_patterns` takes "
        f"{biggest['seconds'] / biggest['np_sum_s']:.0f}× that. Mining allocates "
        f"{inc / biggest['interactions']:.1f} bytes per interaction above the generated log "
        f"({fmt_bytes(inc)}); the log itself is 4 bytes per interaction plus the offsets. "
        "Each level keeps the occurrence start positions of its patterns grouped by pattern "
        "(docs/ALGORITHMS.md §3), so memory is bounded by a few words per interaction.",
    ]
    at_50m = biggest["interactions"] == 50_000_000 and not quick
    where = "" if at_50m else f" (at {biggest['interactions']:,}, not 50M)"
    floors = [
        (
            f"50M interactions: mine ≤ 3 min ({setting})",
            fmt_s(biggest["seconds"]) + where,
            (biggest["seconds"] <= FLOOR_S) if at_50m else None,
        ),
        (
            f"50M interactions: peak RSS ≤ 6 GiB ({setting})",
            fmt_bytes(biggest["peak_rss"]) + where,
            (biggest["peak_rss"] <= FLOOR_BYTES) if at_50m else None,
        ),
    ]
    body += ["", floor_rows(floors)]
    payload = {
        "items": items,
        "zipf_s": zipf_s,
        "theta_scale": theta_scale,
        "runs": runs,
        "floors": [{"floor": f, "measured": m, "passed": p} for f, m, p in floors],
    }
    title = "Scaling of mine_patterns (bench_scale.py)"
    emit("bench_scale", title, "\n".join(body), payload, quick)


if __name__ == "__main__":
    main()
