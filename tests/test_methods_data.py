"""The data-level methods of SPEC §8 through `regenerate_stage(..., method=...)`: what defines
each one (window patterns and plain items for DR4SR, no special tokens for w/o UF, one θ for
w/o TC, no regenerator for w/o UG, PT tokens for UniDS), valid generated ids, stage datasets
that load back and train, the method in the stage manifest and in `unids train`'s record.
(No held-out item reaches any method's data: tests/test_regenerate.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
import torch
from click.testing import CliRunner

import unids
from builders import leaky_dataset
from unids.baselines import DATA_METHODS, METHODS, data_method
from unids.cli import main
from unids.data.dataset import Dataset
from unids.errors import UserError
from unids.formats import STAGE_DEFAULTS, STAGES, FormatConfig, format_dataset
from unids.pipeline import RegenerateSettings, StageDataset, regenerate_stage
from unids.pipeline.assemble import stage_method
from unids.pipeline.run import format_options
from unids.regen import (
    GenerationConfig,
    Regenerator,
    RegeneratorConfig,
    build_pairs,
    generate,
    user_sources,
)
from unids.train.stage_data import load_task_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = RegeneratorConfig(dim=16, heads=2, encoder_layers=1, decoder_layers=1, dropout=0.0,
                         memories=3, max_source_len=64)
SETTINGS = RegenerateSettings(regenerator=TINY, epochs=1, batch_size=32, lr=0.005)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return leaky_dataset()


@pytest.fixture(scope="module")
def built(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every method's three stage datasets: {method: {stage: (directory, summary)}}."""
    root = tmp_path_factory.mktemp("methods")
    out: dict[str, Any] = {}
    for method in DATA_METHODS:
        out[method] = {}
        for stage in STAGES:
            directory = root / method / stage
            _, summary = regenerate_stage(dataset, stage, directory, SETTINGS, method=method,
                                          progress=False)
            out[method][stage] = (directory, summary)
    return out


def load(built: dict[str, Any], method: str, stage: str) -> StageDataset:
    return StageDataset.load(built[method][stage][0])


def tokens_of(stage_data: StageDataset, generated: bool | None = None) -> np.ndarray:
    rows = stage_data.rows
    if generated is not None:
        rows = rows.filter(rows["generated"] if generated else pc.invert(rows["generated"]))
    return np.asarray(rows["tokens"].combine_chunks().flatten().to_numpy(), dtype=np.int64)


def sublists(rows: list[list[int]]) -> set[tuple[int, ...]]:
    return {tuple(row) for row in rows}


# --- the table of methods ---------------------------------------------------------------------


def test_every_data_method_is_a_recorded_method() -> None:
    assert set(DATA_METHODS) <= set(METHODS)
    assert set(METHODS) - set(DATA_METHODS) == {"base", "reppad", "frec"}
    with pytest.raises(UserError, match="method must be one of"):
        data_method("nonsense")
    for spec in DATA_METHODS.values():
        FormatConfig(stage="fine", **spec.format_options)  # only real options


# --- what defines each method ------------------------------------------------------------------


def test_unids_has_special_tokens(built: dict[str, Any], dataset: Dataset) -> None:
    for stage in STAGES:
        stage_data = load(built, "unids", stage)
        original = tokens_of(stage_data, generated=False)
        assert (original > dataset.n_items).any()  # segment tokens T
        assert stage_data.vocabulary.is_segment_token(original).sum() > 0
        manifest = stage_data.manifest["format_manifest"]
        assert manifest["mining"]["miner"] == "conditional" and manifest["special_tokens"]
    fine = load(built, "unids", "fine")
    assert fine.manifest["format_manifest"]["interleave"]  # behaviour tokens too


