"""Full-ranking evaluation time against the number of users per batch (CPU unless CUDA).

Evaluation runs every epoch under leave-one-out (early stopping on the validation item), so
its speed is part of every training run. Each backbone, untrained, ranks all items for every
ML-1M (and ML-100K) test user, history masked, at several batch sizes; the peer is 1,024
users per batch (the default before `eval_batch_size = 0` chose the size per device). The
metrics must agree at every size up to float noise: batching changes the speed, not the
result.

    python benches/bench_eval_batch.py [--quick] [--threads 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, markdown_table, median, time_runs

PEER_ROWS = 1024
ROWS = (1024, 256, 64, 32, 16)
DATASETS = ("ml-1m", "ml-100k")
BACKBONES = ("hstu", "sasrec", "llama2rec")
MAX_METRIC_DIFF = 1e-3  # one user's rank moving by one near the top of ML-100K: ~5e-4


def measure(dataset_name: str, backbone: str, repeat: int) -> dict:
    import torch

    from unids.config import data_dir
    from unids.data.dataset import build_dataset
    from unids.data.loaders import load
    from unids.models import Vocab, build_backbone
    from unids.train.batches import eval_tensors
    from unids.train.data import task_data
    from unids.train.evaluate import eval_rows, evaluate
    from unids.train.model import RankingModel

    torch.manual_seed(0)
    data = task_data(build_dataset(load(dataset_name, data_dir() / dataset_name)))
    device = torch.device("cpu")
    model = RankingModel(build_backbone(backbone, Vocab(data.n_items, data.n_tokens,
                                                        data.n_behaviors)), with_head=False)
    cases = eval_tensors(data.cases["test"], 200, device, data.n_items)
    seconds, metrics = {}, {}
    for rows in ROWS:
        times, result = time_runs(lambda rows=rows: evaluate(model, cases, retrieval=True,
                                                             batch_size=rows), repeat)
        seconds[rows] = median(times)
        metrics[rows] = result
    # Batch shapes change the floating-point summation order, so a near-tie may swap ranks
    # (seen: one ML-100K user at rank 939 vs 940): the largest metric difference, not ==.
    max_diff = max(abs(metrics[rows][name] - metrics[PEER_ROWS][name])
                   for rows in ROWS for name in metrics[PEER_ROWS])
    return {"dataset": dataset_name, "backbone": backbone, "users": len(cases),
            "seconds": seconds, "auto_rows": eval_rows(0, device), "max_metric_diff": max_diff}


@click.command()
@click.option("--quick", is_flag=True, help="ML-100K only, once: a smoke run, not a measurement.")
@click.option("--threads", default=1, show_default=True,
              help="torch threads (1: as each of several runs sharing a machine uses).")
@click.option("--repeat", default=3, show_default=True)
def main(quick: bool, threads: int, repeat: int) -> None:
    import torch

    torch.set_num_threads(threads)
    datasets = DATASETS[-1:] if quick else DATASETS
    results = [measure(name, backbone, 1 if quick else repeat)
               for name in datasets for backbone in BACKBONES]
    rows = []
    for r in results:
        auto = r["seconds"][r["auto_rows"]]
        rows.append((r["dataset"], r["backbone"], r["users"],
                     *(f"{r['seconds'][n]:.2f} s" for n in ROWS),
                     f"{r['seconds'][PEER_ROWS] / auto:.1f}×", f"{r['max_metric_diff']:.1e}"))
        print(rows[-1], flush=True)
    body = (f"Full-ranking evaluation of every test user (all items, history masked, max "
            f"length 200), untrained backbones, {threads} torch thread(s), median of "
            f"{1 if quick else repeat}. Columns: users per batch. The peer is {PEER_ROWS} "
            f"users per batch (the old default); `eval_batch_size = 0` now picks "
            f"{results[0]['auto_rows']} on this device.\n\n"
            + markdown_table(["dataset", "backbone", "users", *(f"{n}" for n in ROWS),
                              "peer / auto", "max metric Δ"], rows))
    emit("bench_eval_batch", "Evaluation batch size (bench_eval_batch.py)", body,
         {"results": results}, quick)
    if max(r["max_metric_diff"] for r in results) > MAX_METRIC_DIFF:
        raise SystemExit("the metrics differ between batch sizes beyond float noise")


if __name__ == "__main__":
    main()
