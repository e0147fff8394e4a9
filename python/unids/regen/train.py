"""Training the regenerator on (source, target) pairs: AdamW with linear warm-up and cosine
decay (`unids.train.loop.warmup_cosine`), gradient clipping, bf16 autocast on CUDA only, a
checkpoint every epoch (`resume` continues it exactly on CPU: batch order, dropout RNG,
optimizer and schedule are restored), a JSON log and the final weights.

Batching (`batching`):

* "pairs" (default): each epoch shuffles the pairs; a batch is `batch_size` of them, nearly
  all from different users, so every pair's source is encoded on its own.
* "sources": each epoch shuffles the *sources* (users, patterns) and lays out each one's pairs
  side by side before cutting batches of `batch_size` pairs. A user's ≤ `per_user` pairs
  then mostly share a batch, and its source is encoded once for all of them: the encoder over
  up to 200 tokens is most of a step's cost, so a step is several times cheaper (measured in
  `benches/bench_regen_batching.py`). The pairs of one batch come from fewer users, and they
  share the encoder's dropout draw: a different sampling of the same loss, not the same
  numbers.

    run_dir/checkpoint.pt    the latest epoch: model, optimizer, schedule, RNG, history
    run_dir/regenerator.pt   the final weights with what rebuilds the model (`load_regenerator`)
    run_dir/run.json         meta + per-epoch history

Under `torchrun --nproc_per_node=N` (DDP, `unids.train.distributed`) every process calls
`fit_regenerator` with the same pairs: all draw the same global batches, rank r takes rows
r, r + N, … of each (with "sources" batching: the r-th of N contiguous slices, so that a
user's pairs stay together), and its loss parts are divided by the *global* batch's counts,
so that the averaged gradient is the single-process one. Rank 0 alone writes; the files hold
the bare model's weights, so they load and resume in a single process (and the other way
round).
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from unids import __version__
from unids.errors import InputError, UserError
from unids.io import atomic_path, write_json
from unids.regen.model import Regenerator, RegeneratorConfig, from_meta, model_meta
from unids.regen.pairs import Pairs
from unids.train.distributed import Placement, pick_device, setup
from unids.train.loop import warmup_cosine

CHECKPOINT = "checkpoint.pt"
FINAL = "regenerator.pt"
LOG = "run.json"
BATCHING = ("pairs", "sources")


def fit_regenerator(pairs: Pairs, vocab_size: int, config: RegeneratorConfig,
                    run_dir: str | Path, epochs: int = 20, batch_size: int = 256,
                    lr: float = 1e-3, seed: int = 0, device: str = "auto", *,
                    weight_decay: float = 0.01, warmup_steps: int | None = None,
                    grad_clip: float = 1.0, resume: bool = False, progress: bool = True,
                    item_table: torch.Tensor | None = None, n_items: int | None = None,
                    batching: str = "pairs",
                    on_epoch: Callable[[int, dict[str, Any]], None] | None = None
                    ) -> tuple[Regenerator, list[dict[str, Any]]]:
    """Trains a regenerator for `epochs` epochs (in total: a resumed run continues up to it) and
    returns (the model in eval mode, the per-epoch history).

    warmup_steps: None = 5 % of all steps. batching: "pairs" or "sources" (module docstring).
    item_table / n_items: start the item embeddings from a trained backbone's token table
    (`Regenerator.init_item_embeddings`). on_epoch(epoch, record): called after each epoch's
    checkpoint is written (on every rank under DDP).
    Under torchrun every process calls this with the same arguments (module docstring).
    """
    if len(pairs) == 0:
        raise UserError("no training pairs: no user has a segment of two or more items and "
                        "no pattern was mined")
    if pairs.vocab_size != vocab_size:
        raise UserError(f"the pairs use a vocabulary of {pairs.vocab_size} tokens, not "
                        f"{vocab_size}")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise UserError("need epochs ≥ 1, batch_size ≥ 1 and lr > 0")
    if batching not in BATCHING:
        raise UserError(f"batching must be one of {', '.join(BATCHING)}, not {batching!r}")
    sources, targets = pairs.padded()
    if sources.shape[1] > config.max_source_len:
        raise UserError(f"sources of up to {sources.shape[1]} tokens; max_source_len is "
                        f"{config.max_source_len}")
    if targets.shape[1] > config.max_target_len - 1:
        raise UserError(f"targets of up to {targets.shape[1]} tokens; max_target_len "
                        f"{config.max_target_len} leaves room for {config.max_target_len - 1}"
                        " (plus eos)")
    run_dir = Path(run_dir)
    placement = setup(device)
    target = placement.device
    torch.manual_seed(seed)
    model = Regenerator(vocab_size, config, bos=pairs.bos, eos=pairs.eos).to(target)
    if item_table is not None:
        if n_items is None:
            raise UserError("item_table needs n_items")
        model.init_item_embeddings(item_table.to(target), n_items)

    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    total_steps = steps_per_epoch * epochs
    warmup = max(1, round(0.05 * total_steps)) if warmup_steps is None else warmup_steps
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup, total_steps, "cosine"))
    meta: dict[str, Any] = {"model": model_meta(model),
            "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                      "weight_decay": weight_decay, "warmup_steps": warmup,
                      "grad_clip": grad_clip, "pairs": len(pairs), "batching": batching},
            "pairs": pairs.stats, "created_by": f"unids {__version__}"}
    state: dict[str, Any] = {"epoch": 0, "history": []}
    checkpoint = run_dir / CHECKPOINT
    if resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location=target, weights_only=False)
        fixed = ("batch_size", "lr", "seed", "weight_decay", "grad_clip", "pairs", "batching")
        # Checkpoints from before `batching` existed were trained with "pairs".
        saved_train = {"batching": "pairs", **saved["meta"]["train"]}
        if saved["meta"]["model"] != meta["model"] or any(
                saved_train[key] != meta["train"][key] for key in fixed):
            raise UserError(f"{checkpoint} holds a different regenerator or run (only epochs "
                            "may change on resume); start a new run_dir or drop resume")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        # Each rank continues its own dropout stream when the world size is the same; else
        # (a DDP checkpoint resumed by one process, say) every rank takes rank 0's.
        ranks = saved.get("rng_ranks") or [saved["rng"]]
        rng = ranks[placement.rank] if len(ranks) == placement.world else ranks[0]
        torch.set_rng_state(rng["torch"].cpu())
        if target.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"].cpu(), target)
    if placement.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    # DDP hooks `forward`, so the loss is computed through a module whose forward it is.
    step_fn: nn.Module = _LossSums(model)
    if placement.world > 1:
        step_fn = DistributedDataParallel(step_fn)
    source_lengths = (sources != 0).sum(1)
    target_lengths = (targets != 0).sum(1)
    bar = tqdm(total=epochs, initial=state["epoch"], desc="regenerator", unit="epoch",
               disable=not progress or not placement.is_main or None, dynamic_ncols=True)
    while state["epoch"] < epochs:
        epoch = state["epoch"] + 1
        started = time.perf_counter()
        model.train()
        order = epoch_order(pairs.source_of, len(pairs.sources), seed, epoch, batching)
        sums = _train_epoch(step_fn, model, optimizer, scheduler, order, batch_size,
                            pairs.source_of, sources, targets, source_lengths, target_lengths,
                            grad_clip, placement, shared_sources=batching == "sources")
        seconds = time.perf_counter() - started
        mean = (sums / len(order)).tolist()
        tokens = int(source_lengths[pairs.source_of[order]].sum()
                     + target_lengths[order].sum()) + len(order)
        record = {"epoch": epoch, "loss": mean[0], "rec": mean[1], "entropy": mean[2],
                  "lr": scheduler.get_last_lr()[0], "seconds": round(seconds, 3),
                  "pairs_per_s": round(len(order) / seconds, 1),
                  "tokens_per_s": round(tokens / seconds, 1)}
        state["epoch"] = epoch
        state["history"].append(record)
        rng = _rng_states(target)
        rng_ranks = _gather(rng, placement)
        if placement.is_main:
            _save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "state": state, "meta": meta,
                   "rng": rng, "rng_ranks": rng_ranks}, checkpoint)
            write_json({"meta": meta, "state": state, "device": str(target),
                        "world_size": placement.world}, run_dir / LOG)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}", rec=f"{record['rec']:.4f}")
        if on_epoch is not None:
            on_epoch(epoch, record)
    bar.close()
    if placement.is_main:
        _save({"model": model.state_dict(), "meta": meta}, run_dir / FINAL)
    if placement.world > 1:
        dist.barrier()  # every rank returns once regenerator.pt exists
    model.eval()
    return model, list(state["history"])


class _LossSums(nn.Module):
    """forward = `Regenerator.loss_sums`: DDP synchronises the gradients of what its wrapped
    module's forward computed."""

    def __init__(self, model: Regenerator) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: torch.Tensor, target: torch.Tensor,
                source_index: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.loss_sums(source, target, source_index)


