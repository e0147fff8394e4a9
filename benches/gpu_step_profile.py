"""Where a training epoch's time goes, per backbone on ML-1M: the training steps, the
per-epoch validation, the checkpoint writes, and a torch.profiler view of a few steps
(operators launched per step, CPU vs device time). Written for a short slot on a lent GPU;
runs on CPU too.

    python benches/gpu_step_profile.py --data prepared/ml-1m --out OUT [--backbones hstu,sasrec]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from unids.data.dataset import Dataset
from unids.models import Vocab, build_backbone
from unids.train.batches import eval_tensors, length_bucketed_batches, train_tensors
from unids.train.config import TrainConfig
from unids.train.distributed import Placement, pick_device
from unids.train.evaluate import evaluate
from unids.train.loop import _save, _train_epoch, objective_of
from unids.train.model import RankingModel


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_backbone(name: str, data_dir: Path, out: Path, steps: int) -> dict:
    from unids.train.data import task_data

    device = pick_device("auto")
    data = task_data(Dataset.load(data_dir))
    config = TrainConfig(epochs=2, warmup_steps=1)
    model = RankingModel(build_backbone(name, Vocab(data.n_items, data.n_tokens,
                                                    data.n_behaviors)),
                         with_head=False, amp=True).to(device)
    objective = objective_of(config, model.backbone.normalize, data.n_items)
    train = train_tensors(data, 200, device)
    cases = eval_tensors(data.cases["valid"], 200, device, data.n_items)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    placement = Placement(0, 1, device)
    timings = {}
    for epoch in (1, 2):  # the first is a warm-up (allocator, cuBLAS handles)
        synchronize(device)
        start = time.perf_counter()
        _train_epoch(model, model, train, config, objective, optimizer, scheduler, placement,
                     epoch)
        synchronize(device)
        timings[f"train_epoch_{epoch}_s"] = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(model, cases, retrieval=True, batch_size=1024)
    synchronize(device)
    timings["valid_eval_s"] = time.perf_counter() - start
    start = time.perf_counter()
    _save({"model": model.state_dict(), "optimizer": optimizer.state_dict()},
          out / f"{name}-checkpoint.pt")
    timings["checkpoint_s"] = time.perf_counter() - start
    (out / f"{name}-checkpoint.pt").unlink()

    batches = length_bucketed_batches(torch.minimum(train.lengths, torch.tensor(200)), 128,
                                      torch.Generator().manual_seed(0))[:steps]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if device.type == "cuda" else [])
    model.train()
    with profile(activities=activities) as prof:
        for rows in batches:
            batch = train.batch(rows, train.lengths[rows])
            loss = model(batch.inputs, batch.targets, batch.labels, objective)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        synchronize(device)
    events = prof.key_averages()
    aten_calls = sum(e.count for e in events if e.key.startswith("aten::"))
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel",
                                                         "cuLaunchKernel", "cudaLaunchKernelExC"))
    sort_key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = events.table(sort_by=sort_key, row_limit=15)
    (out / f"{name}-profile.txt").write_text(table)
    return {"backbone": name, "device": torch.cuda.get_device_name(device)
            if device.type == "cuda" else "cpu", "steps_per_epoch": len(
                length_bucketed_batches(train.lengths, 128, torch.Generator())),
            **{k: round(v, 4) for k, v in timings.items()},
            "aten_calls_per_step": aten_calls / len(batches),
            "kernel_launches_per_step": launches / len(batches),
            "valid_ndcg10_after_2_epochs": metrics["NDCG@10"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("prepared/ml-1m"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backbones", default="hstu,sasrec,llama2rec")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = [profile_backbone(name, args.data, args.out, args.steps)
               for name in args.backbones.split(",")]
    for result in results:
        print(json.dumps(result))
    (args.out / "step_profile.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
