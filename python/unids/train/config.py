"""Training settings: one dataclass, every field overridable from TOML or `--set key=value`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from unids.baselines import METHODS
from unids.errors import UserError

Stage = Literal["recall", "coarse", "fine"]
STAGES = ("recall", "coarse", "fine")
PROTOCOLS = ("leave-one-out", "leave-last-out")


@dataclass(frozen=True)
class TrainConfig:
    """How one backbone is trained for one stage.

    recall and coarse train next-item retrieval (every position predicts the next item) and
    stop early on validation NDCG@10; fine trains the pointwise head with binary
    cross-entropy and stops early on validation AUC.
    """

    stage: Stage = "recall"
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float = 1.0  # max gradient norm; 0 = no clipping (the HSTU reference's)
    adam_beta2: float = 0.999  # the HSTU reference trains with AdamW betas (0.9, 0.98)
    #: "full" softmax over all items, "sampled" softmax with uniform negatives, or "auto":
    #: full while the item count is at most full_softmax_max_items
    loss: Literal["auto", "full", "sampled"] = "auto"
    full_softmax_max_items: int = 200_000
    negatives: int = 128
    #: sampled softmax: "position" draws `negatives` items per position (the HSTU
    #: reference), "batch" one draw shared by the batch (cheaper, weaker on ML-1M)
    negative_sampling: Literal["position", "batch"] = "position"
    #: softmax temperature; None = 0.05 for L2-normalised backbones (HSTU), else 1
    temperature: float | None = None
    #: fine ranking without explicit labels: sampled unseen negatives per positive
    fine_negatives: int = 4
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    compile: bool = False
    #: users per evaluation batch; 0 = chosen for the device (unids.train.evaluate.eval_rows)
    eval_batch_size: int = 0
    max_len: int | None = None  # None: the backbone's max_len
    #: which max_len positions of a longer training row an epoch reads: "last" (the
    #: reference setting) or a "random" window each epoch (uses all of a long history)
    window: Literal["last", "random"] = "last"
    #: behaviour column fed as context ("auto" = the dataset's first, "none" = off)
    behavior: str = "auto"
    #: the compared method (unids.baselines.METHODS): "reppad" and "frec" change retrieval
    #: training (docs/TRAINING.md, Baselines); the others only label the record
    method: str = "base"
    #: "leave-one-out" (SPEC §1: train on all but the last two interactions, early stopping
    #: on the validation item) or "leave-last-out" (the HSTU reference's protocol: train on
    #: all but the last, the validation item included, for a fixed number of epochs; the
    #: record then has no validation metrics) — the protocol of the published HSTU/SASRec
    #: numbers in the anchors
    protocol: Literal["leave-one-out", "leave-last-out"] = "leave-one-out"
    reppad_delimiter: bool = True  # a 0 between RepPad's copies (no target there)
    #: RepPad copies' timestamps: "original" (each copy keeps the row's own times) or
    #: "shifted" (earlier copies moved back in time, unids.baselines.reppad)
    reppad_times: Literal["original", "shifted"] = "original"
    frec_alpha: float = 0.1  # weight of FRec's fatigue loss
    frec_m: int = 1  # recent positions a fatigued copy replaces by the target
    frec_window: int = 5  # how many positions before the target count as recent

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise UserError(f"stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        for name in ("epochs", "batch_size", "negatives"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be ≥ 1")
        if self.eval_batch_size < 0:
            raise UserError("eval_batch_size must be ≥ 0 (0 = chosen for the device)")
        if self.lr <= 0:
            raise UserError("lr must be > 0")
        if self.window not in ("last", "random"):
            raise UserError(f"window must be last or random, not {self.window!r}")
        if self.negative_sampling not in ("position", "batch"):
            raise UserError(f"negative_sampling must be position or batch, not "
                            f"{self.negative_sampling!r}")
        if self.protocol not in PROTOCOLS:
            raise UserError(f"protocol must be one of {', '.join(PROTOCOLS)}, "
                            f"not {self.protocol!r}")
        if self.reppad_times not in ("original", "shifted"):
            raise UserError(f"reppad_times must be original or shifted, not "
                            f"{self.reppad_times!r}")
        if self.method not in METHODS:
            raise UserError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.frec_m < 1 or self.frec_window < 1:
            raise UserError("frec_m and frec_window must be ≥ 1")
        if self.frec_alpha < 0:
            raise UserError("frec_alpha must be ≥ 0")

    @property
    def retrieval(self) -> bool:
        return self.stage != "fine"

    @property
    def monitor(self) -> str:
        """The validation metric early stopping follows."""
        return "NDCG@10" if self.retrieval else "AUC"


def parse_value(text: str) -> Any:
    """A `--set` value: int, float, bool, none, or the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def split_overrides(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits flat settings into (training, model) overrides: `model.dim` or a key that is
    not a training field goes to the model."""
    train_fields = {field.name for field in dataclasses.fields(TrainConfig)}
    train: dict[str, Any] = {}
    model: dict[str, Any] = {}
    for key, value in settings.items():
        if key.startswith("model."):
            model[key.removeprefix("model.")] = value
        elif key.startswith("train."):
            train[key.removeprefix("train.")] = value
        elif key in train_fields:
            train[key] = value
        else:
            model[key] = value
    return train, model
