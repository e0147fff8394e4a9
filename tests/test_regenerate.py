"""Stage datasets (SPEC §7) and `unids regenerate`: the command end to end, what the rows and
evaluation histories hold, no held-out item in any pattern, pair, generated segment or
training row (for every data method), the mixing ratio, the round trip on disk, and training a
backbone on a stage dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch
from click.testing import CliRunner

from builders import leak_id, leaky_dataset, make_dataset, with_empty_training_part
from unids.baselines.methods import DATA_METHODS, data_method
from unids.cli import main
from unids.errors import InputError, UserError
from unids.formats import STAGES, format_dataset
from unids.formats.vocabulary import SEGMENT_KINDS
from unids.pipeline import RegenerateSettings, StageDataset, assemble_stage
from unids.pipeline.run import format_options
from unids.regen import build_pairs
from unids.regen.generate import Generated, read_generated
from unids.train import TrainConfig, fit, task_data
from unids.train.batches import eval_tensors
from unids.train.stage_data import load_task_data, stage_task_data

TINY_REGENERATOR = """
[regenerator]
dim = 16
heads = 2
encoder_layers = 1
decoder_layers = 1
dropout = 0.0
max_source_len = 64
max_target_len = 12
[train]
batch_size = 32
lr = 0.005
"""
TINY_SASREC = {"dim": 16, "blocks": 1, "heads": 1, "max_len": 20, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`unids regenerate --stage all` once, with a 2-epoch tiny regenerator."""
    root = tmp_path_factory.mktemp("regenerate")
    dataset = leaky_dataset()
    dataset.save(root / "dataset")
    (root / "tiny.toml").write_text(TINY_REGENERATOR)
    result = CliRunner().invoke(main, [
        "regenerate", "--stage", "all", str(root / "dataset"), "-o", str(root / "out"),
        "--epochs", "2", "--memories", "3", "--config", str(root / "tiny.toml"), "--quiet",
        "--json"])
    assert result.exit_code == 0, result.output
    return {"root": root, "dataset": dataset, "out": root / "out",
            "summary": json.loads(result.output)}


def lists(table: pa.Table, column: str) -> list[list[int]]:
    return table[column].to_pylist()


# --- the command --------------------------------------------------------------------------


def test_regenerate_writes_three_stage_datasets(regenerated: dict[str, Any]) -> None:
    out, dataset, summary = regenerated["out"], regenerated["dataset"], regenerated["summary"]
    assert json.loads((out / "summary.json").read_text()) == summary
    assert set(summary["stages"]) == set(STAGES)
    for stage in STAGES:
        item = summary["stages"][stage]
        stage_data = StageDataset.load(out / stage)
        counts = stage_data.manifest["counts"]
        assert stage_data.stage == stage and stage_data.name == dataset.name
        assert item["rows"] == {"before": dataset.n_users, "after": counts["rows"]}
        assert item["generated_kept"] == item["generated_segments"] > 0  # mix ratio 1
        assert item["rows"]["after"] == dataset.n_users + item["generated_segments"]
        assert item["tokens"]["after"] > item["tokens"]["before"]
        assert item["patterns"] > 0
        assert {"format", "pairs", "train_regenerator", "generate",
                "assemble_and_write"} <= set(item["seconds"])
        assert (out / stage / "regenerator" / "regenerator.pt").is_file()
        assert (out / stage / "generated" / "segments.parquet").is_file()
        assert stage_data.rows.num_rows == counts["rows"]


def test_generated_rows_hold_valid_tokens_and_training_items(
        regenerated: dict[str, Any]) -> None:
    dataset = regenerated["dataset"]
    train_items = set(dataset.train().items.flatten().to_pylist())
    for stage in STAGES:
        stage_data = StageDataset.load(regenerated["out"] / stage)
        vocabulary = stage_data.vocabulary
        control = vocabulary["control"]
        forbidden = {0, control.token("bos"), control.token("eos"), control.token("mask")}
        rows = stage_data.rows.filter(stage_data.rows["generated"])
        assert rows.num_rows > 0
        for row in rows.to_pylist():
            tokens = row["tokens"]
            assert tokens and all(0 < t < vocabulary.size and t not in forbidden
                                  for t in tokens)
            assert vocabulary.is_item(tokens[0])
            assert {t for t in tokens if vocabulary.is_item(t)} <= train_items
            assert len(row["times"]) == len(row["labels"]) == len(tokens)
            assert row["memory"] in range(3)


