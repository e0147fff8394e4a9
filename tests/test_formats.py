"""Pattern-Token sequences: the vectorised builder against a plain-Python reference, the
round trip PT → items, the vocabulary layout, token sources and fallbacks, stage defaults,
the CLI, and that formatting never reads a validation or test interaction."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import load_bench, make_dataset, with_empty_training_part
from realdata import ml1m
from unids.cli import main
from unids.data.dataset import Dataset
from unids.formats import (
    STAGE_DEFAULTS,
    STAGES,
    BehaviorScale,
    Namespace,
    Vocabulary,
    format_dataset,
    segment_lengths_of,
    to_items,
    to_pattern_tokens,
)
from unids.formats.vocabulary import KINDS

SOURCES_AND_SEP = ("gap", "user", "behavior", "domain", "sep")

# -- building small datasets ------------------------------------------------------------------


GAPS = (0.0, 0.4, 1.0, 3.0, 90.0, 5000.0, 86400.0, 3e7, 1e9)


@st.composite
def datasets(draw: Any) -> Dataset:
    n_users = draw(st.integers(1, 5))
    alphabet = draw(st.integers(1, 6))
    sequences = [draw(st.lists(st.integers(1, alphabet), min_size=3, max_size=12))
                 for _ in range(n_users)]
    times = []
    for items in sequences:
        gaps = draw(st.lists(st.sampled_from(GAPS), min_size=len(items), max_size=len(items)))
        times.append(list(np.cumsum(gaps)))
    rating = st.one_of(st.none(), st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0]))
    ratings = [draw(st.lists(rating, min_size=len(s), max_size=len(s))) for s in sequences]
    genre = st.lists(st.sampled_from("ABC"), unique=True, max_size=3).map("|".join)
    genres = {item: draw(genre) for item in range(1, alphabet + 1)}
    ages = draw(st.lists(st.sampled_from([1, 18, 25]), min_size=n_users, max_size=n_users))
    genders = draw(st.lists(st.sampled_from(["F", "M"]), min_size=n_users, max_size=n_users))
    dataset = make_dataset(sequences, times=times, ratings=ratings, genres=genres,
                           users={"age": ages, "gender": genders})
    return with_empty_training_part(dataset) if draw(st.booleans()) else dataset


# -- plain-Python references ------------------------------------------------------------------


def reference_pt(items: list[list[int]], segments: list[list[int]], special: list[int],
                 behavior: list[int] | None) -> list[list[int]]:
    out, s, k = [], 0, 0
    for user_items, user_segments in zip(items, segments, strict=True):
        tokens, position = [], 0
        for length in user_segments:
            for item in user_items[position:position + length]:
                tokens.append(item)
                if behavior is not None:
                    tokens.append(behavior[k])
                k += 1
            tokens.append(special[s])
            s += 1
            position += length
        assert position == len(user_items)
        out.append(tokens)
    return out


def reference_gap_bucket(seconds: float) -> int:
    return 0 if seconds < 1 else min(1 + math.floor(math.log2(seconds)), 26)


def nearest(points: list[float], value: float) -> int:
    return min(range(len(points)), key=lambda j: (abs(points[j] - value), points[j]))


def reference_tokens(dataset: Dataset, vocabulary: Vocabulary, source: str,
                     segments: list[list[int]], interleave: bool,
                     attribute: str | None = None) -> list[list[int]]:
    """PT sequences built token by token from the dataset's training part."""
    train = dataset.train()
    items = train.items.to_pylist()
    times = train.timestamps.to_pylist()
    ratings = train.behaviors["rating"].to_pylist() if "rating" in train.behaviors else None
    item_genres = {row["item"]: row["genres"] or [] for row in dataset.items.to_pylist()} \
        if "genres" in dataset.items.column_names else {}
    genre_count: dict[str, int] = {}
    for user_items in items:
        for item in user_items:
            for g in item_genres.get(item, []):
                genre_count[g] = genre_count.get(g, 0) + 1
    user_rows = {row["user"]: row for row in dataset.users.to_pylist()}
    special, behavior = [], []
    for r, (user_items, user_segments) in enumerate(zip(items, segments, strict=True)):
        position = 0
        for j, length in enumerate(user_segments):
            span = range(position, position + length)
            if source == "sep":
                special.append(vocabulary["control"].token("sep"))
            elif source == "gap":
                space = vocabulary["gap"]
                if j == len(user_segments) - 1:
                    special.append(space.token("end"))
                else:
                    gap = times[r][position + length] - times[r][position + length - 1]
                    special.append(space.start + reference_gap_bucket(gap))
            elif source == "user":
                space = vocabulary[f"user:{attribute}"]
                value = user_rows[int(train.users[r])][attribute]
                special.append(space.start + space.meta["values"].index(value))
            elif source == "behavior":
                space = vocabulary["behavior:rating"]
                known = [ratings[r][k] for k in span if ratings[r][k] is not None]
                if not known:
                    special.append(space.unknown)
                else:
                    points = space.meta["scale"]["points"]
                    grid = sorted(points + [(a + b) / 2 for a, b in itertools.pairwise(points)])
                    special.append(space.start + nearest(grid, sum(known) / len(known)))
            elif source == "domain":
                space = vocabulary["domain:genres"]
                votes: dict[str, int] = {}
                for k in span:
                    for g in item_genres.get(user_items[k], []):
                        votes[g] = votes.get(g, 0) + 1
                if not votes:
                    special.append(space.token("none"))
                else:
                    best = min(votes, key=lambda g: (-votes[g], -genre_count[g], g))
                    special.append(space.token(best))
            position += length
        if interleave:
            space = vocabulary["item-behavior:rating"]
            points = space.meta["scale"]["points"]
            for value in ratings[r]:
                behavior.append(space.unknown if value is None
                                else space.start + nearest(points, value))
    return reference_pt(items, segments, special, behavior if interleave else None)


