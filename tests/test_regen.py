"""The regenerator (SPEC §6): shapes, causality, the entropy term's sign, training pairs against a
plain-Python reference, no leakage of held-out items, the decoding rules, batched against
one-at-a-time decoding, learning planted patterns, and resume."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import builders
from builders import LEAK, PLANTED, make_dataset
from unids.data.dataset import Dataset
from unids.errors import UserError
from unids.formats import STAGES, Namespace, Vocabulary, format_dataset
from unids.formats.stage import FormatResult
from unids.formats.vocabulary import CONTROL_LABELS
from unids.regen import (
    Generated,
    GenerationConfig,
    Pairs,
    Regenerator,
    RegeneratorConfig,
    build_pairs,
    fit_regenerator,
    generate,
    generate_one_at_a_time,
    load_regenerator,
    pairs_from_tokens,
    read_generated,
    user_sources,
)
from unids.regen.train import epoch_order
from unids.train.data import Ragged

TINY = RegeneratorConfig(dim=16, heads=2, encoder_layers=1, decoder_layers=1, memories=3,
                         dropout=0.0, max_source_len=64, max_target_len=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the model -----------------------------------------------------------------------------


def tiny_model(vocab_size: int = 20, seed: int = 0, **overrides: Any) -> Regenerator:
    torch.manual_seed(seed)
    config = RegeneratorConfig(**{**TINY.__dict__, **overrides})
    return Regenerator(vocab_size, config, bos=vocab_size - 2, eos=vocab_size - 1).eval()


def right_padded(rows: list[list[int]]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [0] * (width - len(r)) for r in rows])


def test_shapes_and_pi_is_a_distribution() -> None:
    model = tiny_model()
    source = right_padded([[1, 2, 3, 4, 5, 6, 7], [3, 4, 5], [8, 9, 10, 11, 1]])  # (3, 7)
    target = right_padded([[1, 2, 3], [4, 5], [6, 7, 8, 9]])  # (3, 4)
    memory, padding = model.encode(source)
    assert memory.shape == (3, 7, 16) and padding.shape == (3, 7)
    assert model.project(memory).shape == (3, 3, 7, 16)
    assert model.representation(memory, padding).shape == (3, 16)
    pi = model.promote(target)
    assert pi.shape == (3, 3)
    assert bool((pi >= 0).all())
    torch.testing.assert_close(pi.sum(-1), torch.ones(3))
    logits, used = model(source, target)
    assert logits.shape == (3, 5, 20)
    torch.testing.assert_close(used, pi)
    labels = model.labels(target)
    assert labels.tolist() == [[1, 2, 3, 19, 0], [4, 5, 19, 0, 0], [6, 7, 8, 9, 19]]
    total, parts = model.loss(source, target)
    assert total.dim() == 0 and set(parts) == {"rec", "entropy", "total"}
    assert 0 <= float(parts["entropy"]) <= math.log(3) + 1e-6


def test_padding_and_the_future_are_invisible() -> None:
    model = tiny_model()
    source = right_padded([[1, 2, 3, 4], [5, 6, 7, 8]])
    target = torch.tensor([[1, 2, 3, 4, 5]])
    pi = torch.full((1, 3), 1 / 3)
    logits, _ = model(source[:1], target, pi)
    for j in range(target.shape[1]):
        changed = target.clone()
        changed[0, j] = 9
        other, _ = model(source[:1], changed, pi)
        # Output t predicts token t from [bos, t_1 … t_{t}]: token j enters at output j + 1.
        torch.testing.assert_close(other[:, : j + 1], logits[:, : j + 1])
        assert not torch.allclose(other[:, j + 1 :], logits[:, j + 1 :])
    # Right padding of the source changes nothing.
    padded_source = torch.cat([source[:1], torch.zeros(1, 5, dtype=torch.long)], dim=1)
    again, _ = model(padded_source, target, pi)
    torch.testing.assert_close(again, logits, rtol=1e-5, atol=1e-5)


def promoter_entropy_after_a_step(sign: str, beta: float) -> tuple[float, float]:
    """(H(π) before, after) one SGD step on the total loss of a toy batch, starting from a
    promoter that prefers memory 0."""
    model = tiny_model(entropy_sign=sign, beta=beta).train()
    with torch.no_grad():
        model.promoter_head[-1].bias.copy_(torch.tensor([2.0, 0.0, -1.0]))
    source = right_padded([[1, 2, 3, 4], [5, 6, 7], [8, 9, 1, 2, 3]])
    target = right_padded([[1, 2], [6, 7, 8], [9, 1]])

    def entropy() -> float:
        return float(model.loss(source, target)[1]["entropy"])

    before = entropy()
    total, parts = model.loss(source, target)
    sign_value = -1 if sign == "reward" else 1
    torch.testing.assert_close(total.detach(),
                               parts["rec"] + sign_value * beta * parts["entropy"])
    model.zero_grad()
    total.backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= 0.05 * parameter.grad
    return before, entropy()


def test_the_entropy_term_rewards_spread_by_default() -> None:
    assert RegeneratorConfig().entropy_sign == "reward"
    before, rewarded = promoter_entropy_after_a_step("reward", beta=10.0)
    _, penalised = promoter_entropy_after_a_step("paper", beta=10.0)
    _, neutral = promoter_entropy_after_a_step("reward", beta=0.0)
    assert rewarded > before + 1e-3  # "reward": π moves towards uniform
    assert penalised < before - 1e-3  # the paper's formula: π sharpens
    assert penalised < neutral < rewarded


def test_bad_settings_are_user_errors() -> None:
    for bad in ({"entropy_sign": "plus"}, {"dim": 10, "heads": 3}, {"memories": 0},
                {"max_target_len": 1}, {"beta": -1.0}, {"dropout": 1.0}):
        with pytest.raises(UserError):
            RegeneratorConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(UserError):
        Regenerator(10, TINY, bos=3, eos=3)


def test_item_embeddings_can_start_from_a_backbone() -> None:
    model = tiny_model(vocab_size=20)
    table = torch.randn(15, 16)
    before = model.token_embedding.weight.detach().clone()
    model.init_item_embeddings(table, n_items=12)
    weight = model.token_embedding.weight.detach()
    torch.testing.assert_close(weight[1:13], table[1:13])
    torch.testing.assert_close(weight[13:], before[13:])
    torch.testing.assert_close(weight[0], before[0])
    with pytest.raises(UserError):
        model.init_item_embeddings(torch.randn(15, 8), n_items=12)
    with pytest.raises(UserError):
        model.init_item_embeddings(table, n_items=15)


# --- pairs against a plain-Python reference ---------------------------------------------------

N_ITEMS = 9


def toy_vocabulary() -> Vocabulary:
    """items 1 … 9, two item-behaviour tokens, three gap tokens, control tokens."""
    spaces = [Namespace("padding", "padding", 0, 1), Namespace("item", "item", 1, N_ITEMS),
              Namespace("item-behavior:rating", "item-behavior", 10, 2, ("low", "high")),
              Namespace("gap", "gap", 12, 3, ("short", "long", "end")),
              Namespace("control", "control", 15, 4, CONTROL_LABELS)]
    return Vocabulary(spaces)


def reference_segments(tokens: list[int], vocabulary: Vocabulary) -> list[list[int]]:
    segments, current = [], []
    for token in tokens:
        current.append(token)
        if vocabulary.is_segment_token(np.array([token]))[0]:
            segments.append(current)
            current = []
    return segments


@st.composite
def pt_sequences(draw: Any) -> list[list[int]]:
    """PT sequences: segments of 1–5 items, some items followed by a behaviour token, each
    closed by a gap token or `sep`."""
    users = draw(st.integers(0, 5))
    sequences = []
    for _ in range(users):
        tokens: list[int] = []
        for _ in range(draw(st.integers(0, 6))):
            for _ in range(draw(st.integers(1, 5))):
                tokens.append(draw(st.integers(1, N_ITEMS)))
                if draw(st.booleans()):
                    tokens.append(draw(st.integers(10, 11)))
            tokens.append(draw(st.sampled_from([12, 13, 14, 15])))  # 15 = control:sep
        sequences.append(tokens)
    return sequences


@settings(max_examples=60, deadline=None)
@given(sequences=pt_sequences(), patterns=st.lists(st.lists(st.integers(1, N_ITEMS),
                                                             min_size=1, max_size=8),
                                                    max_size=4),
       per_user=st.integers(1, 4), max_source_len=st.integers(1, 30),
       max_target_len=st.integers(2, 10), seed=st.integers(0, 3))
def test_pairs_match_the_reference(sequences: list[list[int]], patterns: list[list[int]],
                                   per_user: int, max_source_len: int, max_target_len: int,
                                   seed: int) -> None:
    vocabulary = toy_vocabulary()
    users = np.arange(1, len(sequences) + 1, dtype=np.int32)
    tokens = pa.array(sequences, pa.list_(pa.int32()))
    pattern_array = pa.array(patterns, pa.list_(pa.int32()))
    pairs = pairs_from_tokens(tokens, users, vocabulary, pattern_array, per_user=per_user,
                              max_source_len=max_source_len, max_target_len=max_target_len,
                              seed=seed)
    again = pairs_from_tokens(tokens, users, vocabulary, pattern_array, per_user=per_user,
                              max_source_len=max_source_len, max_target_len=max_target_len,
                              seed=seed)
    assert np.array_equal(again.targets.values, pairs.targets.values)  # seeded

    got = [(int(pairs.user[n]), *(a.tolist() for a in pairs.pair(n))) for n in range(len(pairs))]
    expected_patterns = [(0, p, p) for p in patterns
                         if 2 <= len(p) <= min(max_target_len - 1, max_source_len)]
    n_user_pairs = len(got) - len(expected_patterns)
    assert got[n_user_pairs:] == expected_patterns
    for u, tokens_u in enumerate(sequences, start=1):
        eligible = [s for s in reference_segments(tokens_u, vocabulary)
                    if sum(1 <= t <= N_ITEMS for t in s) >= 2 and len(s) <= max_target_len - 1]
        mine = [(source, target) for user, source, target in got[:n_user_pairs] if user == u]
        assert len(mine) == min(per_user, len(eligible))
        for source, _ in mine:
            assert source == tokens_u[-max_source_len:]
        # The chosen segments are a subsequence of the eligible ones, in sequence order.
        remaining = iter(eligible)
        assert all(any(target == s for s in remaining) for _, target in mine)
    assert pairs.bos == 16 and pairs.eos == 17 and pairs.vocab_size == vocabulary.size


def test_the_per_user_cap_picks_at_random() -> None:
    vocabulary = toy_vocabulary()
    sequence = [t for i in range(1, 9) for t in (i, i + 1, 12)]  # 8 segments of 2 items
    tokens = pa.array([sequence], pa.list_(pa.int32()))
    users = np.array([1], dtype=np.int32)
    chosen = {tuple(tuple(pairs_from_tokens(tokens, users, vocabulary, None, per_user=3,
                                            seed=seed).targets.values.tolist()))
              for seed in range(6)}
    assert len(chosen) > 1


# --- data: planted patterns, plus one item that only ever occurs as validation / test -----------

#: Raw item ids: planted patterns use 1 … 9, the background 10 … 25.


def planted_sequences(n_users: int = 32, events: int = 16) -> list[list[int]]:
    return builders.planted_sequences(n_users, events)


def internal_ids(dataset: Dataset, raw: tuple[int, ...]) -> tuple[int, ...]:
    mapping = dict(zip(dataset.items["raw_item_id"].to_pylist(),
                       dataset.items["item"].to_pylist(), strict=True))
    return tuple(mapping[r] for r in raw)


@pytest.fixture(scope="module")
def planted() -> tuple[Dataset, FormatResult]:
    dataset = make_dataset(planted_sequences())
    return dataset, format_dataset(dataset, "recall")


@pytest.fixture(scope="module")
def trained(planted: tuple[Dataset, FormatResult], tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Regenerator, list[dict[str, Any]], Pairs]:
    _, formatted = planted
    pairs = build_pairs(formatted, max_source_len=TINY.max_source_len,
                        max_target_len=TINY.max_target_len)
    model, history = fit_regenerator(pairs, formatted.vocabulary.size, TINY,
                                     tmp_path_factory.mktemp("regen"), epochs=12,
                                     batch_size=32, lr=5e-3, progress=False)
    return model, history, pairs


def leaky_dataset() -> Dataset:
    """The planted sequences with LEAK at the last two positions of user 1 (its validation
    and test items) and nowhere else; ratings and genres, so that every token source and the
    fine stage's item-behaviour interleaving are exercised."""
    sequences = planted_sequences(n_users=12)
    sequences[0] += [LEAK, LEAK]
    rng = np.random.default_rng(1)
    ratings: list[list[float | None]] = [[float(r) for r in rng.integers(1, 6, len(s))]
                                         for s in sequences]
    genres = {i: "ABC"[i % 3] for i in range(1, 26)} | {LEAK: "Leak"}
    return make_dataset(sequences, ratings=ratings, genres=genres,
                        users={"age": [18 + u % 3 for u in range(len(sequences))]})


