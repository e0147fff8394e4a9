"""One token id space for Pattern-Token sequences, in namespaced ranges (SPEC §5).

    0                padding
    1 … I            items: the dataset's internal item ids, unchanged, so that an item target
                     needs no remapping and `embedding[item]` works on raw sequences too
    then, in order   per-item behaviour tokens   `item-behavior:<column>`  (rating=1 … rating=5)
                     time-gap buckets             `gap`                     (<1s … ≥388d, end)
                     user attribute values        `user:<column>`           (age=1 … age=56)
                     segment behaviour buckets    `behavior:<column>`       (rating≈1 … ≈5)
                     segment domains              `domain:<column>`         (Action … Western)
                     control tokens               `control`                 (sep, bos, eos, mask)

Every namespace but padding, item and control ends with an "unknown" token (a null value, a
value not seen in training, a segment without any domain). Every source the dataset can provide
gets its namespace, whichever source a stage uses, so that all stages of one dataset share one
vocabulary. `labels[j]` names token `start + j`; `meta` holds what is needed to map raw values
to tokens again (the bucketing scale of a behaviour, the value list of an attribute).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unids.errors import InputError
from unids.io import write_json

FORMAT = "unids-pt-vocabulary"
VERSION = 1

#: Kinds of namespace, in id order. "item-behavior" tokens follow their item; the kinds from
#: "gap" to "domain" are segment tokens T_i, closing a pattern.
KINDS = ("padding", "item", "item-behavior", "gap", "user", "behavior", "domain", "control")
SEGMENT_KINDS = ("gap", "user", "behavior", "domain")
CONTROL_LABELS = ("sep", "bos", "eos", "mask")


@dataclass(frozen=True)
class Namespace:
    """A contiguous range of token ids: `start … start + size − 1`."""

    name: str
    kind: str
    start: int
    size: int
    labels: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def stop(self) -> int:
        return self.start + self.size

    def token(self, label: str) -> int:
        """The id of the token with this label."""
        try:
            return self.start + self.labels.index(label)
        except ValueError:
            raise KeyError(f"{self.name} has no token {label!r}") from None

    @property
    def unknown(self) -> int:
        """The last token of the namespace: the one for missing or unseen values."""
        return self.stop - 1

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "start": self.start,
                               "size": self.size}
        if self.labels:
            out["labels"] = list(self.labels)
        if self.meta:
            out["meta"] = self.meta
        return out


class Vocabulary:
    """Namespaced token ids. Build one with `unids.formats.build_vocabulary(dataset)`."""

    def __init__(self, namespaces: Sequence[Namespace]) -> None:
        namespaces = tuple(namespaces)
        if len(namespaces) < 2 or namespaces[0].kind != "padding" or namespaces[1].kind != "item":
            raise ValueError("a vocabulary starts with the padding and item namespaces")
        if namespaces[0].start != 0 or namespaces[0].size != 1 or namespaces[1].start != 1:
            raise ValueError("padding is token 0 and items start at 1")
        expected = 0
        names = set()
        for space in namespaces:
            if space.start != expected:
                raise ValueError(f"namespace {space.name} starts at {space.start}, expected "
                                 f"{expected}: ranges must be contiguous and not overlap")
            if space.size < 1 and space.kind != "item":
                raise ValueError(f"namespace {space.name} is empty")
            if space.labels and len(space.labels) != space.size:
                raise ValueError(f"namespace {space.name}: {len(space.labels)} labels for "
                                 f"{space.size} tokens")
            if space.kind not in KINDS:
                raise ValueError(f"unknown namespace kind {space.kind!r}")
            if space.name in names:
                raise ValueError(f"duplicate namespace {space.name}")
            names.add(space.name)
            expected = space.stop
        self.namespaces = namespaces
        self._starts = np.array([s.start for s in namespaces], dtype=np.int64)
        self._by_name = {s.name: s for s in namespaces}

    # -- lookup -------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of token ids (an embedding table of this many rows covers every token)."""
        return self.namespaces[-1].stop

    @property
    def n_items(self) -> int:
        return self.namespaces[1].size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Namespace]:
        return iter(self.namespaces)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Namespace:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no namespace {name!r}; the vocabulary has "
                           f"{', '.join(self._by_name)}") from None

    def of_kind(self, kind: str) -> list[Namespace]:
        return [s for s in self.namespaces if s.kind == kind]

    def is_item(self, token: Any) -> Any:
        """True for item tokens (1 … I); works elementwise on NumPy arrays."""
        if isinstance(token, np.ndarray):
            return (token >= 1) & (token <= self.n_items)
        return 1 <= int(token) <= self.n_items

    def namespace_of(self, token: int) -> Namespace:
        token = int(token)
        if not 0 <= token < self.size:
            raise ValueError(f"token {token} is outside the vocabulary (0 … {self.size - 1})")
        return self.namespaces[int(np.searchsorted(self._starts, token, side="right")) - 1]

    def kind_of(self, token: int) -> str:
        """'padding', 'item', 'item-behavior', 'gap', 'user', 'behavior', 'domain' or
        'control'."""
        return self.namespace_of(token).kind

    def namespace_index(self, tokens: np.ndarray) -> np.ndarray:
        """Index into `namespaces` of each token (vectorised `namespace_of`)."""
        tokens = np.asarray(tokens)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.size):
            raise ValueError(f"tokens outside the vocabulary (0 … {self.size - 1})")
        return np.searchsorted(self._starts, tokens, side="right") - 1

    def is_segment_token(self, tokens: np.ndarray) -> np.ndarray:
        """True where a token closes a pattern: the segment sources' kinds and `control:sep`."""
        kinds = np.array([s.kind in SEGMENT_KINDS for s in self.namespaces])
        closes = kinds[self.namespace_index(tokens)]
        if "control" in self:
            closes |= np.asarray(tokens) == self["control"].token("sep")
        return closes

    def label(self, token: int) -> str:
        """A readable name: 'item 17', 'gap:[1.14h,2.28h)', 'user:age=25', …"""
        space = self.namespace_of(token)
        if space.kind == "padding":
            return "pad"
        if space.kind == "item":
            return f"item {int(token)}"
        return f"{space.name}:{space.labels[int(token) - space.start]}"

    # -- persistence --------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "size": self.size,
                "n_items": self.n_items, "namespaces": [s.as_json() for s in self.namespaces]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not a version-{VERSION} {FORMAT} document")
        spaces = [Namespace(name=s["name"], kind=s["kind"], start=int(s["start"]),
                            size=int(s["size"]), labels=tuple(s.get("labels", ())),
                            meta=dict(s.get("meta", {})))
                  for s in data["namespaces"]]
        vocabulary = cls(spaces)
        if vocabulary.size != data.get("size", vocabulary.size):
            raise ValueError("vocabulary size does not match its namespaces")
        return vocabulary

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(self.as_json(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError, ValueError, TypeError) as error:
            raise InputError(str(path), f"not a readable vocabulary ({error})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.as_json() == other.as_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.as_json(), sort_keys=True))

    def __repr__(self) -> str:
        spaces = ", ".join(f"{s.name}[{s.start}:{s.stop}]" for s in self.namespaces)
        return f"Vocabulary(size={self.size}: {spaces})"
