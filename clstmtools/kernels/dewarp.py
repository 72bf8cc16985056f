"""Text-line normalization kernels: Gaussian and box smoothing with zero edges, band cutting, bilinear resampling."""
import math

import numpy as np

from .config import kernel


@kernel
def smooth_rows_zero_edges(out, image, weights):
    """Convolve every row of ``image`` with the symmetric ``weights`` (odd length), zeros outside.

    Scatters each non-zero pixel into its neighbourhood instead of gathering, because
    binarized text lines are mostly background and the horizontal kernel is wide (about
    eight line heights): skipping zeros is what keeps this pass cheap."""
    height, width = image.shape
    radius = weights.shape[0] // 2
    out[:, :] = np.float32(0.0)
    for row in range(height):
        for x in range(width):
            value = image[row, x]
            if value == np.float32(0.0):
                continue
            first = max(0, x - radius)
            stop = min(width, x + radius + 1)
            # views indexed from 0 keep the indices provably non-negative: the loop vectorizes
            targets = out[row, first:stop]
            taps = weights[first - x + radius:stop - x + radius]
            for j in range(stop - first):
                targets[j] += value * taps[j]


@kernel
def smooth_columns_zero_edges(out, image, weights):
    """Convolve every column of ``image`` with the symmetric ``weights`` (odd length), zeros outside.

    Loops row by row so that the innermost loop runs along a contiguous row and vectorizes; rows
    without ink (above and below the text) add nothing and are skipped."""
    height, width = image.shape
    radius = weights.shape[0] // 2
    out[:, :] = np.float32(0.0)
    for row in range(height):
        blank = True
        for x in range(width):
            if image[row, x] != np.float32(0.0):
                blank = False
                break
        if blank:
            continue
        first = max(0, row - radius)
        stop = min(height, row + radius + 1)
        for target in range(first, stop):
            weight = weights[row - target + radius]
            for x in range(width):
                out[target, x] += weight * image[row, x]


@kernel
def box_mean_zero_edges(out, image, rows, columns):
    """Mean of ``image`` over a ``rows`` x ``columns`` box around each pixel, zeros beyond the
    edges (``scipy.ndimage.uniform_filter(mode='constant')``: a box of size ``n`` spans the
    offsets ``-(n // 2)`` to ``n - 1 - n // 2``).

    Running sums in float64: linear time whatever the box size (the box is as wide as the line)."""
    height, width = image.shape
    row_offset = rows // 2
    column_offset = columns // 2
    # along the columns: a running sum over the rows in the box, read from the untouched image
    window = np.zeros(width, np.float64)
    for row in range(min(height, rows - row_offset)):
        for x in range(width):
            window[x] += image[row, x]
    for row in range(height):
        for x in range(width):
            out[row, x] = window[x]
        entering = row + rows - row_offset
        leaving = row - row_offset
        if entering < height:
            for x in range(width):
                window[x] += image[entering, x]
        if leaving >= 0:
            for x in range(width):
                window[x] -= image[leaving, x]
    # along the rows, in place: prefix sums of the row first, then overwrite it
    prefix = np.zeros(width + 1, np.float64)
    scale = 1.0 / (rows * columns)
    for row in range(height):
        for x in range(width):
            prefix[x + 1] = prefix[x] + out[row, x]
        for x in range(width):
            first = min(max(x - column_offset, 0), width)
            stop = min(max(x - column_offset + columns, 0), width)
            out[row, x] = (prefix[stop] - prefix[first]) * scale


@kernel
def column_argmax(out, image):
    """``out[c]``: the row of the largest value in column ``c`` of ``image`` (the first of equals,
    as ``np.argmax(image, axis=0)``; finite values), in one pass along the rows."""
    height, width = image.shape
    best = image[0].copy()
    for column in range(width):
        out[column] = 0
    for row in range(1, height):
        for column in range(width):
            value = image[row, column]
            if value > best[column]:
                best[column] = value
                out[column] = row


@kernel
def weighted_row_distance(image, centre_rows):
    """``sum(image[r, c] * |r - centre_rows[c]|)`` over the non-zero pixels, in float64."""
    height, width = image.shape
    total = 0.0
    for row in range(height):
        for column in range(width):
            value = image[row, column]
            if value != np.float32(0.0):
                total += np.float64(value) * abs(row - centre_rows[column])
    return total


@kernel
def cut_band(out, image, band_top):
    """``out[b, c] = image[band_top[c] + b, c]``: a band of ``out.shape[0]`` rows following a
    curve, zero where it leaves the image."""
    band_height, width = out.shape
    height = image.shape[0]
    for band_row in range(band_height):
        for column in range(width):
            row = band_top[column] + band_row
            if 0 <= row < height:
                out[band_row, column] = image[row, column]
            else:
                out[band_row, column] = np.float32(0.0)


@kernel
def resample_clamped(out, image, first_row, scale):
    """Sample ``image`` bilinearly at row ``first_row + i * scale``, column ``x * scale`` into
    ``out[i, x]``, clamping coordinates to the image's edge (clstm's ``bilin``); results are
    clipped to [0, 1] so that rounding cannot push them out."""
    out_height, out_width = out.shape
    height, width = image.shape
    one = np.float32(1.0)
    # the column side of every sample is the same in each output row: work it out once
    left_columns = np.empty(out_width, np.int64)
    right_columns = np.empty(out_width, np.int64)
    right_weights = np.empty(out_width, np.float32)
    for x in range(out_width):
        image_x = np.float32(x) * scale
        column = int(math.floor(image_x))
        right_weights[x] = image_x - np.float32(column)
        left_columns[x] = min(max(column, 0), width - 1)
        right_columns[x] = min(max(column + 1, 0), width - 1)
    for i in range(out_height):
        y = first_row + np.float32(i) * scale
        row = int(math.floor(y))
        fy = y - np.float32(row)
        upper = image[min(max(row, 0), height - 1)]
        lower = image[min(max(row + 1, 0), height - 1)]
        for x in range(out_width):
            fx = right_weights[x]
            top = (one - fx) * upper[left_columns[x]] + fx * upper[right_columns[x]]
            bottom = (one - fx) * lower[left_columns[x]] + fx * lower[right_columns[x]]
            out[i, x] = min(one, max(np.float32(0.0), (one - fy) * top + fy * bottom))
