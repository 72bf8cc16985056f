"""Augmentation kernel: one bilinear pass that applies a line's scale/shift map and its elastic displacement field."""
import math

import numpy as np

from .config import kernel


@kernel
def warp_line(out, image, centre, shift, scale, x_scale, field_rows, field_columns, step):
    """Fill ``out`` (depth, out_width) by sampling ``image`` (depth, width) bilinearly, zeros outside.

    Output pixel (r, c) samples the image at row ``(r - centre - shift) / scale + centre`` and column
    ``c / x_scale``, each moved by a displacement field given on a coarse grid (a node every ``step``
    pixels, read bilinearly at ``(r / step, c / step)``): ``field_rows`` and ``field_columns`` of shape
    ``((depth - 1) // step + 2, (out_width - 1) // step + 2)``, or of shape (0, 0) for none."""
    depth, out_width = out.shape
    height, width = image.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    elastic = field_rows.shape[0] > 0
    inverse_step = one / step
    for r in range(depth):
        base_row = (np.float32(r) - centre - shift) / scale + centre
        grid_row = np.float32(r) * inverse_step
        g0 = int(grid_row)
        gf = grid_row - np.float32(g0)
        for c in range(out_width):
            y = base_row
            x = np.float32(c) / x_scale
            if elastic:
                grid_column = np.float32(c) * inverse_step
                h0 = int(grid_column)
                hf = grid_column - np.float32(h0)
                y += ((one - gf) * ((one - hf) * field_rows[g0, h0] + hf * field_rows[g0, h0 + 1])
                      + gf * ((one - hf) * field_rows[g0 + 1, h0] + hf * field_rows[g0 + 1, h0 + 1]))
                x += ((one - gf) * ((one - hf) * field_columns[g0, h0] + hf * field_columns[g0, h0 + 1])
                      + gf * ((one - hf) * field_columns[g0 + 1, h0] + hf * field_columns[g0 + 1, h0 + 1]))
            row = int(math.floor(y))
            column = int(math.floor(x))
            fy = y - np.float32(row)
            fx = x - np.float32(column)
            total = zero
            for dr in range(2):
                if row + dr < 0 or row + dr >= height:
                    continue
                wy = fy if dr == 1 else one - fy
                for dc in range(2):
                    if column + dc < 0 or column + dc >= width:
                        continue
                    wx = fx if dc == 1 else one - fx
                    total += wy * wx * image[row + dr, column + dc]
            out[r, c] = total