@pytest.fixture(scope="module", params=list(DATA_METHODS))
def by_method(request: pytest.FixtureRequest, regenerated: dict[str, Any],
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every data method's three stage datasets of the leaky dataset: unids is `regenerated`,
    the others `unids regenerate --stage all --method M` with a 1-epoch tiny regenerator."""
    method = str(request.param)
    if method == "unids":
        return {"method": method, "out": regenerated["out"], "summary": regenerated["summary"]}
    root = tmp_path_factory.mktemp(method)
    result = CliRunner().invoke(main, [
        "regenerate", "--stage", "all", str(regenerated["root"] / "dataset"), "-o",
        str(root / "out"), "--method", method, "--epochs", "1", "--memories", "3",
        "--config", str(regenerated["root"] / "tiny.toml"), "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    return {"method": method, "out": root / "out", "summary": json.loads(result.output)}


def test_no_held_out_item_reaches_a_training_row(regenerated: dict[str, Any],
                                                 by_method: dict[str, Any]) -> None:
    """For every data method and stage: the held-out item is in no mined pattern, no
    regenerator pair, no generated segment, no training row and no validation history."""
    dataset, method = regenerated["dataset"], by_method["method"]
    spec = data_method(method)
    leak = leak_id(dataset)
    assert dataset.targets("valid")["item"][0].as_py() == leak
    assert dataset.targets("test")["item"][0].as_py() == leak
    assert by_method["summary"]["method"] == method
    for stage in STAGES:
        directory = by_method["out"] / stage
        stage_data = StageDataset.load(directory)
        assert stage_data.manifest["method"] == method
        assert stage_data.vocabulary.is_item(leak)  # a token the regenerator could emit
        # What the pipeline mined and paired, rebuilt with the method's options (the rows
        # prove it is the same formatting).
        formatted = format_dataset(dataset, stage,
                                   **format_options(spec, RegenerateSettings(), stage))
        original = stage_data.rows.filter(pc.invert(stage_data.rows["generated"]))
        assert lists(original, "tokens") == lists(formatted.pt, "tokens")
        assert formatted.patterns.num_rows > 0
        assert leak not in formatted.patterns["pattern"].combine_chunks().flatten().to_pylist()
        pairs = build_pairs(formatted, max_source_len=64, with_patterns=spec.pattern_pairs)
        assert len(pairs) > 0
        assert leak not in pairs.sources.values and leak not in pairs.targets.values
        if spec.regenerate:
            segments = read_generated(directory / "generated").segments
            assert segments.num_rows > 0
            assert leak not in segments["tokens"].combine_chunks().flatten().to_pylist()
        else:
            assert not (directory / "generated").exists()
        assert leak not in stage_data.rows["tokens"].combine_chunks().flatten().to_pylist()
        assert leak not in stage_data.eval["valid_history"].combine_chunks().flatten()\
            .to_pylist()
        # The test history of user 1 ends with its validation item, which is the leak item.
        assert leak in stage_data.eval["test_history"][0].as_py()


def test_rows_and_histories_are_the_formatted_training_sequences(
        regenerated: dict[str, Any]) -> None:
    dataset = regenerated["dataset"]
    items = lists(dataset.sequences, "items")
    times = lists(dataset.sequences, "timestamps")
    ratings = lists(dataset.sequences, "rating")
    outcomes: set[bool] = set()  # whether a test history continued the last segment
    for stage in STAGES:
        formatted = format_dataset(dataset, stage)
        stage_data = StageDataset.load(regenerated["out"] / stage)
        vocabulary = stage_data.vocabulary
        original = stage_data.rows.filter(pc.invert(stage_data.rows["generated"]))
        assert lists(original, "tokens") == lists(formatted.pt, "tokens")
        assert original["user"].to_pylist() == dataset.sequences["user"].to_pylist()
        cases = stage_data.eval.to_pylist()
        segments = lists(formatted.pt, "segment_lengths")
        prefixes = {tuple(p[:k]) for p in lists(formatted.patterns, "pattern")
                    for k in range(2, len(p) + 1)}
        for u, (row, case) in enumerate(zip(original.to_pylist(), cases, strict=True)):
            tokens = row["tokens"]
            assert [t for t in tokens if vocabulary.is_item(t)] == items[u][:-2]
            # An item carries its own time, a special token the previous item's.
            last = None
            for token, when in zip(tokens, row["times"], strict=True):
                if vocabulary.is_item(token):
                    last = when
                assert when == last
            item_times = [w for t, w in zip(tokens, row["times"], strict=True)
                          if vocabulary.is_item(t)]
            assert item_times == times[u][:-2]
            # The histories leave the last segment open: the training row's closing
            # segment token is not part of them.
            closes = vocabulary.namespace_of(tokens[-1]).kind in SEGMENT_KINDS
            assert closes  # every stage of this dataset has segment tokens
            assert case["valid_history"] == tokens[:-1]
            extra = [items[u][-2]]
            if stage == "fine":  # interleaved: the validation item's behaviour token too
                space = vocabulary["item-behavior:rating"]
                extra.append(space.token(f"rating={ratings[u][-2]:g}"))
            # The test history closes that segment before the validation item, unless the
            # two are the start of a mined pattern.
            last_segment = items[u][:-2][len(items[u][:-2]) - segments[u][-1]:]
            continued = (*last_segment, items[u][-2]) in prefixes
            kept = len(tokens) - 1 if continued else len(tokens)
            assert case["test_history"] == tokens[:kept] + extra
            assert case["test_history_times"] == row["times"][:kept] + [times[u][-2]] * len(extra)
            outcomes.add(continued)
            assert case["valid_seen"] == items[u][:-2]
            assert case["test_seen"] == items[u][:-1]
            assert (case["valid_target"], case["test_target"]) == (items[u][-2], items[u][-1])
    assert outcomes == {True, False}  # the data has both kinds of user


def test_help_and_user_errors(regenerated: dict[str, Any], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["regenerate", "--help"])
    assert result.exit_code == 0 and "Examples" in result.output
    dataset_dir = str(regenerated["root"] / "dataset")
    bad = tmp_path / "bad.toml"
    bad.write_text("[nonsense]\nx = 1\n")
    for arguments in (
        ["--stage", "recall", str(tmp_path / "missing"), "-o", str(tmp_path / "o")],
        ["--stage", "recall", dataset_dir, "-o", str(tmp_path / "o"), "--config", str(bad)],
        ["--stage", "recall", dataset_dir, "-o", str(tmp_path / "o"),
         "--regenerator", str(tmp_path)],
    ):
        result = runner.invoke(main, ["regenerate", *arguments])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_a_given_regenerator_is_reused(regenerated: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "regenerate", "--stage", "coarse", str(regenerated["root"] / "dataset"), "-o",
        str(tmp_path / "again"), "--regenerator", str(regenerated["out"]), "--quiet",
        "--json"])
    assert result.exit_code == 0, result.output
    item = json.loads(result.output)["stages"]["coarse"]
    assert "load_regenerator" in item["seconds"] and "train_regenerator" not in item["seconds"]
    assert not (tmp_path / "again" / "coarse" / "regenerator").exists()
    before = StageDataset.load(regenerated["out"] / "coarse")
    after = StageDataset.load(tmp_path / "again" / "coarse")
    assert after.rows.equals(before.rows)  # same weights, same seed: the same segments

    result = CliRunner().invoke(main, [
        "regenerate", "--stage", "coarse", str(regenerated["root"] / "dataset"), "-o",
        str(tmp_path / "beam"), "--regenerator", str(regenerated["out"]), "--quiet",
        "--beam-size", "3"])
    assert result.exit_code == 0, result.output
    generated = read_generated(tmp_path / "beam" / "coarse" / "generated")
    assert generated.manifest["decoding"] == "beam 3"
    assert generated.manifest["config"]["beam_size"] == 3


# --- assembly -------------------------------------------------------------------------------


def fake_generated(rows: list[tuple[int, list[int]]]) -> Generated:
    tokens = [t for _, t in rows]
    return Generated(
        segments=pa.table({"user": pa.array([u for u, _ in rows], pa.int32()),
                           "memory": pa.array(list(range(len(rows))), pa.int32()),
                           "tokens": pa.array(tokens, pa.list_(pa.int32())),
                           "items": pa.array(tokens, pa.list_(pa.int32()))}),
        users=np.array([], np.int32), representations=np.zeros((0, 4), np.float32),
        manifest={"segments": len(rows)})


def test_mix_ratio_and_round_trip(regenerated: dict[str, Any], tmp_path: Path) -> None:
    dataset = regenerated["dataset"]
    formatted = format_dataset(dataset, "recall")
    segments = [(1 + u % dataset.n_users, [1 + u % 9, 2 + u % 9]) for u in range(10)]
    generated = fake_generated(segments)
    none = assemble_stage(dataset, formatted, generated, stage="recall", mix_ratio=0.0)
    assert none.rows.num_rows == dataset.n_users and not any(none.rows["generated"].to_pylist())
    assert lists(none.rows, "tokens") == lists(formatted.pt, "tokens")
    also_none = assemble_stage(dataset, formatted, None, stage="recall")
    assert also_none.rows.equals(none.rows) and also_none.eval.equals(none.eval)
    half = assemble_stage(dataset, formatted, generated, stage="recall", mix_ratio=0.5, seed=3)
    kept = half.rows.filter(half.rows["generated"])
    assert kept.num_rows == 5
    assert set(map(tuple, lists(kept, "tokens"))) <= {tuple(t) for _, t in segments}
    assert kept["memory"].to_pylist() == sorted(kept["memory"].to_pylist())  # order kept
    again = assemble_stage(dataset, formatted, generated, stage="recall", mix_ratio=0.5, seed=3)
    assert again.rows.equals(half.rows)

    half.save(tmp_path / "stage")
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == [
        "eval.parquet", "rows.parquet", "stage.json", "vocabulary.json"]
    back = StageDataset.load(tmp_path / "stage")
    assert back.rows.equals(half.rows) and back.eval.equals(half.eval)
    assert back.vocabulary == half.vocabulary and back.stage == "recall"
    assert back.manifest == json.loads(json.dumps(half.manifest))

    with pytest.raises(UserError, match="mix_ratio"):
        assemble_stage(dataset, formatted, generated, stage="recall", mix_ratio=1.5)
    with pytest.raises(UserError, match="stage"):
        assemble_stage(dataset, formatted, generated, stage="fine")
    with pytest.raises(UserError, match="vocabulary"):
        assemble_stage(dataset, formatted, fake_generated([(1, [1, 10_000])]), stage="recall")
    (tmp_path / "stage" / "rows.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError):
        StageDataset.load(tmp_path / "stage")
    with pytest.raises(InputError, match="not a stage dataset"):
        StageDataset.load(tmp_path)


def test_generated_rows_take_time_and_labels(regenerated: dict[str, Any]) -> None:
    dataset = regenerated["dataset"]
    formatted = format_dataset(dataset, "fine")
    vocabulary = formatted.vocabulary
    rating = vocabulary["item-behavior:rating"]
    close = vocabulary["behavior:rating"].start
    tokens = [3, rating.token("rating=5"), 4, rating.token("rating=2"), 5, close]
    stage_data = assemble_stage(dataset, formatted, fake_generated([(2, tokens)]),
                                stage="fine")
    row = stage_data.rows.filter(stage_data.rows["generated"]).to_pylist()[0]
    assert row["labels"] == [1, -1, 0, -1, -1, -1]  # rating ≥ 4; 5 has no behaviour token
    last_training_time = dataset.sequences["timestamps"][1].as_py()[-3]
    assert row["times"] == [last_training_time] * len(tokens)


def test_an_empty_training_part_and_no_feedback() -> None:
    dataset = with_empty_training_part(make_dataset([[1, 2, 3, 1, 2, 3, 4], [1, 2, 3, 5, 6],
                                                      [4, 1, 2, 3, 7, 8]]))
    for stage in ("recall", "fine"):
        stage_data = assemble_stage(dataset, format_dataset(dataset, stage), None, stage=stage)
        case = stage_data.eval.to_pylist()[0]
        assert stage_data.rows["tokens"][0].as_py() == [] and case["valid_history"] == []
        assert case["test_history"] == [case["valid_target"]]
        assert case["test_history_times"] == [case["valid_time"]]
        data = stage_task_data(stage_data)
        assert data.labels is None and data.cases["test"].label is None
        assert any("no explicit feedback" in note for note in data.notes)


# --- training on a stage dataset -------------------------------------------------------------


def test_stage_task_data_trains_a_backbone(regenerated: dict[str, Any], tmp_path: Path) -> None:
    dataset = regenerated["dataset"]
    items = lists(dataset.sequences, "items")
    for stage in ("recall", "fine"):
        stage_data = StageDataset.load(regenerated["out"] / stage)
        data = stage_task_data(stage_data)
        loaded = load_task_data(regenerated["out"] / stage)
        np.testing.assert_array_equal(loaded.tokens.values, data.tokens.values)
        assert data.n_items == dataset.n_items and data.n_tokens == stage_data.vocabulary.size
        assert data.behaviors is None and len(data.tokens) == stage_data.rows.num_rows
        np.testing.assert_array_equal(data.row_users, stage_data.row_users)
        is_item = (data.tokens.values >= 1) & (data.tokens.values <= data.n_items)
        if stage == "fine":
            assert data.labels is not None
            assert (data.labels.values[~is_item] == -1).all()
            labels = lists(dataset.sequences, "label")
            first = data.tokens.values[: data.tokens.offsets[1]]
            first_labels = data.labels.values[: data.tokens.offsets[1]]
            assert first_labels[(first >= 1) & (first <= data.n_items)].tolist() == \
                labels[0][:-2]
        else:
            assert data.labels is None
        for split, from_end in (("valid", 2), ("test", 1)):
            cases = data.cases[split]
            seen = [cases.seen_items.values[a:b].tolist() for a, b in
                    zip(cases.seen_items.offsets[:-1], cases.seen_items.offsets[1:],
                        strict=True)]
            assert seen == [row[:-from_end] for row in items]
            assert cases.target.tolist() == [row[-from_end] for row in items]
            # The ranking mask covers the raw items the user met, and nothing else.
            tensors = eval_tensors(cases, 20, torch.device("cpu"), data.n_items)
            mask = tensors.seen_mask(torch.arange(len(tensors)), data.n_items + 1)
            for u, row in enumerate(items):
                assert set(torch.nonzero(mask[u]).flatten().tolist()) == set(row[:-from_end])
        record = fit(data, "sasrec", TrainConfig(stage=stage, epochs=1, batch_size=16,
                                                 warmup_steps=1, eval_batch_size=64),
                     tmp_path / stage, model_overrides=TINY_SASREC, progress=False)
        metric = "NDCG@10" if stage == "recall" else "AUC"
        assert 0.0 <= record["test"][metric] <= 1.0


def test_load_task_data_reads_a_prepared_dataset_too(regenerated: dict[str, Any]) -> None:
    data = load_task_data(regenerated["root"] / "dataset")
    base = task_data(regenerated["dataset"])
    np.testing.assert_array_equal(data.tokens.values, base.tokens.values)
    assert data.n_tokens == base.n_tokens
