"""Statistics shared by ablations, attribution tables and reports (a leaf module: it imports no evoforge
package): mean, sample standard deviation, Student-t confidence interval of the mean, and Welch's t-test
between two variants."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (n - 1 in the denominator); nan when n < 2
    ci_low: float  # 95 % confidence interval of the mean; nan when n < 2
    ci_high: float


def summarise(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample std and the two-sided ``confidence`` interval of the mean, mean +- t * std / sqrt(n), with
    t the (1 + confidence) / 2 quantile of Student's t distribution with n - 1 degrees of freedom (Student
    1908, "The probable error of a mean", Biometrika 6(1)): the interval for a mean estimated from few seeds,
    wider than the normal approximation's 1.96 standard errors (t = 2.776 for 5 seeds)."""
    from scipy.stats import t

    data = np.asarray(values, dtype=np.float64)
    n = int(data.size)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(data.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances; Welch 1947, "The generalization of 'Student's'
    problem when several different population variances are involved", Biometrika 34): t = (mean_a - mean_b) /
    sqrt(s_a^2 / n_a + s_b^2 / n_b) with the Welch-Satterthwaite degrees of freedom. nan when a side has fewer
    than two values or both have no spread."""
    import warnings

    from scipy.stats import ttest_ind

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2 or (a.std() == 0 and b.std() == 0):
        return math.nan
    with warnings.catch_warnings():  # scipy warns about precision when one side is (nearly) constant
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(a, b, equal_var=False).pvalue)
