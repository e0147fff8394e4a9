"""Format a prepared dataset for one stage: mine → segment → Pattern-Token sequences.

Reads `dataset.train()` only (each user's interactions before the validation item), so no
validation or test item can reach the patterns, the segmentation, the tokens or the vocabulary.

Per-stage defaults (SPEC §3, §5; the paper's Fig. 2: fine ranking gains from a larger threshold,
recall and coarse ranking peak at a smaller one):

    stage    θ = λ·H1, λ   source     item-behaviour interleaving
    recall   1.2           domain     off
    coarse   1.2           user       off
    fine     1.4           behavior   on where the dataset has behaviour

Why these λ: the miner keeps roughly the patterns that occur more often than F·2^−θ
(docs/MINING.md), so λ = 1 asks a pattern to be more frequent than a typical item. On ML-1M's
training part (H1 = 10.8 bits) λ = 1.0 finds a single pattern; 1.2 finds 50 (1.5 % of
interactions inside patterns), 1.4 finds 1,631 (11 %), and from about 1.8 every pattern seen
twice passes (the `c = 2` support floor decides alone). Amazon Beauty (H1 = 12.7) reaches that
floor at about 1.3. 1.2 / 1.4 keep every stage below the floor on ML-1M and give fine ranking
clearly longer and more patterns than recall and coarse ranking.

Options for the methods of the comparison (`unids.baselines.methods`, docs/METHODS.md):
`theta_stage` takes another stage's default λ (the w/o TC ablation uses the recall one for every
stage); `special_tokens=False` leaves the sequences as plain items, segmented but without T or
behaviour tokens (w/o UF, DR4SR), over a vocabulary of padding, items and control tokens only;
`miner="window"` swaps the conditional-entropy miner for DR4SR's sliding windows (lengths
2 … max_len, support ≥ min_support; no threshold), segmented by greedy longest match.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

import unids
from unids.data.dataset import Dataset, TrainPart
from unids.errors import UserError
from unids.formats.pt import as_list_array, flat_parts, to_pattern_tokens
from unids.formats.sources import (
    FALLBACK_ORDER,
    SOURCES,
    Offer,
    Segments,
    TrainStats,
    build_vocabulary,
    float_values,
    item_behavior_tokens,
    segment_tokens,
    survey_stats,
    user_token_table,
)
from unids.formats.vocabulary import CONTROL_LABELS, Namespace, Vocabulary
from unids.io import write_json, write_parquet
from unids.mining.segmentation import item_costs, segment_batch

Stage = Literal["recall", "coarse", "fine"]
STAGES: tuple[Stage, ...] = ("recall", "coarse", "fine")
MINERS = ("conditional", "window")


@dataclass(frozen=True)
class StageDefaults:
    theta_scale: float
    source: str
    interleave: bool


STAGE_DEFAULTS: dict[str, StageDefaults] = {
    "recall": StageDefaults(theta_scale=1.2, source="domain", interleave=False),
    "coarse": StageDefaults(theta_scale=1.2, source="user", interleave=False),
    "fine": StageDefaults(theta_scale=1.4, source="behavior", interleave=True),
}


@dataclass(frozen=True)
class FormatConfig:
    """How to format a dataset for one stage; None means the stage default (or auto-detected).

    theta: absolute threshold in bits (overrides theta_scale). source: gap / user / behavior /
    domain / sep. behavior: the behaviour column for interleaving and the `behavior` source
    (default: the label column, else the first). user_attribute / domain_column: the user and
    item table columns for the `user` and `domain` sources.

    miner: "conditional" (Algorithm 1, threshold θ) or "window" (DR4SR's sliding windows of
    2 … max_len items with support ≥ min_support; theta and theta_scale do not apply).
    theta_stage: the stage whose default theta_scale applies (None: this one). special_tokens:
    False gives plain item sequences (no T, no behaviour interleaving; source, interleave and
    their columns do not apply). method: segmentation, "dp" (default) or "greedy" (the default,
    and the only choice, for window patterns, which carry no entropy).
    """

    stage: Stage
    theta_scale: float | None = None
    theta: float | None = None
    source: str | None = None
    interleave: bool | None = None
    behavior: str | None = None
    user_attribute: str | None = None
    domain_column: str | None = None
    min_support: int = 2
    max_len: int = 5
    method: Literal["dp", "greedy"] | None = None
    threads: int | None = None
    miner: Literal["conditional", "window"] = "conditional"
    theta_stage: Stage | None = None
    special_tokens: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise UserError(f"stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.source is not None and self.source not in (*SOURCES, "sep"):
            raise UserError(f"source must be one of {', '.join((*SOURCES, 'sep'))}, "
                            f"not {self.source!r}")
        if self.theta_scale is not None and not self.theta_scale > 0:
            raise UserError("theta_scale must be > 0")
        if self.min_support < 1:
            raise UserError("min_support must be ≥ 1")
        if self.max_len < 2:
            raise UserError("max_len must be ≥ 2")
        if self.miner not in MINERS:
            raise UserError(f"miner must be one of {', '.join(MINERS)}, not {self.miner!r}")
        if self.theta_stage is not None and self.theta_stage not in STAGES:
            raise UserError(f"theta_stage must be one of {', '.join(STAGES)}, "
                            f"not {self.theta_stage!r}")
        if self.method not in (None, "dp", "greedy"):
            raise UserError(f"method must be dp or greedy, not {self.method!r}")
        if self.miner == "window" and self.method == "dp":
            raise UserError("window patterns carry no entropy, so the min-entropy DP cannot "
                            "segment with them: use method greedy")

    def resolved(self) -> FormatConfig:
        """The config with the stage defaults filled in (behaviour availability aside);
        options that do not apply to the miner or to plain sequences become None / off."""
        defaults = STAGE_DEFAULTS[self.stage]
        theta_defaults = STAGE_DEFAULTS[self.theta_stage or self.stage]
        thresholded = self.miner == "conditional"
        theta_scale = theta_defaults.theta_scale if self.theta_scale is None else \
            self.theta_scale
        source = defaults.source if self.source is None else self.source
        interleave = defaults.interleave if self.interleave is None else self.interleave
        return replace(
            self,
            theta=self.theta if thresholded else None,
            theta_scale=theta_scale if thresholded else None,
            source=source if self.special_tokens else None,
            interleave=interleave and self.special_tokens,
            method=self.method or ("dp" if thresholded else "greedy"),
        )

    def ignored(self) -> list[str]:
        """Notes on the options given that this config does not use."""
        notes = []
        if self.miner == "window" and (self.theta is not None or self.theta_scale is not None):
            notes.append("theta / theta_scale ignored: the window miner has no threshold")
        if self.miner == "window" and self.theta_stage is not None:
            notes.append("theta_stage ignored: the window miner has no threshold")
        if not self.special_tokens:
            given = [name for name in ("source", "interleave", "behavior", "user_attribute",
                                       "domain_column") if getattr(self, name)]
            if given:
                notes.append(f"{', '.join(given)} ignored: no special tokens "
                             "(plain item sequences)")
        return notes


@dataclass
class FormatResult:
    """PT sequences of one stage and everything needed to read them."""

    pt: pa.Table  # user, tokens list<int32>, segment_lengths list<int32>
    vocabulary: Vocabulary
    patterns: pa.Table
    manifest: dict[str, Any]

    @property
    def notes(self) -> list[str]:
        return list(self.manifest["notes"])

    def write(self, directory: str | os.PathLike[str]) -> None:
        """pt.parquet, vocabulary.json, patterns.parquet, then manifest.json (last, so that a
        directory with a manifest is complete); each file atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_parquet(self.pt, directory / "pt.parquet")
        self.vocabulary.save(directory / "vocabulary.json")
        write_parquet(self.patterns, directory / "patterns.parquet")
        write_json(self.manifest, directory / "manifest.json")


