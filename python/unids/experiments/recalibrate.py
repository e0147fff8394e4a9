"""The calibrated test logloss for fine-ranking records written before training recorded it
(`unids experiment NAME --recalibrate`).

Since stop 24 every fine-ranking record carries `test.logloss_calibrated` and `calibration`
(Platt scaling fitted on the validation split; `unids.train.evaluate.evaluate_splits`).
Records filled earlier lack both. Their training's best checkpoint is still in the step
cache (the train step's directory, by the record's `config_hash`), so it is scored again on
validation and test, and the two fields are added only where that scoring reproduces the
record's own test AUC and raw logloss: the numbers then come from the model the record
describes, not from another run. Nothing is trained, and no other field changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unids import __version__
from unids.errors import UserError
from unids.io import write_json

#: How far the scoring may be from the record and still count as the same model: the record
#: and the scoring may differ only in the float order of another thread count.
TOLERANCE = 1e-6
#: The note added to each record that gets the two fields.
NOTE = ("{what} added later by `unids experiment --recalibrate` (unids {version}): the "
        "recorded best checkpoint scored again, its test AUC and raw logloss reproduced")


@dataclass(frozen=True)
class Outcome:
    """What happened to one record: "added", "current" (it has the fields already), "no
    checkpoint" (its training is not in this work directory), "unreadable" (the checkpoint
    or its dataset cannot be read) or "mismatch" (the scoring does not reproduce the
    record); all but "added" leave the record as it was. `detail` says more."""

    cell: str
    status: str
    detail: str = ""


def recalibrate(record_paths: list[Path], cache: Any, *, device: str = "auto"
                ) -> list[Outcome]:
    """Adds `test.logloss_calibrated` and `calibration` to each fine-ranking record among
    `record_paths` that lacks them (module docstring), rewriting the file in place
    (atomically). Records of one training are scored once."""
    from unids.train.checkpoint import score_checkpoint

    scored: dict[str, tuple[dict[str, Any], dict[str, Any] | None] | UserError] = {}
    outcomes = []
    for path in record_paths:
        record = json.loads(path.read_text())
        if record.get("stage") != "fine":
            continue
        if "calibration" in record:
            outcomes.append(Outcome(path.stem, "current"))
            continue
        key = record.get("config_hash")
        step = cache.lookup("train", key) if isinstance(key, str) else None
        best = step.directory / "best.pt" if step is not None else None
        if best is None or not best.is_file():
            outcomes.append(Outcome(path.stem, "no checkpoint",
                                    "its training's best.pt is not in the work directory"))
            continue
        if key not in scored:
            try:
                scored[key] = score_checkpoint(best, split="test", device=device)
            except UserError as error:  # its dataset is gone, say: this record only
                scored[key] = error
        scoring = scored[key]
        if isinstance(scoring, UserError):
            outcomes.append(Outcome(path.stem, "unreadable", str(scoring)))
            continue
        metrics, calibration = scoring
        differences = [f"{name} {metrics.get(name)} against the record's "
                       f"{record['test'].get(name)}" for name in ("AUC", "logloss")
                       if not _close(metrics.get(name), record["test"].get(name))]
        if differences:
            outcomes.append(Outcome(path.stem, "mismatch", "; ".join(differences)))
            continue
        if calibration is None:  # no validation split of both classes: nothing to fit
            record["calibration"] = None
        else:
            record["test"]["logloss_calibrated"] = metrics["logloss_calibrated"]
            record["calibration"] = calibration
        what = ("calibration (none: no validation split of both classes)" if calibration is None
                else "test logloss_calibrated and calibration")
        record["notes"] = [*record.get("notes", []), NOTE.format(what=what, version=__version__)]
        write_json(record, path)
        outcomes.append(Outcome(path.stem, "added", f"logloss {record['test']['logloss']:.4f}"
                                + ("" if calibration is None else
                                   f" → {record['test']['logloss_calibrated']:.4f}")))
    return outcomes


def _close(measured: Any, recorded: Any) -> bool:
    """Both numbers, within TOLERANCE (a missing or undefined metric matches nothing)."""
    numbers = all(isinstance(value, (int, float)) for value in (measured, recorded))
    return numbers and abs(measured - recorded) <= TOLERANCE
