"""Item embeddings from a trained backbone, to start the regenerator from (SPEC §6; DR4SR found
training the regenerator's item table from scratch unstable).

    table = backbone_item_table("runs/ml-100k-sasrec-recall-base-s0/best.pt",
                                formatted.vocabulary, regenerator_config.dim)
    model, history = fit_regenerator(pairs, formatted.vocabulary.size, regenerator_config,
                                     "runs/regen", item_table=table,
                                     n_items=formatted.vocabulary.n_items)

The checkpoint is a `unids train` run's `best.pt` or `checkpoint.pt`, trained on the same
prepared dataset (or a stage dataset of it): item ids are 1 … I everywhere in the project, so
row i of the backbone's token table is item i of every stage vocabulary. The rows are copied
as they are (no rescaling): the backbone's raw `token_embedding` weights, before SASRec's √d
input scaling or HSTU's L2 normalisation.

A backbone of another width is an error, not a projection: any map from the backbone's d to
the regenerator's would be untrained and blur the geometry the initialisation is meant to
carry. Set the regenerator's `dim` (`[regenerator] dim = …`) to the backbone's instead.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from unids.errors import InputError, UserError
from unids.formats.vocabulary import Vocabulary

#: The key of the backbone's token table in a `unids train` checkpoint (`RankingModel`).
TOKEN_TABLE = "backbone.token_embedding.weight"


def backbone_item_table(path: str | Path, vocabulary: Vocabulary, dim: int, *,
                        rescale: bool = False) -> torch.Tensor:
    """The backbone's (n_tokens, d) token table, checked against the stage's vocabulary
    (same items) and the regenerator's width `dim`; on the CPU. rescale: multiply it so that
    the item rows' RMS is the regenerator's initial 1/√d (directions and relative norms kept;
    a backbone's table is often several times smaller, e.g. SASRec's starts at std 0.02)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise InputError(str(path), "no such backbone checkpoint") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise InputError(str(path), f"not a unids train checkpoint ({error})") from None
    meta = saved.get("meta") if isinstance(saved, dict) else None
    weights = saved.get("model") if isinstance(saved, dict) else None
    if not isinstance(meta, dict) or "vocab" not in meta or not isinstance(weights, dict) \
            or TOKEN_TABLE not in weights:
        raise InputError(str(path), "not a unids train checkpoint (best.pt or checkpoint.pt "
                         "of a backbone run)")
    table = weights[TOKEN_TABLE].float()
    n_items = int(meta["vocab"]["n_items"])
    if n_items != vocabulary.n_items:
        raise UserError(f"{path}: a backbone over {n_items} items, but this dataset has "
                        f"{vocabulary.n_items}: train the backbone on the same prepared dataset")
    if table.shape[1] != dim:
        raise UserError(f"{path}: the backbone's item vectors have {table.shape[1]} dimensions, "
                        f"the regenerator's {dim}: set [regenerator] dim = {table.shape[1]} "
                        "(a multiple of heads) in --config")
    if rescale:
        items = table[1 : n_items + 1]
        table = table * (dim**-0.5 / items.pow(2).mean().sqrt().clamp_min(1e-12))
    return table