def epoch_order(source_of: np.ndarray, n_sources: int, seed: int, epoch: int,
                batching: str) -> np.ndarray:
    """The pairs in the order epoch `epoch` visits them (a permutation of range(N)).
    "pairs": a seeded shuffle of the pairs. "sources": a seeded shuffle of the sources, each
    followed by all its pairs in their stored (sequence) order."""
    rng = np.random.default_rng([seed, epoch])
    if batching == "pairs":
        return rng.permutation(len(source_of))
    rank_of_source = np.empty(n_sources, dtype=np.int64)
    rank_of_source[rng.permutation(n_sources)] = np.arange(n_sources)
    return np.argsort(rank_of_source[source_of], kind="stable")


def _train_epoch(step_fn: nn.Module, model: Regenerator, optimizer: torch.optim.Optimizer,
                 scheduler: Any, order: np.ndarray, batch_size: int, source_of: np.ndarray,
                 sources: np.ndarray, targets: np.ndarray, source_lengths: np.ndarray,
                 target_lengths: np.ndarray, grad_clip: float, placement: Placement, *,
                 shared_sources: bool = False) -> torch.Tensor:
    """One pass over `order` in global batches of `batch_size` pairs; returns the sums over
    the epoch's pairs of (total, rec, entropy), each batch's mean weighted by its size (the
    same on every rank).

    Rank r takes rows r, r + N, … of each global batch and divides its loss sums by the global
    batch's token and row counts, times N: DDP averages the ranks' gradients, so the update
    is the one a single process makes on the whole batch. A rank left without rows (a last
    batch smaller than N) runs one row at weight 0, to join the gradient all-reduce.
    shared_sources: ranks take contiguous slices instead, and each distinct source of a share
    is encoded once (`Regenerator.loss_sums`' source_index).
    """
    device = placement.device
    sums = torch.zeros(3, device=device)  # total, rec, entropy — weighted by batch size
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        global_tokens = int(target_lengths[rows].sum()) + len(rows)  # + one eos per row
        if shared_sources:
            mine = np.array_split(rows, placement.world)[placement.rank]
        else:
            mine = rows[placement.rank :: placement.world]
        weight = 1.0
        if len(mine) == 0:
            mine, weight = rows[:1], 0.0
        source_rows = source_of[mine]
        source_index = None
        if shared_sources:
            source_rows, inverse = np.unique(source_rows, return_inverse=True)
            source_index = torch.from_numpy(inverse.reshape(-1)).to(device)
        s = int(source_lengths[source_rows].max())
        t = int(target_lengths[mine].max())
        source = torch.from_numpy(sources[source_rows, :s]).to(device)
        batch_target = torch.from_numpy(targets[mine, :t]).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=device.type == "cuda"):
            rec_sum, entropy_sum = step_fn(source, batch_target, source_index)
        rec = rec_sum * (weight / global_tokens)
        entropy = entropy_sum * (weight / len(rows))
        total = model.combine(rec, entropy)
        optimizer.zero_grad(set_to_none=True)
        (total * placement.world).backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        sums += len(rows) * torch.stack([total, rec, entropy]).detach()
    if placement.world > 1:
        dist.all_reduce(sums)  # the shares add up to each batch's mean
    return sums


def load_regenerator(path: str | Path, device: str = "cpu"
                     ) -> tuple[Regenerator, dict[str, Any]]:
    """(model in eval mode, the run's meta) from `regenerator.pt` or `checkpoint.pt`."""
    target = pick_device(device)
    try:
        saved = torch.load(path, map_location=target, weights_only=False)
        meta = saved["meta"]
        model = from_meta(meta["model"]).to(target)
        model.load_state_dict(saved["model"])
    except FileNotFoundError:
        raise InputError(str(path), "no such regenerator checkpoint") from None
    except (OSError, RuntimeError, KeyError, EOFError, TypeError,
            pickle.UnpicklingError) as error:
        raise InputError(str(path), f"not a regenerator checkpoint ({error})") from None
    return model.eval(), meta


def _rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _gather(states: dict[str, torch.Tensor], placement: Placement
            ) -> list[dict[str, torch.Tensor]]:
    """Every rank's RNG states, in rank order (on every rank)."""
    if placement.world == 1:
        return [states]
    gathered: list[Any] = [None] * placement.world
    dist.all_gather_object(gathered, {key: value.cpu() for key, value in states.items()})
    return gathered


def _save(payload: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)

