"""Data quality: Lempel–Ziv real entropy and the predictability bound Π_max per user."""

from unids.quality.entropy import EntropySummary, entropy_table, max_predictability

__all__ = ["EntropySummary", "entropy_table", "max_predictability"]
