"""Regenerator training speed, batching by pairs (the default) against batching by source
(`[regenerate] batching = "sources"`, `unids.regen.train`), on one stage's real training pairs —
the same model, data, threads and optimiser steps, in the same run.

A user's ≤ 8 pairs share its source sequence (up to 200 PT tokens). Batching by pairs draws
256 pairs from nearly 256 users and encodes every source; batching by source lays each user's
pairs side by side, so a batch of 256 pairs holds ~256 / 5.6 users on ML-1M and the encoder
runs once per user. The ratio printed is pairs/s (source) ÷ pairs/s (pairs), both measured here;
"20 epochs" is the stage's pairs ÷ pairs/s × 20, extrapolated from the timed steps and labelled
so.

    python benches/bench_regen_batching.py                        # ML-1M fine stage, 1 thread
    python benches/bench_regen_batching.py --data ml-100k --stage recall --threads 2
    python benches/bench_regen_batching.py --device cuda          # on a GPU (the card is named)
    python benches/bench_regen_batching.py --quick                # a smoke run, not recorded
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, markdown_table

WARMUP_STEPS = 2  # allocation and (CUDA) kernel selection, not timed


@click.command()
@click.option("--data", default="ml-1m", show_default=True,
              help="A prepared dataset directory or a name in the shared data folder.")
@click.option("--stage", default="fine", show_default=True,
              type=click.Choice(["recall", "coarse", "fine"]), help="Whose pairs (its θ).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, auto …")
@click.option("--threads", default=1, show_default=True, help="torch CPU threads.")
@click.option("--steps", default=20, show_default=True, help="Timed steps per batching.")
@click.option("--batch-size", default=256, show_default=True, help="Pairs per step.")
@click.option("--quick", is_flag=True, help="3 steps: a smoke run, printed, not recorded.")
def main(data: str, stage: str, device: str, threads: int, steps: int, batch_size: int,
         quick: bool) -> None:
    import numpy as np
    import torch

    from unids.experiments.datasets import DatasetSource
    from unids.formats import format_dataset
    from unids.regen import Regenerator, RegeneratorConfig, build_pairs
    from unids.regen.train import _LossSums, _train_epoch, epoch_order
    from unids.train.distributed import device_name, setup

    torch.set_num_threads(threads)
    if quick:
        steps = 3
    started = time.perf_counter()
    formatted = format_dataset(DatasetSource(data).load(), stage)
    config = RegeneratorConfig()
    pairs = build_pairs(formatted, max_source_len=config.max_source_len,
                        max_target_len=config.max_target_len)
    prepare_s = time.perf_counter() - started
    sources, targets = pairs.padded()
    source_lengths, target_lengths = (sources != 0).sum(1), (targets != 0).sum(1)
    placement = setup(device)
    n_steps = min(WARMUP_STEPS + steps, len(pairs) // batch_size)
    if n_steps <= WARMUP_STEPS:
        raise click.UsageError(f"{len(pairs)} pairs make fewer than {WARMUP_STEPS + 1} batches "
                               f"of {batch_size}")

    measured = {}
    for batching in ("pairs", "sources"):
        order = epoch_order(pairs.source_of, len(pairs.sources), 0, 1, batching)
        torch.manual_seed(0)
        model = Regenerator(pairs.vocab_size, config, bos=pairs.bos, eos=pairs.eos)
        model = model.to(placement.device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)

        def run(rows: np.ndarray, batching: str = batching, model: Regenerator = model,
                optimizer: torch.optim.Optimizer = optimizer, scheduler: object = scheduler
                ) -> torch.Tensor:
            sums = _train_epoch(_LossSums(model), model, optimizer, scheduler, rows, batch_size,
                                pairs.source_of, sources, targets, source_lengths,
                                target_lengths, 1.0, placement,
                                shared_sources=batching == "sources")
            if placement.device.type == "cuda":
                torch.cuda.synchronize(placement.device)
            return sums

        warm = order[: WARMUP_STEPS * batch_size]
        timed = order[WARMUP_STEPS * batch_size : n_steps * batch_size]
        run(warm)
        start = time.perf_counter()
        sums = run(timed)
        seconds = time.perf_counter() - start
        distinct = [len(np.unique(pairs.source_of[timed[b : b + batch_size]]))
                    for b in range(0, len(timed), batch_size)]
        measured[batching] = {"seconds": seconds, "pairs_per_s": len(timed) / seconds,
                              "sources_per_batch": float(np.mean(distinct)),
                              "mean_loss": float(sums[0]) / len(timed)}
        print(f"{batching}: {len(timed)} pairs in {seconds:.1f} s "
              f"({len(timed) / seconds:,.0f} pairs/s, {np.mean(distinct):.0f} sources per batch)",
              flush=True)

    ratio = measured["sources"]["pairs_per_s"] / measured["pairs"]["pairs_per_s"]
    name = device_name(placement.device)
    rows = [(batching, f"{m['sources_per_batch']:.0f}", f"{m['pairs_per_s']:,.0f}",
             f"{len(pairs) / m['pairs_per_s']:,.0f} s",
             f"{20 * len(pairs) / m['pairs_per_s'] / 60:,.0f} min (extrapolated)",
             f"{m['mean_loss']:.3f}")
            for batching, m in measured.items()]
    body = (
        f"Device: **{name}** ({threads} CPU threads). {data}, {stage} stage: {len(pairs):,} "
        f"training pairs from {len(pairs.sources):,} sources, vocabulary {pairs.vocab_size:,}, "
        f"default RegeneratorConfig (dim 64, 2+2 layers, K = 5, dropout 0.1), batch "
        f"{batch_size}; {n_steps - WARMUP_STEPS} timed steps per batching after "
        f"{WARMUP_STEPS} warm-up steps (formatting + pairs {prepare_s:.1f} s). Load average "
        f"at the end: {os.getloadavg()[0]:.1f} (other jobs on the machine slow both rows).\n\n"
        + markdown_table(["batching", "distinct sources per batch", "pairs/s", "one epoch",
                          "20 epochs", "mean loss (timed steps)"], rows)
        + f"\n\nBatching by source: **{ratio:.2f}×** the pairs/s of batching by pairs.")
    if quick:
        print(body)
        return
    emit("bench_regen_batching", f"Regenerator batching, {data} {stage} "
         "(bench_regen_batching.py)", body,
         {"device": name, "data": data, "stage": stage, "threads": threads,
          "pairs": len(pairs), "sources": len(pairs.sources), "batch_size": batch_size,
          "timed_steps": n_steps - WARMUP_STEPS, "measured": measured, "ratio": ratio},
         quick)


if __name__ == "__main__":
    main()
