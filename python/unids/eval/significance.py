"""Paired t-test across seeds, for the `*` marks of the result tables (SPEC §7).

The Student-t tail comes from the regularized incomplete beta function,
    P(|T| > t) = I_x(df / 2, 1 / 2) with x = df / (df + t²),
evaluated by Lentz's modified continued fraction (Numerical Recipes, `betai` / `betacf`) so
the package needs no SciPy.

Accuracy: the fraction is iterated until a step changes it by less than 1e-15 relative. The
limit is the prefactor's exp(lgamma(a + b) - lgamma(a) - lgamma(b) + …), whose cancellation
leaves a relative error of about 1e-16 · (df/2) · ln(df/2): ~1e-14 for the df < 100 of a
seed-level test, ~1e-9 at df = 1e6. Checked against the closed forms for df = 1, 2 and a
numerical integration of the t density (tests/test_eval_metrics.py), and once against
SciPy's `t.sf` for df = 1…1e6 (largest relative difference 1.2e-9, at the largest df).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_MAX_ITERATIONS = 10_000  # the fraction needs O(sqrt(max(a, b))) steps; df = 1e6 takes ~1e3
_RELATIVE_STEP = 1e-15
_TINY = 1e-300  # keeps Lentz's denominators away from zero


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by Lentz's method (converges for x < (a+1)/(a+b+2))."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    fraction = d
    for m in range(1, _MAX_ITERATIONS + 1):
        # Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
        numerator = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 + numerator * d
        c = 1.0 + numerator / c
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = c if abs(c) > _TINY else _TINY
        fraction *= d * c
        # Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 + numerator * d
        c = 1.0 + numerator / c
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        fraction *= step
        if abs(step - 1.0) < _RELATIVE_STEP:
            return fraction
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    return _incomplete_beta(a, b, x, 1.0 - x)


def _incomplete_beta(a: float, b: float, x: float, one_minus_x: float) -> float:
    """I_x(a, b), with 1 - x passed separately so a caller can give it without rounding
    (for x close to 1 the subtraction 1 - x would lose the digits that matter)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"a and b must be positive, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x == 0.0:
        return 0.0
    if one_minus_x == 0.0:
        return 1.0
    log_prefactor = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log(one_minus_x)
    )
    prefactor = math.exp(log_prefactor)
    # The fraction converges fast only on one side of the mean; use I_x(a,b) = 1 - I_{1-x}(b,a).
    if x < (a + 1.0) / (a + b + 2.0):
        return prefactor * _beta_continued_fraction(a, b, x) / a
    return 1.0 - prefactor * _beta_continued_fraction(b, a, one_minus_x) / b


def two_sided_p_value(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (t may be ±inf)."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isnan(t):
        raise ValueError("t is NaN")
    if math.isinf(t):
        return 0.0
    t2 = t * t
    # x = df / (df + t²) rounds to 1 for tiny t; its complement t² / (df + t²) does not.
    return _incomplete_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p) of the paired t-test of mean(a - b) = 0, e.g. one metric per seed.

    Zero variance of the differences has no t distribution, so it is decided directly:
    identical samples give (0.0, 1.0); a constant non-zero difference gives (±inf, 0.0).
    Raises ValueError on fewer than two pairs, unequal lengths, NaN or inf.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a and b must be 1-D of equal length, got {x.shape} and {y.shape}")
    n = len(x)
    if n < 2:
        raise ValueError(f"a paired t-test needs at least 2 pairs, got {n}")
    differences = x - y
    if not np.isfinite(differences).all():
        raise ValueError("a and b must be finite (no NaN or inf)")
    # Compare the values themselves: the mean of equal floats need not equal them exactly,
    # which would turn a zero variance into a tiny positive one.
    if np.all(differences == differences[0]):
        if differences[0] == 0.0:
            return 0.0, 1.0
        return math.copysign(math.inf, differences[0]), 0.0
    mean = float(np.mean(differences))
    standard_error = float(np.std(differences, ddof=1)) / math.sqrt(n)
    t = mean / standard_error
    return t, two_sided_p_value(t, n - 1)


def mark_significant(p: float, alpha: float = 0.05) -> str:
    """ "*" when p < alpha, else "" (NaN p is not significant)."""
    return "*" if p < alpha else ""
