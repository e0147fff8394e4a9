"""Does RepPad teach a retrieval model to copy? (docs/RESULTS.md §3, RepPad on ML-1M.)

RepPad repeats a short training row r times. Every position of a later copy is asked for an
item that the copy before holds a fixed distance back, so a model can lower its training loss
there by copying instead of predicting. Evaluation rows are never repeated: what copying
earns in training, it cannot use at test time.

For each checkpoint (`unids train` / an experiment cell's `best.pt`; retrieval, full softmax),
this takes training rows of `--min-len` to `--max-len` positions (each user's last window, at
most half the model's max_len, so that two copies fit), repeats each exactly twice as RepPad
does (delimiter), and scores every position's target among all items: mean cross-entropy and
top-1 hit rate, for the first copy (which sees only itself, as the plain row) and the second
(which sees the first). A model that copies has a far lower loss on the second copy than on
the first; one that does not, about the same. It also prints, for the checkpoint's data, the
share of training targets that RepPad's draw r ~ U{1, ⌊(max_len + 1) / (len + 1)⌋} puts in
later copies over an epoch (in expectation).

    python benches/reppad_copying.py RUN/best.pt OTHER/best.pt --rows 400 --json out.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import torch
import torch.nn.functional as F

from unids.baselines import reppad
from unids.models import SequenceInput

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _checkpoint_rows import retrieval_checkpoint

COPIES = 2


def later_copy_share(lengths: torch.Tensor, max_len: int) -> float:
    """Expected share of a RepPad epoch's targets that lie in copies after the first: with
    r ~ U{1, R}, E[r] = (R + 1) / 2 copies of a row's `len` targets, E[r] − 1 of them later."""
    lengths = lengths.clamp(max=max_len).double()
    limit = reppad.repetition_limit(lengths.long(), max_len).double()
    expected = (limit + 1) / 2
    return float(((expected - 1) * lengths).sum() / (expected * lengths).sum())


def per_copy_scores(path: Path, rows: int, min_len: int, max_len: int, seed: int,
                    batch: int = 50) -> dict[str, object]:
    checkpoint = retrieval_checkpoint(path)
    backbone, train, width = checkpoint.backbone, checkpoint.train, checkpoint.width
    longest = min(max_len, (width + 1) // COPIES - 1)  # two copies and a delimiter fit
    pool = torch.nonzero((train.lengths >= min_len) & (train.lengths <= longest)).flatten()
    generator = torch.Generator().manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=generator)[:rows]]
    items = backbone.item_table()[1:]
    totals = {copy: {"loss": 0.0, "top1": 0, "n": 0} for copy in range(1, COPIES + 1)}
    with torch.no_grad():
        for part in chosen.split(batch):
            lengths = train.lengths[part]
            plain = train.batch(part, lengths)
            given = plain.inputs
            repeated = reppad.repeat_padding(
                given.tokens, plain.targets, lengths, width, delimiter=True,
                copies=torch.full((len(part),), COPIES), timestamps=given.timestamps,
                query_times=given.query_times, behaviors=given.behaviors,
                n_items=backbone.vocab.n_items)
            hidden = backbone(SequenceInput(
                tokens=repeated.tokens, timestamps=repeated.timestamps,
                query_times=repeated.query_times, behaviors=repeated.behaviors,
                user=given.user))
            columns = repeated.tokens.shape[1]
            span = COPIES * (lengths + 1) - 1
            position = torch.arange(columns)[None, :] - (columns - span)[:, None]
            copy = torch.where(position >= 0, position // (lengths + 1)[:, None] + 1, 0)
            has = repeated.targets > 0
            # Self-check: a later copy holds the first copy's targets, in the same order (the
            # delimiter ending each copy but the last has none).
            for later in range(2, COPIES + 1):
                assert torch.equal(repeated.targets[has & (copy == 1)],
                                   repeated.targets[has & (copy == later)])
            logits = (backbone.output(hidden[has]) / checkpoint.temperature) @ items.t()
            wanted = repeated.targets[has] - 1
            loss = F.cross_entropy(logits.float(), wanted, reduction="none")
            hit = logits.argmax(-1) == wanted
            for index, total in totals.items():
                mask = copy[has] == index
                total["loss"] += float(loss[mask].sum())
                total["top1"] += int(hit[mask].sum())
                total["n"] += int(mask.sum())
    return {
        "checkpoint": str(path), "method": checkpoint.config.method, "epoch": checkpoint.epoch,
        "rows": len(chosen), "later_copy_share": later_copy_share(train.lengths, width),
        **{f"copy{index}": {"loss": t["loss"] / t["n"], "top1": t["top1"] / t["n"],
                            "targets": t["n"]} for index, t in totals.items()},
    }


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True,
                                                                        path_type=Path))
@click.option("--rows", default=400, show_default=True, help="Training rows sampled.")
@click.option("--min-len", default=20, show_default=True)
@click.option("--max-len", default=99, show_default=True,
              help="Longest row (capped so that two copies fit).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the numbers.")
def main(checkpoints: tuple[Path, ...], rows: int, min_len: int, max_len: int, seed: int,
         json_path: Path | None) -> None:
    """Per-copy training loss of RepPad-repeated rows, for each checkpoint (module docstring)."""
    torch.set_num_threads(1)
    results = [per_copy_scores(path, rows, min_len, max_len, seed) for path in checkpoints]
    click.echo("| checkpoint | method | epoch | copy 1 loss | copy 1 top-1 | copy 2 loss | "
               "copy 2 top-1 | later-copy share of a RepPad epoch |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for r in results:
        first, second = r["copy1"], r["copy2"]
        click.echo(f"| {r['checkpoint']} | {r['method']} | {r['epoch']} | {first['loss']:.2f} "
                   f"| {first['top1']:.3f} | {second['loss']:.2f} | {second['top1']:.3f} "
                   f"| {r['later_copy_share']:.2f} |")
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