def test_pairs_and_generation_never_see_held_out_items() -> None:
    dataset = leaky_dataset()
    (leak,) = internal_ids(dataset, (LEAK,))
    full = dataset.sequences["items"].combine_chunks().flatten().to_numpy()
    assert leak in full  # it is in the dataset: as user 1's validation and test item
    for stage in STAGES:
        formatted = format_dataset(dataset, stage)
        assert formatted.vocabulary.is_item(leak)  # an item token the model could emit
        pairs = build_pairs(formatted)
        assert len(pairs) > 0 and pairs.stats["pattern_pairs"] > 0
        assert leak not in pairs.sources.values and leak not in pairs.targets.values
        model = Regenerator.for_vocabulary(formatted.vocabulary, TINY)
        users, sources = user_sources(formatted.pt, TINY.max_source_len)
        generated = generate(model, users, sources, formatted.vocabulary,
                             GenerationConfig(gamma=1.0, restrict_steps=0))
        assert leak not in pc.list_flatten(generated.segments["tokens"]).to_pylist()


# --- generation -----------------------------------------------------------------------------


def check_generated(generated: Generated, sources: Ragged, vocabulary: Vocabulary,
                    config: GenerationConfig, max_target_len: int) -> None:
    rows = generated.segments.to_pylist()
    assert rows
    control = vocabulary["control"]
    forbidden = {0, control.token("bos"), control.token("eos"), control.token("mask")}
    by_user = {int(u): i for i, u in enumerate(generated.users)}
    seen = set()
    for row in rows:
        tokens = row["tokens"]
        assert 1 <= len(tokens) <= max_target_len
        assert all(0 <= t < vocabulary.size and t not in forbidden for t in tokens)
        assert row["items"] == [t for t in tokens if 1 <= t <= vocabulary.n_items]
        closing = vocabulary.is_segment_token(np.array(tokens))
        assert not closing[:-1].any()  # a segment token only ever closes the segment
        source = sources.values[sources.offsets[by_user[row["user"]]]:
                                sources.offsets[by_user[row["user"]] + 1]]
        assert vocabulary.is_item(tokens[0])
        for t in tokens[: config.restrict_steps]:
            assert not vocabulary.is_item(t) or t in source
        if config.no_repeat:
            assert len(set(row["items"])) == len(row["items"])
        key = (row["user"], tuple(tokens))
        assert key not in seen  # deduplicated per user
        seen.add(key)
    assert generated.representations.shape == (len(generated.users), TINY.dim)
    assert generated.representations.dtype == np.float32


