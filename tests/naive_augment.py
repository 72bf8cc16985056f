"""Plain NumPy twin of the augmentation kernel (float64, whole arrays at once): the tests' oracle."""
import numpy as np


def bilinear(image, rows, columns):
    """``image`` (h, w) sampled at float coordinates, zeros outside."""
    h, w = image.shape
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(columns).astype(np.int64)
    fr, fc = rows - r0, columns - c0

    def at(r, c):
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        return np.where(inside, image[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)], 0.0)

    top = (1 - fc) * at(r0, c0) + fc * at(r0, c0 + 1)
    bottom = (1 - fc) * at(r0 + 1, c0) + fc * at(r0 + 1, c0 + 1)
    return (1 - fr) * top + fr * bottom


def warp_line(image, out_width, centre, shift, scale, x_scale, field_rows, field_columns, step):
    """What ``kernels.augment.warp_line`` writes: the scale/shift map, plus the coarse displacement
    fields read bilinearly at ``(r / step, c / step)`` when they are not empty."""
    image = np.asarray(image, np.float64)
    depth = image.shape[0]
    rows, columns = np.mgrid[0:depth, 0:out_width].astype(np.float64)
    source_rows = (rows - centre - shift) / scale + centre
    source_columns = columns / x_scale
    if field_rows.size:
        source_rows = source_rows + bilinear(np.asarray(field_rows, np.float64), rows / step, columns / step)
        source_columns = source_columns + bilinear(np.asarray(field_columns, np.float64), rows / step,
                                                   columns / step)
    return bilinear(image, source_rows, source_columns)
