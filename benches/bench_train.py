"""Training and evaluation speed of the stage backbones on ML-1M (CPU unless CUDA is there).

For each backbone: one training epoch over all 6,040 users (after a short warm-up), in
tokens/s, the peak RSS of a fresh process, and the full-ranking evaluation of every user's
test item. HSTU is timed with the full softmax (SPEC §7's default for 3,706 items) and with
the reference's 128 sampled negatives. The same-run comparison is the naive batching a
straightforward trainer uses — every row padded to max_len 200, no length bucketing — so the
ratio shows what trimming padding buys.

    python benches/bench_train.py [--quick] [--threads 2]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, floor_rows, fmt_bytes, markdown_table, peak_rss_bytes

CASES = [  # (backbone, loss, batching)
    ("hstu", "full", "bucketed"), ("hstu", "sampled", "bucketed"), ("hstu", "full", "padded"),
    ("sasrec", "full", "bucketed"), ("sasrec", "full", "padded"),
    ("llama2rec", "full", "bucketed"),
]
HSTU_EPOCH_FLOOR_S = 30.0


def measure(backbone: str, loss: str, batching: str, threads: int, quick: bool) -> dict:
    """One case, in this process: returns the timings as a dict."""
    import torch

    from unids.config import data_dir
    from unids.data.dataset import build_dataset
    from unids.data.loaders import load
    from unids.models import Vocab, build_backbone
    from unids.train import batches as batches_module
    from unids.train.batches import eval_tensors, train_tensors
    from unids.train.config import TrainConfig
    from unids.train.distributed import Placement
    from unids.train.evaluate import evaluate
    from unids.train.loop import _train_epoch, objective_of
    from unids.train.model import RankingModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dataset = build_dataset(load("ml-1m", data_dir() / "ml-1m"))
    from unids.train.data import task_data

    data = task_data(dataset)
    config = TrainConfig(loss=loss, epochs=1, warmup_steps=1)  # type: ignore[arg-type]
    device = torch.device("cpu")
    model = RankingModel(build_backbone(backbone, Vocab(data.n_items, data.n_tokens,
                                                        data.n_behaviors)), with_head=False)
    objective = objective_of(config, model.backbone.normalize, data.n_items)
    train = train_tensors(data, 200, device)
    if quick:
        train.n_rows = 512
    if batching == "padded":  # every batch as wide as max_len: what a plain trainer does
        original = batches_module.TrainTensors.batch

        def padded(self, rows, ends):  # type: ignore[no-untyped-def]
            return original(self, rows, ends, min_width=self.max_len)

        batches_module.TrainTensors.batch = padded  # type: ignore[method-assign]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    placement = Placement(0, 1, device)
    start = time.perf_counter()
    _train_epoch(model, model, train, config, objective, optimizer, scheduler, placement, 1)
    epoch_s = time.perf_counter() - start
    tokens = int(torch.minimum(train.lengths[: train.n_rows], torch.tensor(200)).sum())
    cases = eval_tensors(data.cases["test"], 200, device, data.n_items)
    start = time.perf_counter()
    metrics = evaluate(model, cases, retrieval=True, batch_size=0)  # per-device size
    eval_s = time.perf_counter() - start
    return {"backbone": backbone, "loss": loss, "batching": batching, "rows": train.n_rows,
            "epoch_s": epoch_s, "tokens": tokens, "tokens_per_s": tokens / epoch_s,
            "eval_s": eval_s, "eval_users": len(cases), "peak_rss": peak_rss_bytes(),
            "ndcg10_after_one_epoch": metrics["NDCG@10"]}


@click.command()
@click.option("--quick", is_flag=True, help="512 users only: a smoke run, not a measurement.")
@click.option("--threads", default=2, show_default=True)
@click.option("--one", nargs=3, default=None, hidden=True)
def main(quick: bool, threads: int, one: tuple[str, str, str] | None) -> None:
    if one is not None:
        print(json.dumps(measure(*one, threads=threads, quick=quick)))
        return
    results = []
    for case in CASES:
        command = [sys.executable, __file__, "--threads", str(threads), "--one", *case]
        if quick:
            command.append("--quick")
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    padded = {(r["backbone"], r["loss"]): r["epoch_s"] for r in results
              if r["batching"] == "padded"}
    rows = [(r["backbone"], r["loss"], r["batching"], f"{r['epoch_s']:.1f} s",
             f"{r['tokens_per_s']:,.0f}", f"{r['eval_s']:.2f} s ({r['eval_users']} users)",
             fmt_bytes(r["peak_rss"]),
             f"{padded[(r['backbone'], r['loss'])] / r['epoch_s']:.2f}×"
             if (r["backbone"], r["loss"]) in padded and r["batching"] == "bucketed" else "")
            for r in results]
    hstu = next(r for r in results if r["backbone"] == "hstu" and r["batching"] == "bucketed"
                and r["loss"] == "sampled")
    hstu_full = next(r for r in results if r["backbone"] == "hstu" and r["batching"] ==
                     "bucketed" and r["loss"] == "full")
    body = (
        f"One training epoch over ML-1M ({results[0]['rows']} users, max length 200, "
        f"batch 128) on {threads} threads, then full-ranking evaluation of every user's test "
        "item (3,706 items, history masked). `padded` = every batch padded to 200 columns, "
        "the same-run baseline; the last column is how much faster length-bucketed batches "
        "are.\n\n"
        + markdown_table(["backbone", "loss", "batching", "epoch", "tokens/s", "evaluation",
                          "peak RSS", "vs padded"], rows)
        + "\n\n" + floor_rows([
            ("HSTU ML-1M epoch ≤ 30 s on 2 cores (reference objective: 128 sampled negatives)",
             f"{hstu['epoch_s']:.1f} s", hstu["epoch_s"] <= HSTU_EPOCH_FLOOR_S),
            ("same, full softmax over all 3,706 items", f"{hstu_full['epoch_s']:.1f} s",
             hstu_full["epoch_s"] <= HSTU_EPOCH_FLOOR_S),
        ]))
    emit("bench_train", "Backbone training on ML-1M (bench_train.py)", body,
         {"results": results}, quick)


if __name__ == "__main__":
    main()
