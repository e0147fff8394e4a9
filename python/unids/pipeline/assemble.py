"""Stage datasets (SPEC §7): the original training sequences, PT-formatted for one stage, and
the regenerated segments, each as an extra short sequence of the same user.

Training rows (`StageDataset.rows`, one per sequence):

    user int32, generated bool, memory int32 (−1 for an original row),
    tokens list<int32> (PT ids of the stage's vocabulary),
    times list<float64> (one per token), labels list<int8> (one per token, −1 = none)

* original rows: every user's PT training sequence (`FormatResult.pt`, built from
  `Dataset.train()`, so from all but the last two interactions). An item token carries its
  interaction's timestamp; a behaviour or segment token the time of the item before it (the
  last item of its segment), so it adds no gap. The label of an item token is the
  interaction's label (−1 when missing); special tokens have −1.
* generated rows: the regenerated segments `[P, T]` (a fraction `mix_ratio` of them, drawn
  with `seed`). They have no time of their own: every token takes the time of the user's last
  training interaction (zero gaps inside the row, HSTU's time bias reads it as a burst). An
  item followed by an item-behaviour token of the label column gets the label the behaviour
  value implies (`value >= threshold` of the dataset's label rule) when the scale can be
  inverted (binary or ordinal); otherwise −1.

Evaluation (`StageDataset.eval`, one row per user, in the dataset's user order):

    valid_history  the user's PT training sequence without the segment token that closes
                   its last segment: the training part ends where the log was cut, not
                   where a pattern ended, so the last segment stays open — the held-out item
                   may well continue it (after a closing token the model has only ever seen
                   a new segment begin; on planted data that token halved recall)
    test_history   the PT row, then the validation item (and, where the stage interleaves
                   behaviour, its behaviour token) opening a new last segment — or, where
                   the last training segment and the validation item are the prefix of a
                   mined pattern, continuing that segment (its closing token left out)
    *_seen         the raw items before the target (what ranking masks)
    *_target, *_time, *_label   the held-out item from the original Dataset (label −1 unknown)

No history is segmented with anything but the patterns mined on the training part
(`format_dataset` reads `Dataset.train()` only), and the generated segments hold items of the
training part only (`unids.regen.generate` draws from the sources' items), so no validation or
test item reaches a training row. On disk: `rows.parquet`, `eval.parquet`, `vocabulary.json`
and, last, `stage.json`, each atomically (an old `stage.json` is removed first, so a directory
with a `stage.json` is complete).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import unids
from unids.data.dataset import HOLDOUT, Dataset
from unids.data.features import BehaviorScale
from unids.errors import InputError, UserError
from unids.formats.pt import as_list_array, flat_parts
from unids.formats.sources import item_behavior_tokens
from unids.formats.stage import STAGES, FormatResult
from unids.formats.vocabulary import SEGMENT_KINDS, Vocabulary
from unids.io import write_json, write_parquet
from unids.train.data import Ragged

if TYPE_CHECKING:
    from unids.regen.generate import Generated

FORMAT = "unids-stage-dataset"
VERSION = 1
MANIFEST = "stage.json"
ROWS = "rows.parquet"
EVAL = "eval.parquet"
VOCABULARY = "vocabulary.json"
SPLITS = {"valid": 2, "test": 1}  # split → position of the target from the end


@dataclass
class StageDataset:
    """One stage's training rows and evaluation cases over one PT vocabulary (module
    docstring for the columns)."""

    stage: str
    vocabulary: Vocabulary
    rows: pa.Table
    eval: pa.Table
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["dataset"]["name"])

    @property
    def has_labels(self) -> bool:
        """Whether the source dataset has explicit feedback (a label rule)."""
        return bool(self.manifest["labels"])

    @property
    def n_items(self) -> int:
        return self.vocabulary.n_items

    @property
    def row_users(self) -> np.ndarray:
        """(R,) int64: the user of every training row."""
        return self.rows["user"].to_numpy().astype(np.int64)

    def save(self, directory: str | os.PathLike[str]) -> None:
        """See the module docstring: every file atomically, `stage.json` last."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).unlink(missing_ok=True)
        write_parquet(self.rows, directory / ROWS)
        write_parquet(self.eval, directory / EVAL)
        self.vocabulary.save(directory / VOCABULARY)
        write_json(self.manifest, directory / MANIFEST)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> StageDataset:
        directory = Path(directory)
        if not (directory / MANIFEST).is_file():
            raise InputError(str(directory), f"not a stage dataset (no {MANIFEST}); create one "
                                             "with `unids regenerate`")
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            rows = pq.read_table(directory / ROWS)
            cases = pq.read_table(directory / EVAL)
        except (OSError, json.JSONDecodeError, pa.ArrowInvalid) as error:
            raise InputError(str(directory), f"unreadable stage dataset ({error})") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise InputError(str(directory / MANIFEST),
                             f"not a version-{VERSION} {FORMAT} manifest")
        counts = manifest["counts"]
        if rows.num_rows != counts["rows"] or cases.num_rows != counts["users"]:
            raise InputError(str(directory), "the Parquet files do not match stage.json "
                                             "(an interrupted write?)")
        vocabulary = Vocabulary.load(directory / VOCABULARY)
        return cls(str(manifest["stage"]), vocabulary, rows, cases, manifest)


