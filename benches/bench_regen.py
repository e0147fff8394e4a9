"""Regenerator speed on ML-1M (recall stage): training tokens/s, and generation of every user ×
K memories with the batched decoder (`unids.regen.generate`) against the one-at-a-time decoder
(`generate_one_at_a_time`, one user and one memory per decoder call, as DR4SR's public code
decodes) — the same model, in the same run.

* Training: `fit_regenerator` on the recall pairs (default settings: dim 64, batch 256), for
  enough epochs to make `--steps` optimiser steps. tokens/s counts, per pair, the source
  tokens + the target tokens + eos; the first epoch is a warm-up and is reported apart.
* Generation: the model just trained decodes all users × K = `--memories` (greedy, default
  GenerationConfig). The one-at-a-time decoder runs on `--subset` users drawn with a seed
  (0 = all), and both decoders are timed on that subset too; the all-users time of the
  one-at-a-time decoder is then extrapolated (per user, from the subset) and labelled so.
  The script asserts that both decoders give identical segments on the subset. On the same
  subset it also times the batched decoder without its key/value cache (`cached=False`: the
  decoder reruns over the prefix at every step) and beam search of width 4.

    python benches/bench_regen.py                      # CPU here
    python benches/bench_regen.py --device cuda        # on a GPU (the card is named)
    python benches/bench_regen.py --quick              # a smoke run: printed, not recorded

Goal (issue): all ML-1M users with K = 5 regenerated in ≤ 30 s on one H100.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, emit, floor_rows, fmt_s, markdown_table

GOAL_S = 30.0  # all ML-1M users, K = 5, one H100
BEAM = 4  # width of the beam-search row


def _sync(device: object) -> None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(device)  # type: ignore[arg-type]


@click.command()
@click.option("--data", "data_dir", default=str(REPO_ROOT / "prepared" / "ml-1m"),
              show_default=True, help="A prepared dataset (unids data prepare).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 …")
@click.option("--threads", default=2, show_default=True, help="torch CPU threads.")
@click.option("--steps", default=300, show_default=True,
              help="Training steps to time (whole epochs: rounded up).")
@click.option("--batch-size", default=256, show_default=True, help="Training pairs per step.")
@click.option("--memories", default=5, show_default=True, help="K: segments per user.")
@click.option("--generate-batch", default=256, show_default=True,
              help="Users per batch of the batched decoder.")
@click.option("--subset", default=300, show_default=True,
              help="Users for the one-at-a-time decoder (0 = all).")
@click.option("--quick", is_flag=True, help="A few steps and users: a smoke run.")
def main(data_dir: str, device: str, threads: int, steps: int, batch_size: int, memories: int,
         generate_batch: int, subset: int, quick: bool) -> None:
    import numpy as np
    import torch

    from unids.data.dataset import Dataset
    from unids.formats import format_dataset
    from unids.regen import (
        GenerationConfig,
        RegeneratorConfig,
        build_pairs,
        fit_regenerator,
        generate,
        generate_one_at_a_time,
        user_sources,
    )
    from unids.train.distributed import device_name, pick_device

    torch.set_num_threads(threads)
    target = pick_device(device)
    if quick:
        steps, subset = 20, 20
    started = time.perf_counter()
    dataset = Dataset.load(data_dir)
    formatted = format_dataset(dataset, "recall")
    config = RegeneratorConfig(memories=memories)
    pairs = build_pairs(formatted, max_source_len=config.max_source_len,
                        max_target_len=config.max_target_len)
    prepare_s = time.perf_counter() - started
    vocabulary = formatted.vocabulary

    # -- training -------------------------------------------------------------------------
    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    epochs = max(2, math.ceil(steps / steps_per_epoch))
    with tempfile.TemporaryDirectory() as run_dir:
        model, history = fit_regenerator(pairs, vocabulary.size, config, run_dir,
                                         epochs=epochs, batch_size=batch_size,
                                         device=str(target), progress=False)
    timed = history[1:]  # the first epoch pays for allocation and (on CUDA) kernel warm-up
    train_tokens_s = float(np.median([h["tokens_per_s"] for h in timed]))
    train_pairs_s = float(np.median([h["pairs_per_s"] for h in timed]))
    step_s = float(np.median([h["seconds"] for h in timed])) / steps_per_epoch
    print(f"trained {epochs} epochs × {steps_per_epoch} steps: {train_tokens_s:,.0f} tokens/s, "
          f"final loss {history[-1]['loss']:.3f}", flush=True)

    # -- generation -------------------------------------------------------------------------
    generation = GenerationConfig(batch_size=generate_batch)
    users, sources = user_sources(formatted.pt, config.max_source_len)
    if quick:
        users, sources = users[:200], sources.rows(np.arange(200))
    n_users = int((sources.lengths > 0).sum())
    generate(model, users[:8], sources.rows(np.arange(8)), vocabulary, generation)  # warm-up
    _sync(target)
    start = time.perf_counter()
    batched = generate(model, users, sources, vocabulary, generation)
    _sync(target)
    batched_s = time.perf_counter() - start
    print(f"batched: {n_users} users × {memories} in {batched_s:.2f} s", flush=True)

    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(len(users), size=min(subset, len(users)), replace=False)) \
        if subset else np.arange(len(users))
    sub_users, sub_sources = users[chosen], sources.rows(chosen)
    n_sub = int((sub_sources.lengths > 0).sum())
    start = time.perf_counter()
    sub_batched = generate(model, sub_users, sub_sources, vocabulary, generation)
    _sync(target)
    sub_batched_s = time.perf_counter() - start
    start = time.perf_counter()
    sub_single = generate_one_at_a_time(model, sub_users, sub_sources, vocabulary, generation)
    _sync(target)
    sub_single_s = time.perf_counter() - start
    start = time.perf_counter()
    sub_uncached = generate(model, sub_users, sub_sources, vocabulary, generation, cached=False)
    _sync(target)
    sub_uncached_s = time.perf_counter() - start
    beam = replace(generation, beam_size=BEAM)
    start = time.perf_counter()
    sub_beam = generate(model, sub_users, sub_sources, vocabulary, beam)
    beam_segments = sub_beam.manifest["segments"]
    _sync(target)
    sub_beam_s = time.perf_counter() - start
    identical = sub_single.segments.equals(sub_batched.segments) and \
        sub_uncached.segments.equals(sub_batched.segments)
    assert identical, "the batched, uncached and one-at-a-time decoders disagree"
    extrapolated = subset and n_sub < n_users
    single_all_s = sub_single_s * n_users / n_sub
    print(f"one at a time: {n_sub} users in {sub_single_s:.2f} s", flush=True)

    # -- report -----------------------------------------------------------------------------
    name = device_name(target)
    sequences = n_users * memories
    rows = [
        ("batched `generate`", f"all {n_users} users", fmt_s(batched_s),
         f"{sequences / batched_s:,.0f}", "1.0×"),
        ("one-at-a-time", f"all {n_users} users"
         + (" (**extrapolated** from the subset)" if extrapolated else ""),
         fmt_s(single_all_s), f"{sequences / single_all_s:,.0f}",
         f"{single_all_s / batched_s:,.1f}×"),
        ("batched `generate`", f"subset of {n_sub} users", fmt_s(sub_batched_s),
         f"{n_sub * memories / sub_batched_s:,.0f}", "1.0×"),
        ("one-at-a-time", f"subset of {n_sub} users (measured)", fmt_s(sub_single_s),
         f"{n_sub * memories / sub_single_s:,.0f}", f"{sub_single_s / sub_batched_s:,.1f}×"),
        ("batched, no cache (the decoder reruns over the prefix each step)",
         f"subset of {n_sub} users", fmt_s(sub_uncached_s),
         f"{n_sub * memories / sub_uncached_s:,.0f}", f"{sub_uncached_s / sub_batched_s:,.1f}×"),
        (f"batched, beam search of width {BEAM}", f"subset of {n_sub} users",
         fmt_s(sub_beam_s), f"{n_sub * memories / sub_beam_s:,.0f}",
         f"{sub_beam_s / sub_batched_s:,.1f}×"),
    ]
    on_h100 = target.type == "cuda" and "H100" in name
    body = (
        f"Device: **{name}** ({threads} CPU threads). ML-1M recall stage: {len(pairs):,} "
        f"training pairs, vocabulary {vocabulary.size:,} tokens, default RegeneratorConfig "
        f"(dim 64, 2+2 layers, K = {memories}), formatting + pairs {prepare_s:.1f} s.\n\n"
        f"**Training** ({epochs} epochs × {steps_per_epoch} steps of {batch_size} pairs; median "
        f"of epochs 2…{epochs}; tokens = source + target + eos per pair): "
        f"**{train_tokens_s:,.0f} tokens/s**, {train_pairs_s:,.0f} pairs/s, "
        f"{step_s * 1e3:.0f} ms/step (first epoch {history[0]['seconds']:.1f} s; final loss "
        f"{history[-1]['loss']:.3f}).\n\n"
        f"**Generation** (greedy, γ = 0.1, batch {generate_batch} users; sequences = users × "
        f"K decoded; {batched.manifest['segments']:,} distinct segments kept of "
        f"{batched.manifest['decoded']:,}). The batched (cached), batched uncached and "
        f"one-at-a-time greedy decoders gave identical segments on the subset: {identical}.\n\n"
        + markdown_table(["decoder", "users", "time", "sequences/s", "vs batched"], rows)
        + "\n\n" + floor_rows([
            ("all ML-1M users × K = 5 regenerated in ≤ 30 s on one H100",
             f"{batched_s:.1f} s on {name}", batched_s <= GOAL_S if on_h100 else None),
        ]))
    if quick:  # a smoke run: printed, not recorded
        print(body)
        return
    emit("bench_regen", "Regenerator training and generation on ML-1M (bench_regen.py)", body,
         {"device": name, "pairs": len(pairs), "epochs": epochs,
          "steps_per_epoch": steps_per_epoch, "batch_size": batch_size, "history": history,
          "train_tokens_per_s": train_tokens_s, "train_pairs_per_s": train_pairs_s,
          "users": n_users, "memories": memories, "batched_s": batched_s,
          "subset_users": n_sub, "subset_batched_s": sub_batched_s,
          "subset_one_at_a_time_s": sub_single_s, "one_at_a_time_all_s": single_all_s,
          "subset_uncached_s": sub_uncached_s, "subset_beam_s": sub_beam_s, "beam": BEAM,
          "subset_beam_segments": beam_segments,
          "one_at_a_time_extrapolated": bool(extrapolated), "identical": identical},
         quick)


if __name__ == "__main__":
    main()