def test_dr4sr_uses_window_patterns_and_plain_items(built: dict[str, Any],
                                                    dataset: Dataset) -> None:
    train = dataset.train()
    windows = unids.window_patterns(train.items, alpha=5, beta=2)
    window_set = sublists(windows["pattern"].to_pylist())
    for stage in STAGES:
        directory, summary = built["dr4sr"][stage]
        stage_data = StageDataset.load(directory)
        manifest = stage_data.manifest["format_manifest"]
        assert manifest["mining"] == {"miner": "window", "min_support": 2, "max_len": 5,
                                      "increment": None, "method": "greedy"}
        assert manifest["theta"] is None and manifest["special_tokens"] is False
        assert summary["theta"] is None and summary["patterns"] == windows.num_rows
        # No special token anywhere, original or generated: every id is an item.
        everything = tokens_of(stage_data)
        assert everything.min() >= 1 and everything.max() <= dataset.n_items
        assert lists_of(stage_data, generated=False) == train.items.to_pylist()
        generated = lists_of(stage_data, generated=True)
        assert generated and all(row for row in generated)
        # The pairs: segments of a greedy longest-match cut against the windows, each a
        # window found in the user's sequence; no pattern-alone pairs.
        formatted = format_dataset(dataset, stage,
                                   **format_options(data_method("dr4sr"), SETTINGS, stage))
        pairs = build_pairs(formatted, max_source_len=64, with_patterns=False)
        assert summary["pairs"] == len(pairs) == pairs.stats["sequence_pairs"] > 0
        items = train.items.to_pylist()
        for n in range(len(pairs)):
            source, target = pairs.pair(n)
            assert tuple(target) in window_set
            user_items = items[int(pairs.user[n]) - 1]
            assert any(user_items[i : i + len(target)] == list(target)
                       for i in range(len(user_items)))
            assert list(source) == user_items[-64:]
        lengths = unids.segment(train.items, windows, method="greedy")
        assert formatted.pt["segment_lengths"].to_pylist() == lengths.to_pylist()
    # Nothing is per stage: the three stage datasets hold the same rows.
    recall = load(built, "dr4sr", "recall")
    for stage in ("coarse", "fine"):
        assert load(built, "dr4sr", stage).rows.equals(recall.rows)


def lists_of(stage_data: StageDataset, generated: bool) -> list[list[int]]:
    rows = stage_data.rows
    rows = rows.filter(rows["generated"] if generated else pc.invert(rows["generated"]))
    return rows["tokens"].to_pylist()


def test_no_uf_keeps_the_patterns_but_drops_the_special_tokens(built: dict[str, Any],
                                                               dataset: Dataset) -> None:
    train_items = dataset.train().items.to_pylist()
    for stage in STAGES:
        plain = load(built, "unids-no-uf", stage)
        full = load(built, "unids", stage)
        plain_format = plain.manifest["format_manifest"]
        full_format = full.manifest["format_manifest"]
        assert plain_format["mining"]["miner"] == "conditional"
        assert plain_format["theta"] == full_format["theta"]  # the stage's θ
        assert plain_format["special_tokens"] is False and plain_format["interleave"] is False
        assert tokens_of(plain).max() <= dataset.n_items  # generated rows included
        assert lists_of(plain, generated=False) == train_items
        assert plain.vocabulary.size == dataset.n_items + 5  # padding, items, control
        assert (built["unids-no-uf"][stage][0] / "regenerator" / "regenerator.pt").is_file()
        assert lists_of(plain, generated=True)
        # The same patterns and segmentation, so the same regenerator targets, less T.
        options = format_options(data_method("unids-no-uf"), SETTINGS, stage)
        formatted = format_dataset(dataset, stage, **options)
        reference = format_dataset(dataset, stage)
        assert formatted.patterns.equals(reference.patterns)
        assert formatted.pt["segment_lengths"].equals(reference.pt["segment_lengths"])
        plain_pairs = build_pairs(formatted, max_source_len=64)
        full_pairs = build_pairs(reference, max_source_len=64)
        is_item = reference.vocabulary.is_item
        assert len(plain_pairs) == len(full_pairs) > 0
        for n in range(len(plain_pairs)):
            source, target = plain_pairs.pair(n)
            _, full_target = full_pairs.pair(n)
            assert list(target) == [t for t in full_target if is_item(t)]
            assert (source <= dataset.n_items).all()