# -- the vectorised builder -------------------------------------------------------------------


@st.composite
def segmented(draw: Any) -> tuple[list[list[int]], list[list[int]]]:
    """Item lists (empty and length 1 included) with a random segmentation of each."""
    items = draw(st.lists(st.lists(st.integers(1, 50), max_size=8), max_size=6))
    segments = []
    for user_items in items:
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(user_items) - 1)),
                                   max_size=len(user_items))) - {len(user_items)}) \
            if len(user_items) > 1 else []
        bounds = [0, *cuts, len(user_items)] if user_items else [0]
        segments.append([b - a for a, b in itertools.pairwise(bounds) if b > a])
    return items, segments


VOCAB = Vocabulary([
    Namespace("padding", "padding", 0, 1),
    Namespace("item", "item", 1, 50),
    Namespace("item-behavior:r", "item-behavior", 51, 3, ("r=0", "r=1", "r=?")),
    Namespace("gap", "gap", 54, 2, ("short", "end")),
    Namespace("control", "control", 56, 4, ("sep", "bos", "eos", "mask")),
])


@given(segmented(), st.booleans(), st.data())
def test_pattern_tokens_match_reference_and_round_trip(case: Any, interleave: bool,
                                                       data: Any) -> None:
    items, segments = case
    n_segments = sum(len(s) for s in segments)
    n_items = sum(len(i) for i in items)
    special = data.draw(st.lists(st.sampled_from([54, 55, 56]), min_size=n_segments,
                                 max_size=n_segments))
    behavior = data.draw(st.lists(st.integers(51, 53), min_size=n_items, max_size=n_items)) \
        if interleave else None
    tokens = to_pattern_tokens(pa.array(items, pa.list_(pa.int32())), segments,
                               np.array(special), None if behavior is None else np.array(behavior))
    assert tokens.type == pa.list_(pa.int32())
    assert tokens.to_pylist() == reference_pt(items, segments, special, behavior)
    assert to_items(tokens, VOCAB).to_pylist() == items
    assert segment_lengths_of(tokens, VOCAB).to_pylist() == segments
    for row, user_items in zip(tokens.to_pylist(), items, strict=True):
        assert to_items(np.array(row, dtype=np.int32), VOCAB).tolist() == user_items


def test_pattern_tokens_on_sliced_and_chunked_input() -> None:
    items = pa.array([[9, 9], [1, 2, 3], [4]], pa.list_(pa.int32())).slice(1)
    segments = pa.chunked_array([pa.array([[2, 1]], pa.list_(pa.int32())),
                                 pa.array([[1]], pa.list_(pa.int32()))])
    tokens = to_pattern_tokens(items, segments, np.array([54, 55, 55]))
    assert tokens.to_pylist() == [[1, 2, 54, 3, 55], [4, 55]]
    assert to_items(tokens.slice(1), VOCAB).to_pylist() == [[4]]


