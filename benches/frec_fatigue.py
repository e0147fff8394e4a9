"""What does FRec's fatigue loss ask of a retrieval model, and does base already give it?
(docs/RESULTS.md §3, FRec below base.)

FRec (unids.baselines.frec) makes a *fatigued* copy of each training row: `m` of the last
`window` input positions are replaced by the row's target t, as if the user had just met t
again. Its loss, softplus(s(fatigued, t) − s(original, t)) with weight α, asks the model to
score t lower once t is in the recent history.

For each checkpoint (retrieval), this takes each sampled user's last training window (at
least `window` + 1 positions, so every copy changes), makes the fatigued copies exactly as
training does (the checkpoint's `frec_m` and `frec_window`; base's are the defaults), and
reports, in the model's logit units s = ⟨output(h), e_t⟩ / τ:

- the mean gap s(original, t) − s(fatigued, t) and the share of rows where it is > 0 (the
  order FRec wants), and the mean fatigue loss softplus(−gap);
- the row's next-item cross-entropy of t among all items, original and fatigued, and t's
  top-10 hit rate in each — how much one recent sighting of t moves its rank;
- "recent-item rank": where the row's last `window` input items themselves rank among all
  items for the next position (median rank, as a fraction of the catalogue). A model that
  has learned "what was just seen comes next less" puts them further down.

    python benches/frec_fatigue.py BASE/best.pt FREC/best.pt --rows 600 --json out.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import torch
import torch.nn.functional as F

from unids.baselines import frec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _checkpoint_rows import retrieval_checkpoint


def fatigue_scores(path: Path, rows: int, seed: int, batch: int = 100) -> dict[str, object]:
    checkpoint = retrieval_checkpoint(path)
    backbone, config, train = checkpoint.backbone, checkpoint.config, checkpoint.train
    pool = torch.nonzero(train.lengths > config.frec_window).flatten()
    generator = torch.Generator().manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=generator)[:rows]]
    n_items = backbone.vocab.n_items
    items = backbone.item_table()[1:n_items + 1].float()
    sums = {key: 0.0 for key in ("gap", "ordered", "fatigue_loss", "ce_original", "ce_fatigued",
                                 "hit10_original", "hit10_fatigued", "recent_rank")}
    changed_rows = 0
    with torch.no_grad():
        for part in chosen.split(batch):
            lengths = train.lengths[part]
            plain = train.batch(part, lengths)
            tokens, wanted = plain.inputs.tokens, plain.targets[:, -1]
            fatigued, _ = frec.fatigued_copies(tokens, lengths, wanted, config.frec_m,
                                               config.frec_window, generator, n_items=n_items)
            changed = (fatigued != tokens).any(dim=1) & (wanted > 0)
            both = frec.with_copies(plain.inputs, fatigued)
            last = backbone(both)[:, -1]
            logits = (backbone.output(last.float()) / checkpoint.temperature) @ items.t()
            original, tired = logits[:len(part)][changed], logits[len(part):][changed]
            target = wanted[changed] - 1
            gap = original.gather(1, target[:, None]) - tired.gather(1, target[:, None])
            sums["gap"] += float(gap.sum())
            sums["ordered"] += float((gap > 0).sum())
            sums["fatigue_loss"] += float(F.softplus(-gap).sum())
            for name, scores in (("original", original), ("fatigued", tired)):
                sums[f"ce_{name}"] += float(F.cross_entropy(scores, target, reduction="sum"))
                top10 = scores.topk(10, dim=1).indices
                sums[f"hit10_{name}"] += float((top10 == target[:, None]).any(1).sum())
            # Where the last `window` input items rank for the next position, as a fraction
            # of the catalogue (0 = top): the median over each row's recent items.
            recent = tokens[changed][:, -config.frec_window:]
            known = (recent > 0) & (recent <= n_items)
            rank = original.argsort(1, descending=True).argsort(1)
            place = rank.gather(1, (recent - 1).clamp(min=0)).float() / n_items
            place = place.masked_fill(~known, float("nan")).nanmedian(dim=1).values
            sums["recent_rank"] += float(place.nansum())
            changed_rows += int(changed.sum())
    return {
        "checkpoint": str(path), "method": config.method, "frec_alpha": config.frec_alpha,
        "frec_m": config.frec_m, "frec_window": config.frec_window, "epoch": checkpoint.epoch,
        "rows": changed_rows, **{key: value / max(changed_rows, 1) for key, value in sums.items()},
    }


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True,
                                                                        path_type=Path))
@click.option("--rows", default=600, show_default=True, help="Training rows sampled.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the numbers.")
def main(checkpoints: tuple[Path, ...], rows: int, seed: int, json_path: Path | None) -> None:
    """Fatigue gap, next-item loss and recent-item rank for each checkpoint (module docstring)."""
    torch.set_num_threads(1)
    results = [fatigue_scores(path, rows, seed) for path in checkpoints]
    click.echo("| checkpoint | method | α | epoch | gap s(orig) − s(fat) | share ordered | "
               "fatigue loss | CE orig / fat | HR@10 orig / fat | recent-item rank |")
    click.echo("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        click.echo(f"| {r['checkpoint']} | {r['method']} | {r['frec_alpha']} | {r['epoch']} "
                   f"| {r['gap']:.2f} | {r['ordered']:.3f} | {r['fatigue_loss']:.3f} "
                   f"| {r['ce_original']:.2f} / {r['ce_fatigued']:.2f} "
                   f"| {r['hit10_original']:.3f} / {r['hit10_fatigued']:.3f} "
                   f"| {r['recent_rank']:.3f} |")
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