@pytest.mark.parametrize("heads", [1, 2])
def test_decode_step_equals_the_full_decoder(heads: int) -> None:
    """The cached one-position step gives the logits of rerunning the decoder over the whole
    prefix (`decode`), position by position, with padded memory rows of different lengths."""
    torch.manual_seed(heads)
    config = replace(TINY, heads=heads)
    model = Regenerator(40, config, bos=38, eos=39).eval()
    source = torch.randint(1, 38, (5, 9))
    source[1, 4:] = 0  # padding
    source[3, 1:] = 0
    memory, padding = model.encode(source)
    memory = model.project(memory)[:, 1]  # one of the K memories
    inputs = torch.cat([torch.full((5, 1), 38), torch.randint(1, 38, (5, 6))], dim=1)
    cache = model.start_decoding(memory, padding)
    with torch.inference_mode():
        for t in range(inputs.shape[1]):
            step = model.decode_step(cache, inputs[:, t])
            full = model.decode(inputs[:, : t + 1], memory, padding)[:, -1]
            torch.testing.assert_close(step, full, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="eval"):
        model.train().decode_step(model.start_decoding(memory, padding), inputs[:, 0])


def reference_beam(model: Regenerator, memory: torch.Tensor, padding: torch.Tensor,
                   items: torch.Tensor, free: torch.Tensor, rules: Any, steps: int,
                   config: GenerationConfig) -> list[int]:
    """Beam search of one row in plain Python: lists of hypotheses, the full decoder rerun on
    every prefix, candidates sorted by score (stable), the best by score / length ** alpha."""
    from unids.regen.generate import _allowed

    beams: list[tuple[list[int], float, bool]] = [([], 0.0, False)]
    for step in range(steps):
        candidates = []
        for tokens, score, closed in beams:
            if closed:
                candidates.append((tokens, score, True))
                continue
            logits = model.decode(torch.tensor([[model.bos, *tokens]]), memory, padding)[0, -1]
            emitted = torch.zeros_like(items)
            emitted[0, tokens] = True
            allowed = _allowed(rules, step, items, free[:, step], emitted, config)[0]
            logp = logits.float().masked_fill(~allowed, -math.inf).log_softmax(-1)
            for token in allowed.nonzero()[:, 0].tolist():
                candidates.append(([*tokens, token], score + float(logp[token]),
                                   bool(rules.closes[token])))
        candidates.sort(key=lambda c: -c[1])
        beams = candidates[: config.beam_size]
        if all(closed for _, _, closed in beams):
            break
    best = max(beams, key=lambda c: c[1] / max(len(c[0]), 1) ** config.length_alpha)
    return best[0]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_equals_a_plain_reference(planted: tuple[Dataset, FormatResult],
                                              alpha: float) -> None:
    from unids.regen.generate import _beam_decode, _free_draws, _rules, _source_items

    _, formatted = planted
    vocabulary = formatted.vocabulary
    torch.manual_seed(7)
    model = Regenerator.for_vocabulary(vocabulary, TINY).eval()
    users, sources = user_sources(formatted.pt.slice(0, 4), TINY.max_source_len)
    config = GenerationConfig(beam_size=3, gamma=0.4, seed=1, length_alpha=alpha)
    rules = _rules(vocabulary, model, sources, None, torch.device("cpu"))
    free = _free_draws(len(users), TINY.memories, TINY.max_target_len, config)
    with torch.inference_mode():
        for u in range(len(users)):
            row = sources.values[sources.offsets[u]: sources.offsets[u + 1]].astype(np.int64)
            source = torch.from_numpy(row).unsqueeze(0)
            memory, padding = model.encode(source)
            memory = model.project(memory)[:, 1]
            items = _source_items(source, rules)
            got = _beam_decode(model, memory, padding, items, free[u, 1:2], rules,
                               TINY.max_target_len, config)[0].tolist()
            want = reference_beam(model, memory, padding, items, free[u, 1:2], rules,
                                  TINY.max_target_len, config)
            assert [t for t in got if t] == want