def test_pattern_tokens_reject_inconsistent_input() -> None:
    items = pa.array([[1, 2, 3]], pa.list_(pa.int32()))
    with pytest.raises(ValueError, match="do not sum"):
        to_pattern_tokens(items, [[2]], np.array([54]))
    with pytest.raises(ValueError, match="segment tokens"):
        to_pattern_tokens(items, [[2, 1]], np.array([54]))
    with pytest.raises(ValueError, match="behaviour tokens"):
        to_pattern_tokens(items, [[3]], np.array([54]), np.array([51]))
    with pytest.raises(ValueError, match="≥ 1"):
        to_pattern_tokens(items, [[3, 0]], np.array([54, 54]))


# -- the vocabulary ---------------------------------------------------------------------------


def test_vocabulary_ranges_are_contiguous_and_disjoint(tmp_path: Path) -> None:
    dataset = make_dataset([[1, 2, 3, 4], [2, 3, 1, 5]], ratings=[[5, 4, None, 1], [3, 3, 2, 1]],
                           times=[[0, 60, 90, 99], [5, 7, 9, 11]],
                           genres={1: "A|B", 2: "B", 3: "", 4: "C", 5: "A"},
                           users={"age": [1, 25], "gender": ["F", "M"], "zip": ["1", "2"]})
    vocabulary = format_dataset(dataset, "fine").vocabulary
    assert [s.kind for s in vocabulary][:2] == ["padding", "item"]
    assert vocabulary["item"].start == 1 and vocabulary["item"].size == dataset.n_items
    previous = 0
    for space in vocabulary:
        assert space.start == previous
        previous = space.stop
    assert previous == vocabulary.size
    order = [KINDS.index(s.kind) for s in vocabulary]
    assert order == sorted(order)
    every = np.arange(vocabulary.size)
    index = vocabulary.namespace_index(every)
    for space_index, space in enumerate(vocabulary):
        assert np.array_equal(every[index == space_index], np.arange(space.start, space.stop))
    assert vocabulary.kind_of(0) == "padding"
    assert vocabulary.is_item(1) and not vocabulary.is_item(0)
    assert not vocabulary.is_item(dataset.n_items + 1)
    assert vocabulary.is_item(np.array([0, 1, dataset.n_items + 1])).tolist() == [
        False, True, False]
    names = {s.name for s in vocabulary}
    assert {"item-behavior:rating", "gap", "user:age", "user:gender", "behavior:rating",
            "domain:genres", "control"} <= names
    assert "user:zip" in names  # two distinct values: still a usable attribute here
    # Genres of training items only (C is only on item 4, a held-out item; item 3 has none);
    # the 'none' token ends the namespace.
    assert vocabulary["domain:genres"].labels == ("A", "B", "none")
    assert vocabulary.label(vocabulary["user:age"].start) == "user:age:age=1"
    assert vocabulary.kind_of(vocabulary["gap"].token("end")) == "gap"
    # JSON round trip.
    vocabulary.save(tmp_path / "v.json")
    loaded = Vocabulary.load(tmp_path / "v.json")
    assert loaded == vocabulary and loaded.size == vocabulary.size


def test_vocabulary_rejects_overlaps_and_gaps() -> None:
    base = [Namespace("padding", "padding", 0, 1), Namespace("item", "item", 1, 5)]
    with pytest.raises(ValueError, match="contiguous"):
        Vocabulary([*base, Namespace("gap", "gap", 5, 2, ("a", "b"))])
    with pytest.raises(ValueError, match="contiguous"):
        Vocabulary([*base, Namespace("gap", "gap", 7, 2, ("a", "b"))])
    with pytest.raises(ValueError, match="padding"):
        Vocabulary(base[1:])
    with pytest.raises(ValueError, match="outside"):
        Vocabulary(base).kind_of(6)


def test_vocabulary_is_deterministic_and_shared_by_stages() -> None:
    def build() -> Dataset:
        return make_dataset([[3, 1, 2, 4], [2, 2, 1, 3]], ratings=[[5, 4, 3, 1], [3, 3, 2, 1]],
                            genres={1: "X|A", 2: "B", 3: "A", 4: "C"},
                            users={"age": [18, 25]})

    vocabularies = [format_dataset(build(), stage).vocabulary.as_json() for stage in STAGES]
    assert vocabularies[0] == vocabularies[1] == vocabularies[2]
    assert format_dataset(build(), "recall").vocabulary.as_json() == vocabularies[0]


