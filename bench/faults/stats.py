"""The statistics of the benchmark: Wilson 95% intervals for rates, and Welch's t-test with
Cohen's d for "a plant changed the outcome" (a plant manifests).

Small on purpose: a rate is k successes of n trials; a comparison is two lists of per-seed
values. Also used by the audit part (bench/faults/audit.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm
from scipy.stats import t as student_t

Z95 = float(norm.ppf(0.975))  # 1.96: the two-sided 95% normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (Wilson 1927); (0, 1) when n is 0. Unlike
    the normal interval it stays inside [0, 1] and is sound for k = 0 or k = n."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> dict:
    """{"k", "n", "rate", "ci95": [lo, hi]} with the rate None when n is 0."""
    lo, hi = wilson(k, n)
    return {"k": int(k), "n": int(n), "rate": round(k / n, 4) if n else None,
            "ci95": [round(lo, 4), round(hi, 4)]}


def _mean_var(x: list[float]) -> tuple[float, float]:
    m = sum(x) / len(x)
    v = sum((a - m) ** 2 for a in x) / (len(x) - 1) if len(x) > 1 else 0.0
    return m, v


@dataclass
class Comparison:
    """`a` against `b` in the direction asked: `p` one-sided (Welch), `d` Cohen's d of
    a - b signed so that positive is the asked direction."""

    mean_a: float
    mean_b: float
    p: float
    d: float

    def significant(self, alpha: float, min_d: float) -> bool:
        return self.p < alpha and self.d >= min_d


def compare(a: list[float], b: list[float], greater: bool = True) -> Comparison:
    """Is `a` greater (or, greater=False, lower) than `b`? Welch's t-test (unequal
    variances, Welch-Satterthwaite degrees of freedom), one-sided, and Cohen's d with the
    pooled standard deviation. Non-finite values are left out. Where both samples have no
    spread the p-value is 0 when the means differ in the asked direction, else 1."""
    a = [float(x) for x in a if math.isfinite(x)]
    b = [float(x) for x in b if math.isfinite(x)]
    if not a or not b:
        return Comparison(math.nan, math.nan, 1.0, 0.0)
    sign = 1.0 if greater else -1.0
    (ma, va), (mb, vb) = _mean_var(a), _mean_var(b)
    diff = sign * (ma - mb)
    pooled = math.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / max(len(a) + len(b) - 2, 1))
    if pooled == 0:
        d = math.inf if diff > 0 else (-math.inf if diff < 0 else 0.0)
    else:
        d = diff / pooled
    se2 = va / len(a) + vb / len(b)
    if se2 == 0:
        return Comparison(ma, mb, 0.0 if diff > 0 else 1.0, d)
    terms = [(v / n) ** 2 / (n - 1) for v, n in ((va, len(a)), (vb, len(b))) if n > 1]
    df = se2**2 / sum(terms) if terms and sum(terms) > 0 else 1.0
    p = float(student_t.sf(diff / math.sqrt(se2), df))
    return Comparison(ma, mb, p, d)
