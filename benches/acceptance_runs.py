"""The backbone acceptance runs of the stage-backbone issue, as one script for a lent GPU.

Runs `unids train` jobs as parallel processes (the models are small: one process leaves most
of an H100 idle), each writing its record under OUT/results/, stops launching new jobs when
the deadline nears, and prints a table. First the HSTU ML-1M run alone, so its wall time is
the single-run figure the performance goal asks about.

    python benches/acceptance_runs.py --data prepared --out $OUT --parallel 8 --deadline 480
    python benches/acceptance_runs.py --preset ml-1m-recall --no-solo --set epochs=60 ...

`prepared/` holds datasets made by `unids data prepare` (ml-1m, beauty, books). Only the
records (OUT/results), the logs and jobs.json go under OUT; checkpoints stay in --work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SEEDS = (0, 1, 2)
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
#: (dataset folder, backbone, stage, seed), in priority order: the ML-1M floors first.
SOLO = [("ml-1m", "hstu", "recall", 0)]
JOBS = (
    [("ml-1m", "hstu", "recall", s) for s in SEEDS[1:]]
    + [("ml-1m", "sasrec", "recall", s) for s in SEEDS]
    + [("ml-1m", "hstu", "fine", s) for s in SEEDS]
    + [("beauty", "sasrec", "recall", s) for s in SEEDS]
    + [("ml-1m", "llama2rec", "recall", 0)]
    + [("beauty", backbone, "recall", 0) for backbone in ("hstu", "llama2rec")]
    + [("books", backbone, "recall", 0) for backbone in ("sasrec", "hstu", "llama2rec")]
    + [("books", "hstu", "fine", 0), ("beauty", "hstu", "fine", 0)]
)
PRESETS = {
    "all": JOBS,
    "ml-1m-recall": [("ml-1m", backbone, "recall", s) for backbone in ("hstu", "sasrec")
                     for s in SEEDS],
}


def command(data: Path, out: Path, job: tuple[str, str, str, int], extra: list[str],
            work: Path) -> list[str]:
    dataset, backbone, stage, seed = job
    # The reference settings where the project has them (configs/ml-1m-hstu.toml: the
    # published HSTU configuration and its leave-last-out protocol), else the defaults.
    config = CONFIGS / f"{dataset}-{backbone}{'-fine' if stage == 'fine' else ''}.toml"
    extra = [*(["--config", str(config)] if config.is_file() else []), *extra]
    return [sys.executable, "-m", "unids", "train", "--data", str(data / dataset),
            "--backbone", backbone, "--stage", stage, "--seed", str(seed), "--quiet", "--json",
            "-o", str(work / f"{dataset}-{backbone}-{stage}-s{seed}"),
            "--results", str(out / "results"), *extra]


def run(jobs: list[tuple[str, str, str, int]], data: Path, out: Path, parallel: int,
        deadline: float, extra: list[str], work: Path) -> list[dict]:
    pending, running, finished = list(jobs), [], []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    while pending or running:
        while pending and len(running) < parallel and time.time() < deadline:
            job = pending.pop(0)
            log = open(out / "logs" / ("-".join(map(str, job)) + ".log"), "w")
            process = subprocess.Popen(command(data, out, job, extra, work), stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
            running.append((job, process, time.time(), log))
        if time.time() >= deadline:
            pending.clear()
        for entry in list(running):
            job, process, started, log = entry
            if process.poll() is None and time.time() < deadline + 30:
                continue
            if process.poll() is None:
                process.kill()
            log.close()
            running.remove(entry)
            finished.append({"job": job, "rc": process.wait(),
                             "seconds": round(time.time() - started, 1)})
            print(f"done {job} rc={finished[-1]['rc']} in {finished[-1]['seconds']} s",
                  flush=True)
        time.sleep(0.5)
    return finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("prepared"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=480.0,
                        help="seconds after which no job starts and running ones are stopped")
    parser.add_argument("--only", default=None, help="comma-separated datasets to run")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="all")
    parser.add_argument("--no-solo", action="store_true",
                        help="skip the lone timed HSTU ML-1M run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/unids-acceptance-runs"),
                        help="run directories (checkpoints), kept out of OUT")
    parser.add_argument("--set", action="append", default=[], help="passed to unids train")
    args = parser.parse_args()
    for folder in ("results", "logs"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    extra = [item for pair in args.set for item in ("--set", pair)]
    deadline = time.time() + args.deadline
    jobs = [job for job in PRESETS[args.preset]
            if args.only is None or job[0] in args.only.split(",")]
    solo = [] if args.no_solo else [job for job in SOLO
                                    if args.only is None or job[0] in args.only.split(",")]
    # The solo run goes all 100 epochs (no early stop): the single-run wall time is a goal.
    finished = run(solo, args.data, args.out, 1, deadline, [*extra, "--set", "patience=1000"],
                   args.work)
    finished += run(jobs, args.data, args.out, args.parallel, deadline, extra, args.work)
    records = [json.loads(path.read_text())
               for path in sorted((args.out / "results").glob("*.json"))]
    print(f"{'dataset':8} {'backbone':9} {'stage':6} {'seed':4} {'ep':>3} {'wall_s':>7} "
          f"{'HR@10':>7} {'NDCG@10':>7} {'AUC':>7}  device")
    for r in records:
        t = r["test"]
        print(f"{r['dataset']:8} {r['backbone']:9} {r['stage']:6} {r['seed']:4} {r['epochs']:3} "
              f"{r['wall_time_s']:7.1f} {t.get('HR@10', float('nan')):7.4f} "
              f"{t.get('NDCG@10', float('nan')):7.4f} {t.get('AUC', float('nan')):7.4f}  "
              f"{r['device']}")
    (args.out / "jobs.json").write_text(json.dumps(finished, indent=1))


if __name__ == "__main__":
    main()
