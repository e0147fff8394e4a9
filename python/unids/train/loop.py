"""The training loop: AdamW with warm-up + cosine, gradient clipping, bf16 autocast on GPU,
early stopping on validation, a checkpoint every epoch (and `resume`), a JSON log per run and
a result record in the schema `results/` uses."""

from __future__ import annotations

import dataclasses
import math
import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from unids import __version__
from unids.baselines import frec, reppad
from unids.errors import UserError
from unids.io import atomic_path, write_json
from unids.models import SequenceInput, Vocab, backbone_config, build_backbone
from unids.train.batches import (
    WIDTH_MULTIPLE,
    TrainBatch,
    TrainTensors,
    eval_tensors,
    length_bucketed_batches,
    train_tensors,
)
from unids.train.config import TrainConfig
from unids.train.data import LEAVE_LAST_OUT_NOTE, TaskData, with_validation_item
from unids.train.distributed import Placement, device_name, setup
from unids.train.evaluate import evaluate, evaluate_splits
from unids.train.model import Objective, RankingModel

CHECKPOINT = "checkpoint.pt"  # the latest epoch: model, optimizer, schedule, RNG, history
BEST = "best.pt"  # the weights of the best validation epoch, with what rebuilds the model
LOG = "run.json"
RECORD = "record.json"


def objective_of(config: TrainConfig, backbone_normalized: bool, n_items: int) -> Objective:
    full = config.loss == "full" or (config.loss == "auto"
                                     and n_items <= config.full_softmax_max_items)
    temperature = config.temperature
    if temperature is None:
        temperature = 0.05 if backbone_normalized else 1.0
    return Objective(retrieval=config.retrieval, full_softmax=full, temperature=temperature,
                     negatives=config.negatives, fine_negatives=config.fine_negatives,
                     per_position_negatives=config.negative_sampling == "position")


