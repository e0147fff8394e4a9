"""The pieces of `unids run` that need no training: the step cache, the result tables, the
run configuration and its one-line errors."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from unids.errors import UserError
from unids.experiments.artifacts import DONE, StepCache, content_key, file_checksum
from unids.experiments.datasets import DatasetSource, planted_dataset
from unids.experiments.pipeline import load_run_config
from unids.experiments.tables import (
    Metric,
    compare,
    format_metric,
    markdown_table,
    stage_table,
    summarize,
    text_table,
)

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))


# -- the step cache ---------------------------------------------------------------------------


def _writer(calls: list[str], text: str = "hello"):
    def produce(out: Path) -> dict[str, str]:
        calls.append(str(out))
        (out / "data.txt").write_text(text)
        return {"file": "data.txt"}
    return produce


def test_a_done_step_is_skipped_and_a_changed_input_is_not(tmp_path: Path) -> None:
    calls: list[str] = []
    cache = StepCache(tmp_path)
    first = cache.run("mine", {"theta": 1.2}, {"dataset": "abc"}, _writer(calls))
    assert not first.cached and len(calls) == 1
    assert (first.directory / "data.txt").read_text() == "hello"
    assert first.directory == tmp_path / "mine" / first.key[:12]
    again = StepCache(tmp_path).run("mine", {"theta": 1.2}, {"dataset": "abc"}, _writer(calls))
    assert again.cached and again.key == first.key and len(calls) == 1
    assert again.result == {"file": "data.txt"}
    other = StepCache(tmp_path).run("mine", {"theta": 1.2}, {"dataset": "xyz"}, _writer(calls))
    assert not other.cached and other.key != first.key and len(calls) == 2
    changed = StepCache(tmp_path).run("mine", {"theta": 1.4}, {"dataset": "abc"},
                                      _writer(calls))
    assert not changed.cached and len(calls) == 3
    newer = StepCache(tmp_path, version="9.9").run("mine", {"theta": 1.2}, {"dataset": "abc"},
                                                   _writer(calls))
    assert not newer.cached and len(calls) == 4  # a new unids version never reuses artefacts


def test_force_redoes_a_step_once_and_replaces_it(tmp_path: Path) -> None:
    calls: list[str] = []
    StepCache(tmp_path).run("train", {}, {}, _writer(calls, "old"))
    cache = StepCache(tmp_path, force={"train"})
    redone = cache.run("train", {}, {}, _writer(calls, "new"))
    assert not redone.cached and (redone.directory / "data.txt").read_text() == "new"
    assert cache.run("train", {}, {}, _writer(calls, "newer")).cached  # once per session
    assert len(calls) == 2
    assert cache.count("train") == 1
    leftovers = [p.name for p in (tmp_path / "train").iterdir()]
    assert leftovers == [redone.directory.name]  # the old copy and the temporary are gone


def test_a_crash_mid_step_leaves_no_done_marker(tmp_path: Path) -> None:
    calls: list[str] = []

    def crash(out: Path) -> dict[str, str]:
        (out / "half.txt").write_text("half")
        raise RuntimeError("killed")

    cache = StepCache(tmp_path)
    with pytest.raises(RuntimeError, match="killed"):
        cache.run("regenerate", {"a": 1}, {}, crash)
    key = cache.key("regenerate", {"a": 1}, {})
    assert cache.lookup("regenerate", key) is None
    assert not cache.directory("regenerate", key).exists()
    assert list((tmp_path / "regenerate").iterdir()) == []  # the temporary went too
    assert cache.executed == []
    done = cache.run("regenerate", {"a": 1}, {}, _writer(calls))
    assert not done.cached and len(calls) == 1 and (done.directory / DONE).is_file()
    assert not (done.directory / "half.txt").exists()


def test_a_resumable_step_keeps_its_partial_work(tmp_path: Path) -> None:
    attempts: list[bool] = []

    def produce(out: Path) -> dict[str, bool]:
        resumed = (out / "checkpoint").is_file()
        attempts.append(resumed)
        (out / "checkpoint").write_text("epoch 3")
        if not resumed:
            raise RuntimeError("killed at epoch 3")
        return {"resumed": resumed}

    cache = StepCache(tmp_path)
    with pytest.raises(RuntimeError):
        cache.run("train", {}, {}, produce, resumable=True)
    key = cache.key("train", {}, {})
    assert cache.lookup("train", key) is None  # still not done
    step = cache.run("train", {}, {}, produce, resumable=True)
    assert attempts == [False, True] and step.result == {"resumed": True}
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [f".lock-{key[:12]}",
                                                                      key[:12]]


def test_a_second_process_waits_for_a_resumable_step_and_takes_it(tmp_path: Path) -> None:
    """Two runs of one resumable step share its .partial directory, so they take turns: the
    second waits on the lock and then finds the step done. (flock excludes two opens of the
    lock file even within one process, so threads stand in for processes here.)"""
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(out: Path) -> dict[str, str]:
        calls.append("first")
        started.set()
        assert release.wait(10)
        (out / "data.txt").write_text("first")
        return {"by": "first"}

    first = threading.Thread(target=StepCache(tmp_path).run,
                             args=("train", {}, {}, slow), kwargs={"resumable": True})
    first.start()
    assert started.wait(10)
    outcome: list = []
    second = threading.Thread(target=lambda: outcome.append(StepCache(tmp_path).run(
        "train", {}, {}, _writer(calls, "second"), resumable=True)))
    second.start()
    second.join(0.5)
    assert second.is_alive() and outcome == []  # waiting for the first one's lock
    release.set()
    first.join(10)
    second.join(10)
    (step,) = outcome
    assert step.cached and step.result == {"by": "first"} and calls == ["first"]
    assert (step.directory / "data.txt").read_text() == "first"


def test_a_stale_temporary_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    key = cache.key("quality", {}, {})
    stale = tmp_path / "quality" / f".tmp-{key[:12]}-999999999-deadbeef"
    stale.mkdir(parents=True)
    cache.run("quality", {}, {}, _writer([]))
    assert not stale.exists()


def test_keys_and_checksums_depend_on_content_only(tmp_path: Path) -> None:
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("1")
    before = file_checksum(tmp_path / "d")
    assert file_checksum(tmp_path / "d") == before
    (tmp_path / "d" / "x.txt").write_text("2")
    assert file_checksum(tmp_path / "d") != before


def test_a_prepared_directory_is_keyed_by_its_bytes(tmp_path: Path) -> None:
    planted_dataset(n_users=30, n_items=40, mean_length=10, seed=0).save(tmp_path / "a")
    planted_dataset(n_users=30, n_items=40, mean_length=10, seed=0).save(tmp_path / "b")
    planted_dataset(n_users=30, n_items=40, mean_length=10, seed=1).save(tmp_path / "c")
    prints = [DatasetSource(str(tmp_path / name)).fingerprint()["sha256"] for name in "abc"]
    assert prints[0] == prints[1] != prints[2]


# -- the synthetic planted dataset ------------------------------------------------------------


def test_planted_dataset_ends_every_user_with_a_pattern_start() -> None:
    dataset = planted_dataset(n_users=50, n_items=60, mean_length=12, seed=3)
    to_raw = dict(zip(dataset.items["item"].to_pylist(), dataset.items["raw_item_id"].to_pylist(),
                      strict=True))
    planted = {tuple(p[:2]) for p in dataset.manifest["synthetic"]["planted"]}
    for items in dataset.sequences["items"].to_pylist():
        assert (to_raw[items[-2]], to_raw[items[-1]]) in planted
    assert dataset.manifest["label"] == {"column": "rating", "threshold": 4.0}
    assert "genres" in dataset.items.column_names and "age" in dataset.users.column_names
    again = planted_dataset(n_users=50, n_items=60, mean_length=12, seed=3)
    assert again.sequences.equals(dataset.sequences)


# -- tables -----------------------------------------------------------------------------------


def _record(method: str, seed: int, **test: float) -> dict:
    return {"dataset": "d", "backbone": "b", "stage": "recall", "method": method, "seed": seed,
            "test": test}


def test_mean_std_relative_change_and_t_test_marker() -> None:
    records = [_record("base", s, MRR=0.10 + 0.001 * s, **{"HR@10": 0.2}) for s in range(3)]
    records += [_record("unids", s, MRR=0.20 + 0.002 * s, **{"HR@10": 0.2 + 0.01 * s})
                for s in range(3)]
    groups = summarize(records)
    assert [g["method"] for g in groups] == ["base", "unids"]
    unids = groups[1].metrics["MRR"]
    assert unids.mean == pytest.approx(0.202) and unids.std == pytest.approx(0.002)
    comparison = compare(unids, groups[0].metrics["MRR"])
    assert comparison.relative == pytest.approx(0.202 / 0.101 - 1)
    assert comparison.p_value is not None and comparison.p_value < 0.05
    assert comparison.marker == "*"
    headers, rows = stage_table(groups, "recall")
    assert headers[4:6] == ["MRR", "Δ MRR"]
    assert rows[1][2] == "unids" and rows[1][3] == "0,1,2"
    assert rows[1][4] == "0.2020 ± 0.0020" and rows[1][5] == "+100.0%*"
    assert rows[0][5] == ""  # base against itself
    # HR@10 differs by 0, 0.01, 0.02 over the seeds: t = 1.73, p = 0.23, no marker.
    assert rows[1][7] == "+5.0%"
    table = markdown_table(headers, rows)
    assert table.splitlines()[1].startswith("|:---|") and table.count("\n") == 3
    assert text_table(headers, rows).splitlines()[0].startswith("dataset")


def test_compare_pairs_the_seeds_both_have() -> None:
    """One candidate seed against three baseline seeds: `relative` sets it against their
    mean, `paired_relative` against seed 0's alone, the like-for-like figure."""
    base = summarize([_record("base", s, MRR=0.10 + 0.05 * s) for s in range(3)])[0]
    ours = summarize([_record("unids", 0, MRR=0.11)])[0]
    comparison = compare(ours.metrics["MRR"], base.metrics["MRR"])
    assert comparison.shared == (0,) and comparison.p_value is None
    assert comparison.paired_relative == pytest.approx(0.10)
    assert comparison.relative == pytest.approx(0.11 / 0.15 - 1)
    other = summarize([_record("base", 1, MRR=0.1)])[0].metrics["MRR"]
    none = compare(ours.metrics["MRR"], other)
    assert none.shared == () and none.paired_relative is None


