"""Does the regenerator converge better from scratch or with its item vectors initialised from a
trained backbone? (SPEC §6; DR4SR found training from scratch unstable.) Writes the per-epoch
table that docs/REGENERATOR.md quotes.

On one prepared dataset (default ML-100K), recall stage (formatted with `--theta-scale`, 1.5 by
default: at 1.0 ML-100K yields only 144 pairs), sources cut to `--max-source-len` tokens (50
by default, to fit two seeds into a CPU budget; the targets then need not lie inside the
source): the pairs are split 90 / 10 at random
(seeded); for each seed the regenerator trains on the 90 % once per arm (`--inits`): from
scratch; `backbone`, item rows = the backbone's token table as it is; `rescaled`, the same rows
scaled to the regenerator's initial RMS 1/√d (what `unids regenerate --init-from` does).
Everything else is equal (same seed, hence the same initial weights apart from the item rows,
the same batches). After every epoch: the training
loss and, on the held-out 10 % (eval mode, π from the promoter as in training), the
teacher-forced token cross-entropy and token accuracy (argmax = label, eos included).
Held-out pairs share their source windows with training pairs of the same user (the target lies
inside the source by construction), so this measures fitting, not generalisation to new users.

The backbone: a `unids train` checkpoint (`--backbone PATH`); without one the script trains
SASRec with `unids train --data DATA --backbone sasrec --set epochs=5 --set model.dim=DIM` first.

    python benches/regen_init.py                            # ML-100K, 8 epochs, seeds 0 1
    python benches/regen_init.py --backbone runs/x/best.pt --epochs 10 --seeds 0
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO_ROOT,
    machine_info,
    machine_markdown,
    markdown_table,
    repo_relative,
    write_json,
)


def held_out_metrics(model: Any, pairs: Any, batch_size: int = 512) -> tuple[float, float]:
    """(token cross-entropy, token accuracy) of teacher-forced decoding over `pairs`."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    sources, targets = pairs.padded()
    source_lengths = (sources != 0).sum(1)
    target_lengths = (targets != 0).sum(1)
    loss_sum = correct = count = 0.0
    model.eval()
    with torch.inference_mode():
        for begin in range(0, len(pairs), batch_size):
            rows = np.arange(begin, min(begin + batch_size, len(pairs)))
            source_rows = pairs.source_of[rows]
            source = torch.from_numpy(
                sources[source_rows, : int(source_lengths[source_rows].max())])
            target = torch.from_numpy(targets[rows, : int(target_lengths[rows].max())])
            logits, _ = model(source, target)  # (B, T + 1, V), π from the promoter
            labels = model.labels(target)
            keep = labels != 0
            loss_sum += float(F.cross_entropy(logits[keep], labels[keep], reduction="sum"))
            correct += float((logits.argmax(-1) == labels)[keep].sum())
            count += int(keep.sum())
    return loss_sum / count, correct / count


def subset(pairs: Any, index: Any) -> Any:
    from unids.regen import Pairs

    return Pairs(pairs.sources, pairs.targets.rows(index), pairs.source_of[index],
                 pairs.user[index], pairs.vocab_size, pairs.bos, pairs.eos, pairs.stats)


@click.command()
@click.option("--data", "data_dir", default=str(REPO_ROOT / "prepared" / "ml-100k"),
              show_default=True)
@click.option("--backbone", "backbone_path", default=None,
              help="A unids train best.pt; default: train SASRec for 5 epochs first.")
@click.option("--work", default="/tmp/unids-regen-init", show_default=True,
              help="Scratch directory for the runs.")
@click.option("--epochs", default=8, show_default=True)
@click.option("--seeds", default="0,1", show_default=True)
@click.option("--dim", default=64, show_default=True, help="Backbone and regenerator width.")
@click.option("--theta-scale", default=1.5, show_default=True,
              help="format_dataset's theta_scale: ML-100K's recall stage has 144 pairs at 1.0, "
                   "6,699 at 1.5.")
@click.option("--max-source-len", default=50, show_default=True,
              help="Source window (the last N PT tokens; 200 is the default regenerator's).")
@click.option("--inits", default="scratch,backbone,rescaled", show_default=True,
              help="Arms: scratch; backbone (the rows as they are); rescaled (the rows scaled "
                   "to the regenerator's initial RMS).")
