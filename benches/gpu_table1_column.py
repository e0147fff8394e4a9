"""One column of the paper's Table 1 — one dataset × one backbone: 5 methods × 3 stages ×
3 seeds = 45 cells, 36 trainings (base, reppad and frec train recall and coarse once) and
18 regenerations — on one machine, timed. The experiments issue
asks that the ML-1M HSTU column fit in ≤ 10 minutes on one H100.

    python benches/gpu_table1_column.py --data prepared/ml-1m --out $OUT --parallel 12 \\
        --deadline 540
    python benches/gpu_table1_column.py --data synthetic --out /tmp/col --parallel 2 \\
        --set epochs=1 --set regenerate.epochs=1 --set model.dim=16      # a CPU dry run

Runs `unids experiment table1` as --parallel shards (`--shard i/n`: whole data groups dealt
round robin, so each regeneration is built once) over one work directory, with the column's
records under OUT/results/table1/. No shard starts after the deadline and running ones are
stopped 30 s after it; a rerun with the same --work continues where they stopped (finished
steps and cells are cached). Then the report is written from whatever records exist
(OUT/reports/table1/report.md), and the wall time, the cells done and the device are printed
and saved as OUT/column.json. Checkpoints and stage datasets stay in --work, out of OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "experiments" / "table1.toml"
GRACE_S = 30


def column_config(template: Path, dataset: str, backbone: str, destination: Path) -> Path:
    """The experiment file with its dataset and backbone lists narrowed to one column."""
    text = template.read_text()
    spec = dataset if dataset == "synthetic" else str(Path(dataset).resolve())
    for key, value in (("datasets", spec), ("backbones", backbone)):
        text, count = re.subn(rf"^{key} = \[.*\]$", f"{key} = {json.dumps([value])}", text,
                              flags=re.M)
        if count != 1:
            raise SystemExit(f"{template}: expected one `{key} = [...]` line")
    destination.write_text(text)
    return destination


def unids_experiment(config: Path, out: Path, work: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "unids", "experiment", "table1", "--config", str(config),
            "--results", str(out / "results"), "--reports", str(out / "reports"),
            "--workdir", str(work / "cache"), "--quiet", *extra]


def run_shards(base: list[str], parallel: int, deadline: float, logs: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    running = []
    for index in range(1, parallel + 1):
        log = open(logs / f"shard-{index}.log", "w")
        process = subprocess.Popen([*base, "--shard", f"{index}/{parallel}"], stdout=log,
                                   stderr=subprocess.STDOUT, env=env)
        running.append((index, process, log))
    finished = []
    while running:
        for entry in list(running):
            index, process, log = entry
            if process.poll() is None and time.time() < deadline + GRACE_S:
                continue
            if process.poll() is None:
                process.kill()
            log.close()
            running.remove(entry)
            finished.append({"shard": index, "rc": process.wait()})
        time.sleep(0.5)
    return finished


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="prepared/ml-1m",
                        help="a prepared dataset directory, or synthetic")
    parser.add_argument("--backbone", default="hstu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=12)
    parser.add_argument("--deadline", type=float, default=540.0,
                        help="seconds after which no shard runs on (30 s grace)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/unids-table1-column"))
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--set", action="append", default=[],
                        help="passed to unids experiment, e.g. epochs=1")
    args = parser.parse_args()
    for folder in (args.out / "logs", args.work):
        folder.mkdir(parents=True, exist_ok=True)
    config = column_config(args.config, args.data, args.backbone,
                           args.work / "table1-column.toml")
    base = unids_experiment(config, args.out, args.work,
                            [item for pair in args.set for item in ("--set", pair)])
    listing = subprocess.run([*base, "--list", "--json"], capture_output=True, text=True,
                             check=True)
    total = len(json.loads(listing.stdout)["cells"])

    started = time.time()
    shards = run_shards(base, args.parallel, started + args.deadline, args.out / "logs")
    elapsed = time.time() - started
    subprocess.run([*base, "--report-only"], check=False, stdout=subprocess.DEVNULL)
    done = len(list((args.out / "results" / "table1").glob("*.json")))
    summary = {"dataset": args.data, "backbone": args.backbone, "device": device_name(),
               "parallel": args.parallel, "wall_s": round(elapsed, 1), "cells_done": done,
               "cells_total": total, "shards": shards, "settings": args.set}
    (args.out / "column.json").write_text(json.dumps(summary, indent=1))
    print(f"{args.data} × {args.backbone} on {summary['device']}: {done}/{total} cells in "
          f"{elapsed:.0f} s with {args.parallel} shards "
          f"(report: {args.out / 'reports' / 'table1' / 'report.md'})")


if __name__ == "__main__":
    main()
