"""Evaluation (SPEC §7): full-ranking leave-one-out metrics for the retrieval stages (MRR, HR@k,
NDCG@k with history items masked and pessimistic ties), AUC / GAUC / logloss for fine ranking
(and Platt scaling, to calibrate its probabilities on validation),
and the paired t-test across seeds behind the `*` marks."""

from unids.eval.classification import (
    auc,
    classification_metrics,
    fit_platt,
    gauc,
    logloss,
    platt_probabilities,
    sigmoid,
)
from unids.eval.ranking import RankAccumulator, history_mask, retrieval_metrics, target_ranks
from unids.eval.significance import mark_significant, paired_t_test, two_sided_p_value

__all__ = [
    "RankAccumulator",
    "auc",
    "classification_metrics",
    "fit_platt",
    "gauc",
    "history_mask",
    "logloss",
    "mark_significant",
    "paired_t_test",
    "platt_probabilities",
    "retrieval_metrics",
    "sigmoid",
    "target_ranks",
    "two_sided_p_value",
]