@click.option("--threads", default=2, show_default=True)
def main(data_dir: str, backbone_path: str | None, work: str, epochs: int, seeds: str,
         dim: int, theta_scale: float, max_source_len: int, inits: str, threads: int) -> None:
    import numpy as np
    import torch

    from unids.data.dataset import Dataset
    from unids.formats import format_dataset
    from unids.regen import RegeneratorConfig, build_pairs, fit_regenerator
    from unids.regen.backbone import backbone_item_table
    from unids.regen.model import from_meta

    torch.set_num_threads(threads)
    work_dir = Path(work)
    if backbone_path is None:
        backbone_dir = work_dir / "backbone"
        command = [sys.executable, "-m", "unids", "train", "--data", data_dir, "--backbone",
                   "sasrec", "--set", "epochs=5", "--set", f"model.dim={dim}", "--set",
                   "device=cpu", "-o", str(backbone_dir), "--quiet", "--json"]
        print("$", " ".join(command[2:]), flush=True)
        started = time.perf_counter()
        record = json.loads(subprocess.run(command, capture_output=True, text=True,
                                           check=True).stdout)
        print(f"backbone: {time.perf_counter() - started:.0f} s, test "
              f"NDCG@10 {record['test']['NDCG@10']:.4f}", flush=True)
        backbone_path = str(backbone_dir / "best.pt")
    dataset = Dataset.load(data_dir)
    formatted = format_dataset(dataset, "recall", theta_scale=theta_scale)
    config = RegeneratorConfig(dim=dim, max_source_len=max_source_len)
    arms = inits.split(",")
    tables = {"backbone": backbone_item_table(backbone_path, formatted.vocabulary, dim),
              "rescaled": backbone_item_table(backbone_path, formatted.vocabulary, dim,
                                              rescale=True)}
    pairs = build_pairs(formatted, max_source_len=config.max_source_len,
                        max_target_len=config.max_target_len)
    order = np.random.default_rng(12345).permutation(len(pairs))
    cut = len(pairs) // 10
    held_out, train = subset(pairs, np.sort(order[:cut])), subset(pairs, np.sort(order[cut:]))
    print(f"{len(train)} training pairs, {len(held_out)} held out", flush=True)

    runs: list[dict[str, Any]] = []
    for seed in [int(s) for s in seeds.split(",")]:
        for init in arms:
            run_dir = work_dir / f"{init}-s{seed}"
            curve: list[dict[str, Any]] = []

            def after_epoch(epoch: int, record: dict[str, Any], run_dir: Path = run_dir,
                            curve: list[dict[str, Any]] = curve,
                            label: str = f"{init} seed {seed}") -> None:
                saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)
                model = from_meta(saved["meta"]["model"])
                model.load_state_dict(saved["model"])
                ce, accuracy = held_out_metrics(model, held_out)
                curve.append({"epoch": epoch, "train_loss": record["loss"],
                              "train_rec": record["rec"], "held_out_ce": ce,
                              "held_out_accuracy": accuracy, "seconds": record["seconds"]})
                print(f"{label} epoch {epoch}: train {record['loss']:.4f} "
                      f"held-out CE {ce:.4f} acc {accuracy:.4f} ({record['seconds']:.0f} s)",
                      flush=True)

            extra: dict[str, Any] = {} if init == "scratch" else {
                "item_table": tables[init], "n_items": formatted.vocabulary.n_items}
            fit_regenerator(train, pairs.vocab_size, config, run_dir, epochs=epochs,
                            seed=seed, device="cpu", progress=False, on_epoch=after_epoch,
                            **extra)
            runs.append({"seed": seed, "init": init, "curve": curve})

    rows = []
    for epoch in range(epochs):
        row: list[Any] = [epoch + 1]
        for init in arms:
            mine = [r["curve"][epoch] for r in runs if r["init"] == init]
            for key, digits in (("train_loss", 3), ("held_out_ce", 3),
                                ("held_out_accuracy", 4)):
                row.append(" / ".join(f"{m[key]:.{digits}f}" for m in mine))
        rows.append(row)
    headers = ["epoch"] + [f"{init}: {what}" for init in arms
                           for what in ("train loss", "held-out CE", "held-out acc")]
    info = machine_info()
    print(f"\n{machine_markdown(info)}\n\n{dataset.name} recall (theta_scale {theta_scale}, "
          f"max_source_len {max_source_len}, dim {dim}): {len(train)} training / "
          f"{len(held_out)} held-out pairs; seeds {seeds} (values per seed, ' / ' "
          f"separated); backbone {backbone_path}\n\n{markdown_table(headers, rows)}")
    path = write_json("regen_init", {"machine": info, "data": repo_relative(data_dir),
                                     "theta_scale": theta_scale,
                                     "max_source_len": max_source_len, "dim": dim,
                                     "backbone": backbone_path, "pairs": len(pairs),
                                     "held_out": len(held_out), "runs": runs})
    print(f"JSON: {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
