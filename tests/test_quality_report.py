"""The data-quality report: the vectorised model entropy against a plain-Python reference,
symbol views, distribution statistics, warnings, the files it writes, and `unids data stats`."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from builders import make_dataset
from realdata import ml1m
from strategies import sequences
from unids.cli.data_stats import stats
from unids.data.dataset import Dataset
from unids.quality import build_report, model_entropy
from unids.quality.report import distribution, gini
from unids.quality.views import symbol_views

# -- model conditional entropy ----------------------------------------------------------------


def reference_model_entropy(seqs: list[list[int]], max_len: int, min_support: int
                            ) -> list[float]:
    """h(s_t | longest context of length ≤ max_len − 1 with n(C) ≥ min_support), else the
    unigram surprisal; every count by brute force over all windows."""
    total = sum(len(s) for s in seqs)
    unigram = Counter(x for s in seqs for x in s)
    context: Counter = Counter()  # n(C): occurrences of C followed by a symbol
    joint: Counter = Counter()
    for s in seqs:
        for t in range(len(s)):
            for k in range(1, min(t, max_len - 1) + 1):
                context[tuple(s[t - k:t])] += 1
                joint[tuple(s[t - k:t + 1])] += 1
    out = []
    for s in seqs:
        for t in range(len(s)):
            h = -math.log2(unigram[s[t]] / total)
            for k in range(min(t, max_len - 1), 0, -1):
                c = tuple(s[t - k:t])
                if context[c] >= min_support:
                    h = -math.log2(joint[(*c, s[t])] / context[c])
                    break
            out.append(h)
    return out


@given(sequences(max_alphabet=4, max_sequences=6, max_length=25), st.integers(1, 6),
       st.integers(1, 3))
def test_model_entropy_matches_reference(seqs: list[list[int]], max_len: int,
                                         min_support: int) -> None:
    lists = pa.array(seqs, pa.list_(pa.int32()))
    result = model_entropy(lists, max_len=max_len, min_support=min_support)
    expected = reference_model_entropy(seqs, max_len, min_support)
    np.testing.assert_allclose(result.bits, expected, rtol=0, atol=1e-12)
    for user, seq in enumerate(seqs):
        if seq:
            start = sum(len(s) for s in seqs[:user])
            assert result.per_user[user] == pytest.approx(np.mean(expected[start:start + len(seq)]))
        else:
            assert math.isnan(result.per_user[user])
    assert result.order.max(initial=0) <= max_len - 1


def test_model_entropy_by_hand() -> None:
    lists = pa.array([[1, 2, 1, 2]], pa.list_(pa.int32()))
    # t0: unigram −log2(2/4) = 1; contexts [1] (n = 2) and [2] (n = 1) predict perfectly.
    assert model_entropy(lists, max_len=2, min_support=1).per_user.tolist() == [0.25]
    # With c = 2 the context [2] is too rare: t2 falls back to the unigram, 1 bit.
    assert model_entropy(lists, max_len=2, min_support=2).per_user.tolist() == [0.5]
    # max_len = 1: the unigram model, 1 bit everywhere.
    assert model_entropy(lists, max_len=1).per_user.tolist() == [1.0]
    with pytest.raises(ValueError):
        model_entropy(lists, max_len=0)


# -- statistics -------------------------------------------------------------------------------


def test_gini_and_distribution() -> None:
    assert gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)  # (n − 1) / n
    assert gini(np.array([1, 2, 3])) == pytest.approx(2 / 9)
    assert math.isnan(gini(np.array([])))
    stats_ = distribution(np.arange(1, 101))
    assert stats_["min"] == 1 and stats_["max"] == 100 and stats_["p50"] == pytest.approx(50.5)
    assert distribution(np.array([])) == {}


# -- views ------------------------------------------------------------------------------------


def toy() -> Dataset:
    sequences_ = [[1, 2, 3, 1, 2, 3, 4, 5], [2, 3, 1, 2, 5, 4], [3, 1, 2, 3, 4, 5, 1]]
    times = [list(np.cumsum([0, 5, 5, 3600, 5, 5, 86400, 1.0])),
             list(np.cumsum([0, 1, 1, 1, 7, 2.0])), list(np.cumsum([0, 9, 9, 9, 9, 9, 9.0]))]
    ratings = [[5, 4, 3, 5, 4, 3, 1, 1], [4, 4, None, 4, 2, 2], [3, 3, 3, 3, 3, 1, 1]]
    genres = {1: "A|B", 2: "B|A", 3: "C", 4: "", 5: "A"}
    return make_dataset(sequences_, times=times, ratings=ratings, genres=genres,
                        users={"age": [1, 18, 25]})


def test_symbol_views() -> None:
    dataset = toy()
    train = dataset.train()
    views, skipped = symbol_views(dataset, train)
    by_name = {v.name: v for v in views}
    assert list(by_name) == ["item", "genre", "behavior:rating", "time"] and skipped == {}
    assert by_name["item"].sequences.to_pylist() == train.items.to_pylist()
    genre = by_name["genre"].sequences.to_pylist()
    # Items 1 (A|B) and 2 (B|A) share one symbol; 3 (C) has its own.
    assert genre[0][0] == genre[0][1] != genre[0][2]
    # {A, B}, {C} and "none" (item 4, in user 3's training part); item 5 is only held out.
    assert by_name["genre"].n_symbols == 3
    rating = by_name["behavior:rating"].sequences.to_pylist()
    assert rating[1] == [1, 1, 3, 1]  # 4, 4, missing, 4 over training values 3, 4, 5, unknown
    time_view = by_name["time"].sequences.to_pylist()
    assert [len(t) for t in time_view] == [5, 3, 4]  # n − 1 gaps each
    assert time_view[0] == [3, 3, 12, 3, 3]  # 5 s → [4,8); 3600 s → [2048,4096)

    bare = make_dataset([[1, 2, 3], [1, 2, 3]])  # positions, no side tables, no behaviour
    views, skipped = symbol_views(bare, bare.train())
    assert [v.name for v in views] == ["item"]
    assert set(skipped) == {"genre", "behavior", "time"}


# -- the report -------------------------------------------------------------------------------


def test_report_summary_and_warnings(tmp_path: Path) -> None:
    report = build_report(toy())
    s = report.summary
    assert s["counts"]["users"] == 3 and s["counts"]["interactions"] == 21
    assert s["counts"]["train_interactions"] == 15
    assert s["counts"]["label_positive_share"] == pytest.approx(7 / 20)  # one rating missing
    assert s["lengths"]["max"] == 8
    assert set(s["views"]) == {"item", "genre", "behavior:rating", "time"}
    item = s["views"]["item"]
    assert item["users_without_repeats"] == 0  # every training part repeats an item
    for view in s["views"].values():
        for n in ("user", "global"):
            assert sum(view["pi_max"][n]["histogram"]) == view["users"]
        assert 0 <= view["model_entropy"]["mean_per_user"] <= view["lz_exact"]["mean"] + 10
    assert report.warnings == []  # every view has repeats for most users
    json.dumps(s, allow_nan=False)  # strict JSON: no NaN sneaks in
    text = "\n".join(report.lines())
    assert "behavior:rating" in text and "Gini" in text


def test_no_repeat_view_warns() -> None:
    dataset = make_dataset([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], [1, 3, 5, 7, 9, 11]],
                           times=[[0, 1, 2, 3, 10, 11], [0, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6]])
    report = build_report(dataset)
    item = report.summary["views"]["item"]
    assert item["no_repeats"] is True
    assert item["lz_exact"]["mean"] == pytest.approx(2.0)  # log2(4) for every user
    assert item["log2_length"] == pytest.approx(2.0)
    assert len(report.warnings) == 1 and "'item'" in report.warnings[0]
    assert "log2(n)" in report.warnings[0]


def test_entropies_use_the_training_part_only() -> None:
    base = [[1, 2, 3, 1, 2, 3], [2, 3, 1, 2, 3, 1]]
    first = build_report(make_dataset([[*s, 4, 5] for s in base]))
    second = build_report(make_dataset([[*s, 5, 5] for s in base]))
    assert first.summary["views"] == second.summary["views"]
    assert first.per_user.equals(second.per_user)
    assert first.summary["popularity"] != second.summary["popularity"]  # counts: all data


def test_report_writes_json_table_and_plots(tmp_path: Path) -> None:
    report = build_report(toy())
    paths = report.write(tmp_path / "r")
    names = sorted(p.name for p in paths)
    assert names == ["entropy.png", "lengths.png", "per_user.parquet", "pi_max.png",
                     "popularity.png", "report.json"]
    for png in (p for p in paths if p.suffix == ".png"):
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    loaded = json.loads((tmp_path / "r" / "report.json").read_text())
    assert loaded["files"] == [p.name for p in paths]
    per_user = pq.read_table(tmp_path / "r" / "per_user.parquet")
    assert per_user.num_rows == 3
    assert {"item_lz_exact", "genre_model_bits", "behavior_rating_pi_max_global",
            "time_lz_approx"} <= set(per_user.column_names)
    assert sorted(p.name for p in build_report(toy()).write(tmp_path / "n", plots=False)) == [
        "per_user.parquet", "report.json"]


# -- the command ------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(stats, list(args))


def test_cli_stats(tmp_path: Path) -> None:
    toy().save(tmp_path / "ds")
    result = invoke(str(tmp_path / "ds"))
    assert result.exit_code == 0, result.output
    assert "view" in result.stdout and "LZ exact" in result.stdout
    assert "genre" in result.stdout and result.stderr == ""
    result = invoke(str(tmp_path / "ds"), "--json", "-o", str(tmp_path / "out"), "--no-plots")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["output"] == str(tmp_path / "out") and summary["warnings"] == []
    assert (tmp_path / "out" / "report.json").is_file()
    assert not (tmp_path / "out" / "entropy.png").exists()
    help_text = invoke("--help").stdout
    assert "Examples:" in help_text


def test_cli_stats_warns_in_text_and_json(tmp_path: Path) -> None:
    make_dataset([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]).save(tmp_path / "ds")
    result = invoke(str(tmp_path / "ds"))
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: view 'item'")
    result = invoke(str(tmp_path / "ds"), "--json")
    assert "view 'item'" in json.loads(result.stdout)["warnings"][0]


def test_cli_stats_error_is_one_line(tmp_path: Path) -> None:
    from unids.cli import UnidsGroup

    group = UnidsGroup("unids")  # as `unids data` will hold it
    group.add_command(stats)
    result = CliRunner().invoke(group, ["stats", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


# -- real data --------------------------------------------------------------------------------


def test_ml1m_report() -> None:
    dataset = ml1m()
    if dataset is None:
        pytest.skip("ML-1M not found under unids.config.data_dir()")
    # Its speed (≈ 4–6 s on 2 cores) is a benchmark's business, not a test's: the CI machine
    # is shared and noisy.
    report = build_report(dataset)
    views = report.summary["views"]
    assert list(views) == ["item", "genre", "behavior:rating", "time"]
    assert views["item"]["no_repeats"] is True  # nobody rates a movie twice
    assert any("'item'" in w for w in report.warnings)
    assert views["genre"]["share_without_repeats"] < 0.01
    # The count model beats the LZ value of the item view (which is only log2 n here).
    item_model = views["item"]["model_entropy"]["mean_per_interaction"]
    assert item_model < views["item"]["lz_exact"]["mean"]
    assert report.summary["counts"]["interactions"] == 1_000_209
    assert 0.5 < report.summary["popularity"]["gini"] < 0.8
