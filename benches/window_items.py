"""How many items does a backbone's window hold on Pattern-Token sequences? (docs/RESULTS.md §2.)

A backbone reads the last `max_len` *tokens* of a row. On plain sequences every token is an
item; on a stage's PT sequences the segment tokens (one after every segment, and a segment is
mostly a single item) and, for fine ranking, each item's behaviour token take part of the
window. This counts, over every user's formatted training sequence (`unids format` output:
pt.parquet and vocabulary.json), the items among the last L tokens, beside the items a plain
sequence of the same user puts in L tokens (base's window, min(items, L)).

    unids format --stage fine prepared/ml-1m -o formatted/fine
    python benches/window_items.py formatted/recall formatted/fine --lengths 100,150,200 \
        --json window-items.json
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unids.formats.pt import flat_parts
from unids.formats.vocabulary import Vocabulary


def items_in_windows(tokens: pa.ListArray, is_item: Callable[[np.ndarray], np.ndarray],
                     length: int) -> dict[str, float]:
    """Mean items (`is_item`: `Vocabulary.is_item`) among each row's last `length` tokens,
    and the mean a row of the same items alone would hold, min(items, length)."""
    values, offsets = flat_parts(tokens)
    seen = np.concatenate(([0], np.cumsum(is_item(values), dtype=np.int64)))  # items before
    ends = offsets[1:]
    starts = np.maximum(offsets[:-1], ends - length)
    in_window = seen[ends] - seen[starts]
    plain = np.minimum(seen[ends] - seen[offsets[:-1]], length)
    rows = max(len(ends), 1)
    return {"length": length, "items": float(in_window.sum() / rows),
            "plain_items": float(plain.sum() / rows),
            "share": float(in_window.sum() / max(plain.sum(), 1))}


def describe(directory: Path, lengths: list[int]) -> dict[str, object]:
    vocabulary = Vocabulary.load(directory / "vocabulary.json")
    manifest = json.loads((directory / "manifest.json").read_text())
    tokens = pq.read_table(directory / "pt.parquet", columns=["tokens"]).column("tokens")
    tokens = tokens.combine_chunks()
    counts = manifest["counts"]
    return {"directory": str(directory), "stage": manifest["stage"],
            "patterns": counts["patterns"], "items": counts["interactions"],
            "tokens": counts["tokens"],
            "tokens_per_item": counts["tokens"] / counts["interactions"],
            "share_in_patterns": counts["share_in_patterns"],
            "windows": [items_in_windows(tokens, vocabulary.is_item, n) for n in lengths]}


@click.command()
@click.argument("formatted", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--lengths", default="50,100,150,200", show_default=True,
              help="Window lengths in tokens, comma-separated.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the numbers here.")
def main(formatted: tuple[Path, ...], lengths: str, json_path: Path | None) -> None:
    windows = [int(n) for n in lengths.split(",")]
    results = [describe(directory, windows) for directory in formatted]
    for result in results:
        click.echo(f"{result['stage']} ({result['directory']}): {result['patterns']} patterns, "
                   f"{result['tokens_per_item']:.2f} tokens per item, "
                   f"{result['share_in_patterns']:.1%} of items in patterns")
        for window in result["windows"]:
            click.echo(f"  last {window['length']:>4} tokens: {window['items']:6.1f} items "
                       f"(plain rows {window['plain_items']:6.1f}: {window['share']:.1%})")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