# -- token sources ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_every_source_matches_reference_and_round_trips(dataset: Dataset) -> None:
    train_items = dataset.train().items.to_pylist()
    for source in SOURCES_AND_SEP:
        for interleave in (False, True):
            result = format_dataset(dataset, "fine", source=source, interleave=interleave,
                                    theta_scale=2.0)
            manifest = result.manifest
            used, interleaved = manifest["source"]["used"], manifest["interleave"]
            tokens = result.pt["tokens"].combine_chunks()
            segments = result.pt["segment_lengths"].to_pylist()
            assert to_items(tokens, result.vocabulary).to_pylist() == train_items
            assert segment_lengths_of(tokens, result.vocabulary).to_pylist() == segments
            expected = reference_tokens(dataset, result.vocabulary, used, segments, interleaved,
                                        manifest["user_attribute"])
            assert tokens.to_pylist() == expected, (source, interleave)


def test_domain_majority_and_ties() -> None:
    # Training parts: user 1 = [1, 2, 3], user 2 = [2, 3, 4]; patterns off (θ tiny).
    dataset = make_dataset([[1, 2, 3, 9, 9], [2, 3, 4, 9, 9]],
                           genres={1: "A", 2: "A|B", 3: "B", 4: "C", 9: "Z"})
    result = format_dataset(dataset, "recall", theta=0.0)
    v = result.vocabulary
    labels = [[v.label(t) for t in row] for row in result.pt["tokens"].to_pylist()]
    # One item per segment: item 2 votes A and B once each, B is more frequent in training
    # (3 votes vs 2), so B wins the tie.
    assert labels[0] == ["item 1", "domain:genres:A", "item 2", "domain:genres:B", "item 3",
                         "domain:genres:B"]
    assert labels[1][-1] == "domain:genres:C"
    assert "Z" not in v["domain:genres"].labels  # only on held-out items


def test_segment_level_tokens_on_a_pattern() -> None:
    # [1, 2] repeats in every user: with a generous θ it is one segment.
    sequences = [[1, 2, 3, 7, 7], [1, 2, 4, 7, 7], [1, 2, 5, 7, 7]]
    ratings = [[5, 4, 1, 1, 1], [4, 4, 2, 1, 1], [3, None, None, 1, 1]]
    times = [[0, 10, 10 + 2 ** 20, 2e9, 2e9]] * 3
    dataset = make_dataset(sequences, ratings=ratings, times=times,
                           users={"age": [1, 18, 25], "gender": ["F", "M", "M"]})
    fine = format_dataset(dataset, "fine", theta_scale=3.0)
    assert fine.pt["segment_lengths"].to_pylist() == [[2, 1]] * 3
    v = fine.vocabulary
    labels = [[v.label(t) for t in row] for row in fine.pt["tokens"].to_pylist()]
    assert labels[0] == ["item 1", "item-behavior:rating:rating=5", "item 2",
                         "item-behavior:rating:rating=4", "behavior:rating:rating≈4.5",
                         "item 3", "item-behavior:rating:rating=1", "behavior:rating:rating≈1"]
    assert labels[2][3] == "item-behavior:rating:rating=?"
    assert labels[2][-1] == "behavior:rating:rating=?"
    gap = format_dataset(dataset, "fine", theta_scale=3.0, source="gap", interleave=False)
    labels = [gap.vocabulary.label(t) for t in gap.pt["tokens"][0].as_py()]
    assert labels == ["item 1", "item 2", "gap:[12.1d,24.3d)", "item 3", "gap:end"]  # 2^20 s
    coarse = format_dataset(dataset, "coarse", theta_scale=3.0)
    assert [coarse.vocabulary.label(t) for t in coarse.pt["tokens"][1].as_py()][-1] == (
        "user:age:age=18")
    by_gender = format_dataset(dataset, "coarse", theta_scale=3.0, user_attribute="gender")
    assert by_gender.vocabulary.label(by_gender.pt["tokens"][0].as_py()[-1]) == (
        "user:gender:gender=F")