def format_dataset(dataset: Dataset, stage: Stage, *, theta_scale: float | None = None,
                   source: str | None = None, interleave: bool | None = None,
                   **options: Any) -> FormatResult:
    """Mine, segment and format `dataset`'s training part for `stage` (see FormatConfig for
    the options). A source the dataset cannot provide falls back, with a note, to the next of
    FALLBACK_ORDER it can, and finally to a plain separator token (`sep`).

    In memory; `unids.distributed.spark_format.format_dataset_spark` gives the same result
    with the users spread over Spark tasks. Both are `plan_format` on sums over the training
    part, then `format_part` on the users."""
    given = FormatConfig(stage=stage, theta_scale=theta_scale, source=source,
                         interleave=interleave, **options)
    config = given.resolved()
    start = time.perf_counter()
    train = dataset.train()
    stats = TrainStats.of(train, dataset.behaviors, dataset.n_items)
    patterns = mine_stage_patterns(config, train.items)
    plan = plan_format(dataset, stats, given, patterns)
    lengths = unids.segment(train.items, patterns, method=config.method, threads=config.threads)
    pt = format_part(plan, train, lengths)
    manifest = format_manifest(plan, dataset, pt, seconds=time.perf_counter() - start)
    return FormatResult(pt=pt, vocabulary=plan.vocabulary, patterns=patterns, manifest=manifest)