def test_beam_generation_batched_equals_one_at_a_time(planted: tuple[Dataset, FormatResult]
                                                      ) -> None:
    _, formatted = planted
    vocabulary = formatted.vocabulary
    torch.manual_seed(3)
    model = Regenerator.for_vocabulary(vocabulary, TINY)
    users, sources = user_sources(formatted.pt.slice(0, 7), TINY.max_source_len)
    config = GenerationConfig(gamma=0.3, batch_size=3, seed=2, beam_size=4)
    batched = generate(model, users, sources, vocabulary, config)
    single = generate_one_at_a_time(model, users, sources, vocabulary, config)
    assert batched.segments.equals(single.segments)
    assert batched.manifest["decoding"] == "beam 4"
    check_generated(batched, sources, vocabulary, config, TINY.max_target_len)
    greedy = generate(model, users, sources, vocabulary, replace(config, beam_size=1))
    assert greedy.manifest["decoding"] == "greedy"
    assert not greedy.segments.equals(batched.segments)  # the search changes something


def test_batched_decoding_equals_one_at_a_time(planted: tuple[Dataset, FormatResult],
                                               tmp_path: Path) -> None:
    _, formatted = planted
    vocabulary = formatted.vocabulary
    model = Regenerator.for_vocabulary(vocabulary, TINY)  # untrained: arbitrary outputs
    users, sources = user_sources(formatted.pt.slice(0, 9), TINY.max_source_len)
    # An empty source too: no segments, a zero representation.
    sources = Ragged(np.concatenate([sources.offsets, sources.offsets[-1:]]), sources.values)
    users = np.append(users, 1000).astype(np.int32)
    config = GenerationConfig(gamma=0.3, batch_size=4, seed=3)
    batched = generate(model, users, sources, vocabulary, config)
    single = generate_one_at_a_time(model, users, sources, vocabulary, config)
    assert batched.segments.equals(single.segments)
    np.testing.assert_allclose(batched.representations, single.representations, atol=1e-5)
    assert not np.any(batched.representations[-1])
    assert 1000 not in batched.segments["user"].to_pylist()
    check_generated(batched, sources, vocabulary, config, TINY.max_target_len)
    assert batched.manifest["segments"] == batched.segments.num_rows

    batched.write(tmp_path / "out")
    back = read_generated(tmp_path / "out")
    assert back.segments.equals(batched.segments)
    np.testing.assert_array_equal(back.representations, batched.representations)
    np.testing.assert_array_equal(back.users, batched.users)
    assert back.manifest == batched.manifest


