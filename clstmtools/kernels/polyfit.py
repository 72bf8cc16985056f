"""Near-minimax polynomial fits and float constants shared by the float32 and float64 log-space kernels."""
import numpy as np


def monomial_fit(function, degree, lower, upper):
    """Coefficients (lowest degree first) in ``x - middle`` of the Chebyshev interpolant of ``function`` on
    [lower, upper], and ``middle``: near-minimax, and evaluated with multiply-adds only."""
    from numpy.polynomial import chebyshev, polynomial

    middle, half = (lower + upper) / 2, (upper - lower) / 2
    fit = chebyshev.Chebyshev.interpolate(lambda u: function(u + middle), degree, domain=[-half, half])
    coefficients = fit.convert(kind=polynomial.Polynomial, domain=[-half, half], window=[-half, half]).coef
    return tuple(float(c) for c in coefficients), middle


def atanh_ratio(z):
    """``2 atanh(sqrt(z)) / sqrt(z)``, so that ``log1p(f) = s * atanh_ratio(s*s)`` with ``s = f / (2 + f)``."""
    root = np.sqrt(np.maximum(z, 1e-300))
    return np.where(z > 1e-20, 2 * np.arctanh(root) / root, 2 + 2 * z / 3)


LN2 = float(np.log(2))
SQRT2 = float(np.sqrt(2))
#: the smallest normal float32: the log kernels read exponent bits, so their floor must be at least this
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
#: the largest finite float32: anything above (inf, and NaN by failing the comparison) passes through the logs
FLOAT32_MAX = float(np.finfo(np.float32).max)