@dataclass
class FormatPlan:
    """Everything that formatting a batch of users needs besides the batch, fitted on the whole
    training part: the resolved config, the patterns, the vocabulary and the token sources'
    state. `format_part` of any split of the users, concatenated, is the whole part formatted
    at once. Picklable: a Spark job broadcasts it."""

    given: FormatConfig
    config: FormatConfig  # given.resolved()
    patterns: pa.Table
    vocabulary: Vocabulary
    offer: Offer | None  # None: no special tokens
    source: str | None  # the segment token source used
    interleave: bool
    user_tokens: np.ndarray | None  # the `user` source's token per internal user id − 1
    # (distinct items, −log2 f/F) of the whole part: the DP's single-item costs for a batch
    # (`unids.segment` on one batch would price items by the batch's own counts).
    item_costs: tuple[np.ndarray, np.ndarray] | None
    notes: list[str]


def mine_stage_patterns(config: FormatConfig, items: pa.ListArray) -> pa.Table:
    """The patterns of a resolved config's miner on the training sequences `items`."""
    if config.miner == "window":
        return unids.window_patterns(items, alpha=config.max_len, beta=config.min_support,
                                     threads=config.threads)
    return unids.mine_patterns(items, theta=config.theta,
                               theta_scale=float(config.theta_scale or 1.0),
                               min_support=config.min_support, max_len=config.max_len,
                               threads=config.threads)


def plan_format(dataset: Dataset, stats: TrainStats, given: FormatConfig, patterns: pa.Table,
                *, batch_costs: bool = False) -> FormatPlan:
    """The plan of `given` from the training part's sums and its patterns. `dataset` needs its
    side tables and manifest only. `batch_costs`: also price single items for `format_part`
    on batches (the DP)."""
    config = given.resolved()
    notes = given.ignored()
    offer = used = user_tokens = None
    interleave_on = False
    if config.special_tokens:
        offer = survey_stats(dataset, stats, behavior=config.behavior,
                             user_attribute=config.user_attribute,
                             domain_column=config.domain_column)
        notes += offer.notes
        vocabulary = build_vocabulary(dataset, offer)
        used = _pick_source(str(config.source), offer, notes)
        interleave_on = bool(config.interleave)
        if interleave_on and offer.primary_behavior is None:
            interleave_on = False
            notes.append("item-behaviour interleaving is off: the dataset has no behaviour")
        if used == "user":
            assert offer.user_attribute is not None
            user_tokens = user_token_table(vocabulary, dataset.users, offer.user_attribute)
    else:
        vocabulary = plain_vocabulary(dataset.n_items)
    costs = None
    if batch_costs and config.method == "dp":
        items = np.flatnonzero(stats.item_counts)
        costs = (items, item_costs(items, stats.item_counts[items]))
    return FormatPlan(given=given, config=config, patterns=patterns, vocabulary=vocabulary,
                      offer=offer, source=used, interleave=interleave_on,
                      user_tokens=user_tokens, item_costs=costs, notes=notes)


