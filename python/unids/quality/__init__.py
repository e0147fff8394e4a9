"""Data quality: Lempel–Ziv real entropy and the predictability bound Π_max per user, symbol
views, the count-model conditional entropy, and the dataset report (`unids data stats`)."""

from unids.quality.entropy import EntropySummary, entropy_table, max_predictability
from unids.quality.model_entropy import ModelEntropy, model_entropy
from unids.quality.report import QualityReport, build_report

__all__ = [
    "EntropySummary",
    "ModelEntropy",
    "QualityReport",
    "build_report",
    "entropy_table",
    "max_predictability",
    "model_entropy",
]
