"""Where an experiment's dataset comes from: a prepared directory, a named dataset in the
shared data folder, a raw file with a loader, or the built-in synthetic planted dataset.

    DatasetSource("synthetic").load()                    # no files needed
    DatasetSource("prepared/ml-1m").load()               # `unids data prepare` output
    DatasetSource("ml-1m").load()                        # ../shared/data/ml-1m ($UNIDS_DATA)
    DatasetSource("log.csv", loader="csv", loader_options={"item_col": "movie"}).load()
    path, step = prepare_dataset(cache, DatasetSource("synthetic"))   # the cached step
    dataset = planted_dataset(n_users=300, seed=0)

The `dataset` step's key depends on the content: the synthetic generator's settings, or the
SHA-256 of the prepared directory's or the raw files' bytes, so a changed file is a new key.

The synthetic planted dataset (`planted_dataset`) is `unids.data.synthetic.make_planted` made
into a prepared dataset for the whole pipeline, with three additions:

* every user's sequence ends with the first two items of a planted pattern (after whole
  events, so the training part ends where an event ends): the validation item starts a
  planted pattern and the test item is its planted successor. The test asks "this item
  starts a planted pattern: what comes next?" — the planted next-item metric that the
  regenerated patterns must improve. (The validation item itself is a pattern start, which
  nothing before it predicts: it is close to a popularity guess for every method.)
  Why a pattern *start* and not the end of a pattern cut by the split: a stage dataset closes
  the last segment of the training part with a segment token, and its validation and test
  histories keep that token, so a held-out item that continues the last training segment
  follows a token that, in training, always ends a segment. Measured with the whole planted
  pattern at the end instead (600 users, a width-32 SASRec, 10 epochs, leave-one-out): HR@10
  base 0.33, UniDS 0.32; with that trailing token removed from the histories UniDS reached
  0.63. Here the split falls between events, so the closing token is right and the metric
  measures what the regenerated data adds;
* a `rating` behaviour (label = rating ≥ 4) fixed per item up to 10 % noise, so the fine stage
  has labels that its behaviour tokens and the item identities can predict;
* a genre per item and an age group per user (both random), so the recall and coarse stages
  get their `domain` and `user` segment tokens as on MovieLens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from unids.config import data_dir
from unids.data.dataset import MANIFEST, Dataset, build_dataset
from unids.data.raw import LabelRule, RawLog
from unids.data.synthetic import make_planted
from unids.errors import UserError
from unids.experiments.artifacts import Step, StepCache, content_key, file_checksum

SYNTHETIC = "synthetic"
#: Named datasets of the shared data folder: name → (loader, folder under `data_dir()`).
NAMED = {"ml-1m": ("ml-1m", "ml-1m"), "ml-100k": ("ml-100k", "ml-100k"),
         "beauty": ("s3rec", "s3rec-benchmarks/Beauty.txt"),
         "amazon-beauty": ("amazon", "amazon/beauty-2014"),
         "books": ("amazon", "amazon/books-2014-sample")}
GENRES = 6
AGE_GROUPS = 4
LABEL_NOISE = 0.1


@dataclass(frozen=True)
class PlantedSettings:
    """The generator's parameters (`make_planted`'s, plus the label noise)."""

    n_users: int = 600
    n_items: int = 300
    mean_length: float = 30.0
    n_patterns: int = 20
    max_pattern_len: int = 4
    plant_rate: float = 0.1
    seed: int = 0


def planted_dataset(settings: PlantedSettings | None = None, **overrides: Any) -> Dataset:
    """The synthetic planted dataset as a prepared Dataset (module docstring)."""
    settings = settings or PlantedSettings()
    if overrides:
        settings = PlantedSettings(**{**asdict(settings), **overrides})
    data = make_planted(n_users=settings.n_users, n_items=settings.n_items,
                        mean_length=settings.mean_length, n_patterns=settings.n_patterns,
                        max_pattern_len=settings.max_pattern_len,
                        plant_rate=settings.plant_rate, seed=settings.seed)
    # A separate stream: the sequences stay make_planted's, whatever is drawn here.
    rng = np.random.default_rng([settings.seed, 1])
    liked = rng.random(settings.n_items + 1) < 0.5  # (I + 1,) by item id
    finals = rng.integers(0, len(data.planted), size=settings.n_users)
    sequences = [np.concatenate([s, np.asarray(data.planted[k][:2], dtype=np.int32)])
                 for s, k in zip(data.sequences, finals, strict=True)]
    lengths = np.array([len(s) for s in sequences])
    items = np.concatenate(sequences).astype(np.int64)
    noisy = rng.random(len(items)) < LABEL_NOISE
    good = liked[items] ^ noisy
    ratings = np.where(good, rng.integers(4, 6, len(items)), rng.integers(1, 4, len(items)))
    interactions = pa.table({
        "user_id": np.repeat(np.arange(1, settings.n_users + 1), lengths),
        "item_id": items,
        # One interaction per second: only the order matters here.
        "timestamp": np.concatenate([np.arange(n, dtype=np.float64) for n in lengths]),
        "rating": ratings.astype(np.float64),
    })
    item_ids = np.arange(1, settings.n_items + 1)
    genre = rng.integers(0, GENRES, settings.n_items)
    item_table = pa.table({"item_id": item_ids,
                           "genres": pa.array([[f"g{g}"] for g in genre],
                                              pa.list_(pa.string()))})
    user_table = pa.table({"user_id": np.arange(1, settings.n_users + 1),
                           "age": rng.integers(0, AGE_GROUPS, settings.n_users)})
    raw = RawLog(SYNTHETIC, interactions, users=user_table, items=item_table,
                 behaviors=("rating",), label=LabelRule("rating", 4.0),
                 notes=("synthetic planted dataset (unids.experiments.datasets): every "
                        "sequence ends with the first two items of a planted pattern",))
    dataset = build_dataset(raw)
    dataset.manifest["synthetic"] = {**asdict(settings),
                                     "planted": [list(p) for p in data.planted]}
    return dataset


@dataclass(frozen=True)
class DatasetSource:
    """Where a run's dataset comes from. spec: "synthetic", a prepared directory, a name of
    NAMED, or a raw path (then `loader` names one of `unids.data.loaders.LOADERS`).
    loader_options: that loader's keyword options; synthetic: PlantedSettings overrides."""

    spec: str
    loader: str | None = None
    loader_options: dict[str, Any] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.synthetic and self.spec != SYNTHETIC:
            raise UserError(f"synthetic settings given for dataset {self.spec!r}")
        if self.spec == SYNTHETIC:
            try:
                PlantedSettings(**self.synthetic)
            except TypeError as error:
                raise UserError(f"unknown synthetic dataset setting: {error}") from None

    def resolved(self) -> tuple[str, Path | None, str | None]:
        """(kind, path, loader): kind is synthetic, prepared or raw."""
        if self.spec == SYNTHETIC:
            return "synthetic", None, None
        path = Path(self.spec)
        if self.loader is None and (path / MANIFEST).is_file():
            return "prepared", path, None
        loader = self.loader
        if loader is None and self.spec in NAMED:
            loader, folder = NAMED[self.spec]
            path = data_dir() / folder
        if loader is None:
            raise UserError(f"dataset {self.spec!r} is not a prepared directory (no "
                            f"{MANIFEST}), not {SYNTHETIC!r} and not one of "
                            f"{', '.join(NAMED)}; give a loader (dataset_loader = \"csv\", "
                            "…) to read a raw file")
        if not path.exists():
            raise UserError(f"dataset {self.spec!r}: {path} does not exist (set "
                            "$UNIDS_DATA to the data folder, or give a prepared directory)")
        return "raw", path, loader

    def fingerprint(self) -> dict[str, Any]:
        """What the dataset's content depends on (the cache key's inputs): the synthetic
        settings, or the checksum of the prepared directory's or raw files' bytes."""
        kind, path, loader = self.resolved()
        if kind == "synthetic":
            return {"kind": kind, "settings": asdict(PlantedSettings(**self.synthetic))}
        assert path is not None
        return {"kind": kind, "loader": loader, "options": self.loader_options,
                "sha256": file_checksum(path)}

    def load(self) -> Dataset:
        """Builds (synthetic, raw) or reads (prepared) the dataset."""
        kind, path, loader = self.resolved()
        if kind == "synthetic":
            return planted_dataset(**self.synthetic)
        assert path is not None
        if kind == "prepared":
            return Dataset.load(path)
        from unids.data.loaders import load  # every source's parser: only when one is needed

        assert loader is not None
        return build_dataset(load(loader, path, **self.loader_options))


