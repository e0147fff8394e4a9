"""The stage backbones as the training loop and the evaluation use them: output shapes with and
without context inputs, causality, invariance to left padding (the evaluation trims padding per
batch), and HSTU's pointwise attention, bucketed time bias and cosine scores."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from unids.errors import UserError
from unids.models import HSTU, Backbone, SequenceInput, Vocab, build_backbone
from unids.models.hstu import time_buckets
from unids.models.layers import causal_attention_mask
from unids.models.sasrec import SASRecBlock, SASRecConfig

BACKBONES = ("sasrec", "hstu", "llama2rec")
#: Items 1 … 30, then 4 Pattern-Token special tokens (31 … 34), 3 behaviour buckets, and a
#: 5-wide user vector.
VOCAB = Vocab(n_items=30, n_tokens=35, n_behaviors=3, user_dim=5)
PLAIN_VOCAB = Vocab(n_items=30, n_tokens=35)
#: Two blocks, so that a leak through padding or the future would have a layer to compound in;
#: dropout on, so that the tests show eval mode turns it off.
TINY = {
    "sasrec": {"dim": 16, "blocks": 2, "heads": 2, "max_len": 20, "dropout": 0.2},
    "hstu": {"dim": 16, "blocks": 2, "heads": 2, "attention_dim": 4, "linear_dim": 4,
             "max_len": 20, "dropout": 0.2, "time_buckets": 128},
    "llama2rec": {"dim": 16, "blocks": 2, "heads": 2, "ffn_dim": 24, "max_len": 20,
                  "dropout": 0.2},
}
LENGTHS = (12, 7, 1)  # real tokens per row: a full row, a padded one, a single token
WIDTH = 12


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def model(name: str, vocab: Vocab = VOCAB, seed: int = 0) -> Backbone:
    torch.manual_seed(seed)
    backbone = build_backbone(name, vocab, TINY[name])
    # Non-zero biases everywhere (LayerNorm and Linear biases start at zero or one), so that a
    # padded position that leaked into a real one would change it.
    with torch.no_grad():
        for parameter in backbone.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
        backbone.token_embedding.weight[0].zero_()
    return backbone.eval()


def make_batch(*, seed: int = 0, lengths: tuple[int, ...] = LENGTHS, width: int = WIDTH,
               times: bool = True, behaviors: bool = True, user: bool = True) -> SequenceInput:
    """Left-padded rows of random items and special tokens, as the batches build them: padding
    has token 0, timestamp 0 and behaviour 0; a position's query time is the next position's
    timestamp (the last one's: a day after its own)."""
    generator = torch.Generator().manual_seed(seed)
    batch = len(lengths)
    real = torch.arange(width)[None, :] >= width - torch.tensor(lengths)[:, None]  # (B, W)
    tokens = torch.randint(1, VOCAB.n_tokens, (batch, width), generator=generator) * real
    # Whole seconds near 1.6e9 with gaps from seconds to days: exact in the float32 frame.
    gaps = torch.randint(1, 200_000, (batch, width), generator=generator).double()
    stamps = (1.6e9 + gaps.cumsum(1)) * real
    queries = torch.cat([stamps[:, 1:], stamps[:, -1:] + 86_400.0], dim=1) * real
    kinds = torch.randint(1, VOCAB.n_behaviors + 1, (batch, width), generator=generator) * real
    vectors = torch.randn(batch, VOCAB.user_dim, generator=generator)
    return SequenceInput(tokens=tokens, timestamps=stamps if times else None,
                         behaviors=kinds if behaviors else None, user=vectors if user else None,
                         query_times=queries if times else None)


def left_pad(batch: SequenceInput, extra: int) -> SequenceInput:
    """The same rows with `extra` more padding columns on the left."""
    def pad(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else F.pad(tensor, (extra, 0))

    return SequenceInput(tokens=pad(batch.tokens), timestamps=pad(batch.timestamps),
                         behaviors=pad(batch.behaviors), user=batch.user,
                         query_times=pad(batch.query_times))


def real_positions(batch: SequenceInput) -> list[tuple[int, int]]:
    return [(int(b), int(t)) for b, t in torch.nonzero(~batch.padding)]


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("vocab", [VOCAB, PLAIN_VOCAB], ids=["context", "plain"])
@pytest.mark.parametrize("times", [True, False], ids=["times", "no-times"])
@pytest.mark.parametrize("behaviors", [True, False], ids=["behaviors", "no-behaviors"])
@pytest.mark.parametrize("user", [True, False], ids=["user", "no-user"])
def test_shapes_with_and_without_context(name: str, vocab: Vocab, times: bool, behaviors: bool,
                                         user: bool) -> None:
    backbone = model(name, vocab)
    batch = make_batch(times=times, behaviors=behaviors, user=user)
    with torch.no_grad():
        hidden = backbone(batch)
        scores = backbone.item_scores(hidden[:, -1])
    assert hidden.shape == (len(LENGTHS), WIDTH, TINY[name]["dim"])
    assert scores.shape == (len(LENGTHS), vocab.n_items + 1)
    assert hidden.dtype == scores.dtype == torch.float32
    assert torch.isfinite(hidden).all() and torch.isfinite(scores).all()
    # Scores over items of any leading shape, e.g. every position at once.
    assert backbone.item_scores(hidden).shape == (len(LENGTHS), WIDTH, vocab.n_items + 1)


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("field", ["behaviors", "user"])
def test_context_inputs_are_read(name: str, field: str) -> None:
    """A vocabulary with behaviours and a user width uses them: changing one changes the
    states; a batch without them still works (checked above) and differs from one with."""
    backbone = model(name)
    batch = make_batch()
    other = make_batch(seed=1)
    changed = SequenceInput(tokens=batch.tokens, timestamps=batch.timestamps,
                            behaviors=other.behaviors * (~batch.padding)
                            if field == "behaviors" else batch.behaviors,
                            user=other.user if field == "user" else batch.user,
                            query_times=batch.query_times)
    with torch.no_grad():
        base, after = backbone(batch)[:, -1], backbone(changed)[:, -1]
    assert not torch.allclose(base, after, atol=1e-4)


def test_only_hstu_reads_timestamps() -> None:
    batch = make_batch()
    untimed = make_batch(times=False)
    for name in BACKBONES:
        backbone = model(name)
        with torch.no_grad():
            same = torch.allclose(backbone(batch), backbone(untimed), atol=1e-6)
        assert same == (name != "hstu"), name


def test_unknown_backbone_or_setting_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown backbone"):
        build_backbone("gru4rec", VOCAB)
    with pytest.raises(UserError, match="no setting widht"):
        build_backbone("sasrec", VOCAB, {"widht": 8})


# --- causality and padding -----------------------------------------------------------------


@pytest.mark.parametrize("name", BACKBONES)
def test_causal(name: str) -> None:
    """Changing everything at position t (token, time, behaviour, query time) leaves every
    position before t untouched — padding included — and does change position t."""
    backbone = model(name)
    batch = make_batch()
    with torch.no_grad():
        base = backbone(batch)
    for row, t in real_positions(batch):
        tokens = batch.tokens.clone()
        tokens[row, t] = tokens[row, t] % VOCAB.n_items + 1  # another item, never padding
        stamps = batch.timestamps.clone()
        stamps[row, t] += 7_000.0
        kinds = batch.behaviors.clone()
        kinds[row, t] = kinds[row, t] % VOCAB.n_behaviors + 1
        queries = batch.query_times.clone()
        queries[row, t] += 9_000.0
        with torch.no_grad():
            after = backbone(SequenceInput(tokens, stamps, kinds, batch.user, queries))
        torch.testing.assert_close(after[:, :t], base[:, :t], atol=1e-6, rtol=0)
        # Other rows do not see it at all.
        others = torch.arange(len(LENGTHS)) != row
        torch.testing.assert_close(after[others], base[others], atol=1e-6, rtol=0)
        assert not torch.allclose(after[row, t], base[row, t], atol=1e-5), (row, t)


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("extra", [1, 5])
def test_left_padding_does_not_change_real_positions(name: str, extra: int) -> None:
    """The evaluation trims each batch to its longest row, so a user's state may not depend on
    how much padding comes before the history."""
    backbone = model(name)
    batch = make_batch()
    with torch.no_grad():
        narrow = backbone(batch)
        wide = backbone(left_pad(batch, extra))[:, extra:]
    torch.testing.assert_close(wide[:, -1], narrow[:, -1], atol=1e-5, rtol=1e-5)
    real = ~batch.padding
    torch.testing.assert_close(wide[real], narrow[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", BACKBONES)
def test_rows_are_independent_of_their_batch(name: str) -> None:
    """A row scored alone, trimmed to its own length, gets the state it gets in a batch."""
    backbone = model(name)
    batch = make_batch()
    with torch.no_grad():
        together = backbone(batch)[:, -1]
        for row, length in enumerate(LENGTHS):
            alone = SequenceInput(tokens=batch.tokens[row:row + 1, -length:],
                                  timestamps=batch.timestamps[row:row + 1, -length:],
                                  behaviors=batch.behaviors[row:row + 1, -length:],
                                  user=batch.user[row:row + 1],
                                  query_times=batch.query_times[row:row + 1, -length:])
            torch.testing.assert_close(backbone(alone)[0, -1], together[row], atol=1e-5,
                                       rtol=1e-5)


@pytest.mark.parametrize("name", BACKBONES)
def test_eval_mode_is_deterministic_and_train_mode_drops_out(name: str) -> None:
    backbone = model(name)
    batch = make_batch()
    with torch.no_grad():
        first, second = backbone(batch), backbone(batch)
        backbone.train()
        dropped = backbone(batch)
    assert torch.equal(first, second)
    assert not torch.allclose(first, dropped)


# --- SASRec ----------------------------------------------------------------------------------


def test_sasrec_block_is_the_originals() -> None:
    """q = LN(x); h = LN(q + softmax-attention(q, keys = values = x)); y = (h + FFN(h)) · real,
    written out with plain tensor operations on the block's own weights."""
    config = SASRecConfig(dim=8, heads=2, dropout=0.0, max_len=6)
    block = SASRecBlock(config).eval()
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 8, generator=generator)
    padding = torch.tensor([[False] * 6, [True, True, False, False, False, False]])
    x = x * (~padding)[..., None]
    real = (~padding)[..., None].float()

    def layer_norm(values: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
        centred = values - values.mean(-1, keepdim=True)
        scale = (centred.pow(2).mean(-1, keepdim=True) + norm.eps).rsqrt()
        return centred * scale * norm.weight + norm.bias

    weight, bias = block.attention.qkv.weight, block.attention.qkv.bias
    q = layer_norm(x, block.attention_norm)
    queries = q @ weight[:8].t() + bias[:8]
    keys = x @ weight[8:16].t() + bias[8:16]
    values = x @ weight[16:].t() + bias[16:]
    heads = []
    for head in range(2):
        part = slice(4 * head, 4 * head + 4)
        scores = queries[..., part] @ keys[..., part].transpose(1, 2) / 2.0
        allowed = torch.ones(6, 6).tril().bool()[None] & ~padding[:, None, :]
        allowed = allowed | torch.eye(6, dtype=torch.bool)[None]
        scores = scores.masked_fill(~allowed, float("-inf"))
        heads.append(scores.softmax(-1) @ values[..., part])
    attention = torch.cat(heads, -1) @ block.attention.out.weight.t() + block.attention.out.bias
    h = layer_norm(q + attention, block.ffn_norm)
    first, second = block.ffn[0], block.ffn[3]
    expected = (h + (torch.relu(h @ first.weight.t() + first.bias) @ second.weight.t()
                     + second.bias)) * real
    with torch.no_grad():
        got = block(x, causal_attention_mask(padding), real)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_sasrec_position_settings() -> None:
    with pytest.raises(ValueError, match="positions"):
        SASRecConfig(positions="from_middle")
    start = build_backbone("sasrec", VOCAB, {**TINY["sasrec"], "positions": "from_start",
                                             "final_norm": False}).eval()
    end = build_backbone("sasrec", VOCAB, {**TINY["sasrec"], "final_norm": False}).eval()
    end.load_state_dict(start.state_dict())
    batch = make_batch()
    with torch.no_grad():
        from_start, from_end = start(batch), end(batch)
    # The one-token row is at position 0 either way; longer rows are numbered differently.
    torch.testing.assert_close(from_start[2, -1], from_end[2, -1])
    assert not torch.allclose(from_start[0, -1], from_end[0, -1], atol=1e-4)


# --- HSTU ------------------------------------------------------------------------------------


def test_time_buckets_match_the_reference_formula() -> None:
    """⌊ln(max(|Δt|, 1)) / 0.301⌋, capped at the bucket count (values away from bucket edges,
    so float32 and float64 agree)."""
    gaps = [0.0, 0.5, 1.0, 1.3, 2.0, 60.0, 3_600.0, -3_600.0, 86_400.0, 1e9, -1e9]

    def reference(gap: float, buckets: int) -> int:
        return min(math.floor(math.log(max(abs(gap), 1.0)) / 0.301), buckets)

    for buckets in (128, 32):
        got = time_buckets(torch.tensor(gaps), buckets).tolist()
        assert got == [reference(g, buckets) for g in gaps]
    assert time_buckets(torch.tensor([86_400.0]), 32).item() == 32  # 37 capped


def hstu_with_time_table(values: torch.Tensor | float) -> HSTU:
    backbone = model("hstu")
    assert isinstance(backbone, HSTU)
    with torch.no_grad():
        backbone.relative_bias.time.copy_(torch.as_tensor(values).expand_as(
            backbone.relative_bias.time))
    return backbone


def test_hstu_attention_is_not_softmax_normalised() -> None:
    """A bias that is the same for every key of a query cancels in a softmax. HSTU's weights
    are SiLU(qkᵀ + bias) / N, each on its own, so a constant time bias changes the output."""
    batch = make_batch()
    with torch.no_grad():
        zero = hstu_with_time_table(0.0)(batch)
        shifted = hstu_with_time_table(2.0)(batch)
        # Without timestamps there is no time bias, whatever the table holds.
        untimed = make_batch(times=False)
        torch.testing.assert_close(hstu_with_time_table(0.0)(untimed),
                                   hstu_with_time_table(2.0)(untimed))
    real = ~batch.padding
    assert not torch.allclose(zero[real], shifted[real], atol=1e-4)


def test_hstu_time_bias_reads_bucketed_gaps() -> None:
    """Only the log bucket of each pairwise gap matters: shifting all times, or stretching gaps
    by 0.3% (no gap changes bucket), gives the same states; stretching them 30× does not."""
    table = torch.linspace(-1.0, 1.0, 129)  # a distinct bias per bucket
    backbone = hstu_with_time_table(table)
    offsets = torch.tensor([0, 40, 3_000, 3_020, 200_000, 200_100, 9_000_000, 9_000_030],
                           dtype=torch.float64)
    tokens = torch.arange(1, 9)[None, :]

    def states(stamps: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return backbone(SequenceInput(tokens, timestamps=stamps[None, :]))

    def buckets(stamps: torch.Tensor) -> list[list[int]]:
        return [[min(math.floor(math.log(max(abs(a - b), 1.0)) / 0.301), 128) for b in stamps]
                for a in stamps.tolist()]

    base = states(1.6e9 + offsets)
    torch.testing.assert_close(states(1.0e9 + offsets), base, atol=1e-5, rtol=1e-5)
    stretched = offsets * 1.003
    assert buckets(stretched) == buckets(offsets)  # the premise of the next line
    torch.testing.assert_close(states(1.6e9 + stretched), base, atol=1e-5, rtol=1e-5)
    assert buckets(offsets * 30) != buckets(offsets)
    assert not torch.allclose(states(1.6e9 + offsets * 30), base, atol=1e-4)


def test_hstu_time_bias_measures_gaps_from_the_query_time() -> None:
    """rab_time of query i and key j is the bucket of query_times[i] − timestamps[j] (the
    reference's ts(next) − ts(key)); time_bias="current" and a batch without query times use
    timestamps[i] instead."""
    table = torch.linspace(-1.0, 1.0, 129)
    backbone = hstu_with_time_table(table)
    batch = make_batch()
    assert batch.timestamps is not None and batch.query_times is not None
    with torch.no_grad():
        bias = backbone.relative_bias(WIDTH, batch.timestamps, batch.query_times)
    for row, i in real_positions(batch):
        for j in range(WIDTH - LENGTHS[row], i + 1):
            gap = float(batch.query_times[row, i] - batch.timestamps[row, j])
            bucket = min(math.floor(math.log(max(abs(gap), 1.0)) / 0.301), 128)
            expected = table[bucket] + backbone.relative_bias.position[i - j]
            torch.testing.assert_close(bias[row, 0, i, j], expected)

    untimed_queries = SequenceInput(batch.tokens, batch.timestamps, batch.behaviors, batch.user)
    current = build_backbone("hstu", VOCAB, {**TINY["hstu"], "time_bias": "current"}).eval()
    current.load_state_dict(backbone.state_dict())
    with torch.no_grad():
        reference = backbone(untimed_queries)
        torch.testing.assert_close(current(batch), reference)
        assert not torch.allclose(backbone(batch), reference, atol=1e-4)


def test_hstu_time_bias_must_be_known() -> None:
    with pytest.raises(ValueError, match="time_bias"):
        build_backbone("hstu", VOCAB, {**TINY["hstu"], "time_bias": "previous"})


def test_hstu_attention_segments_keep_repeated_copies_apart() -> None:
    """attention_segments: a position of a repeated row's second copy (after RepPad's
    delimiter, a padding token) reads nothing of the first copy, which it does without the
    setting. A row without inner padding — every evaluation row — is computed the same."""
    plain = model("hstu")
    segmented = build_backbone("hstu", VOCAB, {**TINY["hstu"], "attention_segments": True})
    segmented.load_state_dict(plain.state_dict())
    segmented.eval()
    ordinary = make_batch()
    with torch.no_grad():
        assert torch.equal(plain(ordinary), segmented(ordinary))

    def repeated(first_copy_seed: int) -> SequenceInput:
        """One row: a pad, copy one (positions 1–5), the delimiter (6), copy two (7–11)."""
        row = make_batch(lengths=(WIDTH,))
        tokens = row.tokens.clone()
        other = torch.randint(1, VOCAB.n_tokens, (5,),
                              generator=torch.Generator().manual_seed(first_copy_seed))
        tokens[0, 1:6] = other
        tokens[0, 7:12] = make_batch(lengths=(WIDTH,), seed=99).tokens[0, 7:12]
        delimiters = torch.zeros(WIDTH, dtype=torch.bool)
        delimiters[[0, 6]] = True

        def blank(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.masked_fill(delimiters[None, :], 0)

        return SequenceInput(tokens=blank(tokens), timestamps=blank(row.timestamps),
                             behaviors=blank(row.behaviors), user=row.user,
                             query_times=blank(row.query_times))

    one, two = repeated(1), repeated(2)
    assert not torch.equal(one.tokens[0, 1:6], two.tokens[0, 1:6])
    assert torch.equal(one.tokens[0, 6:], two.tokens[0, 6:])
    with torch.no_grad():
        assert torch.equal(segmented(one)[0, 7:], segmented(two)[0, 7:])
        assert not torch.allclose(plain(one)[0, 7:], plain(two)[0, 7:], atol=1e-4)
        # The first copy is read by its own positions either way.
        assert not torch.allclose(segmented(one)[0, 1:6], segmented(two)[0, 1:6], atol=1e-4)


@pytest.mark.parametrize("name", BACKBONES)
def test_item_scores_are_cosine_for_hstu_and_dot_products_otherwise(name: str) -> None:
    backbone = model(name)
    with torch.no_grad():
        hidden = backbone(make_batch())[:, -1]
        scores = backbone.item_scores(hidden)
        table = backbone.token_embedding.weight[: VOCAB.n_items + 1]
        if name == "hstu":
            assert scores.abs().max() <= 1.0 + 1e-6
            torch.testing.assert_close(backbone.item_scores(7.0 * hidden), scores)
            cosine = F.cosine_similarity(hidden[:, None, :], table[None, 1:], dim=-1)
            torch.testing.assert_close(scores[:, 1:], cosine, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(backbone.output(hidden).norm(dim=-1),
                                       torch.ones(len(hidden)))
        else:
            # Tied to the token table, not normalised: scaling the state scales the scores.
            torch.testing.assert_close(scores, hidden @ table.t())
            torch.testing.assert_close(backbone.item_scores(7.0 * hidden), 7.0 * scores)