def stage_method(directory: str | os.PathLike[str]) -> str | None:
    """The data-level method a stage dataset directory was built with (its manifest's
    `method`, written by `regenerate_stage`); None for any other directory."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        method = json.loads(path.read_text()).get("method")
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(str(path), f"unreadable stage manifest ({error})") from None
    return str(method) if method is not None else None


def assemble_stage(dataset: Dataset, formatted: FormatResult, generated: Generated | None, *,
                   stage: str, mix_ratio: float = 1.0, seed: int = 0) -> StageDataset:
    """The stage dataset of `dataset`: `formatted`'s PT training sequences plus a fraction
    `mix_ratio` (0 … 1) of `generated`'s segments, drawn uniformly with `seed` and kept in
    their order (None: no generated rows)."""
    if stage not in STAGES:
        raise UserError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    if not 0.0 <= mix_ratio <= 1.0:
        raise UserError(f"mix_ratio must lie in [0, 1], not {mix_ratio}")
    if formatted.manifest.get("stage") != stage:
        raise UserError(f"the formatted data is for stage {formatted.manifest.get('stage')!r},"
                        f" not {stage!r}")
    start = time.perf_counter()
    vocabulary = formatted.vocabulary
    users = dataset.sequences["user"].to_numpy().astype(np.int32)
    if not np.array_equal(formatted.pt["user"].to_numpy(), users):
        raise UserError("the formatted data does not belong to this dataset (other users)")
    items = Ragged.from_arrow(dataset.sequences["items"])
    times = Ragged.from_arrow(dataset.sequences["timestamps"])
    has_labels = "label" in dataset.sequences.column_names
    labels = _labels(dataset, items) if has_labels else None

    # Original rows.
    pt_values, pt_offsets = flat_parts(as_list_array(formatted.pt["tokens"]))
    pt = Ragged(pt_offsets, pt_values.astype(np.int32))
    train_items = items.drop_last(HOLDOUT)
    train_times = times.drop_last(HOLDOUT)
    is_item = vocabulary.is_item(pt.values.astype(np.int64))
    if not np.array_equal(pt.values[is_item], train_items.values):
        raise UserError("the formatted PT sequences do not hold this dataset's training items")
    original_times = _fill_times(pt, is_item, train_times.values.astype(np.float64))
    original_labels = np.full(len(pt.values), -1, dtype=np.int8)
    if labels is not None:
        original_labels[is_item] = labels.drop_last(HOLDOUT).values

    # Generated rows.
    kept, drawn = _generated_rows(generated, vocabulary, users, mix_ratio, seed)
    last_time = np.zeros(int(users.max(initial=0)) + 1, dtype=np.float64)
    has_train = train_times.lengths > 0
    if has_train.any():
        last_time[users[has_train]] = train_times.last(1)[has_train]
    gen_users = kept["user"].to_numpy().astype(np.int32) if kept is not None else \
        np.zeros(0, np.int32)
    gen_tokens = Ragged.from_arrow(kept["tokens"]) if kept is not None else \
        Ragged(np.zeros(1, np.int64), np.zeros(0, np.int32))
    gen_times = np.repeat(last_time[gen_users], gen_tokens.lengths)
    gen_labels = _generated_labels(gen_tokens, vocabulary, dataset) if has_labels else \
        np.full(len(gen_tokens.values), -1, dtype=np.int8)
    gen_memory = kept["memory"].to_numpy().astype(np.int32) if kept is not None else \
        np.zeros(0, np.int32)

    n_original, n_generated = len(pt), len(gen_tokens)
    offsets = np.concatenate([pt.offsets, pt.offsets[-1] + gen_tokens.offsets[1:]])
    rows = pa.table({
        "user": pa.array(np.concatenate([users, gen_users]), pa.int32()),
        "generated": pa.array(np.arange(n_original + n_generated) >= n_original),
        "memory": pa.array(np.concatenate([np.full(n_original, -1, np.int32), gen_memory])),
        "tokens": _lists(offsets, np.concatenate([pt.values, gen_tokens.values]), pa.int32()),
        "times": _lists(offsets, np.concatenate([original_times, gen_times]), pa.float64()),
        "labels": _lists(offsets, np.concatenate([original_labels, gen_labels]), pa.int8()),
    })
    cases = _eval_table(dataset, formatted, pt, original_times, items, times, labels, users)

    generated_tokens = len(gen_tokens.values)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "stage": stage,
        "dataset": {"name": dataset.name, "counts": dataset.manifest.get("counts")},
        "labels": has_labels,
        "label_rule": dataset.manifest.get("label"),
        "mix_ratio": mix_ratio,
        "seed": seed,
        "counts": {
            "users": len(users),
            "rows": n_original + n_generated,
            "original_rows": n_original,
            "generated_rows": n_generated,
            "generated_available": drawn,
            "tokens": len(pt.values) + generated_tokens,
            "original_tokens": len(pt.values),
            "generated_tokens": generated_tokens,
            "patterns": formatted.patterns.num_rows,
            "vocabulary": vocabulary.size,
        },
        "format_manifest": formatted.manifest,
        "generation": None if generated is None else generated.manifest,
        "eval_history": "valid: the PT training sequence; test: the same plus the validation "
                        "item (and its behaviour token where interleaved) as an open segment",
        "times": "items: their timestamp; special tokens: the previous item's; generated "
                 "rows: the user's last training timestamp",
        "created_by": f"unids {unids.__version__}",
        "seconds": round(time.perf_counter() - start, 3),
    }
    return StageDataset(stage, vocabulary, rows, cases, manifest)


# -- helpers ----------------------------------------------------------------------------------


def _lists(offsets: np.ndarray, values: np.ndarray, kind: pa.DataType) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                    pa.array(values, kind))


def _labels(dataset: Dataset, items: Ragged) -> Ragged:
    """Per-interaction labels, −1 where missing."""
    column = dataset.sequences["label"].combine_chunks()
    flat = column.values.to_numpy(zero_copy_only=False).astype(np.float64)
    start = column.offsets[0].as_py()
    flat = flat[start : start + len(items.values)]
    return Ragged(items.offsets, np.where(np.isnan(flat), -1, flat).astype(np.int8))


def _fill_times(tokens: Ragged, is_item: np.ndarray, item_times: np.ndarray) -> np.ndarray:
    """One time per token: an item's own; any other token the previous item's of its row
    (the next item's before a row's first item, 0 in a row without items)."""
    n = len(tokens.values)
    out = np.zeros(n, dtype=np.float64)
    if n == 0 or not is_item.any():
        return out
    position = np.arange(n)
    row_start = np.repeat(tokens.offsets[:-1], tokens.lengths)
    row_stop = np.repeat(tokens.offsets[1:], tokens.lengths)
    flat_times = np.zeros(n, dtype=np.float64)
    flat_times[is_item] = item_times
    previous = np.maximum.accumulate(np.where(is_item, position, -1))
    following = np.minimum.accumulate(np.where(is_item, position, n)[::-1])[::-1]
    use_previous = previous >= row_start
    use_following = ~use_previous & (following < row_stop)
    out[use_previous] = flat_times[previous[use_previous]]
    out[use_following] = flat_times[following[use_following]]
    return out


def _generated_rows(generated: Generated | None, vocabulary: Vocabulary, users: np.ndarray,
                    mix_ratio: float, seed: int) -> tuple[pa.Table | None, int]:
    """(the kept segments, how many there were)."""
    if generated is None or generated.segments.num_rows == 0:
        return None, 0
    segments = generated.segments
    values = Ragged.from_arrow(segments["tokens"]).values.astype(np.int64)
    if len(values) and (values.min() < 1 or values.max() >= vocabulary.size):
        raise UserError("generated tokens outside the stage's vocabulary: the regenerator "
                        "belongs to another dataset")
    if not np.isin(segments["user"].to_numpy(), users).all():
        raise UserError("generated segments of users the dataset does not have")
    count = segments.num_rows
    keep = np.sort(np.random.default_rng(seed).choice(count, round(mix_ratio * count),
                                                      replace=False))
    return segments.take(pa.array(keep, pa.int64())), count


def _generated_labels(tokens: Ragged, vocabulary: Vocabulary, dataset: Dataset) -> np.ndarray:
    """Labels of generated items from the behaviour token that follows them (module
    docstring); −1 elsewhere."""
    out = np.full(len(tokens.values), -1, dtype=np.int8)
    rule = dataset.manifest.get("label") or {}
    name = f"item-behavior:{rule.get('column')}"
    if name not in vocabulary or len(tokens.values) < 2:
        return out
    space = vocabulary[name]
    scale = BehaviorScale.from_json(space.meta["scale"])
    if scale.kind == "quantile":
        return out
    values = tokens.values.astype(np.int64)
    known = len(scale.points)  # label indices 0 … known − 1 are values; the last is unknown
    follows = np.zeros(len(values), dtype=bool)
    follows[:-1] = (values[1:] >= space.start) & (values[1:] < space.start + known)
    same_row = np.zeros(len(values), dtype=bool)
    row_stop = np.repeat(tokens.offsets[1:], tokens.lengths)
    same_row[:-1] = np.arange(1, len(values)) < row_stop[:-1]
    at = np.flatnonzero(vocabulary.is_item(values) & follows & same_row)
    point = np.asarray(scale.points)[values[at + 1] - space.start]
    out[at] = (point >= float(rule["threshold"])).astype(np.int8)
    return out


def _open_last_segment(pt: Ragged, pt_times: np.ndarray, vocabulary: Vocabulary,
                       rows: np.ndarray | None = None) -> tuple[Ragged, np.ndarray]:
    """The PT rows without a segment token at their very end (module docstring: the
    training part ends where the log was cut, not where a pattern ended); `rows`: a mask of
    the rows to open (default all)."""
    closers = np.zeros(vocabulary.size, dtype=bool)
    for space in vocabulary:
        if space.kind in SEGMENT_KINDS:
            closers[space.start:space.stop] = True
    if "control" in vocabulary:
        closers[vocabulary["control"].token("sep")] = True
    lengths = pt.lengths
    last = pt.offsets[1:] - 1
    drop = (lengths > 0) & closers[pt.values[np.maximum(last, 0)]] if len(pt.values) else \
        np.zeros(len(pt), dtype=bool)
    if rows is not None:
        drop &= rows
    keep = np.ones(len(pt.values), dtype=bool)
    keep[last[drop]] = False
    offsets = np.zeros(len(pt) + 1, dtype=np.int64)
    np.cumsum(lengths - drop, out=offsets[1:])
    return Ragged(offsets, pt.values[keep]), pt_times[keep]


def _continues_a_pattern(formatted: FormatResult, train_items: Ragged,
                         next_item: np.ndarray) -> np.ndarray:
    """Per user: whether the last training segment followed by `next_item` is the prefix of
    a mined pattern (so that a segmenter reading the longer log could keep it one segment)."""
    prefixes = {tuple(pattern[:k]) for pattern in formatted.patterns["pattern"].to_pylist()
                for k in range(2, len(pattern) + 1)}
    segments = formatted.pt["segment_lengths"].to_pylist()
    out = np.zeros(len(train_items), dtype=bool)
    if not prefixes:
        return out
    for row, lengths in enumerate(segments):
        if lengths:
            start, stop = train_items.offsets[row + 1] - lengths[-1], train_items.offsets[row + 1]
            tail = train_items.values[start:stop].tolist()
            out[row] = (*tail, int(next_item[row])) in prefixes
    return out


def _eval_table(dataset: Dataset, formatted: FormatResult, pt: Ragged, pt_times: np.ndarray,
                items: Ragged, times: Ragged, labels: Ragged | None,
                users: np.ndarray) -> pa.Table:
    """One row per user: histories, masked items and targets of both splits."""
    vocabulary = formatted.vocabulary
    valid_item = items.last(SPLITS["valid"]).astype(np.int32)
    valid_time = times.last(SPLITS["valid"]).astype(np.float64)
    # The test history closes the last training segment before the validation item unless
    # the two continue a mined pattern, as the segmenter would have cut the longer log:
    # left open, "item, item" would follow one another where training rows never have
    # them, and the test split alone would be read out of distribution.
    continues = _continues_a_pattern(formatted, items.drop_last(SPLITS["valid"]), valid_item)
    test_rows, test_row_times = _open_last_segment(pt, pt_times, vocabulary, rows=continues)
    pt, pt_times = _open_last_segment(pt, pt_times, vocabulary)
    appended = [valid_item]
    behavior = formatted.manifest.get("behavior")
    if formatted.manifest.get("interleave") and behavior is not None:
        column = dataset.sequences[behavior].combine_chunks()
        values = Ragged(items.offsets, column.values.to_numpy(zero_copy_only=False)
                        [column.offsets[0].as_py():].astype(np.float64)[: len(items.values)])
        appended.append(item_behavior_tokens(vocabulary, behavior,
                                             values.last(SPLITS["valid"])))
    width = len(appended)
    # Test history: each user's PT row (closed unless continued, above), then `width`
    # tokens; value i of row r moves to i + width·r, the appended ones fill the last places.
    test_offsets = test_rows.offsets + width * np.arange(len(test_rows) + 1)
    test_tokens = np.empty(len(test_rows.values) + width * len(test_rows), dtype=np.int32)
    test_times = np.empty(len(test_tokens), dtype=np.float64)
    moved = np.arange(len(test_rows.values)) + width * np.repeat(np.arange(len(test_rows)),
                                                                 test_rows.lengths)
    test_tokens[moved] = test_rows.values
    test_times[moved] = test_row_times
    for j, tokens in enumerate(appended):
        at = test_offsets[1:] - width + j
        test_tokens[at] = tokens
        test_times[at] = valid_time

    columns: dict[str, Any] = {"user": pa.array(users, pa.int32())}
    histories = {"valid": (pt.offsets, pt.values, pt_times),
                 "test": (test_offsets, test_tokens, test_times)}
    for split, from_end in SPLITS.items():
        offsets, tokens, token_times = histories[split]
        seen = items.drop_last(from_end)
        columns[f"{split}_history"] = _lists(offsets, tokens, pa.int32())
        columns[f"{split}_history_times"] = _lists(offsets, token_times, pa.float64())
        columns[f"{split}_seen"] = _lists(seen.offsets, seen.values.astype(np.int32),
                                          pa.int32())
        columns[f"{split}_target"] = pa.array(items.last(from_end).astype(np.int32))
        columns[f"{split}_time"] = pa.array(times.last(from_end).astype(np.float64))
        label = np.full(len(users), -1, np.int8) if labels is None else labels.last(from_end)
        columns[f"{split}_label"] = pa.array(label.astype(np.int8))
    return pa.table(columns)