def prepare_dataset(cache: StepCache, source: DatasetSource) -> tuple[Path, Step]:
    """The `dataset` step: the prepared dataset directory the later steps read, and the step
    (its key is what they depend on). A prepared directory is used in place; a synthetic or
    raw dataset is built once and saved in the step's directory."""
    config, inputs = _dataset_step(cache, source)
    prepared = inputs["kind"] == "prepared"

    def produce(out: Path) -> dict[str, Any]:
        if prepared:
            return {"path": str(Path(source.spec).resolve()), "in_place": True}
        dataset = source.load()
        dataset.save(out)
        return {"path": None, "in_place": False, "counts": dataset.manifest["counts"]}

    step = cache.run("dataset", config, {"content": inputs["content"]}, produce)
    path = Path(step.result["path"]) if step.result.get("in_place") else step.directory
    return path, step


def dataset_key(cache: StepCache, source: DatasetSource) -> str:
    """The `dataset` step's key, without building the dataset (a checksum of its files)."""
    config, inputs = _dataset_step(cache, source)
    return cache.key("dataset", config, {"content": inputs["content"]})


def _dataset_step(cache: StepCache, source: DatasetSource
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dataset step's config, and the content key and kind of the source's files."""
    memo_key = f"dataset:{content_key(asdict(source))}"
    if memo_key not in cache.memo:  # a checksum of the files once per session, not per cell
        cache.memo[memo_key] = source.fingerprint()
    fingerprint = cache.memo[memo_key]
    return ({"spec": source.spec, "loader": source.loader},
            {"content": content_key(fingerprint), "kind": fingerprint["kind"]})
