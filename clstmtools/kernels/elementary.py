"""Float64 exp, log and log-add built from polynomials and exponent bits: branch-free, so loops calling them vectorize."""
import numpy as np

from .config import kernel
from .polyfit import FLOAT32_MAX, LN2, SQRT2, atanh_ratio, monomial_fit

#: ``exp(r)`` for ``|r| <= ln(2)/2`` to about 1.5e-15 relative, evaluated in float64 (degree 10)
EXP_COEFFICIENTS, _ = monomial_fit(np.exp, 10, -LN2 / 2, LN2 / 2)
#: ``atanh_ratio(z)`` for ``0 <= z <= 1/9`` (|s| <= 1/3, i.e. -1/2 <= f <= 1) to about 3e-15 relative (degree 8)
ATANH_COEFFICIENTS, ATANH_MIDDLE = monomial_fit(atanh_ratio, 8, 0.0, 1 / 9)
#: exp() arguments are clamped here (exp(-700) ~ 1e-304, still a normal double)
EXP_FLOOR = -700.0
#: beyond this gap, log(1 + exp(-gap)) < 5e-18 and is dropped
LOGADD_RANGE = 40.0
NEG_INF = -np.inf


@kernel
def polynomial8(x, c):
    """``sum(c[k] * x**k)`` over the first nine coefficients, by Estrin's scheme (a shorter dependency chain
    than Horner's, which matters once the loop is vectorized)."""
    x2 = x * x
    x4 = x2 * x2
    low = (c[0] + c[1] * x) + x2 * (c[2] + c[3] * x)
    high = (c[4] + c[5] * x) + x2 * (c[6] + c[7] * x)
    return (low + x4 * high) + (x4 * x4) * c[8]


@kernel
def polynomial10(x, c):
    """``sum(c[k] * x**k)`` for eleven coefficients (the powers are shared with ``polynomial8`` once inlined)."""
    x4 = (x * x) * (x * x)
    return polynomial8(x, c) + ((x4 * x4) * x) * (c[9] + c[10] * x)


@kernel
def exp_bounded(x):
    """``exp(x)`` for ``x <= 700``, to within ``2e-15 + 4e-17 * |x|`` relative (``x`` below -700 counts as -700).

    ``x = n ln2 + r`` with ``|r| <= ln2/2``: a polynomial for ``exp(r)`` times ``2**n`` built from
    its exponent bits. ``n * ln2`` is one rounded product, not the usual two-part one: the callers'
    arguments lie within [-70, 30], where that costs under 3e-15, and the split would cost a fifth
    of the time (fast-math reassociation folds the two products back together unless kept apart
    by an extra conversion)."""
    x = max(x, EXP_FLOOR)
    n = np.floor(x * (1.0 / LN2) + 0.5)
    r = x - n * LN2
    # through int32: a vector conversion (AVX2 has none from double to int64)
    power = np.int64((np.int64(np.int32(n)) + 1023) << 52).view(np.float64)
    return polynomial10(r, EXP_COEFFICIENTS) * power


@kernel
def log1p_moderate(f):
    """``log(1 + f)`` for ``-1/2 <= f <= 1`` (to about 4e-16 absolute): ``2 atanh(s)``, ``s = f / (2 + f)``."""
    s = f / (2.0 + f)
    return s * polynomial8(s * s - ATANH_MIDDLE, ATANH_COEFFICIENTS)


@kernel
def log1p_exp_neg(gap):
    """``log(1 + exp(-gap))`` for ``gap >= 0`` (to about 1e-15 absolute)."""
    return log1p_moderate(exp_bounded(-gap))


@kernel
def logaddexp(x, y):
    """``log(exp(x) + exp(y))`` (to about 1e-15); -inf-safe and branch-free."""
    top = max(x, y)
    gap = abs(x - y)
    bonus = log1p_exp_neg(min(gap, LOGADD_RANGE))
    return top + bonus if gap < LOGADD_RANGE else top


@kernel
def log_float32(x, floor, log_floor):
    """``log(max(x, floor))`` of a float32 ``x`` in float64 (to about 5e-16 relative), NaN and +inf kept.

    Reads the exponent and mantissa from the bits: ``x = 2**k * m`` with ``m`` in [sqrt(1/2), sqrt(2))."""
    bits = np.float32(x).view(np.int32)
    mantissa = np.float64(bits & 0x7FFFFF) * (1.0 / 8388608.0) + 1.0
    exponent = np.float64((bits >> 23) - 127)
    high = mantissa > SQRT2
    mantissa = 0.5 * mantissa if high else mantissa
    exponent = exponent + 1.0 if high else exponent
    value = exponent * LN2 + log1p_moderate(mantissa - 1.0)
    value = np.float64(x) if not x <= FLOAT32_MAX else value
    return log_floor if x < floor else value
