"""Training-time baselines (SPEC §8): RepPad against a plain-Python reference, FRec's fatigued
copies and loss, and both switched on through `TrainConfig.method` / `unids train --method`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import unids.train.loop as loop
from builders import load_bench, make_dataset
from unids.baselines import METHODS
from unids.baselines.frec import fatigue_loss, fatigued_copies, target_scores
from unids.baselines.reppad import draw_copies, repeat_padding, repetition_limit
from unids.cli import main
from unids.data.dataset import Dataset
from unids.errors import UserError
from unids.models import SequenceInput, Vocab, build_backbone
from unids.train import TaskData, TrainConfig, fit, task_data
from unids.train.batches import train_tensors
from unids.train.checkpoint import evaluate_checkpoint
from unids.train.distributed import Placement
from unids.train.loop import objective_of
from unids.train.model import RankingModel

CHEAP = settings(max_examples=60, deadline=None)
TINY: dict[str, dict[str, Any]] = {
    "sasrec": {"dim": 8, "blocks": 1, "heads": 1, "max_len": 20, "dropout": 0.0},
    "hstu": {"dim": 8, "blocks": 1, "heads": 1, "attention_dim": 8, "linear_dim": 8,
             "max_len": 20, "dropout": 0.0},
    "llama2rec": {"dim": 8, "blocks": 1, "heads": 1, "ffn_dim": 16, "max_len": 20,
                  "dropout": 0.0},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- RepPad ------------------------------------------------------------------------------------

Pair = tuple[int, int]  # (input token, its target)


def reference_reppad(row: list[Pair], copies: int, delimiter: bool,
                     n_items: int | None) -> list[Pair]:
    """The row's pairs `copies` times; between copies a (0, 0) delimiter, or (last target →
    first item) without one."""
    out: list[Pair] = []
    for copy in range(copies):
        out += row
        if copy < copies - 1:
            if delimiter:
                out.append((0, 0))
            else:
                token, target = row[0]
                first = token if n_items is None or token <= n_items else target
                out.append((row[-1][1], first))
    return out


def left_padded(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([[0] * (width - len(row)) + row for row in rows], dtype=torch.long)


def batch_of(rows: list[list[Pair]], width: int) -> tuple[torch.Tensor, torch.Tensor,
                                                           torch.Tensor]:
    tokens = left_padded([[t for t, _ in row] for row in rows], width)
    targets = left_padded([[y for _, y in row] for row in rows], width)
    return tokens, targets, torch.tensor([len(row) for row in rows], dtype=torch.long)


# Tokens 1 … 12 (10 … 12 are special tokens when n_items = 9), targets always items 1 … 9.
pair_rows = st.lists(st.lists(st.tuples(st.integers(1, 12), st.integers(1, 9)), max_size=6),
                     min_size=1, max_size=5)


@CHEAP
@given(data=st.data(), rows=pair_rows, delimiter=st.booleans(),
       n_items=st.sampled_from([None, 9]), multiple=st.sampled_from([1, 8]),
       shift=st.booleans())
def test_reppad_matches_reference(data: st.DataObject, rows: list[list[Pair]],
                                  delimiter: bool, n_items: int | None, multiple: int,
                                  shift: bool) -> None:
    longest = max(len(row) for row in rows)
    width = longest + data.draw(st.integers(0, 2))
    max_len = data.draw(st.integers(max(width, 1), 24))
    tokens, targets, lengths = batch_of(rows, width)
    limit = repetition_limit(lengths, max_len)
    copies = torch.tensor([data.draw(st.integers(1, int(r))) for r in limit])
    times = tokens.double() * 10.0 + 0.5
    queries = targets.double() * 10.0 + 0.25
    behaviors = targets % 3 + 1
    out = repeat_padding(tokens, targets, lengths, max_len, delimiter=delimiter, copies=copies,
                         timestamps=times, query_times=queries, behaviors=behaviors,
                         n_items=n_items, multiple=multiple, shift_times=shift)
    expected = [reference_reppad(row, int(r), delimiter, n_items) if row else []
                for row, r in zip(rows, copies, strict=True)]
    out_width = out.tokens.shape[1]
    needed = max(len(row) for row in expected)
    assert needed <= out_width <= max_len or (needed == 0 and out_width == 1)
    if multiple == 1:
        assert out_width == max(needed, 1)
    assert out.tokens.tolist() == left_padded([[t for t, _ in row] for row in expected],
                                              out_width).tolist()
    assert out.targets.tolist() == left_padded([[y for _, y in row] for row in expected],
                                               out_width).tolist()
    # Context: copied with its position; a boundary takes the last input's time (no
    # delimiter) or none, and never a behaviour. Its query time is its target's time: the
    # first input's own time if that is an item, else the first input's query time. Shifted,
    # copy c of r is (r − 1 − c) periods earlier (period: first input to last target, + 1);
    # a boundary's query belongs to the copy after it.
    assert out.timestamps is not None and out.behaviors is not None
    assert out.query_times is not None
    for b, row in enumerate(rows):
        if not row:
            continue
        own_times = times[b, width - len(row):].tolist()
        own_behaviors = behaviors[b, width - len(row):].tolist()
        r = int(copies[b])
        own_queries = queries[b, width - len(row):].tolist()
        period = max(own_queries[-1] - own_times[0], 0.0) + 1.0 if shift else 0.0
        first_is_item = n_items is None or row[0][0] <= n_items
        expected_times: list[float] = []
        expected_queries: list[float] = []
        for c in range(r):
            earlier = (r - 1 - c) * period
            expected_times += [t - earlier for t in own_times]
            expected_queries += [q - earlier for q in own_queries]
            if c < r - 1:  # the boundary after copy c
                expected_times.append(0.0 if delimiter else own_times[-1] - earlier)
                first = own_times[0] if first_is_item else own_queries[0]
                expected_queries.append(0.0 if delimiter else first - earlier + period)
        assert out.query_times[b, out_width - len(expected_queries):].tolist() == \
            expected_queries
        expected_behaviors = [*own_behaviors, 0] * (r - 1) + own_behaviors
        assert out.timestamps[b, out_width - len(expected_times):].tolist() == expected_times
        assert out.behaviors[b, out_width - len(expected_behaviors):].tolist() == \
            expected_behaviors


def test_reppad_delimiter_and_boundary_targets() -> None:
    # One row: items 1 2 3 (inputs) → 2 3 4 (targets); n = 4 items, max_len 11 → r ≤ 3.
    tokens, targets, lengths = batch_of([[(1, 2), (2, 3), (3, 4)]], 3)
    assert repetition_limit(lengths, 11).tolist() == [3]
    out = repeat_padding(tokens, targets, lengths, 11, copies=torch.tensor([3]))
    assert out.tokens.tolist() == [[1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]]
    assert out.targets.tolist() == [[2, 3, 4, 0, 2, 3, 4, 0, 2, 3, 4]]  # no target at 0
    out = repeat_padding(tokens, targets, lengths, 11, delimiter=False, copies=torch.tensor([3]))
    # The item sequence 1 2 3 4 1 2 3 4 1 2 3 4 trained next-item: 4 → 1 at each boundary.
    assert out.tokens.tolist() == [[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3]]
    assert out.targets.tolist() == [[2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]]
    # A leading special token (10 > n_items) is not an item: the boundary predicts the item
    # that follows it.
    tokens, targets, lengths = batch_of([[(10, 5), (5, 6)]], 2)
    out = repeat_padding(tokens, targets, lengths, 5, delimiter=False, copies=torch.tensor([2]),
                         n_items=9)
    assert out.tokens.tolist() == [[10, 5, 6, 10, 5]]
    assert out.targets.tolist() == [[5, 6, 5, 5, 6]]


@CHEAP
@given(gaps=st.lists(st.integers(0, 1000), min_size=3, max_size=7), copies=st.integers(2, 3),
       delimiter=st.booleans())
def test_reppad_shifted_copies_hide_the_target_time(gaps: list[int], copies: int,
                                                    delimiter: bool) -> None:
    """Items 1 … n + 1 at sorted times s₀ … sₙ (n ≥ 2). With the original times, copy 1's
    first position predicts item 2 at s₁, and copy 0 holds item 2 as an input at s₁: a time
    gap of zero (HSTU's rab_time could copy the target). Shifted, that gap is the row's span
    + 1, every key of an earlier copy is strictly before the query, and time runs forward."""
    stamps = torch.tensor(gaps, dtype=torch.float64).cumsum(0)[None]
    n = stamps.shape[1] - 1
    tokens = torch.arange(1, n + 1)[None]

    def repeated(shift: bool) -> tuple[torch.Tensor, torch.Tensor]:
        out = repeat_padding(tokens, tokens + 1, torch.tensor([n]), copies * (n + 1),
                             delimiter=delimiter, copies=torch.tensor([copies]),
                             timestamps=stamps[:, :-1], query_times=stamps[:, 1:],
                             shift_times=shift)
        assert out.timestamps is not None and out.query_times is not None
        assert out.tokens.shape[1] == copies * (n + 1) - 1  # no left padding here
        return out.timestamps[0], out.query_times[0]

    second = n + 1  # copy 1's first position; copy 0's second is position 1
    keys, queries = repeated(False)
    assert float(queries[second] - keys[1]) == 0.0
    keys, queries = repeated(True)
    span = float(stamps[0, -1] - stamps[0, 0])
    assert float(queries[second] - keys[1]) == span + 1.0
    timed = torch.ones(len(keys), dtype=torch.bool)
    if delimiter:
        timed[n::n + 1] = False  # a delimiter has no time
    copy_of = torch.arange(len(keys)) // (n + 1)
    keys, queries, copy_of = keys[timed], queries[timed], copy_of[timed]
    assert bool((keys[1:] >= keys[:-1]).all()) and bool((queries[1:] >= queries[:-1]).all())
    earlier = copy_of[None, :] < copy_of[:, None]  # (query, key) pairs across copies
    assert bool(((queries[:, None] - keys[None, :])[earlier] >= 1.0).all())


@CHEAP
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=8), max_len=st.integers(12, 30),
       delimiter=st.booleans(), seed=st.integers(0, 2**31))
def test_reppad_repeats_only_the_rows_own_items(lengths: list[int], max_len: int,
                                                delimiter: bool, seed: int) -> None:
    """Row b holds items 100·b + 1 …: every token and target of a repeated row is one of its
    own; r ∈ [1, ⌊max_len / len⌋] and the repeated row fits in max_len."""
    rows = [[(100 * b + i + 1, 100 * b + i + 2) for i in range(n)] for b, n in enumerate(lengths)]
    tokens, targets, lens = batch_of(rows, max(lengths))
    out = repeat_padding(tokens, targets, lens, max_len, torch.Generator().manual_seed(seed),
                         delimiter=delimiter)
    assert out.tokens.shape[1] <= max_len
    for b, n in enumerate(lengths):
        r = int(out.copies[b])
        assert 1 <= r <= max_len // n
        own = {100 * b + i + 1 for i in range(n + 1)}
        row_tokens = [t for t in out.tokens[b].tolist() if t]
        row_targets = [t for t in out.targets[b].tolist() if t]
        assert set(row_tokens) <= own and set(row_targets) <= own
        real = r * (n + 1) - 1
        assert (out.tokens[b, :-real] == 0).all()  # left padding before the repeated row
        assert len(row_targets) == r * n + (0 if delimiter else r - 1)
        assert len(row_tokens) == (r * n if delimiter else real)


def test_reppad_draws_every_allowed_count() -> None:
    lengths = torch.tensor([3] * 4000 + [20, 10, 1])
    copies = draw_copies(lengths, 20, torch.Generator().manual_seed(0))
    assert set(copies[:4000].tolist()) == {1, 2, 3, 4, 5}  # ⌊21 / 4⌋ = 5 ≤ ⌊20 / 3⌋ = 6
    assert copies[4000:].tolist()[:2] == [1, 1]  # full or too long for two copies
    assert 1 <= int(copies[-1]) <= 10
    for n in range(1, 21):
        assert 1 <= int(repetition_limit(torch.tensor([n]), 20)) <= 20 // n


def test_reppad_of_an_empty_batch() -> None:
    out = repeat_padding(torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, 4, dtype=torch.long),
                         torch.zeros(0, dtype=torch.long), 8)
    assert out.tokens.shape == (0, 1)


# --- FRec --------------------------------------------------------------------------------------


@CHEAP
@given(data=st.data(), rows=st.lists(st.lists(st.integers(1, 12), max_size=8), min_size=1,
                                     max_size=5),
       m=st.integers(1, 3), window=st.integers(1, 6), n_items=st.sampled_from([None, 9]),
       seed=st.integers(0, 2**31))
def test_fatigued_copies_replace_recent_positions_by_the_target(
        data: st.DataObject, rows: list[list[int]], m: int, window: int, n_items: int | None,
        seed: int) -> None:
    width = max(len(row) for row in rows)
    tokens = left_padded(rows, width)
    lengths = torch.tensor([len(row) for row in rows])
    targets = torch.tensor([data.draw(st.integers(0, 9)) for _ in rows])
    fatigued, replaced = fatigued_copies(tokens, lengths, targets, m, window,
                                         torch.Generator().manual_seed(seed), n_items=n_items)
    assert fatigued.shape == tokens.shape
    for b, row in enumerate(rows):
        target = int(targets[b])
        recent = range(width - min(window, len(row)), width)
        candidates = [c for c in recent if tokens[b, c] != target
                      and (n_items is None or tokens[b, c] <= n_items)] if target else []
        chosen = [c for c in range(width) if replaced[b, c]]
        assert set(chosen) <= set(candidates)  # recent, never padding, never the target
        assert len(chosen) == min(m, len(candidates))
        for c in range(width):
            assert fatigued[b, c] == (target if c in chosen else tokens[b, c])


def test_fatigued_copies_draw_different_positions() -> None:
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6, 7]] * 200)
    _, replaced = fatigued_copies(tokens, torch.full((200,), 7), torch.full((200,), 9), 1, 5,
                                  torch.Generator().manual_seed(0))
    assert set(replaced.float().argmax(1).tolist()) == {2, 3, 4, 5, 6}


def test_fatigue_loss_vanishes_when_the_original_wins_clearly() -> None:
    original = torch.tensor([60.0, 0.0, 0.0], requires_grad=True)
    fatigued = torch.tensor([-60.0, 1.0, 0.0], requires_grad=True)
    loss = fatigue_loss(original, fatigued, torch.tensor([True, False, False]))
    loss.backward()
    assert loss.item() < 1e-30
    assert original.grad is not None and fatigued.grad is not None
    assert float(original.grad.abs().max()) < 1e-30 and float(fatigued.grad.abs().max()) < 1e-30
    original.grad, fatigued.grad = None, None
    loss = fatigue_loss(original, fatigued)
    loss.backward()
    assert loss.item() == pytest.approx(torch.nn.functional.softplus(torch.tensor(1.0)).item()
                                        + torch.log(torch.tensor(2.0)).item(), abs=1e-6)
    assert original.grad[1] < 0 < fatigued.grad[1]  # push the original up, the copy down
    assert original.grad[2] == pytest.approx(-0.5)


def test_frec_forward_adds_the_weighted_fatigue_loss() -> None:
    torch.manual_seed(0)
    vocab = Vocab(n_items=9, n_tokens=10)
    model = RankingModel(build_backbone("sasrec", vocab, TINY["sasrec"]), with_head=False)
    objective = objective_of(TrainConfig(), False, 9)
    tokens = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    targets = torch.tensor([[0, 2, 3, 4], [5, 6, 7, 8]])
    inputs = SequenceInput(tokens=tokens)
    fatigued, _ = fatigued_copies(tokens, torch.tensor([3, 4]), targets[:, -1], 1, 5,
                                  torch.Generator().manual_seed(1))
    base = model(inputs, targets, None, objective)
    torch.testing.assert_close(model(inputs, targets, None, objective, fatigued=fatigued,
                                     fatigue_weight=0.0), base)
    hidden = model.backbone(inputs)[:, -1]
    tired = model.backbone(SequenceInput(tokens=fatigued))[:, -1]
    expected = fatigue_loss(target_scores(model.backbone, hidden, targets[:, -1], 1.0),
                            target_scores(model.backbone, tired, targets[:, -1], 1.0))
    assert expected.item() > 0
    torch.testing.assert_close(model(inputs, targets, None, objective, fatigued=fatigued,
                                     fatigue_weight=0.3), base + 0.3 * expected)


# --- through training ----------------------------------------------------------------------------


def short_sequences() -> list[list[int]]:
    """Users of 5 … 10 interactions on a cycle of 30 items: training rows of 2 … 7 inputs,
    short enough for RepPad to repeat them 2 … 7 times in 20 positions."""
    return [[(3 * u + t) % 30 + 1 for t in range(5 + u % 6)] for u in range(24)]


@pytest.fixture(scope="module")
def short() -> Dataset:
    return make_dataset(short_sequences())


@pytest.fixture(scope="module")
def short_data(short: Dataset) -> TaskData:
    return task_data(short)


@pytest.fixture(scope="module")
def short_dir(short: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("short")
    short.save(directory)
    return directory


def small(**changes: Any) -> TrainConfig:
    settings = {"epochs": 1, "lr": 1e-2, "batch_size": 8, "warmup_steps": 1, "device": "cpu"}
    return TrainConfig(**{**settings, **changes})


@pytest.mark.parametrize("world", [1, 2])
@pytest.mark.parametrize(("delimiter", "times"), [(True, "original"), (False, "shifted")])
def test_reppad_step_counts_the_examples_it_trains_on(short_data: TaskData, world: int,
                                                      delimiter: bool, times: str) -> None:
    """The normaliser the loop computes on the CPU for the global batch = the targets of the
    repeated batches all ranks build; shifted copies keep each row's time order."""
    train = train_tensors(short_data, 20, torch.device("cpu"))
    vocab = Vocab(n_items=short_data.n_items, n_tokens=short_data.n_tokens)
    model = RankingModel(build_backbone("sasrec", vocab, TINY["sasrec"]), with_head=False)
    config = small(method="reppad", reppad_delimiter=delimiter, reppad_times=times)
    rows = torch.arange(train.n_rows)
    ends = train.window_ends(rows, torch.Generator())
    lengths = torch.minimum(ends, torch.tensor(train.max_len))
    found, counts = 0, set()
    for rank in range(world):
        generator = torch.Generator().manual_seed(5)  # every rank draws the same
        mine = rows[rank::world]
        batch = train.batch(mine, ends[mine])
        repeated, count = loop._repeat_padding(batch, train, rows, ends, lengths, config,
                                               Placement(rank, world, torch.device("cpu")),
                                               generator, model)
        counts.add(count)
        found += int((repeated.targets > 0).sum())
        assert repeated.inputs.tokens.shape[1] <= 20
        assert repeated.inputs.timestamps is not None
        assert repeated.inputs.tokens.shape == repeated.inputs.timestamps.shape
        if times == "shifted":  # a user's times are sorted: so is each repeated row's
            for tokens, stamps in zip(repeated.inputs.tokens, repeated.inputs.timestamps,
                                      strict=True):
                real = stamps[tokens > 0]
                assert bool((real[1:] >= real[:-1]).all())
    assert len(counts) == 1 and found == counts.pop() > int(lengths.sum())


@pytest.mark.parametrize(("method", "backbone", "extra"), [
    ("reppad", "hstu", {}),
    ("reppad", "hstu", {"reppad_times": "shifted", "reppad_delimiter": False}),
    ("reppad", "sasrec", {"reppad_delimiter": False}),
    ("frec", "llama2rec", {}),
    ("frec", "hstu", {"frec_m": 2, "frec_window": 3}),
])
def test_fit_trains_a_baseline(method: str, backbone: str, extra: dict[str, Any],
                               short_data: TaskData, short_dir: Path, tmp_path: Path) -> None:
    record = fit(short_data, backbone, small(**extra), tmp_path, method=method,
                 model_overrides=TINY[backbone], progress=False, dataset_dir=str(short_dir))
    assert record["method"] == method
    assert record["config"]["train"]["method"] == method
    log = json.loads((tmp_path / "run.json").read_text())
    assert log["meta"]["method"] == method
    assert all(h["loss"] == h["loss"] and h["loss"] > 0 for h in log["state"]["history"])
    # Evaluation does not know the method: the saved model scores the same without it.
    again = evaluate_checkpoint(tmp_path / "best.pt", split="test", device="cpu")
    for name, value in record["test"].items():
        assert again[name] == pytest.approx(value, rel=1e-6), name


def test_training_methods_leave_the_fine_stage_as_base(short_data: TaskData,
                                                       tmp_path: Path) -> None:
    records = [fit(short_data, "sasrec", small(stage="fine"), tmp_path / method, method=method,
                   model_overrides=TINY["sasrec"], progress=False)
               for method in ("base", "reppad", "frec")]
    assert [r["method"] for r in records] == ["base", "reppad", "frec"]
    assert records[1]["test"] == records[0]["test"] == records[2]["test"]


def test_methods_are_validated(short_data: TaskData, tmp_path: Path) -> None:
    assert TrainConfig(method="unids-no-ug").method == "unids-no-ug"
    with pytest.raises(UserError, match="method must be one of"):
        TrainConfig(method="nonsense")
    with pytest.raises(UserError, match="method must be one of"):
        fit(short_data, "sasrec", small(), tmp_path, method="nonsense", progress=False)
    with pytest.raises(UserError, match="contradicts"):
        fit(short_data, "sasrec", small(method="frec"), tmp_path, method="reppad",
            progress=False)
    for name, value in [("frec_m", 0), ("frec_window", 0), ("frec_alpha", -1.0)]:
        with pytest.raises(UserError):
            TrainConfig(**{name: value})
    assert METHODS[:3] == ("base", "reppad", "frec") and len(set(METHODS)) == 8
    assert not (tmp_path / "record.json").exists()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def tiny_settings() -> list[str]:
    pairs = {"epochs": 1, "batch_size": 8, "lr": 0.01, "warmup_steps": 1, "device": "cpu",
             **{f"model.{k}": v for k, v in TINY["sasrec"].items()}}
    return [arg for key, value in pairs.items() for arg in ("--set", f"{key}={value}")]


@pytest.mark.parametrize("how", [["--method", "frec"], ["--set", "method=frec"]])
def test_train_command_takes_the_method(how: list[str], short_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    code, out, err = run("train", "--data", str(short_dir), "--backbone", "sasrec",
                         *tiny_settings(), *how, "-o", str(tmp_path / "run"), "--results",
                         str(results), "--quiet", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["method"] == record["config"]["train"]["method"] == "frec"
    assert [f.name for f in results.iterdir()] == ["toy-sasrec-recall-frec-s0.json"]


@pytest.mark.parametrize(("how", "message"), [(["--set", "method=nonsense"], "method must be"),
                                              (["--method", "nonsense"], "nonsense")])
def test_train_command_rejects_an_unknown_method(how: list[str], message: str, short_dir: Path,
                                                 tmp_path: Path) -> None:
    code, out, err = run("train", "--data", str(short_dir), "--backbone", "sasrec",
                         *tiny_settings(), *how, "-o", str(tmp_path / "run"), "--quiet")
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err + out


def test_reppad_copying_scores_both_copies_of_the_same_targets(
        short_data: TaskData, short_dir: Path, tmp_path: Path) -> None:
    """benches/reppad_copying.py (docs/RESULTS.md §3): both copies carry the same targets
    (its own self-check), and the expected later-copy share follows RepPad's draw."""
    copying = load_bench("reppad_copying")
    limit = repetition_limit(torch.tensor([20, 9, 6]), 20)  # R = 1, 2, 3
    assert limit.tolist() == [1, 2, 3]
    # E[r] = (R + 1) / 2: a later-copy share of 0, 1/3 and 1/2 of a row's targets.
    assert copying.later_copy_share(torch.tensor([20]), 20) == 0.0
    assert copying.later_copy_share(torch.tensor([9]), 20) == pytest.approx(1 / 3)
    assert copying.later_copy_share(torch.tensor([9, 6]), 20) == \
        pytest.approx((0.5 * 9 + 1 * 6) / (1.5 * 9 + 2 * 6))
    fit(short_data, "hstu", small(epochs=2), tmp_path, method="reppad",
        model_overrides=TINY["hstu"], progress=False, dataset_dir=str(short_dir))
    scores = copying.per_copy_scores(tmp_path / "best.pt", rows=50, min_len=2, max_len=99,
                                     seed=0)
    assert scores["method"] == "reppad" and scores["rows"] > 0
    first, second = scores["copy1"], scores["copy2"]
    assert first["targets"] == second["targets"] > scores["rows"]
    for copy in (first, second):
        assert 0 < copy["loss"] < 20 and 0 <= copy["top1"] <= 1


def test_frec_fatigue_bench_sees_what_the_fatigue_loss_teaches(
        short_data: TaskData, short_dir: Path, tmp_path: Path) -> None:
    """benches/frec_fatigue.py (docs/RESULTS.md §3): a model trained with a strong fatigue
    loss scores the target above its fatigued copy's far more often than base does — the
    order the loss asks for, measured with the sign the bench reports."""
    fatigue = load_bench("frec_fatigue")
    measured = {}
    for method, alpha in (("base", 0.1), ("frec", 10.0)):
        run = tmp_path / method
        fit(short_data, "hstu", small(epochs=10, frec_window=2, frec_alpha=alpha), run,
            method=method, model_overrides=TINY["hstu"], progress=False,
            dataset_dir=str(short_dir))
        measured[method] = fatigue.fatigue_scores(run / "best.pt", rows=50, seed=0)
    base, tired = measured["base"], measured["frec"]
    assert base["rows"] == tired["rows"] > 0 and tired["frec_alpha"] == 10.0
    assert tired["gap"] > base["gap"] + 1.0
    assert tired["ordered"] > base["ordered"] and tired["fatigue_loss"] < base["fatigue_loss"]
    for scores in (base, tired):
        assert 0 <= scores["recent_rank"] <= 1 and 0 <= scores["hit10_original"] <= 1