def warmup_cosine(step: int, warmup: int, total: int, schedule: str) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to 10% (or constant)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fit(data: TaskData, backbone_name: str, config: TrainConfig, run_dir: str | Path, *,
        model_overrides: dict[str, Any] | None = None, resume: bool = False,
        progress: bool = True, method: str | None = None, dataset_dir: str | None = None,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trains one backbone on one stage and returns the run's record (also written to
    `run_dir/record.json`). Under torchrun every process calls this; rank 0 writes.

    `method` (default: `config.method`) names the compared method (unids.baselines): it is
    set on the config, so "reppad" and "frec" change training and every method is recorded."""
    if method is not None and method != config.method:
        if config.method != "base":
            raise UserError(f"method {method!r} contradicts the config's {config.method!r}")
        config = dataclasses.replace(config, method=method)
    method = config.method
    run_dir = Path(run_dir)
    placement = setup(config.device)
    device = placement.device
    seed_everything(config.seed)
    started = time.perf_counter()

    model_config = backbone_config(backbone_name, model_overrides)
    max_len = config.max_len or model_config.max_len
    vocab = Vocab(n_items=data.n_items, n_tokens=data.n_tokens, n_behaviors=data.n_behaviors)
    model = RankingModel(build_backbone(backbone_name, vocab, dataclasses.asdict(model_config)),
                         with_head=not config.retrieval, amp=config.amp).to(device)
    objective = objective_of(config, model.backbone.normalize, data.n_items)
    last_out = config.protocol == "leave-last-out"
    if last_out:
        data = with_validation_item(data)
    train = train_tensors(data, max_len, device, config.window)
    cases = {split: eval_tensors(data.cases[split], max_len, device, data.n_items)
             for split in data.cases}

    steps_per_epoch = math.ceil(train.n_rows / config.batch_size)
    # The fused kernel updates every parameter at once: a small model's step is otherwise
    # dominated by launching one optimizer kernel per tensor.
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  betas=(0.9, config.adam_beta2),
                                  weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, config.warmup_steps, total_steps,
                                              config.schedule))
    wrapped: torch.nn.Module = model
    if placement.world > 1:
        wrapped = DistributedDataParallel(model)
    step_fn = torch.compile(wrapped) if config.compile else wrapped

    state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": 0, "bad_epochs": 0,
             "history": []}
    resumed_from = 0  # the epoch a resumed run continued after
    meta = {"backbone": backbone_name, "model_config": dataclasses.asdict(model_config),
            "vocab": dataclasses.asdict(vocab), "train_config": dataclasses.asdict(config),
            "dataset": data.name, "dataset_dir": dataset_dir, "method": method,
            "behavior_edges": data.behavior_edges}
    checkpoint_path = run_dir / CHECKPOINT
    if resume and checkpoint_path.is_file():
        saved = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if saved["meta"]["backbone"] != backbone_name or \
                saved["meta"]["model_config"] != meta["model_config"]:
            raise UserError(f"{checkpoint_path} was written with other model settings "
                            f"({saved['meta']['backbone']}, {saved['meta']['model_config']}): "
                            "resume with the same ones, or train into a new directory")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        resumed_from = state["epoch"]
        # map_location moved the saved states onto the device; RNG states load from the CPU.
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if device.type == "cuda" and "cuda" in saved["rng"]:
            torch.cuda.set_rng_state(saved["rng"]["cuda"].cpu(), device)
    if placement.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    bar = tqdm(total=config.epochs, initial=state["epoch"], desc=f"{backbone_name}/"
               f"{config.stage}", disable=not progress or not placement.is_main or None,
               unit="epoch", dynamic_ncols=True)
    tokens_per_epoch = int(torch.minimum(train.lengths, torch.tensor(max_len)).sum())
    while state["epoch"] < config.epochs and state["bad_epochs"] < config.patience:
        epoch = state["epoch"] + 1
        epoch_start = time.perf_counter()
        loss = _train_epoch(step_fn, model, train, config, objective, optimizer, scheduler,
                            placement, epoch)
        train_seconds = time.perf_counter() - epoch_start
        eval_start = time.perf_counter()
        if last_out:
            # The validation item is training data under this protocol: nothing to select
            # on, so every epoch is the "best" and the run ends after config.epochs.
            metrics, value, improved = {}, math.nan, True
        else:
            metrics = evaluate(model, cases["valid"], retrieval=config.retrieval,
                               batch_size=config.eval_batch_size,
                               negatives=config.fine_negatives, seed=config.seed)
            value = metrics[config.monitor]
            improved = value > state["best_metric"]
        eval_seconds = time.perf_counter() - eval_start
        if improved:
            state.update(best_metric=value, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append({
            "epoch": epoch, "loss": loss, "train_s": round(train_seconds, 3),
            "eval_s": round(eval_seconds, 3),
            "tokens_per_s": round(tokens_per_epoch / train_seconds, 1),
            "lr": scheduler.get_last_lr()[0], "valid": metrics})
        if placement.is_main:
            if improved:
                _save({"model": model.state_dict(), "meta": meta, "epoch": epoch},
                      run_dir / BEST)
            _save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "state": state, "meta": meta,
                   "rng": _rng_states(device)}, checkpoint_path)
            write_json({"meta": meta, "state": state}, run_dir / LOG)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", **{config.monitor: f"{value:.4f}"},
                        best=state["best_epoch"])
    bar.close()

    if placement.world > 1:
        torch.distributed.barrier()  # every rank reads the best.pt that rank 0 finished
    best = torch.load(run_dir / BEST, map_location=device, weights_only=False) \
        if (run_dir / BEST).is_file() else None
    if best is not None:
        model.load_state_dict(best["model"])
    eval_start = time.perf_counter()
    results, calibration = evaluate_splits(
        model, cases, ("test",) if last_out else ("valid", "test"), retrieval=config.retrieval,
        batch_size=config.eval_batch_size, negatives=config.fine_negatives, seed=config.seed)
    final_eval_seconds = time.perf_counter() - eval_start
    results.setdefault("valid", {})  # leave-last-out: the validation item was trained on
    history = state["history"]
    record = {
        "dataset": data.name, "backbone": backbone_name, "stage": config.stage,
        "method": method, "seed": config.seed, "epochs": state["epoch"],
        "best_epoch": state["best_epoch"], "device": device_name(device),
        "world_size": placement.world,
        # CPU kernels split their sums by thread: a run repeats bit for bit only at the same
        # thread count (docs/TRAINING.md, determinism), so the record says which it had.
        "torch_threads": torch.get_num_threads(),
        # This process's time; a resumed run's earlier epochs are in `performance`.
        "wall_time_s": round(time.perf_counter() - started, 2),
        "resumed_from_epoch": resumed_from,
        "config": {"train": dataclasses.asdict(config),
                   "model": dataclasses.asdict(model_config),
                   "objective": dataclasses.asdict(objective), "max_len": max_len},
        "valid": results["valid"], "test": results["test"],
        # Fine ranking: how test's `logloss_calibrated` was calibrated (evaluate_splits).
        "calibration": calibration,
        "performance": {
            "epoch_s_median": float(np.median([h["train_s"] for h in history])) if history
            else None,
            "tokens_per_s_median": float(np.median([h["tokens_per_s"] for h in history]))
            if history else None,
            # The best model's final evaluation (validation and test splits).
            "final_eval_s": round(final_eval_seconds, 3),
            # Every epoch's training and validation, across resumptions.
            "epochs_s_total": round(sum(h["train_s"] + h["eval_s"] for h in history), 1),
            "tokens_per_epoch": tokens_per_epoch,
            "peak_memory_bytes": peak_memory_bytes(device),
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        # Retrieval records skip the fine-ranking notes (about negatives), not the protocol.
        "notes": data.notes if not config.retrieval else
        [note for note in data.notes if note == LEAVE_LAST_OUT_NOTE],
        "versions": {"unids": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        **(extra or {}),
    }
    if placement.is_main:
        write_json(record, run_dir / RECORD)
    return record


def _train_epoch(step_fn: torch.nn.Module, model: RankingModel, train: TrainTensors,
                 config: TrainConfig, objective: Objective, optimizer: torch.optim.Optimizer,
                 scheduler: Any, placement: Placement, epoch: int) -> float:
    """One pass over the training rows in a seeded order; returns the mean example loss.

    Under DDP every rank draws the same order and takes its share of each global batch; the
    loss is divided by the *global* example count so that the averaged gradient equals the
    single-process one.
    """
    model.train()
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    total_loss = torch.zeros((), device=placement.device)
    total_examples = 0
    ends = train.window_ends(torch.arange(train.n_rows), generator)
    # Batches group rows of similar window length, so that little of a batch is padding.
    lengths = torch.minimum(ends, torch.tensor(train.max_len))
    for rows in length_bucketed_batches(lengths, config.batch_size, generator):
        global_examples = train.example_count(rows, ends[rows], objective.retrieval,
                                              objective.fine_negatives)
        if global_examples == 0:
            continue
        mine = rows[placement.rank::placement.world]
        batch = train.batch(mine, ends[mine])
        baseline: dict[str, Any] = {}
        if config.method == "reppad" and objective.retrieval:
            batch, global_examples = _repeat_padding(batch, train, rows, ends, lengths, config,
                                                     placement, generator, model)
        elif config.method == "frec" and objective.retrieval:
            fatigued, _ = frec.fatigued_copies(
                batch.inputs.tokens, lengths[mine], batch.targets[:, -1], config.frec_m,
                config.frec_window, generator, n_items=model.backbone.vocab.n_items)
            # α × the mean over the global batch's rows, once divided by its example count
            # (a tensor: torch.compile would specialise on a float and recompile every step)
            weight = config.frec_alpha * global_examples / int((lengths[rows] > 0).sum())
            baseline = {"fatigued": fatigued,
                        "fatigue_weight": torch.tensor(weight, device=placement.device)}
        loss_sum = step_fn(batch.inputs, batch.targets, batch.labels, objective, **baseline)
        loss = loss_sum * placement.world / global_examples
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        total_loss += loss_sum.detach()
        total_examples += global_examples
    return float(total_loss) * placement.world / max(total_examples, 1)


def _repeat_padding(batch: TrainBatch, train: TrainTensors, rows: torch.Tensor,
                    ends: torch.Tensor, lengths: torch.Tensor, config: TrainConfig,
                    placement: Placement, generator: torch.Generator,
                    model: RankingModel) -> tuple[TrainBatch, int]:
    """RepPad on this rank's share of a global batch, and the global batch's new example
    count. The repetition counts are drawn for the whole global batch (the same draw on
    every rank), so every rank knows the normaliser without communicating."""
    copies = reppad.draw_copies(lengths[rows], train.max_len, generator)
    stop = train.starts[rows] + ends[rows]
    own = train.target_prefix[stop] - train.target_prefix[stop - lengths[rows]]
    count = reppad.repeated_example_count(own, lengths[rows], copies, config.reppad_delimiter)
    mine = slice(placement.rank, None, placement.world)
    inputs = batch.inputs
    repeated = reppad.repeat_padding(
        inputs.tokens, batch.targets, lengths[rows][mine], train.max_len,
        delimiter=config.reppad_delimiter, copies=copies[mine], timestamps=inputs.timestamps,
        query_times=inputs.query_times, behaviors=inputs.behaviors,
        n_items=model.backbone.vocab.n_items, multiple=WIDTH_MULTIPLE,
        shift_times=config.reppad_times == "shifted")
    inputs = SequenceInput(tokens=repeated.tokens, timestamps=repeated.timestamps,
                           query_times=repeated.query_times, behaviors=repeated.behaviors,
                           user=inputs.user)
    return TrainBatch(inputs, repeated.targets, None), count


def _rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """The generators a resumed run must continue: the CPU one, and on CUDA the device's
    (dropout and the sampled fine-ranking negatives draw from it there)."""
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _save(payload: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