def test_one_seed_has_no_std_and_no_marker() -> None:
    records = [_record("base", 0, MRR=0.1), _record("unids", 0, MRR=0.15)]
    _, rows = stage_table(summarize(records), "recall")
    assert rows[1][4] == "0.1500" and rows[1][5] == "+50.0%"
    assert format_metric(None) == "—"
    assert Metric({}).n == 0 and math.isnan(Metric({}).mean)


# -- run configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_for_unids_run(path: Path) -> None:
    config = load_run_config(str(path))
    assert config.methods == ("base", "unids")
    assert config.cells()


def test_overrides_and_options(tmp_path: Path) -> None:
    config = load_run_config(overrides=["dataset=synthetic", "epochs=3", "model.dim=16",
                                        "run.seeds=0,1", "run.stages=recall,fine",
                                        "regenerator.memories=3", "format.fine.theta_scale=1.5",
                                        "run.synthetic.n_users=40", "backbone=sasrec",
                                        "dropout=0.1"],
                             methods=["base", "dr4sr"], workdir=str(tmp_path))
    assert config.source.synthetic == {"n_users": 40}
    assert config.seeds == (0, 1) and config.stages == ("recall", "fine")
    assert config.train == {"epochs": 3} and config.model == {"dim": 16, "dropout": 0.1}
    assert config.regenerate["regenerator"] == {"memories": 3}
    cells = config.cells()
    assert len(cells) == 2 * 2 * 2 and cells[0].backbone == "sasrec"
    settings = next(c for c in cells if c.method == "dr4sr").regenerate_settings()
    assert settings.regenerator.memories == 3
    assert settings.stage_format_options == {"fine": {"theta_scale": 1.5}}
    assert config.directory == tmp_path