# --- learning, and resume ------------------------------------------------------------------


def teacher_forced_item_accuracy(model: Regenerator, pairs: Pairs, wanted: set[tuple[int, ...]],
                                 vocabulary: Vocabulary) -> float:
    """Accuracy of next-item predictions after the first item, over the sequence pairs whose
    target's items are a planted pattern, reading the mean of the memories (π uniform)."""
    rows = [n for n in range(len(pairs)) if pairs.user[n] > 0
            and tuple(t for t in pairs.pair(n)[1] if vocabulary.is_item(t)) in wanted]
    assert len(rows) >= 20
    source = right_padded([pairs.pair(n)[0].tolist() for n in rows])
    target = right_padded([pairs.pair(n)[1].tolist() for n in rows])
    k = model.config.memories
    with torch.no_grad():
        logits, _ = model.eval()(source, target, torch.full((len(rows), k), 1 / k))
    labels = model.labels(target)
    is_item = (labels >= 1) & (labels <= vocabulary.n_items)
    is_item[:, 0] = False  # the first item is given, not predicted
    return float((logits.argmax(-1) == labels)[is_item].float().mean())


def test_the_regenerator_learns_planted_patterns(
        planted: tuple[Dataset, FormatResult],
        trained: tuple[Regenerator, list[dict[str, Any]], Pairs]) -> None:
    dataset, formatted = planted
    vocabulary = formatted.vocabulary
    model, history, pairs = trained
    patterns = {internal_ids(dataset, p) for p in PLANTED}
    fresh = Regenerator.for_vocabulary(vocabulary, TINY)
    assert teacher_forced_item_accuracy(fresh, pairs, patterns, vocabulary) < 0.3
    assert teacher_forced_item_accuracy(model, pairs, patterns, vocabulary) > 0.9
    assert history[-1]["rec"] < 0.5 * history[0]["rec"]
    users, sources = user_sources(formatted.pt, TINY.max_source_len)
    config = GenerationConfig(gamma=0.2)
    check_generated(generate(model, users, sources, vocabulary, config), sources, vocabulary,
                    config, TINY.max_target_len)


