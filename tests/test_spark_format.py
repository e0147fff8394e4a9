"""`unids format --engine spark` (`unids.distributed.spark_format`) equals the in-memory
`format_dataset`: the PT table, vocabulary, patterns and manifest, for every token source, the
window miner, plain sequences and a quantile-scaled behaviour, on a dataset whose
`sequences.parquet` is cut into many row groups (several Spark tasks, several batches each).
Also the sums both engines fit from (`TrainStats`) and the histogram quantiles they use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import make_dataset, planted_sequences, with_empty_training_part
from test_streaming import assert_same_table
from unids.cli import main
from unids.data.dataset import Dataset, train_part
from unids.data.features import histogram_quantiles, value_counts
from unids.formats import format_dataset
from unids.formats.sources import TrainStats

# -- the sums and quantiles both engines fit from (no Spark) -------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False),
                          st.sampled_from([0.0, 1.0, 2.5, 2.5, 7.0])), min_size=1, max_size=60),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=9))
def test_histogram_quantiles_equal_numpy_bit_for_bit(values: list[float],
                                                     quantiles: list[float]) -> None:
    x, q = np.array(values), np.array(quantiles)
    got = histogram_quantiles(*value_counts(x), q)
    want = np.quantile(x, q)
    assert np.array_equal(got, want), (got, want)


def watch_dataset(users: int = 40, seed: int = 3) -> Dataset:
    """Planted patterns, real time gaps, ratings (ordinal), a continuous behaviour `watch`
    (quantile scale), user attributes and item genres; user 1 has an empty training part."""
    rng = np.random.default_rng(seed)
    sequences = planted_sequences(users, 12, seed=seed)
    times = [list(np.cumsum(rng.choice([0.0, 1.0, 40.0, 5000.0, 9e5], len(s))))
             for s in sequences]
    ratings = [[float(r) if r else None for r in rng.integers(0, 6, len(s))] for s in sequences]
    items = sorted({i for s in sequences for i in s})
    genres = {i: "|".join(sorted(set(rng.choice(list("ABCD"), rng.integers(0, 3))))) for i in items}
    dataset = make_dataset(sequences, times=times, ratings=ratings, genres=genres,
                           users={"age": rng.choice([1, 18, 25, 35], users).tolist(),
                                  "gender": rng.choice(["F", "M"], users).tolist()})
    dataset = with_empty_training_part(dataset)
    lengths = dataset.sequences["items"].combine_chunks().value_lengths().to_numpy()
    watch = [[None if rng.random() < 0.1 else float(rng.exponential(60.0)) for _ in range(n)]
             for n in lengths]
    sequences_table = dataset.sequences.append_column("watch",
                                                      pa.array(watch, pa.list_(pa.float64())))
    manifest = {**dataset.manifest, "behaviors": [*dataset.behaviors, "watch"]}
    return Dataset(sequences_table, dataset.users, dataset.items, manifest)


def test_train_stats_add_up_over_any_split_of_the_users() -> None:
    dataset = watch_dataset()
    whole = TrainStats.of(dataset.train(), dataset.behaviors, dataset.n_items)
    parts = [TrainStats.of(train_part(rows, dataset.behaviors), dataset.behaviors,
                           dataset.n_items) for rows in dataset.sequences.to_batches(7)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert np.array_equal(merged.item_counts, whole.item_counts)
    assert (merged.steps, merged.unit_steps) == (whole.steps, whole.unit_steps)
    for name in dataset.behaviors:
        assert all(np.array_equal(a, b) for a, b in zip(merged.behavior_values[name],
                                                        whole.behavior_values[name],
                                                        strict=True))


# -- Spark equals memory ----------------------------------------------------------------------

pytest.importorskip("pyspark", reason="the Spark backend needs pyspark: pip install '.[spark]'")

from unids.distributed.spark_format import format_dataset_spark  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    """The dataset on disk with `sequences.parquet` in row groups of 6 users."""
    dataset = watch_dataset()
    directory = tmp_path_factory.mktemp("spark-format") / "toy"
    dataset.save(directory)
    pq.write_table(dataset.sequences, directory / "sequences.parquet", row_group_size=6)
    assert pq.ParquetFile(directory / "sequences.parquet").metadata.num_row_groups == 7
    return dataset, directory


CASES: list[dict[str, Any]] = [
    {"stage": "recall"},  # domain tokens, DP
    {"stage": "coarse"},  # user tokens
    {"stage": "fine"},  # behaviour tokens, interleaved ratings
    {"stage": "fine", "behavior": "watch", "method": "greedy"},  # quantile scale
    {"stage": "recall", "source": "gap", "theta_scale": 1.6},
    {"stage": "recall", "miner": "window", "special_tokens": False},  # DR4SR's data
]


@pytest.mark.spark
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_spark_format_equals_in_memory(spark: Any, saved: tuple[Dataset, Path],
                                       case: dict[str, Any]) -> None:
    dataset, directory = saved
    options = {k: v for k, v in case.items() if k != "stage"}
    want = format_dataset(dataset, case["stage"], **options)
    got = format_dataset_spark(spark, directory, case["stage"], tasks=3, batch_rows=4,
                               **options)
    assert want.manifest["counts"]["patterns"] > 0
    assert got.pt.equals(want.pt)
    assert got.vocabulary.as_json() == want.vocabulary.as_json()
    assert_same_table(got.patterns, want.patterns)  # window patterns: NaN entropies
    assert {**got.manifest, "seconds": 0} == {**want.manifest, "seconds": 0}


@pytest.mark.spark
def test_cli_format_engine_spark_writes_the_same_directory(spark: Any, saved: tuple[Dataset, Path],
                                                           tmp_path: Path) -> None:
    _, directory = saved
    outputs = {}
    for engine in ("local", "spark"):
        outputs[engine] = tmp_path / engine
        result = CliRunner().invoke(main, ["format", str(directory), "--stage", "fine",
                                           "-o", str(outputs[engine]), "--engine", engine])
        assert result.exit_code == 0, result.output
    for name in ("pt.parquet", "patterns.parquet"):
        assert_same_table(pq.read_table(outputs["spark"] / name),
                          pq.read_table(outputs["local"] / name))
    assert (outputs["spark"] / "vocabulary.json").read_text() == \
        (outputs["local"] / "vocabulary.json").read_text()
    manifests = [json.loads((outputs[e] / "manifest.json").read_text()) for e in outputs]
    assert manifests[0] | {"seconds": 0} == manifests[1] | {"seconds": 0}


def test_cli_format_spark_options_need_the_engine(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["format", str(tmp_path), "--stage", "fine", "-o",
                                       str(tmp_path / "o"), "--master", "local[2]"])
    assert result.exit_code == 2
    assert "--engine spark" in result.output
