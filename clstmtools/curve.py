"""The picture of a run: training loss and error, validation and test error against lines trained and wall time, one PNG."""
import math

import numpy as np
from PIL import Image, ImageDraw

from .display import picture_font, save_png_atomically

PANEL_WIDTH, PANEL_HEIGHT = 440, 230
#: plot margins inside a panel: left (tick labels), right, top (title), bottom (axis label)
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 24, 34
#: log-scaled values below this are drawn at it (an error of zero is a point on the floor)
FLOOR = 1e-4
#: (column of a curve point, legend label, colour) of each series; error rates share a panel, the loss has its own
ERROR_SERIES = ((3, "training error", (150, 150, 150)), (4, "validation error", (30, 90, 210)),
                (5, "test error", (200, 40, 40)))
LOSS_SERIES = ((2, "training loss", (40, 140, 60)),)
AXES_COLOUR, GRID_COLOUR, TEXT_COLOUR = (0, 0, 0), (225, 225, 225), (0, 0, 0)


def _log_ticks(lo, hi):
    """Decades (and 2, 5 within them when few) between ``lo`` and ``hi``."""
    ticks = []
    for exponent in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mantissa in (1, 2, 5) if math.log10(hi / lo) < 2.5 else (1,):
            value = mantissa * 10.0 ** exponent
            if lo <= value <= hi:
                ticks.append(value)
    return ticks


def _linear_ticks(hi):
    """About five round ticks from 0 to ``hi``."""
    step = 10 ** math.floor(math.log10(max(hi, 1e-9) / 5))
    for factor in (1, 2, 5, 10):
        if hi / (step * factor) <= 6:
            step *= factor
            break
    return [k * step for k in range(int(hi / step) + 1)]


def _label(value):
    return f"{value:g}" if value < 1e5 else f"{value:.0e}"


def _panel(points, x_column, series, title, x_label):
    """One plot: ``series`` of ``points`` (an (n, 6) array) against column ``x_column``, y log-scaled."""
    image = Image.new("RGB", (PANEL_WIDTH, PANEL_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = picture_font(11)
    x0, x1, y0, y1 = LEFT, PANEL_WIDTH - RIGHT, TOP, PANEL_HEIGHT - BOTTOM
    draw.text((LEFT, 4), title, fill=TEXT_COLOUR, font=picture_font(13))
    xs = points[:, x_column]
    values = np.concatenate([points[:, column] for column, _, _ in series])
    values = values[np.isfinite(values)]
    lo = max(FLOOR, float(values[values > 0].min()) if np.any(values > 0) else FLOOR)
    hi = max(float(values.max()) if len(values) else 1.0, lo * 10)
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    x_hi = max(float(xs.max()), 1e-9)

    def to_x(x):
        return x0 + (x1 - x0) * x / x_hi

    def to_y(y):
        y = min(max(y, lo), hi)
        return y1 - (y1 - y0) * (math.log10(y) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    for tick in _log_ticks(lo, hi):
        draw.line([(x0, to_y(tick)), (x1, to_y(tick))], fill=GRID_COLOUR)
        draw.text((4, to_y(tick) - 6), _label(tick), fill=TEXT_COLOUR, font=font)
    label_end = -1.0  # where the last x label drawn ends: a label that would overlap it is left out
    for tick in _linear_ticks(x_hi):
        draw.line([(to_x(tick), y0), (to_x(tick), y1)], fill=GRID_COLOUR)
        text = _label(tick)
        width = draw.textlength(text, font=font)
        # centred under its grid line, moved inside the panel where it would be cut at the edge
        left = min(max(to_x(tick) - width / 2, 0.0), PANEL_WIDTH - width - 4)
        if left > label_end + 4:
            draw.text((left, y1 + 3), text, fill=TEXT_COLOUR, font=font)
            label_end = left + width
    draw.rectangle([x0, y0, x1, y1], outline=AXES_COLOUR)
    draw.text(((x0 + x1) // 2 - 30, PANEL_HEIGHT - 15), x_label, fill=TEXT_COLOUR, font=font)
    legend_x = x1 - 120
    for k, (column, name, colour) in enumerate(series):
        finite = np.isfinite(points[:, column])
        if not finite.any():
            continue
        coords = [(to_x(x), to_y(y)) for x, y in zip(xs[finite], points[finite, column])]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=2)
        for x, y in coords:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.line([(legend_x, y0 + 8 + 13 * k), (legend_x + 14, y0 + 8 + 13 * k)], fill=colour, width=2)
        draw.text((legend_x + 18, y0 + 2 + 13 * k), name, fill=colour, font=font)
    return image


def render_curve(points, title=""):
    """The picture of ``points``: rows (lines trained, wall s, training loss, training error,
    validation error, test error), NaN where a value is missing; errors and loss log-scaled."""
    points = np.asarray(points, np.float64).reshape(-1, 6)
    if len(points) == 0:
        raise ValueError("no test has been run yet")
    panels = [[_panel(points, 0, ERROR_SERIES, f"{title} error rates".strip(), "lines trained"),
               _panel(points, 1, ERROR_SERIES, "error rates", "wall time (s)")],
              [_panel(points, 0, LOSS_SERIES, "training loss (mean of the last 100 lines)", "lines trained"),
               _panel(points, 1, LOSS_SERIES, "training loss", "wall time (s)")]]
    picture = Image.new("RGB", (2 * PANEL_WIDTH, 2 * PANEL_HEIGHT), (255, 255, 255))
    for r, row in enumerate(panels):
        for c, panel in enumerate(row):
            picture.paste(panel, (c * PANEL_WIDTH, r * PANEL_HEIGHT))
    return picture


def write_curve(path, points, title=""):
    """Write the picture of ``points`` to ``path`` as a PNG, atomically replacing the previous one."""
    return save_png_atomically(path, render_curve(points, title))