def test_one_hot_memories_regenerate_planted_patterns(planted: tuple[Dataset, FormatResult],
                                                      tmp_path: Path) -> None:
    """Greedy regeneration with π = one-hot k: a segment that starts a planted pattern
    continues it. Trained with the paper's sign, under which π is near one-hot in training too
    (with the default "reward" sign π stays spread, so a single memory is out of
    distribution for the decoder: docs/REGENERATOR.md)."""
    dataset, formatted = planted
    vocabulary = formatted.vocabulary
    pairs = build_pairs(formatted, max_source_len=TINY.max_source_len,
                        max_target_len=TINY.max_target_len)
    config = RegeneratorConfig(**{**TINY.__dict__, "entropy_sign": "paper"})
    model, history = fit_regenerator(pairs, vocabulary.size, config, tmp_path, epochs=12,
                                     batch_size=32, lr=5e-3, progress=False)
    assert history[-1]["entropy"] < 0.3  # π has become (nearly) one-hot
    patterns = {internal_ids(dataset, p) for p in PLANTED}
    users, sources = user_sources(formatted.pt, TINY.max_source_len)
    generated = generate(model, users, sources, vocabulary, GenerationConfig(gamma=0.0))
    starts = {p[0]: p for p in patterns}
    started = [tuple(items) for items in generated.segments["items"].to_pylist()
               if items[0] in starts]
    assert len(started) >= 20
    assert np.mean([s == starts[s[0]] for s in started]) > 0.8
    # Chance: a restricted step picks one of the ~15 distinct items of a source.
    found = {s for s in started if s in patterns}
    assert found == patterns