def test_no_tc_uses_one_theta_for_every_stage(built: dict[str, Any]) -> None:
    def thetas(method: str) -> dict[str, float]:
        return {stage: load(built, method, stage).manifest["format_manifest"]["theta"]
                for stage in STAGES}

    one, per_stage = thetas("unids-no-tc"), thetas("unids")
    assert len(set(one.values())) == 1
    assert one["recall"] == per_stage["recall"]
    assert per_stage["fine"] > per_stage["recall"]  # UniDS's λ: 1.4 for fine, 1.2 for recall
    fine = load(built, "unids-no-tc", "fine").manifest["format_manifest"]
    assert fine["theta_scale"] == STAGE_DEFAULTS["recall"].theta_scale
    assert fine["theta_stage"] == "recall" and fine["special_tokens"] and fine["interleave"]
    assert built["unids-no-tc"]["fine"][1]["generated_segments"] > 0


def test_no_ug_generates_nothing(built: dict[str, Any], dataset: Dataset) -> None:
    for stage in STAGES:
        directory, summary = built["unids-no-ug"][stage]
        stage_data = StageDataset.load(directory)
        assert not (directory / "regenerator").exists()
        assert not (directory / "generated").exists()
        assert summary["pairs"] == summary["generated_segments"] == 0
        assert summary["regenerator"] is None and "train_regenerator" not in summary["seconds"]
        assert stage_data.rows.num_rows == dataset.n_users
        assert not any(stage_data.rows["generated"].to_pylist())
        # The PT rows are UniDS's own.
        unids_rows = load(built, "unids", stage).rows
        original = unids_rows.filter(pc.invert(unids_rows["generated"]))
        assert stage_data.rows["tokens"].equals(original["tokens"])
        assert stage_data.manifest["generation"] is None


# --- every method ------------------------------------------------------------------------------


def test_generated_ids_are_valid_and_every_stage_dataset_loads(built: dict[str, Any],
                                                               dataset: Dataset) -> None:
    train_items = set(dataset.train().items.flatten().to_pylist())
    for method in DATA_METHODS:
        for stage in STAGES:
            directory, summary = built[method][stage]
            stage_data = StageDataset.load(directory)
            assert stage_data.manifest["method"] == summary["method"] == method
            assert stage_method(directory) == method
            vocabulary = stage_data.vocabulary
            control = vocabulary["control"]
            forbidden = {control.token(label) for label in ("bos", "eos", "mask")}
            generated = tokens_of(stage_data, generated=True)
            assert ((generated > 0) & (generated < vocabulary.size)).all()
            assert not set(generated.tolist()) & forbidden
            items = generated[vocabulary.is_item(generated)]
            assert set(items.tolist()) <= train_items
            data = load_task_data(directory)
            assert len(data.tokens) == stage_data.rows.num_rows
            assert data.n_items == dataset.n_items and data.n_tokens == vocabulary.size
            rows = summary["rows"]
            assert rows["after"] == rows["before"] + summary["generated_kept"]


