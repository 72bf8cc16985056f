"""Text-line normalization ("dewarping"): bring a line image of any height to a fixed height with its text band centred and level.

Images are ``(height, width)`` float32 arrays with ink = 1 on background 0, row 0 at
the top. The three methods are clstm's (reference.md §7):

- ``none``: the line must already have the target height;
- ``mean``: scale about the ink-weighted mean row so that ``2 * norm_range *
  norm_vscale * mad`` rows (mad: mean absolute deviation of the ink rows) fill the
  target height;
- ``center``: ocropy's centre-line normalizer: a heavily smoothed copy of the line
  gives, per column, the row of greatest ink density; the smoothed curve through
  those rows is the centre line, and a band around it, as tall as ``norm_range`` mads
  of ink about it, is straightened and scaled to the target height.

Both resampling methods scale the width by the same factor as the height (aspect ratio
kept).
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .kernels.config import FLOAT
from .kernels.dewarp import (box_mean_zero_edges, column_argmax, cut_band, resample_clamped,
                             smooth_columns_zero_edges, smooth_rows_zero_edges, weighted_row_distance)

#: the normalization methods, by the names the drivers' ``dewarp`` setting uses
METHODS = ("none", "mean", "center")

#: Gaussian kernels are cut off this many sigmas from the centre (scipy.ndimage's default)
GAUSSIAN_TRUNCATE = 4.0

#: weight of the box-filtered copy added to the smoothed line: just enough to break ties
#: in empty columns (all zero after smoothing) towards where the line's ink lies
TIE_BREAK_WEIGHT = 0.001


def gaussian_weights(sigma):
    """Normalized Gaussian weights of standard deviation ``sigma`` pixels, truncated at
    ``GAUSSIAN_TRUNCATE`` sigmas (odd length; a single 1 for ``sigma <= 0``), float32."""
    return _gaussian_weights(float(sigma)).copy()


@lru_cache(maxsize=256)
def _gaussian_weights(sigma):
    """:func:`gaussian_weights`, worked out once per sigma (a line's sigmas follow from its height)."""
    if sigma <= 0:
        return np.ones(1, FLOAT)
    radius = int(GAUSSIAN_TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum()).astype(FLOAT)


def smooth_2d(image, sigma_rows, sigma_columns):
    """Separable Gaussian smoothing with zeros beyond the edges (``mode='constant'``)."""
    across = np.empty_like(image)
    smooth_rows_zero_edges(across, image, _gaussian_weights(float(sigma_columns)))
    smoothed = np.empty_like(image)
    smooth_columns_zero_edges(smoothed, across, _gaussian_weights(float(sigma_rows)))
    return smoothed


def smooth_1d_nearest(values, sigma):
    """Gaussian smoothing of a 1-d float64 array, repeating the end values beyond the edges."""
    weights = _gaussian_weights(float(sigma)).astype(np.float64)
    radius = len(weights) // 2
    padded = np.concatenate([np.full(radius, values[0]), values, np.full(radius, values[-1])])
    return np.convolve(padded, weights, mode="valid")


def centre_line(image, smooth2d=1.0, smooth1d=0.3):
    """The centre line of a text line: for each column, the (fractional) row around which its
    text band lies, as a float64 array of length ``width``.

    ocropy's recipe: smooth with sigmas ``(0.5 h, smooth2d h)``, add a faint box-filtered
    copy to settle empty columns, take each column's arg-max row, smooth those rows with
    sigma ``smooth1d h``."""
    height, width = image.shape
    smoothed = smooth_2d(image, 0.5 * height, smooth2d * height)
    box_mean = np.empty_like(smoothed)
    box_mean_zero_edges(box_mean, smoothed, max(1, int(0.5 * height)), width)
    smoothed += FLOAT(TIE_BREAK_WEIGHT) * box_mean
    densest_rows = np.empty(width, np.int64)
    column_argmax(densest_rows, smoothed)
    return smooth_1d_nearest(densest_rows.astype(np.float64), smooth1d * height)


def ink_mad(image, centre_rows, ink):
    """Ink-weighted mean absolute deviation of the rows from ``centre_rows`` (one per column);
    ``ink`` is the image's total."""
    return weighted_row_distance(image, np.asarray(centre_rows, np.float64)) / ink


@dataclass(frozen=True)
class LineNormalizer:
    """A configured normalizer; call it on a ``(height, width)`` line image. Made by
    :func:`make_normalizer`, which checks the settings."""

    method: str
    target_height: int = 48
    norm_range: float = 4.0
    norm_vscale: float = 1.0
    norm_smooth2d: float = 1.0
    norm_smooth1d: float = 0.3

    def __call__(self, image):
        """Return the normalized line: ``(target_height, new_width)`` float32 in [0, 1]
        (``none`` returns a float32 copy of the line as it is)."""
        image = _checked_line(image)
        height, width = image.shape
        if self.method == "none":
            if height != self.target_height:
                raise ValueError(f"line height {height} differs from target_height "
                                 f"{self.target_height}; use dewarp=center or mean")
            return image.copy()
        ink = float(image.sum(dtype=np.float64))
        if ink <= 0:
            blank_width = max(1, int(round(width * self.target_height / height)))
            return np.zeros((self.target_height, blank_width), FLOAT)
        if self.method == "mean":
            return self._normalize_mean(image, ink)
        return self._normalize_center(image, ink)

    def _normalize_mean(self, image, ink):
        row_ink = image.sum(axis=1, dtype=np.float64)
        mean_row = float(np.arange(image.shape[0]) @ row_ink / ink)
        mad = float(np.abs(np.arange(image.shape[0]) - mean_row) @ row_ink / ink)
        # a band at least 2 rows tall: ink on a single row (mad 0) must not blow up the scale
        band_height = max(2.0 * self.norm_range * self.norm_vscale * mad, 2.0)
        scale = band_height / self.target_height
        out = np.empty((self.target_height, max(1, int(image.shape[1] / scale))), FLOAT)
        first_row = mean_row - scale * (self.target_height // 2)
        resample_clamped(out, image, FLOAT(first_row), FLOAT(scale))
        return out

    def _normalize_center(self, image, ink):
        centre = centre_line(image, self.norm_smooth2d, self.norm_smooth1d)
        mad = ink_mad(image, centre, ink)
        half_height = max(1, int(1 + self.norm_range * self.norm_vscale * mad))
        scale = 2.0 * half_height / self.target_height
        out = np.empty((self.target_height, max(1, int(image.shape[1] / scale))), FLOAT)
        # rounded, not truncated as in ocropy, so that the band does not sit half a row high
        band_top = np.floor(centre + 0.5).astype(np.int64) - half_height
        band = np.empty((2 * half_height, image.shape[1]), FLOAT)
        cut_band(band, image, band_top)
        resample_clamped(out, band, FLOAT(0.0), FLOAT(scale))
        return out


def make_normalizer(method, target_height=48, norm_range=4.0, norm_vscale=1.0,
                    norm_smooth2d=1.0, norm_smooth1d=0.3):
    """Return ``normalize(image)`` for the named method (one of :data:`METHODS`), mapping a
    ``(height, width)`` float32 line (ink 1 on 0) to ``(target_height, new_width)`` float32."""
    if method not in METHODS:
        raise ValueError(f"unknown dewarp method {method!r}; choose one of {', '.join(METHODS)}")
    if int(target_height) != target_height or target_height < 1:
        raise ValueError(f"target_height must be a positive integer, not {target_height!r}")
    for name, value in (("norm_range", norm_range), ("norm_vscale", norm_vscale)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, not {value!r}")
    for name, value in (("norm_smooth2d", norm_smooth2d), ("norm_smooth1d", norm_smooth1d)):
        if not value >= 0:
            raise ValueError(f"{name} must be zero or positive, not {value!r}")
    return LineNormalizer(method, int(target_height), float(norm_range), float(norm_vscale),
                          float(norm_smooth2d), float(norm_smooth1d))


def _checked_line(image):
    """The image as a C-contiguous float32 array, or ValueError if it is not a finite 2-d line."""
    image = np.ascontiguousarray(image, dtype=FLOAT)
    if image.ndim != 2 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"a line image must be 2-d (height, width) and non-empty, not shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError(f"line image of shape {image.shape} contains NaN or infinite values")
    return image