def test_behavior_scales() -> None:
    ratings = BehaviorScale.fit(np.array([1, 2, 3, 4, 5, np.nan, 4]))
    assert ratings == BehaviorScale("ordinal", (1.0, 2.0, 3.0, 4.0, 5.0))
    assert ratings.item_index(np.array([1, 5, np.nan, 4.4])).tolist() == [0, 4, 5, 3]
    # Means → 1, 1.5, …, 5 (index 0 … 8), ties round down, NaN → unknown (9).
    assert ratings.aggregate_index(np.array([1.0, 1.2, 1.25, 4.76, np.nan])).tolist() == [
        0, 0, 0, 8, 9]
    assert BehaviorScale.fit(np.array([1.0, 1.0])) == BehaviorScale("ordinal", (1.0,))
    clicks = BehaviorScale.fit(np.array([0.0, 1.0, 1.0]))
    assert clicks is not None and clicks.kind == "binary"
    assert clicks.aggregate_index(np.array([0.0, 0.2, 0.5, 1.0])).tolist() == [0, 1, 2, 4]
    assert clicks.aggregate_labels("is_click")[-2] == "is_click share [0.8,1]"
    durations = BehaviorScale.fit(np.arange(1000.0))
    assert durations is not None and durations.kind == "quantile"
    assert len(durations.item_labels("t")) == 9  # 8 bins + unknown
    assert durations.item_index(np.array([0.0, 999.0])).tolist() == [0, 7]
    assert BehaviorScale.fit(np.array([np.nan])) is None
    assert BehaviorScale.from_json(ratings.as_json()) == ratings


def test_fallbacks_are_noted() -> None:
    # No behaviour, no side tables: only the gap source is left.
    bare = make_dataset([[1, 2, 3, 4], [2, 3, 4, 1]], times=[[0, 5, 9, 20], [0, 1, 2, 30]])
    for stage in STAGES:
        result = format_dataset(bare, stage)
        assert result.manifest["source"]["used"] == "gap"
        assert result.manifest["interleave"] is False
        assert any("not available" in note for note in result.notes)
    fine = format_dataset(bare, "fine")
    assert any("interleaving is off" in note for note in fine.notes)
    # Positions instead of times (S3-Rec): nothing is left but the separator.
    positions = make_dataset([[1, 2, 3, 4], [2, 3, 4, 1]])
    result = format_dataset(positions, "recall")
    assert result.manifest["source"]["used"] == "sep"
    assert "gap" not in result.vocabulary
    assert to_items(result.pt["tokens"], result.vocabulary).to_pylist() == [[1, 2], [2, 3]]
    # The fallback order: domain → user → behaviour → gap.
    users_only = make_dataset([[1, 2, 3, 4], [2, 3, 4, 1]], users={"age": [1, 18]},
                              ratings=[[1, 2, 3, 4], [1, 2, 3, 4]])
    assert format_dataset(users_only, "recall").manifest["source"]["used"] == "user"
    assert format_dataset(users_only, "recall", source="gap").manifest["source"]["used"] == "user"
    rated = make_dataset([[1, 2, 3, 4], [2, 3, 4, 1]], ratings=[[1, 2, 3, 4], [1, 2, 3, 4]])
    assert format_dataset(rated, "coarse").manifest["source"]["used"] == "behavior"


def test_bad_options_are_user_errors() -> None:
    from unids.errors import UserError

    dataset = make_dataset([[1, 2, 3, 4]], users={"age": [1]})
    with pytest.raises(UserError, match="stage"):
        format_dataset(dataset, "ranking")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="source"):
        format_dataset(dataset, "fine", source="weather")
    with pytest.raises(UserError, match="no column"):
        format_dataset(dataset, "coarse", user_attribute="shoe_size")
    with pytest.raises(UserError, match="no behaviour"):
        format_dataset(dataset, "fine", behavior="rating")


# -- stage defaults ---------------------------------------------------------------------------