def test_per_stage_tables(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('backbone = "sasrec"\n[train]\nepochs = 2\n[run]\ndataset = "synthetic"\n'
                    'stages = ["recall", "fine"]\n[run.fine.train]\nepochs = 5\n'
                    '[run.fine.model]\ndim = 8\n')
    config = load_run_config(str(path))
    by_stage = {cell.stage: cell for cell in config.cells()}
    assert by_stage["recall"].train == {"epochs": 2} and by_stage["fine"].train == {"epochs": 5}
    assert by_stage["fine"].model == {"dim": 8} and by_stage["recall"].model == {}
    assert config.directory == Path("runs") / "synthetic-sasrec"


@pytest.mark.parametrize(("overrides", "message"), [
    (["epochs"], "expected KEY=VALUE"),
    (["foo.bar=1"], "unknown table 'foo'"),
    (["model.nonsense=1"], "has no setting nonsense"),
    (["epochs=0"], "epochs must be ≥ 1"),
    (["run.methods=base,nope"], "unknown method(s) 'nope'"),
    (["run.stages=ranking"], "unknown stage(s) 'ranking'"),
    (["run.seeds=a"], "seeds must be integers"),
    (["train.method=reppad"], "[train] must not set method"),
    (["regenerate.nope=1"], "unknown [regenerate] setting(s) nope"),
    (["regenerator.dim=7", "regenerator.heads=2"], "must be a positive multiple of heads"),
    (["run.synthetic.n_user=3"], "unknown synthetic dataset setting"),
    (["format.thta=1"], "unknown [format] setting"),
    (["format.recall.theta_scale=-1"], "theta_scale must be > 0"),
    (["run.methods=dr4sr", "format.miner=conditional"], "method dr4sr sets the format option"),
])
def test_bad_settings_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_run_config(overrides=["dataset=synthetic", *overrides])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_config_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[trian]\nepochs = 1\n")
    with pytest.raises(UserError, match=r"unknown table \[trian\]"):
        load_run_config(str(path), dataset="synthetic")
    path.write_text("[run]\nmethod = 'base'\n")
    with pytest.raises(UserError, match="unknown \\[run\\] key"):
        load_run_config(str(path), dataset="synthetic")
    with pytest.raises(UserError, match="no dataset"):
        load_run_config()
    with pytest.raises(UserError, match="not a prepared directory"):
        load_run_config(dataset=str(tmp_path / "nowhere")).source.fingerprint()
    json.loads(json.dumps(load_run_config(dataset="synthetic").as_json(), default=str))