# --- batching by source ---------------------------------------------------------------------


def test_source_batching_keeps_each_sources_pairs_together() -> None:
    source_of = np.array([0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 4, 5])
    for epoch in (1, 2):
        order = epoch_order(source_of, 6, seed=3, epoch=epoch, batching="sources")
        assert sorted(order.tolist()) == list(range(len(source_of)))
        visited = source_of[order]
        runs = [visited[0]] + [b for a, b in itertools.pairwise(visited) if a != b]
        assert sorted(runs) == list(range(6))  # each source is one run of pairs
        for source in range(6):  # … in the stored order
            mine = order[visited == source]
            assert np.all(np.diff(mine) > 0)
    first = epoch_order(source_of, 6, seed=3, epoch=1, batching="sources")
    assert np.array_equal(first, epoch_order(source_of, 6, seed=3, epoch=1, batching="sources"))
    assert any(not np.array_equal(first, epoch_order(source_of, 6, seed=3, epoch=e,
                                                     batching="sources")) for e in (2, 3, 4))
    pairs_order = epoch_order(source_of, 6, seed=3, epoch=1, batching="pairs")
    assert np.array_equal(pairs_order, np.random.default_rng([3, 1]).permutation(12))


def test_a_shared_source_is_encoded_once_with_the_same_result() -> None:
    """loss_sums over distinct sources + an index equals loss_sums over one source per row:
    values and gradients (eval mode: no dropout draw to differ)."""
    sources = right_padded([[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 12]])
    index = torch.tensor([0, 0, 2, 1, 0, 2])
    target = right_padded([[2, 3], [4, 5, 6], [10], [7, 8], [3, 4], [11, 12, 1]])
    results = []
    for shared in (True, False):
        model = tiny_model(seed=4)
        if shared:
            rec, entropy = model.loss_sums(sources, target, index)
        else:
            rec, entropy = model.loss_sums(sources[index], target)
        (rec + entropy).backward()
        results.append((rec.detach(), entropy.detach(),
                        {n: p.grad.clone() for n, p in model.named_parameters()
                         if p.grad is not None}))
    (rec_a, ent_a, grads_a), (rec_b, ent_b, grads_b) = results
    torch.testing.assert_close(rec_a, rec_b)
    torch.testing.assert_close(ent_a, ent_b)
    assert grads_a.keys() == grads_b.keys()
    for name, grad in grads_a.items():
        torch.testing.assert_close(grad, grads_b[name], msg=name)