def test_stage_defaults() -> None:
    assert STAGE_DEFAULTS["fine"].theta_scale > STAGE_DEFAULTS["recall"].theta_scale
    assert STAGE_DEFAULTS["fine"].theta_scale > STAGE_DEFAULTS["coarse"].theta_scale
    assert {s: d.source for s, d in STAGE_DEFAULTS.items()} == {
        "recall": "domain", "coarse": "user", "fine": "behavior"}
    assert [s for s, d in STAGE_DEFAULTS.items() if d.interleave] == ["fine"]
    dataset = make_dataset([[1, 2, 3, 1, 2, 4], [1, 2, 5, 1, 2, 3]],
                           ratings=[[5, 4, 3, 2, 1, 1], [1, 2, 3, 4, 5, 5]],
                           times=[[0, 1, 5, 8, 9, 10], [3, 4, 5, 6, 9, 12]],
                           genres={i: "A" for i in range(1, 6)}, users={"age": [1, 18]})
    for stage in STAGES:
        manifest = format_dataset(dataset, stage).manifest
        defaults = STAGE_DEFAULTS[stage]
        assert manifest["theta_scale"] == defaults.theta_scale
        assert manifest["theta"] == pytest.approx(defaults.theta_scale * manifest["h1"])
        assert manifest["source"] == {"requested": defaults.source, "used": defaults.source}
        assert manifest["interleave"] is defaults.interleave
        assert manifest["notes"] == []
    overridden = format_dataset(dataset, "fine", theta_scale=0.5, source="gap",
                                interleave=False).manifest
    assert overridden["theta_scale"] == 0.5
    assert overridden["source"]["used"] == "gap" and overridden["interleave"] is False


def test_cli_help_lists_the_stage_defaults() -> None:
    result = CliRunner().invoke(main, ["format", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout
    for stage, defaults in STAGE_DEFAULTS.items():
        line = re.search(rf"^\s+{stage}\s+λ (\S+)\s+source (\S+)\s+interleave (\S+)",
                         result.stdout, re.MULTILINE)
        assert line is not None, stage
        assert float(line.group(1)) == defaults.theta_scale
        assert line.group(2) == defaults.source
        assert (line.group(3) == "on") is defaults.interleave


# -- no leakage -------------------------------------------------------------------------------

LEAK = 999  # raw id of an item that only ever occurs as a validation or test item


def leaky_dataset(held_out: list[tuple[int, int]], held_ratings: tuple[float, float]
                  ) -> Dataset:
    base = [[1, 2, 3, 1, 2, 4, 1, 2], [2, 3, 1, 2, 5, 1, 2, 3], [4, 1, 2, 3, 5, 1, 2, 4]]
    sequences = [b + list(h) for b, h in zip(base, held_out, strict=True)]
    times = [[float(t) * 1000 for t in range(len(s))] for s in sequences]
    ratings = [[5.0, 4.0, 3.0, 5.0, 4.0, 2.0, 5.0, 4.0, *held_ratings] for _ in sequences]
    genres = {1: "A", 2: "A|B", 3: "B", 4: "C", 5: "C", 6: "D", LEAK: "Leak"}
    return make_dataset(sequences, times=times, ratings=ratings, genres=genres,
                        users={"age": [1, 18, 25]})


def test_formatting_never_reads_validation_or_test_items(tmp_path: Path) -> None:
    dataset = leaky_dataset([(LEAK, LEAK), (6, LEAK), (LEAK, 6)], (1.0, 1.0))
    leak = dataset.items.filter(pc.equal(dataset.items["raw_item_id"], LEAK))["item"][0].as_py()
    for stage in STAGES:
        for source in SOURCES_AND_SEP:
            result = format_dataset(dataset, stage, source=source, theta_scale=3.0)
            result.write(tmp_path / f"{stage}-{source}")
            pt = pq.read_table(tmp_path / f"{stage}-{source}" / "pt.parquet")
            assert leak not in set(pt["tokens"].combine_chunks().flatten().to_pylist())
            patterns = pq.read_table(tmp_path / f"{stage}-{source}" / "patterns.parquet")
            assert leak not in {i for p in patterns["pattern"].to_pylist() for i in p}
            assert patterns.num_rows > 0  # the training part does have patterns
            vocabulary = json.loads((tmp_path / f"{stage}-{source}" / "vocabulary.json")
                                    .read_text())
            assert "Leak" not in json.dumps(vocabulary)
            assert "D" not in result.vocabulary["domain:genres"].labels  # genre of item 6


def test_formatting_does_not_depend_on_held_out_interactions() -> None:
    # Same training parts, different validation/test items and ratings: identical output.
    first = leaky_dataset([(6, LEAK), (LEAK, 6), (6, 6)], (1.0, 2.0))
    second = leaky_dataset([(LEAK, 6), (6, 6), (LEAK, LEAK)], (5.0, 5.0))
    for stage in STAGES:
        a, b = format_dataset(first, stage), format_dataset(second, stage)
        assert a.pt.equals(b.pt)
        assert a.patterns.equals(b.patterns)
        assert a.vocabulary == b.vocabulary


# -- the command ------------------------------------------------------------------------------


def test_cli_format_writes_the_output_directory(tmp_path: Path) -> None:
    dataset = leaky_dataset([(6, LEAK), (LEAK, 6), (6, 6)], (1.0, 2.0))
    dataset.save(tmp_path / "ds")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["format", "--stage", "fine", str(tmp_path / "ds"),
                                       "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stage"] == "fine" and summary["source"]["used"] == "behavior"
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "patterns.parquet", "pt.parquet", "vocabulary.json"]
    pt = pq.read_table(out / "pt.parquet")
    assert pt.column_names == ["user", "tokens", "segment_lengths"]
    assert pt.schema.field("tokens").type == pa.list_(pa.int32())
    vocabulary = Vocabulary.load(out / "vocabulary.json")
    assert to_items(pt["tokens"], vocabulary).to_pylist() == dataset.train().items.to_pylist()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["tokens"] == len(pt["tokens"].combine_chunks().values)

    result = CliRunner().invoke(main, ["format", "--stage", "recall", str(tmp_path / "ds"),
                                       "-o", str(tmp_path / "gap"), "--source", "gap",
                                       "--no-interleave", "--theta-scale", "2"])
    assert result.exit_code == 0, result.output
    assert "source gap" in result.stdout and "2.0 × H1" in result.stdout


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 9), max_size=12), min_size=1, max_size=6),
       length=st.integers(1, 8))
