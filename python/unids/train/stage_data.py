"""A stage dataset (`unids.pipeline.StageDataset`, written by `unids regenerate`) as the
`TaskData` the training loop reads.

* tokens: the PT ids of the stage's vocabulary. Items keep their ids 1 … I and every special
  token lies above I, so `n_tokens` is the vocabulary's size and the training targets are the
  next *item* (`next_item_index` skips behaviour and segment tokens, which are context).
* times: one per token. An item has its interaction's timestamp, a special token the time of
  the item before it, a regenerated row the time of its user's last training interaction
  (`unids.pipeline.assemble`).
* behaviours: None. The PT tokens carry behaviour where the stage interleaves it.
* labels: only for the fine stage of a dataset with explicit feedback: the label of each item
  position, −1 on special tokens (and on generated items whose label is unknown). Otherwise
  None, so fine-ranking training and evaluation both fall back to sampled negatives.
* cases: `valid` reads the PT training sequence and `test` that plus the validation item;
  `seen_items` is the raw item history (what the ranking masks).

`load_task_data(path)` reads either kind of directory: a stage dataset or a prepared dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from unids.data.dataset import Dataset
from unids.pipeline.assemble import MANIFEST, SPLITS, StageDataset
from unids.train.data import EvalCases, Ragged, TaskData, task_data

NO_FEEDBACK_NOTE = ("no explicit feedback: fine ranking uses the true next item as positive and 4 "
                    "sampled unseen items as negatives (SPEC §7)")


def stage_task_data(stage: StageDataset) -> TaskData:
    """The training rows and evaluation cases of a stage dataset (module docstring)."""
    rows = stage.rows
    tokens = Ragged.from_arrow(rows["tokens"].combine_chunks())
    times = Ragged.from_arrow(rows["times"].combine_chunks())
    use_labels = stage.stage == "fine" and stage.has_labels
    labels = Ragged.from_arrow(rows["labels"].combine_chunks()) if use_labels else None
    cases = {split: _cases(stage.eval, split, use_labels) for split in SPLITS}
    counts = stage.manifest["counts"]
    method = stage.manifest.get("method", "unids")
    notes = [f"{method} {stage.stage} stage dataset: {counts['original_rows']} original and "
             f"{counts['generated_rows']} regenerated rows (mix ratio "
             f"{stage.manifest['mix_ratio']})"]
    if not use_labels:
        notes.append(NO_FEEDBACK_NOTE if stage.stage == "fine" or not stage.has_labels else
                     f"labels are used by the fine stage only; this is the {stage.stage} stage: "
                     "fine ranking uses sampled negatives")
    return TaskData(
        name=stage.name, n_items=stage.vocabulary.n_items, n_tokens=stage.vocabulary.size,
        tokens=tokens, times=times, behaviors=None, labels=labels,
        row_users=stage.row_users, cases=cases, behavior_edges=[], notes=notes,
        row_generated=rows["generated"].to_numpy(zero_copy_only=False).astype(bool))


def _cases(table: pa.Table, split: str, use_labels: bool) -> EvalCases:
    def ragged(column: str) -> Ragged:
        return Ragged.from_arrow(table[f"{split}_{column}"].combine_chunks())

    def flat(column: str) -> np.ndarray:
        return table[f"{split}_{column}"].to_numpy()

    return EvalCases(
        history=ragged("history"), history_times=ragged("history_times"),
        history_behaviors=None, seen_items=ragged("seen"),
        target=flat("target").astype(np.int64), target_time=flat("time"),
        label=flat("label").astype(np.int8) if use_labels else None,
        users=table["user"].to_numpy().astype(np.int64))


def is_stage_dataset(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_task_data(path: str | os.PathLike[str], behavior: str | None = "auto") -> TaskData:
    """`stage_task_data` of a stage dataset directory (one with `stage.json`), else
    `task_data` of a prepared dataset (`behavior` applies to the latter only: stage datasets
    carry behaviour in their tokens)."""
    if is_stage_dataset(path):
        return stage_task_data(StageDataset.load(path))
    return task_data(Dataset.load(path), behavior=behavior)