def test_source_batching_trains_the_same_model_on_the_same_order(
        trained: tuple[Regenerator, list[dict[str, Any]], Pairs]) -> None:
    """One epoch over one order, with and without encoding each distinct source once (no
    dropout): the same weights. Only the work differs. Plain SGD: Adam would blow up the
    rounding noise of gradients that are zero in exact arithmetic (the key bias's)."""
    from unids.regen.train import _LossSums, _train_epoch
    from unids.train.distributed import setup

    _, _, pairs = trained
    sources, targets = pairs.padded()
    order = epoch_order(pairs.source_of, len(pairs.sources), 0, 1, "sources")
    weights = []
    for shared in (True, False):
        model = tiny_model(vocab_size=pairs.vocab_size, seed=2).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        _train_epoch(_LossSums(model), model, optimizer, scheduler, order, 32, pairs.source_of,
                     sources, targets, (sources != 0).sum(1), (targets != 0).sum(1), 1.0,
                     setup("cpu"), shared_sources=shared)
        weights.append(model.state_dict())
    for name, value in weights[0].items():
        torch.testing.assert_close(value, weights[1][name], rtol=1e-4, atol=1e-5, msg=name)


def test_source_batching_learns_planted_patterns(
        planted: tuple[Dataset, FormatResult],
        trained: tuple[Regenerator, list[dict[str, Any]], Pairs], tmp_path: Path) -> None:
    dataset, formatted = planted
    _, _, pairs = trained
    model, history = fit_regenerator(pairs, formatted.vocabulary.size, TINY, tmp_path,
                                     epochs=12, batch_size=32, lr=5e-3, progress=False,
                                     batching="sources")
    patterns = {internal_ids(dataset, p) for p in PLANTED}
    assert teacher_forced_item_accuracy(model, pairs, patterns, formatted.vocabulary) > 0.9
    assert history[-1]["rec"] < 0.5 * history[0]["rec"]
    assert load_regenerator(tmp_path / "regenerator.pt")[1]["train"]["batching"] == "sources"
    with pytest.raises(UserError, match="different regenerator or run"):
        fit_regenerator(pairs, formatted.vocabulary.size, TINY, tmp_path, epochs=13,
                        batch_size=32, lr=5e-3, progress=False, resume=True)  # pairs now
    with pytest.raises(UserError, match="batching"):
        fit_regenerator(pairs, formatted.vocabulary.size, TINY, tmp_path / "x", epochs=1,
                        progress=False, batching="users")


class Crash(Exception):
    pass


def test_resume_after_a_crash_matches_straight_training(
        trained: tuple[Regenerator, list[dict[str, Any]], Pairs], tmp_path: Path) -> None:
    _, _, pairs = trained
    config = RegeneratorConfig(**{**TINY.__dict__, "dropout": 0.2})  # the RNG must resume too
    small = Pairs(pairs.sources, pairs.targets.rows(np.arange(40)), pairs.source_of[:40],
                  pairs.user[:40], pairs.vocab_size, pairs.bos, pairs.eos)
    options: dict[str, Any] = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "seed": 5,
                               "progress": False}
    straight, straight_history = fit_regenerator(small, pairs.vocab_size, config,
                                                 tmp_path / "straight", **options)

    def crash(epoch: int, record: dict[str, Any]) -> None:
        if epoch == 1:
            raise Crash

    with pytest.raises(Crash):
        fit_regenerator(small, pairs.vocab_size, config, tmp_path / "split", on_epoch=crash,
                        **options)
    torch.manual_seed(123)  # whatever the caller did with the RNG in between
    resumed, history = fit_regenerator(small, pairs.vocab_size, config, tmp_path / "split",
                                       resume=True, **options)
    assert [h["loss"] for h in history] == [h["loss"] for h in straight_history]
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0, msg=key)
    loaded, meta = load_regenerator(tmp_path / "split" / "regenerator.pt")
    assert meta["train"]["epochs"] == 3
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0, msg=key)
    with pytest.raises(UserError):
        fit_regenerator(small, pairs.vocab_size, TINY, tmp_path / "split", resume=True,
                        **options)  # another model in that run directory