def test_window_items_counts_the_items_among_each_rows_last_tokens(
        rows: list[list[int]], length: int) -> None:
    """benches/window_items.py (docs/RESULTS.md §2) against a plain loop: items are ids
    1..5 here, anything else a special token."""
    counted = load_bench("window_items").items_in_windows(
        pa.array(rows, type=pa.list_(pa.int32())), lambda v: (v >= 1) & (v <= 5), length)
    in_window = [sum(1 <= t <= 5 for t in row[-length:]) for row in rows]
    plain = [min(sum(1 <= t <= 5 for t in row), length) for row in rows]
    assert counted["items"] == pytest.approx(sum(in_window) / len(rows))
    assert counted["plain_items"] == pytest.approx(sum(plain) / len(rows))
    assert counted["share"] == pytest.approx(sum(in_window) / max(sum(plain), 1))


def test_window_items_reads_a_format_output(tmp_path: Path) -> None:
    """On `unids format` output, a fine-ranking window holds fewer items than a plain row
    of the same user: every item brings its behaviour token, every segment a segment token."""
    make_dataset([[1, 2, 3, 1, 2, 3, 4, 5, 1, 2, 3, 6]] * 4,
                 ratings=[[4.0] * 12] * 4).save(tmp_path / "ds")
    result = CliRunner().invoke(main, ["format", "--stage", "fine", str(tmp_path / "ds"),
                                       "-o", str(tmp_path / "fine")])
    assert result.exit_code == 0, result.output
    described = load_bench("window_items").describe(tmp_path / "fine", [4, 100])
    short, long = described["windows"]
    assert described["stage"] == "fine" and described["tokens_per_item"] > 2
    assert short["plain_items"] == 4 and short["items"] < 4  # 4 tokens hold < 4 items
    assert long["items"] == long["plain_items"] == 10  # the whole row: 12 minus 2 held out


def test_cli_format_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["format", "--stage", "fine", str(tmp_path),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    bare = make_dataset([[1, 2, 3, 4]])
    bare.save(tmp_path / "bare")
    result = CliRunner().invoke(main, ["format", "--stage", "fine", str(tmp_path / "bare"),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "note: token source not available" in result.stderr


# -- real data --------------------------------------------------------------------------------


def test_ml1m_formats_fast_and_round_trips() -> None:
    dataset = ml1m()
    if dataset is None:
        pytest.skip("ML-1M not found under unids.config.data_dir()")
    train_items = dataset.train().items
    format_dataset(dataset, "recall")  # warm up (first calls load code paths)
    for stage in STAGES:
        result = format_dataset(dataset, stage)  # speed: benches, not tests (noisy machines)
        assert result.notes == []
        assert to_items(result.pt["tokens"], result.vocabulary).equals(train_items)
        assert result.manifest["counts"]["patterns"] > 0
    recall = format_dataset(dataset, "recall").manifest["counts"]
    fine = format_dataset(dataset, "fine").manifest["counts"]
    assert fine["share_in_patterns"] > recall["share_in_patterns"]
