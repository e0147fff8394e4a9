"""Regeneration: decode one segment per user and per memory (SPEC §6).

For user u and memory k the decoder reads m'_k (π forced to one-hot k) and decodes greedily:

* step 0 emits an item; the first `restrict_steps` steps (default 2) may only emit items of the
  user's source sequence; each later step is free with probability γ (default 0.1, DR4SR's best)
  and restricted to the source's items otherwise. A free step picks among the items of the
  `item_pool` (default: every item in the sources, i.e. the training data).
* besides items, a step may emit item-behaviour tokens, a segment token T (the vocabulary's
  segment kinds and `sep`) or eos; never padding, bos or mask. A segment token closes the
  segment (it is kept: the segment is [P, T]); eos ends it without one (pattern pairs teach
  that form). With `no_repeat` (default on), an item already emitted in the segment is not
  emitted again.
* decoding stops there or after `max_target_len` steps (a segment cut there has no T).
* with `special_tokens=False` (data formatted as plain item sequences: w/o UF, DR4SR) a step
  emits items or eos only, never a behaviour, segment or `sep` token.

Identical segments of one user (from different memories) are kept once, with the lowest
memory. The free/restricted draw of every (user, memory, step) is made up front from `seed`,
so the result does not depend on the batch size: `generate` (all users × all memories of a
batch at once) and `generate_one_at_a_time` (one user and one memory at a time, as DR4SR's
public code decodes) give the same segments — a test checks it. `generate` feeds one position
per step with the decoder's keys and values cached (`Regenerator.decode_step`: the memory's
cross-attention keys and values once per batch); the one-at-a-time reference reruns the whole
decoder over the prefix at every step, as DR4SR's code does.

Output: `Generated.segments` (user int32, memory int32, tokens list<int32>, items list<int32>;
tokens without eos), and the per-user encoder representation (the mean of m over the source,
the paper's "core task representation"), (U, d) float32. A user with an empty source gets no
segment and a zero representation.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from unids.errors import InputError, UserError
from unids.formats.vocabulary import Vocabulary
from unids.io import write_json, write_parquet
from unids.regen.model import Regenerator
from unids.regen.pairs import padded, spans
from unids.train.data import Ragged

SEGMENTS = "segments.parquet"
REPRESENTATIONS = "representations.parquet"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class GenerationConfig:
    """How segments are decoded (see the module docstring). max_target_len: None = the
    model's. batch_size: users per batch (each decodes `memories` rows). special_tokens:
    False = items and eos only (for plain item sequences). beam_size: 1 = greedy, else beam
    search of that width; the answer is the beam with the best total log-probability divided
    by its length ** length_alpha (0 = no length normalisation: short segments win)."""

    restrict_steps: int = 2
    gamma: float = 0.1
    max_target_len: int | None = None
    no_repeat: bool = True
    batch_size: int = 256
    seed: int = 0
    special_tokens: bool = True
    beam_size: int = 1
    length_alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise UserError("beam_size must be ≥ 1 (1 = greedy)")
        if self.length_alpha < 0:
            raise UserError("length_alpha must be ≥ 0")
        if self.restrict_steps < 0:
            raise UserError("restrict_steps must be ≥ 0")
        if not 0.0 <= self.gamma <= 1.0:
            raise UserError("gamma must lie in [0, 1]")
        if self.max_target_len is not None and self.max_target_len < 1:
            raise UserError("max_target_len must be ≥ 1")
        if self.batch_size < 1:
            raise UserError("batch_size must be ≥ 1")


@dataclass
class Generated:
    """Regenerated segments and the users' encoder representations."""

    segments: pa.Table  # user, memory, tokens list<int32>, items list<int32>
    users: np.ndarray  # (U,) int32, the input's order
    representations: np.ndarray  # (U, d) float32
    manifest: dict[str, Any]

    def representation_table(self) -> pa.Table:
        d = self.representations.shape[1]
        flat = pa.array(np.ascontiguousarray(self.representations, np.float32).reshape(-1))
        return pa.table({"user": pa.array(self.users, pa.int32()),
                         "representation": pa.FixedSizeListArray.from_arrays(flat, d)})

    def write(self, directory: str | os.PathLike[str]) -> None:
        """segments.parquet, representations.parquet, then manifest.json (last, so that a
        directory with a manifest is complete); each file atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_parquet(self.segments, directory / SEGMENTS)
        write_parquet(self.representation_table(), directory / REPRESENTATIONS)
        write_json(self.manifest, directory / MANIFEST)


def read_generated(directory: str | os.PathLike[str]) -> Generated:
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        segments = pq.read_table(directory / SEGMENTS)
        table = pq.read_table(directory / REPRESENTATIONS)
    except (OSError, json.JSONDecodeError, pa.ArrowInvalid) as error:
        raise InputError(str(directory), f"not a regenerated output ({error})") from None
    column = table["representation"].combine_chunks()
    d = column.type.list_size
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return Generated(segments, table["user"].to_numpy().astype(np.int32),
                     values.reshape(len(table), d), manifest)


# -- the decoding rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    """What a step may emit, as (V,) masks on the device."""

    items: torch.Tensor  # items 1 … I
    pool: torch.Tensor  # items a free step may pick
    inside: torch.Tensor  # non-item tokens a segment may hold after its first item, eos incl.
    closes: torch.Tensor  # tokens that end a segment: segment tokens and eos
    eos: int


def _rules(vocabulary: Vocabulary, model: Regenerator, sources: Ragged,
           item_pool: np.ndarray | None, device: torch.device,
           special_tokens: bool = True) -> _Rules:
    size = vocabulary.size
    if model.vocab_size != size:
        raise UserError(f"the regenerator has {model.vocab_size} tokens, the vocabulary {size}")
    every = np.arange(size)
    items = vocabulary.is_item(every)
    kinds = np.array([s.kind for s in vocabulary.namespaces])[vocabulary.namespace_index(every)]
    closes = vocabulary.is_segment_token(every) & special_tokens
    closes[model.eos] = True
    inside = ((kinds == "item-behavior") & special_tokens) | closes
    pool = np.zeros(size, dtype=bool)
    chosen = sources.values if item_pool is None else np.asarray(item_pool)
    pool[chosen.astype(np.int64)] = True
    pool &= items

    def tensor(mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(mask).to(device)

    return _Rules(tensor(items), tensor(pool), tensor(inside), tensor(closes), model.eos)


def _free_draws(n_users: int, memories: int, steps: int, config: GenerationConfig
                ) -> torch.Tensor:
    """(U, K, T) bool: True where a step is free, drawn once for the whole input."""
    generator = torch.Generator().manual_seed(config.seed)
    return torch.rand((n_users, memories, steps), generator=generator) < config.gamma


def _allowed(rules: _Rules, step: int, source_items: torch.Tensor, free: torch.Tensor,
             emitted: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """(R, V) tokens each decoding row may emit at `step`. source_items (R, V): items of the
    row's source; free (R,): the step's draw; emitted (R, V): items emitted so far."""
    restricted = ~free if step >= config.restrict_steps else torch.ones_like(free)
    items = torch.where(restricted.unsqueeze(1), source_items, rules.pool)
    if config.no_repeat:
        items = items & ~emitted
    if step == 0:
        allowed = items
    else:
        allowed = items | rules.inside
    stuck = ~allowed.any(1)  # nothing left (a source of one item, say): end the segment
    allowed[stuck, rules.eos] = True
    return allowed


def _source_items(source: torch.Tensor, rules: _Rules) -> torch.Tensor:
    """(R, S) right-padded tokens → (R, V) bool: the items present in each row."""
    present = torch.zeros(source.shape[0], len(rules.items), dtype=torch.bool,
                          device=source.device)
    present.scatter_(1, source, True)
    return present & rules.items


def _decode(model: Regenerator, memory: torch.Tensor, padding: torch.Tensor,
            source_items: torch.Tensor, free: torch.Tensor, rules: _Rules, steps: int,
            config: GenerationConfig, *, cached: bool = True) -> torch.Tensor:
    """Greedy decoding of R rows at once: memory (R, S, d), padding (R, S), source_items (R, V),
    free (R, T) → (R, T) tokens up to the closing T or eos, 0 after it.

    `cached`: one position per step (`Regenerator.decode_step`: the memory's cross-attention
    keys and values computed once, the earlier positions' self-attention keys and values kept);
    otherwise the whole decoder reruns over the prefix at every step (`Regenerator.decode`,
    the reference, as DR4SR's code decodes). `config.beam_size` > 1: `_beam_decode`."""
    if config.beam_size > 1:
        return _beam_decode(model, memory, padding, source_items, free, rules, steps, config,
                            cached=cached)
    rows = memory.shape[0]
    inputs = torch.full((rows, 1), model.bos, dtype=torch.long, device=memory.device)
    out = torch.zeros(rows, steps, dtype=torch.long, device=memory.device)
    done = torch.zeros(rows, dtype=torch.bool, device=memory.device)
    emitted = torch.zeros_like(source_items)
    cache = model.start_decoding(memory, padding) if cached else None
    for step in range(steps):
        if cache is not None:
            logits = model.decode_step(cache, inputs[:, -1]).float()  # (R, V)
        else:
            logits = model.decode(inputs, memory, padding)[:, -1].float()
        allowed = _allowed(rules, step, source_items, free[:, step], emitted, config)
        token = logits.masked_fill(~allowed, -torch.inf).argmax(-1)  # (R,)
        token = token.masked_fill(done, 0)
        out[:, step] = token
        emitted[torch.arange(rows, device=token.device), token] = True
        done |= rules.closes[token]
        if bool(done.all()):
            break
        inputs = torch.cat([inputs, token.unsqueeze(1)], dim=1)
    return out


def _beam_decode(model: Regenerator, memory: torch.Tensor, padding: torch.Tensor,
                 source_items: torch.Tensor, free: torch.Tensor, rules: _Rules, steps: int,
                 config: GenerationConfig, *, cached: bool = True) -> torch.Tensor:
    """Beam search for R rows at once (arguments and result as `_decode`): each row keeps its
    `beam_size` best partial segments by total log-probability, every step's distribution
    taken over the tokens the rules allow that beam; a closed segment keeps its score and is
    carried on with padding at no cost. The answer of a row is its beam with the best
    score / length ** length_alpha (length: tokens emitted, the closing one included)."""
    width, (rows, vocab) = config.beam_size, source_items.shape
    device = memory.device
    n = rows * width  # row r's beams are rows r·width … r·width + width − 1

    def beams(x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(width, 0)

    memory, padding, source_items, free = beams(memory), beams(padding), beams(source_items), \
        beams(free)
    inputs = torch.full((n, 1), model.bos, dtype=torch.long, device=device)
    out = torch.zeros(n, steps, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    lengths = torch.zeros(n, dtype=torch.long, device=device)
    emitted = torch.zeros_like(source_items)
    # All beams of a row start equal: only the first one is alive, or they would stay copies.
    scores = torch.full((rows, width), -torch.inf, device=device)
    scores[:, 0] = 0.0
    first = torch.arange(rows, device=device) * width
    cache = model.start_decoding(memory, padding) if cached else None
    for step in range(steps):
        if cache is not None:
            logits = model.decode_step(cache, inputs[:, -1]).float()
        else:
            logits = model.decode(inputs, memory, padding)[:, -1].float()
        allowed = _allowed(rules, step, source_items, free[:, step], emitted, config)
        logp = logits.masked_fill(~allowed, -torch.inf).log_softmax(-1)  # (n, V)
        logp[done] = -torch.inf
        logp[done, 0] = 0.0  # a closed segment continues with padding
        total = (scores.reshape(-1, 1) + logp).view(rows, width * vocab)
        scores, index = total.topk(width, dim=1)  # (rows, width)
        origin = (first.unsqueeze(1) + torch.div(index, vocab, rounding_mode="floor")).reshape(-1)
        token = (index % vocab).reshape(-1)
        out, done, lengths, emitted, inputs = (out[origin], done[origin], lengths[origin],
                                               emitted[origin], inputs[origin])
        if cache is not None:
            cache.reorder(origin)
        out[:, step] = token
        live = ~done
        emitted[torch.arange(n, device=device)[live], token[live]] = True
        lengths += live.long()
        done |= rules.closes[token]
        inputs = torch.cat([inputs, token.unsqueeze(1)], dim=1)
        if bool(done.all()):
            break
    normalised = scores.reshape(-1) / lengths.clamp_min(1).float() ** config.length_alpha
    best = first + normalised.view(rows, width).argmax(1)
    return out[best]


def _prepare(model: Regenerator, users: np.ndarray, sources: Ragged, vocabulary: Vocabulary,
             config: GenerationConfig, item_pool: np.ndarray | None
             ) -> tuple[_Rules, torch.Tensor, int, torch.device]:
    if len(users) != len(sources):
        raise ValueError(f"{len(users)} users for {len(sources)} sources")
    if len(sources.values) and int(sources.lengths.max()) > model.config.max_source_len:
        raise UserError(f"sources longer than max_source_len ({model.config.max_source_len})")
    device = next(model.parameters()).device
    steps = config.max_target_len or model.config.max_target_len
    rules = _rules(vocabulary, model, sources, item_pool, device, config.special_tokens)
    free = _free_draws(len(users), model.config.memories, steps, config)
    return rules, free, steps, device


@torch.inference_mode()
def generate(model: Regenerator, users: np.ndarray, sources: Ragged, vocabulary: Vocabulary,
             config: GenerationConfig = GenerationConfig(),
             item_pool: np.ndarray | None = None, *, cached: bool = True) -> Generated:
    """Segments for every user (`sources`: their PT sequences, as from
    `unids.regen.user_sources`) and every memory, `config.batch_size` users at a time.
    `cached=False` reruns the decoder over the prefix at every step (same segments, slower:
    for benchmarks)."""
    rules, free, steps, device = _prepare(model, users, sources, vocabulary, config, item_pool)
    was_training = model.training
    model.eval()
    k = model.config.memories
    nonempty = np.flatnonzero(sources.lengths > 0)
    out = np.zeros((len(users), k, steps), dtype=np.int64)
    representations = np.zeros((len(users), model.config.dim), dtype=np.float32)
    for begin in range(0, len(nonempty), config.batch_size):
        batch = nonempty[begin : begin + config.batch_size]
        source = torch.from_numpy(padded(sources.rows(batch))).to(device)  # (B, S)
        memory, padding = model.encode(source)
        representations[batch] = model.representation(memory, padding).float().cpu().numpy()
        memories = model.project(memory).flatten(0, 1)  # (B·K, S, d), user-major
        tokens = _decode(model, memories, padding.repeat_interleave(k, 0),
                         _source_items(source, rules).repeat_interleave(k, 0),
                         free[torch.from_numpy(batch)].flatten(0, 1).to(device), rules, steps,
                         config, cached=cached)
        out[batch] = tokens.view(len(batch), k, steps).cpu().numpy()
    model.train(was_training)
    return _collect(out, users, nonempty, representations, rules.eos, vocabulary, config,
                    method="batched")


@torch.inference_mode()
def generate_one_at_a_time(model: Regenerator, users: np.ndarray, sources: Ragged,
                           vocabulary: Vocabulary, config: GenerationConfig = GenerationConfig(),
                           item_pool: np.ndarray | None = None) -> Generated:
    """The reference: one user (unpadded) and one memory per decoder call, stopping where that
    row's segment ends. Same segments as `generate`; the peer of its benchmark."""
    rules, free, steps, device = _prepare(model, users, sources, vocabulary, config, item_pool)
    was_training = model.training
    model.eval()
    k = model.config.memories
    nonempty = np.flatnonzero(sources.lengths > 0)
    out = np.zeros((len(users), k, steps), dtype=np.int64)
    representations = np.zeros((len(users), model.config.dim), dtype=np.float32)
    for u in nonempty:
        row = sources.values[sources.offsets[u] : sources.offsets[u + 1]]
        source = torch.from_numpy(row.astype(np.int64)).to(device).unsqueeze(0)  # (1, S)
        memory, padding = model.encode(source)
        representations[u] = model.representation(memory, padding)[0].float().cpu().numpy()
        memories = model.project(memory)  # (1, K, S, d)
        items = _source_items(source, rules)
        for m in range(k):
            tokens = _decode(model, memories[:, m], padding, items, free[u, m : m + 1].to(device),
                             rules, steps, config, cached=False)
            out[u, m] = tokens[0].cpu().numpy()
    model.train(was_training)
    return _collect(out, users, nonempty, representations, rules.eos, vocabulary, config,
                    method="one-at-a-time")


def _collect(out: np.ndarray, users: np.ndarray, nonempty: np.ndarray,
             representations: np.ndarray, eos: int, vocabulary: Vocabulary,
             config: GenerationConfig, method: str) -> Generated:
    """(U, K, T) decoded tokens → the deduplicated segment table."""
    n_users, k, steps = out.shape
    decoded = out[nonempty].reshape(-1, steps)  # (R, T), user-major then memory
    row_user = np.repeat(nonempty, k)
    row_memory = np.tile(np.arange(k), len(nonempty))
    decoded = np.where(decoded == eos, 0, decoded)  # eos and what follows are padding now
    # Keep the first row (lowest memory) of every distinct (user, tokens).
    keyed = np.concatenate([row_user[:, None], decoded], axis=1)
    if len(keyed):
        _, first = np.unique(keyed, axis=0, return_index=True)
        keep = np.sort(first)
    else:
        keep = np.zeros(0, dtype=np.int64)
    decoded, row_user, row_memory = decoded[keep], row_user[keep], row_memory[keep]
    lengths = (decoded != 0).sum(1)  # tokens are contiguous from the start
    tokens = spans(decoded.reshape(-1), np.arange(len(decoded)) * steps,
                   np.arange(len(decoded)) * steps + lengths)
    is_item = vocabulary.is_item(tokens.values.astype(np.int64))
    item_rows = np.repeat(np.arange(len(tokens)), tokens.lengths)[is_item]
    item_offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(np.bincount(item_rows, minlength=len(tokens)), out=item_offsets[1:])
    segments = pa.table({
        "user": pa.array(users[row_user].astype(np.int32)),
        "memory": pa.array(row_memory.astype(np.int32)),
        "tokens": _list_array(tokens.offsets, tokens.values),
        "items": _list_array(item_offsets, tokens.values[is_item]),
    })
    manifest = {"users": int(n_users), "users_with_source": len(nonempty), "memories": k,
                "decoded": int(len(nonempty) * k), "segments": segments.num_rows,
                "duplicates_dropped": int(len(nonempty) * k - segments.num_rows),
                "method": method,
                "decoding": "greedy" if config.beam_size == 1 else f"beam {config.beam_size}",
                "config": asdict(config)}
    return Generated(segments, np.asarray(users, dtype=np.int32), representations, manifest)


def _list_array(offsets: np.ndarray, values: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                    pa.array(values.astype(np.int32), pa.int32()))
