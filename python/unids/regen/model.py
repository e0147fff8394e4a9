"""The regenerator (SPEC §6; the paper's §4.3.2 and Appendix A.6.2; DR4SR's regenerator is its
ancestor): an encoder–decoder Transformer over Pattern-Token sequences with K memories and a
diversity promoter.

    source (B, S) PT tokens, right-padded with 0
      │ token embedding + learned position (S ≤ max_source_len)
      ▼ encoder (encoder_layers × self-attention, padding masked)
    m (B, S, d) ──► representation (B, d): mean over the non-padding positions
      │ K linear projections (one Linear(d, K·d))
      ▼
    m' (B, K, S, d)                      target (B, T) ─► promoter encoder ─► mean (B, d)
      │                                                    ─► MLP ─► softmax π (B, K)
      ▼ m_final = Σ_k π_k m'_k  (B, S, d)   (training: π from the promoter; generation: one-hot k)
    decoder over [bos, t_1 … t_T] (B, T + 1): causal self-attention, cross-attention to m_final
      ▼
    logits (B, T + 1, V) = h · Eᵀ       (tied to the token embedding E)
                                         predicting [t_1 … t_T, eos]

Loss: L = L_rec ∓ β·H(π), L_rec the token cross-entropy (eos included, padding ignored) and
H(π) = −Σ_k π_k log π_k averaged over the batch. `entropy_sign = "reward"` (default, SPEC §6)
subtracts β·H(π): the optimiser is *rewarded* for spreading π over the memories, as the paper's
words ask ("penalises overly confident selections"). `"paper"` adds it, as the paper's formula
L = L_rec + L_div and DR4SR's code do, which pushes π towards one memory per target.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from unids.errors import UserError
from unids.formats.vocabulary import Vocabulary

EntropySign = Literal["reward", "paper"]


@dataclass(frozen=True)
class RegeneratorConfig:
    """Sizes and loss weights of the regenerator.

    max_target_len counts the decoded tokens including eos, so a target segment holds at most
    max_target_len − 1 tokens: 12 fits a 5-item pattern with interleaved behaviour tokens
    (10) plus its segment token. promoter_layers: depth of the diversity promoter's encoder.
    ffn_dim: feed-forward width (None: 4·dim).
    """

    dim: int = 64
    heads: int = 2
    encoder_layers: int = 2
    decoder_layers: int = 2
    promoter_layers: int = 1
    memories: int = 5
    dropout: float = 0.1
    max_source_len: int = 200
    max_target_len: int = 12
    beta: float = 0.1
    entropy_sign: EntropySign = "reward"
    ffn_dim: int | None = None

    def __post_init__(self) -> None:
        if self.dim < 1 or self.heads < 1 or self.dim % self.heads:
            raise UserError(f"dim ({self.dim}) must be a positive multiple of heads "
                            f"({self.heads})")
        if min(self.encoder_layers, self.decoder_layers, self.promoter_layers) < 1:
            raise UserError("every Transformer stack needs at least one layer")
        if self.memories < 1:
            raise UserError("memories (K) must be ≥ 1")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError("dropout must lie in [0, 1)")
        if self.max_source_len < 1 or self.max_target_len < 2:
            raise UserError("max_source_len must be ≥ 1 and max_target_len ≥ 2")
        if self.beta < 0:
            raise UserError("beta must be ≥ 0")
        if self.entropy_sign not in ("reward", "paper"):
            raise UserError(f"entropy_sign must be 'reward' or 'paper', not "
                            f"{self.entropy_sign!r}")


class Regenerator(nn.Module):
    """Encoder, K memories, diversity promoter and decoder over one PT vocabulary.

    vocab_size: rows of the token embedding (the vocabulary's size; 0 is padding). bos / eos:
    the ids of the vocabulary's `control:bos` and `control:eos` tokens.
    """

    def __init__(self, vocab_size: int, config: RegeneratorConfig, *, bos: int,
                 eos: int) -> None:
        super().__init__()
        if not 0 < bos < vocab_size or not 0 < eos < vocab_size or bos == eos:
            raise UserError(f"bos ({bos}) and eos ({eos}) must be distinct tokens of a "
                            f"vocabulary of {vocab_size}")
        self.config = config
        self.vocab_size = vocab_size
        self.bos = bos
        self.eos = eos
        d = config.dim
        self.token_embedding = nn.Embedding(vocab_size, d, padding_idx=0)
        self.source_position = nn.Embedding(config.max_source_len, d)
        self.target_position = nn.Embedding(config.max_target_len, d)
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = self._encoder(config.encoder_layers)
        self.memory_projection = nn.Linear(d, config.memories * d)  # K maps d → d, side by side
        self.promoter = self._encoder(config.promoter_layers)
        self.promoter_head = nn.Sequential(nn.Linear(d, d), nn.GELU(),
                                           nn.Linear(d, config.memories))
        layer = nn.TransformerDecoderLayer(d, config.heads, config.ffn_dim or 4 * d,
                                           config.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.decoder_layers, norm=nn.LayerNorm(d))
        self.reset_parameters()

    @classmethod
    def for_vocabulary(cls, vocabulary: Vocabulary, config: RegeneratorConfig) -> Regenerator:
        control = vocabulary["control"]
        return cls(vocabulary.size, config, bos=control.token("bos"),
                   eos=control.token("eos"))

    def _encoder(self, layers: int) -> nn.TransformerEncoder:
        c = self.config
        layer = nn.TransformerEncoderLayer(c.dim, c.heads, c.ffn_dim or 4 * c.dim, c.dropout,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(c.dim),
                                     enable_nested_tensor=False)

    def reset_parameters(self) -> None:
        """Embeddings ~ N(0, 1/d) (the tied output then starts with logits of order 1),
        positions ~ N(0, 0.02²); the padding row is zero."""
        nn.init.normal_(self.token_embedding.weight, std=1 / math.sqrt(self.config.dim))
        for table in (self.source_position, self.target_position):
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.token_embedding.weight[0].zero_()

    def init_item_embeddings(self, table: torch.Tensor, n_items: int) -> None:
        """Copies item rows 1 … n_items of a trained token table (e.g. a backbone's
        `token_embedding.weight`, (≥ n_items + 1, d)): items share ids across the project."""
        table = table.detach()
        if table.dim() != 2 or table.shape[1] != self.config.dim:
            raise UserError(f"item table of shape {tuple(table.shape)} does not fit a "
                            f"regenerator of dim {self.config.dim}")
        if table.shape[0] <= n_items or self.vocab_size <= n_items:
            raise UserError(f"need rows 1 … {n_items}: the table has {table.shape[0]} rows, "
                            f"the regenerator {self.vocab_size}")
        with torch.no_grad():
            self.token_embedding.weight[1 : n_items + 1].copy_(table[1 : n_items + 1])

    # -- the parts --------------------------------------------------------------------------

    def _embed(self, tokens: torch.Tensor, positions: nn.Embedding) -> torch.Tensor:
        if tokens.shape[1] > positions.num_embeddings:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens; at most "
                             f"{positions.num_embeddings} fit")
        index = torch.arange(tokens.shape[1], device=tokens.device)
        return self.dropout(self.token_embedding(tokens) + positions(index))  # (B, L, d)

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """source (B, S) → memory m (B, S, d) and its padding mask (B, S), True at padding.
        Every row needs at least one token."""
        padding = source == 0
        memory = self.encoder(self._embed(source, self.source_position),
                              src_key_padding_mask=padding)
        return memory, padding

    @staticmethod
    def representation(memory: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """The mean of m over non-padding positions: (B, S, d) → (B, d)."""
        keep = (~padding).unsqueeze(-1).to(memory.dtype)  # (B, S, 1)
        return (memory * keep).sum(1) / keep.sum(1).clamp_min(1)

    def project(self, memory: torch.Tensor) -> torch.Tensor:
        """m (B, S, d) → the K memories m' (B, K, S, d)."""
        b, s, d = memory.shape
        return self.memory_projection(memory).view(b, s, -1, d).transpose(1, 2)

    def promoter_logits(self, target: torch.Tensor) -> torch.Tensor:
        """target (B, T) right-padded segment tokens → logits of π (B, K)."""
        padding = target == 0
        hidden = self.promoter(self._embed(target, self.target_position),
                               src_key_padding_mask=padding)  # (B, T, d)
        return self.promoter_head(self.representation(hidden, padding))

    def promote(self, target: torch.Tensor) -> torch.Tensor:
        """π (B, K): a distribution over the memories, from the target segment."""
        return self.promoter_logits(target).softmax(-1)

    @staticmethod
    def mix(memories: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
        """m_final = Σ_k π_k m'_k: (B, K, S, d), (B, K) → (B, S, d)."""
        return torch.einsum("bksd,bk->bsd", memories, pi.to(memories.dtype))

    def decode(self, inputs: torch.Tensor, memory: torch.Tensor,
               padding: torch.Tensor) -> torch.Tensor:
        """inputs (B, T) starting with bos, memory (B, S, d), padding (B, S) → logits
        (B, T, V); position t sees inputs[:, : t + 1] only."""
        t = inputs.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=inputs.device).triu(1)
        hidden = self.decoder(self._embed(inputs, self.target_position), memory,
                              tgt_mask=causal, tgt_is_causal=True,
                              memory_key_padding_mask=padding)  # (B, T, d)
        return hidden @ self.token_embedding.weight.t()

    # -- incremental decoding (generation) ----------------------------------------------------

    def start_decoding(self, memory: torch.Tensor, padding: torch.Tensor) -> DecoderCache:
        """The cache for `decode_step`: every layer's cross-attention keys and values of
        `memory` (R, S, d), computed once instead of at every step, and room for the
        self-attention keys and values of the tokens decoded so far."""
        layers = []
        for layer in self.decoder.layers:
            attention = layer.multihead_attn
            d = attention.embed_dim
            weight, bias = attention.in_proj_weight, attention.in_proj_bias
            keys = F.linear(memory, weight[d : 2 * d], bias[d : 2 * d])
            values = F.linear(memory, weight[2 * d :], bias[2 * d :])
            layers.append((self._heads(keys, attention.num_heads),
                           self._heads(values, attention.num_heads)))
        attend = ~padding[:, None, None, :]  # (R, 1, 1, S): True where a query may look
        return DecoderCache(cross=layers, attend=attend, past=[None] * len(layers), length=0)

    def decode_step(self, cache: DecoderCache, token: torch.Tensor) -> torch.Tensor:
        """The next-token logits (R, V) after feeding `token` (R,) at position `cache.length`
        (bos first): `decode(inputs, …)[:, -1]` of all tokens fed so far, up to float
        rounding, at the cost of one position. Eval mode only (no dropout); updates `cache`."""
        if self.training:
            raise RuntimeError("decode_step is for generation: call model.eval() first")
        position = torch.full_like(token, cache.length)
        x = (self.token_embedding(token) + self.target_position(position)).unsqueeze(1)
        for index, layer in enumerate(self.decoder.layers):
            x = x + self._cached_self_attention(layer, layer.norm1(x), cache, index)
            attention = layer.multihead_attn
            d, heads = attention.embed_dim, attention.num_heads
            query = F.linear(layer.norm2(x), attention.in_proj_weight[:d],
                             attention.in_proj_bias[:d])
            keys, values = cache.cross[index]
            mixed = F.scaled_dot_product_attention(self._heads(query, heads), keys, values,
                                                   attn_mask=cache.attend)
            x = x + attention.out_proj(self._merge(mixed))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        cache.length += 1
        hidden = self.decoder.norm(x)[:, 0]  # (R, d)
        return hidden @ self.token_embedding.weight.t()

    def _cached_self_attention(self, layer: nn.TransformerDecoderLayer, x: torch.Tensor,
                               cache: DecoderCache, index: int) -> torch.Tensor:
        attention = layer.self_attn
        heads = attention.num_heads
        query, key, value = F.linear(x, attention.in_proj_weight,
                                     attention.in_proj_bias).chunk(3, dim=-1)
        key, value = self._heads(key, heads), self._heads(value, heads)  # (R, h, 1, dh)
        past = cache.past[index]
        if past is not None:
            key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
        cache.past[index] = (key, value)
        # The new position sees every earlier one and itself: no mask needed.
        mixed = F.scaled_dot_product_attention(self._heads(query, heads), key, value)
        return attention.out_proj(self._merge(mixed))

    @staticmethod
    def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
        """(R, L, d) → (R, h, L, d / h)."""
        r, length, d = x.shape
        return x.view(r, length, heads, d // heads).transpose(1, 2)

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:
        """(R, h, L, dh) → (R, L, h·dh)."""
        r, heads, length, dh = x.shape
        return x.transpose(1, 2).reshape(r, length, heads * dh)

    # -- training ---------------------------------------------------------------------------

    def forward(self, source: torch.Tensor, target: torch.Tensor,
                pi: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """source (B, S), target (B, T) right-padded, without bos / eos → logits (B, T + 1, V)
        over [t_1 … t_T, eos] and the π used (B, K). pi: given weights instead of the
        promoter's (e.g. uniform, or one-hot to read one memory)."""
        memory, padding = self.encode(source)
        if pi is None:
            pi = self.promote(target)
        bos = torch.full_like(target[:, :1], self.bos)
        inputs = torch.cat([bos, target], dim=1)  # (B, T + 1)
        return self.decode(inputs, self.mix(self.project(memory), pi), padding), pi

    def labels(self, target: torch.Tensor) -> torch.Tensor:
        """(B, T) → (B, T + 1): the target followed by eos, then padding (ignored)."""
        labels = F.pad(target, (0, 1))
        lengths = (target != 0).sum(1)
        labels[torch.arange(len(target), device=target.device), lengths] = self.eos
        return labels

    def loss_sums(self, source: torch.Tensor, target: torch.Tensor,
                  source_index: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ of the token cross-entropies, Σ over rows of H(π)), float32: the two parts of the
        loss before averaging. A share of a batch (one DDP rank's) divides them by the whole
        batch's counts (`token_count`, rows), so that the shares add up to the batch's mean.

        source_index (B,): target row b continues source row source_index[b], so `source`
        holds each distinct source once and is encoded once (pairs of one user share their
        source; the encoder over up to 200 tokens is most of a step's cost)."""
        memory, padding = self.encode(source)
        if source_index is not None:
            memory, padding = memory[source_index], padding[source_index]
        logits_pi = self.promoter_logits(target)  # (B, K)
        pi = logits_pi.softmax(-1)
        bos = torch.full_like(target[:, :1], self.bos)
        logits = self.decode(torch.cat([bos, target], dim=1),
                             self.mix(self.project(memory), pi), padding)
        rec = F.cross_entropy(logits.flatten(0, 1).float(), self.labels(target).flatten(),
                              ignore_index=0, reduction="sum")
        entropy = -(pi.float() * logits_pi.float().log_softmax(-1)).sum()
        return rec, entropy

    @staticmethod
    def token_count(target: torch.Tensor) -> int:
        """Tokens L_rec averages over: the target's tokens plus one eos per row."""
        return int((target != 0).sum()) + len(target)

    def combine(self, rec: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        """The total loss from the averaged parts: L_rec ∓ β·H(π)."""
        sign = -1.0 if self.config.entropy_sign == "reward" else 1.0
        return rec + sign * self.config.beta * entropy

    def loss(self, source: torch.Tensor, target: torch.Tensor
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total, parts): total = L_rec − β·H(π) ("reward") or L_rec + β·H(π) ("paper");
        parts holds detached `rec`, `entropy` and `total`."""
        rec_sum, entropy_sum = self.loss_sums(source, target)
        rec = rec_sum / self.token_count(target)
        entropy = entropy_sum / len(target)
        total = self.combine(rec, entropy)
        return total, {"rec": rec.detach(), "entropy": entropy.detach(),
                       "total": total.detach()}

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, bos={self.bos}, eos={self.eos}"


@dataclass
class DecoderCache:
    """What `Regenerator.decode_step` keeps between steps: per decoder layer the memory's
    cross-attention keys and values (R, h, S, dh) and the self-attention keys and values of
    the positions fed so far (R, h, length, dh)."""

    cross: list[tuple[torch.Tensor, torch.Tensor]]
    attend: torch.Tensor  # (R, 1, 1, S) bool: the memory positions that are not padding
    past: list[tuple[torch.Tensor, torch.Tensor] | None]
    length: int

    def reorder(self, rows: torch.Tensor) -> None:
        """Row i continues the tokens of row `rows[i]` (beam search), which must read the same
        memory (a beam of the same source): the memory's keys and values stay."""
        self.past = [None if kv is None else (kv[0][rows], kv[1][rows]) for kv in self.past]


def model_meta(model: Regenerator) -> dict[str, Any]:
    """What rebuilds the model (see `from_meta`)."""
    return {"vocab_size": model.vocab_size, "bos": model.bos, "eos": model.eos,
            "config": asdict(model.config)}


def from_meta(meta: dict[str, Any]) -> Regenerator:
    return Regenerator(int(meta["vocab_size"]), RegeneratorConfig(**meta["config"]),
                       bos=int(meta["bos"]), eos=int(meta["eos"]))
