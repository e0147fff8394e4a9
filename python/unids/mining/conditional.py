"""The conditional-entropy miner driven level by level, so long runs show progress and an
external model can replace the count model (`scorer`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from unids import _core

#: Maps one level's candidate table (prefix, successor, count, prefix_count, prefix_entropy)
#: to h(s|P) in bits for each row.
Scorer = Callable[[pa.Table], np.ndarray]


def mine(
    sequences: object,
    *,
    theta: float | None = None,
    theta_scale: float = 1.0,
    min_support: int = 2,
    max_len: int = 5,
    increment: Literal["surprisal", "plogp"] = "surprisal",
    scorer: Scorer | None = None,
    progress: bool = False,
) -> pa.Table:
    """Algorithm 1 (SPEC §3). Without `scorer` the result equals `unids.mine_patterns`."""
    miner = _core.LevelMiner(sequences, theta=theta, theta_scale=theta_scale,
                             min_support=min_support, max_len=max_len, increment=increment)
    with tqdm(total=max_len - 1, desc="mining levels", unit="level", disable=not progress) as bar:
        while not miner.done:
            if scorer is None:
                miner.advance()
            else:
                miner.advance(np.asarray(scorer(miner.candidates()), dtype=np.float64))
            bar.update(1)
            bar.set_postfix(length=miner.level)
        bar.update(bar.total - bar.n)  # levels skipped because nothing survived
    return miner.finish()