def format_part(plan: FormatPlan, train: TrainPart, lengths: pa.ListArray | None = None
                ) -> pa.Table:
    """PT rows (user, tokens, segment_lengths) of some users' training part. `lengths`: their
    segmentation, if already done (else segmented here with the plan's whole-part costs)."""
    config = plan.config
    if lengths is None:
        lengths = segment_batch(train.items, plan.patterns, str(config.method), plan.item_costs,
                                threads=config.threads)
    lengths = lengths.cast(pa.list_(pa.int32()))
    if plan.offer is not None:
        assert plan.source is not None
        segments = Segments.of(lengths)
        special = segment_tokens(plan.source, plan.vocabulary, plan.offer, train, segments,
                                 plan.user_tokens)
        behavior_tokens = None
        if plan.interleave:
            assert plan.offer.primary_behavior is not None
            behavior_tokens = item_behavior_tokens(
                plan.vocabulary, plan.offer.primary_behavior,
                float_values(train.behaviors[plan.offer.primary_behavior]))
        tokens = to_pattern_tokens(train.items, lengths, special, behavior_tokens)
    else:  # plain items: the segmentation lives in `segment_lengths` only
        values, offsets = flat_parts(as_list_array(train.items))
        tokens = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                          pa.array(values.astype(np.int32), pa.int32()))
    return pa.table({"user": pa.array(train.users), "tokens": tokens,
                     "segment_lengths": lengths})


def format_manifest(plan: FormatPlan, dataset: Dataset, pt: pa.Table, *, seconds: float
                    ) -> dict[str, Any]:
    """The manifest of a stage's PT table `pt` (all users) made with `plan`."""
    config, given, offer, used = plan.config, plan.given, plan.offer, plan.source
    meta = {k.decode(): v.decode() for k, v in (plan.patterns.schema.metadata or {}).items()}
    lengths = pt["segment_lengths"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    n_items = int(lengths.sum())
    in_patterns = int(lengths[lengths >= 2].sum())
    return {
        "stage": config.stage,
        "dataset": {"name": dataset.name, "counts": dataset.manifest.get("counts")},
        "part": "train (all but the last 2 interactions of every user)",
        "special_tokens": config.special_tokens,
        "source": {"requested": config.source, "used": used},
        "interleave": plan.interleave,
        "behavior": offer.primary_behavior if offer else None,
        "user_attribute": offer.user_attribute if offer and used == "user" else None,
        "domain_column": offer.domains.column if offer and used == "domain" and offer.domains
        else None,
        "theta": float(meta["theta"]) if "theta" in meta else None,
        "theta_scale": None if config.theta is not None else config.theta_scale,
        # The stage whose default λ set θ (None: θ or λ given, or no threshold at all).
        "theta_stage": (config.theta_stage or config.stage) if given.theta is None
        and given.theta_scale is None and config.miner == "conditional" else None,
        "h1": float(meta["h1"]) if "h1" in meta else None,
        "mining": {"miner": config.miner, "min_support": config.min_support,
                   "max_len": config.max_len, "increment": meta.get("increment"),
                   "method": config.method},
        "counts": {
            "users": pt.num_rows,
            "interactions": n_items,
            "patterns": plan.patterns.num_rows,
            "segments": len(lengths),
            "tokens": len(pt["tokens"].combine_chunks().values),
            "share_in_patterns": in_patterns / n_items if n_items else 0.0,
            "vocabulary": plan.vocabulary.size,
        },
        "config": asdict(config),
        "notes": plan.notes,
        "created_by": f"unids {unids.__version__}",
        "seconds": round(seconds, 3),
    }


def plain_vocabulary(n_items: int) -> Vocabulary:
    """Padding, the items 1 … n_items and the control tokens (the regenerator's bos / eos):
    the vocabulary of plain item sequences, which have no special tokens."""
    return Vocabulary([
        Namespace("padding", "padding", 0, 1),
        Namespace("item", "item", 1, n_items),
        Namespace("control", "control", 1 + n_items, len(CONTROL_LABELS), CONTROL_LABELS),
    ])


def _pick_source(requested: str, offer: Any, notes: list[str]) -> str:
    if requested == "sep" or offer.available(requested):
        return requested
    missing = [f"{requested!r} ({offer.why_missing(requested)})"]
    for candidate in (c for c in FALLBACK_ORDER if c != requested):
        if offer.available(candidate):
            notes.append(f"token source not available: {'; '.join(missing)}; "
                         f"using {candidate!r}")
            return candidate
        missing.append(f"{candidate!r} ({offer.why_missing(candidate)})")
    notes.append(f"token source not available: {'; '.join(missing)}; segments end with a "
                 "plain separator token (sep)")
    return "sep"


def stage_defaults_table() -> list[dict[str, Any]]:
    """The defaults as rows (for help texts and docs)."""
    return [{"stage": s, **asdict(d)} for s, d in STAGE_DEFAULTS.items()]
