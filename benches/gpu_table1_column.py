"""One column of the paper's Table 1 — one dataset × one backbone: 5 methods × 3 stages ×
3 seeds = 45 cells, 27 trainings and 15 regenerations (a recall training serves the coarse
cell on the same data: base's, reppad's, frec's, dr4sr's; reppad's and frec's fine cells are
base's training) — on one machine, timed. The experiments issue asks that the ML-1M HSTU
column fit in ≤ 10 minutes on one H100.

    python benches/gpu_table1_column.py --data ml-1m --out $OUT --parallel 12 --deadline 540
    python benches/gpu_table1_column.py --data synthetic --out /tmp/col --parallel 2 \\
        --set epochs=1 --set regenerate.epochs=1 --set model.dim=16      # a CPU dry run

Runs `unids experiment table1 --queue` in --parallel processes over one work directory —
each takes the next data group nobody holds, the regenerating ones first, so each
regeneration is built once and no process idles while groups wait — under NVIDIA's MPS where
the machine has it, with the column's records under OUT/results/table1/. The processes are
stopped 30 s after the deadline; a rerun with the same --work continues where they stopped
(finished steps and cells are cached). Then the report is written from whatever records exist
(OUT/reports/table1/report.md), and the wall time, the cells done and the device are printed
and saved as OUT/column.json. Checkpoints and stage datasets stay in --work, out of OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "experiments" / "table1.toml"
GRACE_S = 30


def column_config(template: Path, dataset: str, backbone: str, destination: Path) -> Path:
    """The experiment file with its dataset and backbone lists narrowed to one column."""
    text = template.read_text()
    # A directory is passed as an absolute path (the workers run elsewhere in the tree); a name
    # ("ml-1m", "synthetic") is resolved by unids itself, through $UNIDS_DATA.
    spec = str(Path(dataset).resolve()) if Path(dataset).is_dir() else dataset
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


def run_workers(base: list[str], parallel: int, deadline: float, logs: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    running = []
    for index in range(1, parallel + 1):
        log = open(logs / f"worker-{index}.log", "w")
        process = subprocess.Popen([*base, "--queue"], stdout=log, stderr=subprocess.STDOUT,
                                   env=env)
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
            finished.append({"worker": index, "rc": process.wait()})
        time.sleep(0.5)
    return finished


def start_mps() -> bool:
    """Starts NVIDIA's Multi-Process Service where the machine has it, so that the workers'
    small kernels share the GPU at once instead of taking turns (time slicing). On an H100,
    12 ML-1M HSTU trainings side by side under MPS took 1.6 s per epoch each; the column run
    without it, 3.7 s (BENCHMARKS.md)."""
    control = shutil.which("nvidia-cuda-mps-control")
    return control is not None and subprocess.run([control, "-d"]).returncode == 0


def stop_mps() -> None:
    subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, check=False)


def device_name() -> str:
    """The GPU's name, asked in a child process: this one keeps off CUDA, so that the MPS
    server, started after this, is the only way onto the GPU."""
    ask = ("import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() "
           "else 'cpu')")
    return subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True,
                          check=True).stdout.strip()


def finished_steps(cache: Path) -> list[dict]:
    """Every step the workers finished (the step cache's done.json markers), with its seconds:
    where the column's time went, also when the deadline cut it short."""
    steps = []
    for marker in sorted(cache.glob("*/*/done.json")):
        done = json.loads(marker.read_text())
        config = done.get("config", {})
        steps.append({"step": done["step"], "stage": config.get("stage"),
                      "method": config.get("method"), "seconds": done.get("seconds")})
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ml-1m",
                        help="a dataset name (ml-1m: $UNIDS_DATA/ml-1m), a prepared dataset "
                             "directory, or synthetic")
    parser.add_argument("--backbone", default="hstu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=12)
    parser.add_argument("--deadline", type=float, default=540.0,
                        help="seconds after which no process runs on (30 s grace)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/unids-table1-column"))
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--no-mps", action="store_true",
                        help="let the workers take turns on the GPU (time slicing)")
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

    device = device_name()
    mps = not args.no_mps and device != "cpu" and start_mps()
    started = time.time()
    workers = run_workers(base, args.parallel, started + args.deadline, args.out / "logs")
    elapsed = time.time() - started
    if mps:
        stop_mps()
    subprocess.run([*base, "--report-only"], check=False, stdout=subprocess.DEVNULL)
    done = len(list((args.out / "results" / "table1").glob("*.json")))
    summary = {"dataset": args.data, "backbone": args.backbone, "device": device,
               "parallel": args.parallel, "mps": mps, "wall_s": round(elapsed, 1),
               "cells_done": done, "cells_total": total, "workers": workers, "settings": args.set,
               "steps_finished": finished_steps(args.work / "cache")}
    (args.out / "column.json").write_text(json.dumps(summary, indent=1))
    # One archive of the records, the report and the logs: a lent GPU machine hands back a
    # few files only.
    with tarfile.open(args.out / "column.tar.gz", "w:gz") as archive:
        for name in ("results", "reports", "logs"):
            if (args.out / name).exists():
                archive.add(args.out / name, arcname=name)
    print(f"{args.data} × {args.backbone} on {summary['device']}: {done}/{total} cells in "
          f"{elapsed:.0f} s with {args.parallel} processes{' under MPS' if mps else ''} "
          f"(report: {args.out / 'reports' / 'table1' / 'report.md'})")


if __name__ == "__main__":
    main()