def test_plain_decoding_emits_items_and_eos_only(dataset: Dataset) -> None:
    """A model that prefers every special token: decoded with special_tokens=False, only
    items come out; with the default, special tokens do."""
    formatted = format_dataset(dataset, "fine")  # the full vocabulary: T and behaviour tokens
    vocabulary = formatted.vocabulary
    model = Regenerator.for_vocabulary(vocabulary, TINY).eval()
    every = np.arange(vocabulary.size)
    bias = torch.where(torch.from_numpy(vocabulary.is_item(every)), 1.0, 10.0)
    bias[model.eos] = 0.0

    def decode(inputs: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor
               ) -> torch.Tensor:
        return bias.expand(inputs.shape[0], inputs.shape[1], -1)

    model.decode = decode  # type: ignore[method-assign]
    users, sources = user_sources(formatted.pt, TINY.max_source_len)
    special = generate(model, users, sources, vocabulary, GenerationConfig())
    plain = generate(model, users, sources, vocabulary, GenerationConfig(special_tokens=False))
    special_tokens = np.concatenate(special.segments["tokens"].to_numpy(zero_copy_only=False))
    plain_tokens = np.concatenate(plain.segments["tokens"].to_numpy(zero_copy_only=False))
    assert (~vocabulary.is_item(special_tokens)).any()
    assert vocabulary.is_item(plain_tokens).all()


# --- options and errors ------------------------------------------------------------------------


def test_method_options_and_errors(dataset: Dataset, tmp_path: Path) -> None:
    conflicting = RegenerateSettings(format_options={"miner": "conditional"})
    with pytest.raises(UserError, match="dr4sr sets the format option miner"):
        format_options(data_method("dr4sr"), conflicting, "recall")
    agreeing = RegenerateSettings(stage_format_options={"fine": {"special_tokens": False}})
    assert format_options(data_method("unids-no-uf"), agreeing, "fine")["special_tokens"] is False
    with pytest.raises(UserError, match="greedy"):
        FormatConfig(stage="recall", miner="window", method="dp")
    with pytest.raises(UserError, match="miner"):
        FormatConfig(stage="recall", miner="sliding")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="theta_stage"):
        FormatConfig(stage="recall", theta_stage="ranking")  # type: ignore[arg-type]
    window = format_dataset(dataset, "recall", theta_scale=1.3, miner="window",
                            special_tokens=False, source="user")
    assert any("theta" in note and "ignored" in note for note in window.notes)
    assert any("source" in note and "ignored" in note for note in window.notes)
    with pytest.raises(UserError, match="no regenerator"):
        regenerate_stage(dataset, "recall", tmp_path / "x", SETTINGS, method="unids-no-ug",
                         regenerator=tmp_path / "regenerator.pt")


def test_the_command_and_the_training_record_name_the_method(dataset: Dataset,
                                                             tmp_path: Path) -> None:
    dataset.save(tmp_path / "dataset")
    runner = CliRunner()
    result = runner.invoke(main, [
        "regenerate", "--stage", "recall", str(tmp_path / "dataset"), "-o", str(tmp_path / "o"),
        "--method", "unids-no-ug", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["method"] == "unids-no-ug" == summary["stages"]["recall"]["method"]
    result = runner.invoke(main, [
        "regenerate", "--stage", "recall", str(tmp_path / "dataset"), "-o", str(tmp_path / "p"),
        "--method", "unids-no-ug", "--regenerator", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    result = runner.invoke(main, ["regenerate", "--help"])
    assert "--method [dr4sr|unids|unids-no-tc|unids-no-uf|unids-no-ug]" in result.output
    assert "--method dr4sr" in result.output  # an example

    train = ["train", "--data", str(tmp_path / "o" / "recall"), "--backbone", "sasrec",
             "--stage", "recall", "--epochs", "1", "--set", "model.dim=16",
             "--set", "model.blocks=1", "--set", "model.max_len=20", "--set", "batch_size=16",
             "--quiet", "--json"]
    recorded = runner.invoke(main, [*train, "-o", str(tmp_path / "run1")])
    assert recorded.exit_code == 0, recorded.output
    assert json.loads(recorded.output)["method"] == "unids-no-ug"
    given = runner.invoke(main, [*train, "-o", str(tmp_path / "run2"), "--method", "base"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.output)["method"] == "base"
    prepared = runner.invoke(main, [*train[:2], str(tmp_path / "dataset"), *train[3:], "-o",
                                    str(tmp_path / "run3")])
    assert prepared.exit_code == 0, prepared.output
    assert json.loads(prepared.output)["method"] == "base"
