"""Training pictures with Pillow alone: input, posteriors, targets and curves stacked in one PNG, written atomically."""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .atomic import atomic_write
from .sequence import Sequence

#: the picture is at least this wide: short sequences get an integer number of pixels per time step
MIN_WIDTH = 600
#: and at most this wide: longer sequences are binned (posteriors keep their peaks: bins take the maximum)
MAX_WIDTH = 3000
#: height limits of the input-image panel, which otherwise keeps the aspect ratio of the line up to
#: IMAGE_ROW_MAX pixels per image row (a short line would otherwise become a tall block)
IMAGE_HEIGHT_RANGE, IMAGE_ROW_MAX = (32, 320), 4
#: a heat map gives each class (channel) this many pixel rows at most, and is at most this high
HEAT_ROW_MAX, HEAT_MAX_HEIGHT = 12, 320
#: height of a curve panel
CURVE_HEIGHT = 110
#: a log-scaled heat map shows posteriors from this floor up to 1
LOG_FLOOR = 1e-5
#: how many output channels of a sequence task get an output-versus-target curve panel
MAX_SEQ_CURVES = 4
#: font sizes of panel labels and of the title lines; long title fields wrap onto at most this many lines
LABEL_SIZE, TITLE_SIZE, TITLE_MAX_LINES = 13, 17, 3

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
GRID_COLOUR = (220, 220, 220)
BLANK_COLOUR = (200, 40, 40)
CLASS_COLOUR = (30, 90, 210)
#: output curves in blue, target curves in red, as for the class and blank curves
OUTPUT_COLOUR, TARGET_COLOUR = CLASS_COLOUR, BLANK_COLOUR
MARGIN = 6

#: anchors of the viridis colour map (dark violet for 0 through teal to yellow for 1), linearly interpolated
_VIRIDIS = np.array([(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
                     (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)], np.float64)


# --- arrays ----------------------------------------------------------------------------------------
def _as_steps(values, what):
    """``values`` (array or batch-1 Sequence) as a float64 ``(T, channels)`` array; NaN and inf made finite."""
    if isinstance(values, Sequence):
        values = values.array()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    elif array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{what} must be a (T, channels) array, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {array.shape}): nothing to display")
    return np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)


def _same_steps(T, values, what):
    if values.shape[0] != T:
        raise ValueError(f"{what}: {values.shape[0]} time steps, but the input has {T}")


def picture_width(T):
    """Pixel width for ``T`` time steps: a whole number of pixels per step up to MIN_WIDTH, capped at MAX_WIDTH."""
    return min(T * -(-MIN_WIDTH // T), MAX_WIDTH)


def resample_rows(values, n, reduce=np.maximum):
    """``values`` resized along axis 0 to ``n`` rows: repeated rows when growing, binned with the ufunc
    ``reduce`` (np.maximum or np.add for a mean) when shrinking."""
    length = values.shape[0]
    starts = (np.arange(n) * length) // n
    if n >= length:
        return values[starts]
    binned = reduce.reduceat(values, starts, axis=0)
    if reduce is np.add:
        counts = np.diff(np.append(starts, length))
        binned /= counts.reshape((-1,) + (1,) * (values.ndim - 1))
    return binned


def colour_map(fraction):
    """RGB uint8 array for values in [0, 1] (clipped), via the viridis anchors."""
    fraction = np.clip(fraction, 0.0, 1.0)
    grid = np.linspace(0.0, 1.0, len(_VIRIDIS))
    rgb = [np.interp(fraction, grid, _VIRIDIS[:, c]) for c in range(3)]
    return np.rint(np.stack(rgb, axis=-1)).astype(np.uint8)


def _heat_map(values, width, lo, hi, reduce=np.maximum, log_scale=False):
    """Heat map of ``(T, channels)`` values: time left to right, channel 0 at the top."""
    nrows = values.shape[1]
    row_px = max(1, min(HEAT_ROW_MAX, HEAT_MAX_HEIGHT // nrows))
    height = min(nrows * row_px, HEAT_MAX_HEIGHT)
    if log_scale:
        fraction = (np.log10(np.maximum(values, LOG_FLOOR)) - np.log10(LOG_FLOOR)) / -np.log10(LOG_FLOOR)
    else:
        fraction = (values - lo) / (hi - lo)
    grid = resample_rows(resample_rows(fraction, width, reduce).T, height, reduce)
    return Image.fromarray(colour_map(grid), "RGB")


def _ink_image(image, width):
    """The line image, ink dark on white, time left to right, the aspect ratio kept within the height limits."""
    T, depth = image.shape
    height = int(np.clip(round(depth * min(width / T, IMAGE_ROW_MAX)), *IMAGE_HEIGHT_RANGE))
    ink = np.clip(image / max(1.0, float(image.max())), 0.0, 1.0)
    grid = resample_rows(resample_rows(ink, width, np.add).T, height, np.add)
    return Image.fromarray(np.rint(255.0 * (1.0 - grid)).astype(np.uint8), "L").convert("RGB")


def _curves(series, width, lo=0.0, hi=1.0):
    """A panel of polylines, one point per pixel column; ``series`` is a list of ``(values (T,), colour, reduce)``."""
    panel = Image.new("RGB", (width, CURVE_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(panel)
    top, bottom = 3, CURVE_HEIGHT - 4

    def y_of(value):
        return bottom - (value - lo) / (hi - lo) * (bottom - top)

    for level in (lo, (lo + hi) / 2, hi):
        draw.line([(0, y_of(level)), (width - 1, y_of(level))], fill=GRID_COLOUR)
    x = np.arange(width, dtype=np.float64)
    for values, colour, reduce in series:
        y = y_of(np.clip(resample_rows(values[:, None], width, reduce)[:, 0], lo, hi))
        draw.line(list(zip(x.tolist(), y.tolist())), fill=colour, width=2)
    return panel


def _value_range(values):
    """Heat-map and curve range: [0, 1] widened to cover the data."""
    return min(0.0, float(values.min())), max(1.0, float(values.max()))


# --- text --------------------------------------------------------------------------------------------
def picture_font(size):
    """Pillow's default font at ``size`` pixels, the one every picture uses."""
    return ImageFont.load_default(size=size)


def _line_height(font):
    left, top, right, bottom = font.getbbox("ÁgÅy|")
    return bottom - min(top, 0) + 3


def _printable(text):
    """Control characters (newlines, tabs, ...) as U+FFFD, so that each field stays on its own lines."""
    return "".join(c if c.isprintable() else "\ufffd" for c in str(text))


def _wrap(text, font, width, max_lines):
    """Greedy character wrap of ``text`` into lines no wider than ``width``; an ellipsis marks a cut."""
    lines, line = [], ""
    for char in text:
        if line and font.getlength(line + char) > width:
            lines.append(line)
            line = ""
        line += char
    lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def _text_block(lines, width, size):
    """White strip with ``lines`` of text at the given font size."""
    font = picture_font(size)
    step = _line_height(font)
    block = Image.new("RGB", (width, step * len(lines) + 2), BACKGROUND)
    draw = ImageDraw.Draw(block)
    for k, line in enumerate(lines):
        draw.text((MARGIN, 1 + k * step), line, fill=TEXT_COLOUR, font=font)
    return block


def _title_block(width, title, fields):
    """Title and ``(name, text)`` fields, each wrapped to the width."""
    font = picture_font(TITLE_SIZE)
    lines = [] if title is None else _wrap(_printable(title), font, width - 2 * MARGIN, TITLE_MAX_LINES)
    for name, text in fields:
        lines += _wrap(f"{name}: {_printable(text)}", font, width - 2 * MARGIN, TITLE_MAX_LINES)
    return _text_block(lines, width, TITLE_SIZE)


def _legend_label(width, label, entries):
    """A panel label followed by coloured legend entries ``(name, colour)``."""
    block = _text_block([label], width, LABEL_SIZE)
    draw = ImageDraw.Draw(block)
    font = picture_font(LABEL_SIZE)
    x = MARGIN + font.getlength(label) + 12
    for name, colour in entries:
        draw.line([(x, block.height // 2), (x + 18, block.height // 2)], fill=colour, width=3)
        draw.text((x + 22, 1), name, fill=colour, font=font)
        x += 22 + font.getlength(name) + 14
    return block


def _stack(width, title_block, panels):
    """Title, then each ``(label block, panel)`` pair, top to bottom with small gaps."""
    parts = [title_block]
    for label, panel in panels:
        parts += [label, panel]
    height = sum(part.height for part in parts) + MARGIN * (len(panels) + 1)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    y = 0
    for k, part in enumerate(parts):
        canvas.paste(part, (0, y))
        y += part.height + (MARGIN if k % 2 == 0 else 0)
    return canvas


# --- pictures -----------------------------------------------------------------------------------------
def render_display(image, outputs, aligned=None, truth="", output_text="", title=None, log_scale=False, maps=None):
    """The OCR training picture as a PIL RGB image; see :func:`write_display`."""
    image = _as_steps(image, "the input image")
    outputs = _as_steps(outputs, "the outputs")
    T, nclasses = outputs.shape
    if T > image.shape[0]:
        raise ValueError(f"the outputs: {T} time steps, but the input has {image.shape[0]}")
    if aligned is not None:
        aligned = _as_steps(aligned, "the aligned targets")
        if aligned.shape != outputs.shape:
            raise ValueError(f"the aligned targets have shape {aligned.shape}, the outputs {outputs.shape}")
    width = picture_width(image.shape[0])
    scale = "log10, 1e-5 to 1" if log_scale else "0 to 1"
    steps = "" if T == image.shape[0] else f" at {T} steps"
    panels = [(_text_block([f"input: {image.shape[1]} rows x {image.shape[0]} columns"], width, LABEL_SIZE),
               _ink_image(image, width)),
              (_text_block([f"output posteriors: {nclasses} classes{steps}, class 0 (blank) at the top, {scale}"],
                           width, LABEL_SIZE),
               _heat_map(outputs, width, 0.0, 1.0, log_scale=log_scale))]
    if aligned is not None:
        panels.append((_text_block([f"aligned targets ({scale})"], width, LABEL_SIZE),
                       _heat_map(aligned, width, 0.0, 1.0, log_scale=log_scale)))
    series, legend = [(outputs[:, 0], BLANK_COLOUR, np.maximum)], [("blank", BLANK_COLOUR)]
    if nclasses > 1:
        series.append((outputs[:, 1:].max(axis=1), CLASS_COLOUR, np.maximum))
        legend.append(("best non-blank class", CLASS_COLOUR))
    panels.append((_legend_label(width, "posteriors over time, 0 to 1:", legend), _curves(series, width)))
    fields = [("truth", truth), ("output", output_text)] + ([("feature maps", maps)] if maps else [])
    return _stack(width, _title_block(width, title, fields), panels)


def render_seq_display(inputs, outputs, targets=None, title=None):
    """The sequence-task training picture as a PIL RGB image; see :func:`write_seq_display`."""
    inputs = _as_steps(inputs, "the inputs")
    outputs = _as_steps(outputs, "the outputs")
    T = inputs.shape[0]
    _same_steps(T, outputs, "the outputs")
    named = [("inputs", inputs), ("outputs", outputs)]
    if targets is not None:
        targets = _as_steps(targets, "the targets")
        if targets.shape != outputs.shape:
            raise ValueError(f"the targets have shape {targets.shape}, the outputs {outputs.shape}")
        named.append(("targets", targets))
    width = picture_width(T)
    panels = []
    for name, values in named:
        lo, hi = _value_range(values)
        label = f"{name}: {values.shape[1]} channels (channel 0 at the top) x {T} steps, {lo:g} to {hi:g}"
        panels.append((_text_block([label], width, LABEL_SIZE), _heat_map(values, width, lo, hi, np.add)))
    lo, hi = _value_range(outputs if targets is None else np.concatenate([outputs, targets]))
    for channel in range(min(outputs.shape[1], MAX_SEQ_CURVES)):
        series, legend = [(outputs[:, channel], OUTPUT_COLOUR, np.add)], [("output", OUTPUT_COLOUR)]
        if targets is not None:
            series.insert(0, (targets[:, channel], TARGET_COLOUR, np.add))
            legend.append(("target", TARGET_COLOUR))
        panels.append((_legend_label(width, f"channel {channel}, {lo:g} to {hi:g}:", legend),
                       _curves(series, width, lo, hi)))
    return _stack(width, _title_block(width, title, []), panels)


def save_png_atomically(path, picture):
    """Write ``picture`` as PNG to ``path`` atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        picture.save(fh, format="PNG")
    return os.fspath(path)


def _write(path, render, *args, **kwargs):
    try:
        picture = render(*args, **kwargs)
    except ValueError as error:
        raise ValueError(f"{os.fspath(path)}: {error}") from None
    return save_png_atomically(path, picture)


def write_display(path, image, outputs, aligned=None, truth="", output_text="", title=None, log_scale=False,
                  maps=None):
    """Write the OCR (CTC) training picture to ``path`` as PNG, atomically; returns ``path``.

    Stacked top to bottom under a title (``title``, then the ground truth and the output text):
    the input ``image`` (``(T, depth)``, row t is image column t, ink high) drawn dark on white with
    time running left to right; the ``outputs`` posteriors ``(T, nclasses)`` as a heat map with
    classes vertical (``log_scale`` shows them as log10 from 1e-5); the ``aligned`` targets of the
    same shape, if given; and the posterior of the blank (class 0) and the largest posterior of the
    other classes over time as two curves. Arrays may also be batch-1 Sequences. The picture is
    ``picture_width(T)`` pixels wide. The outputs of a network that pools columns have fewer steps
    than the image and are stretched to its width; ``maps`` (text) describes its feature maps.
    Bad shapes raise ValueError naming ``path``."""
    return _write(path, render_display, image, outputs, aligned, truth, output_text, title, log_scale, maps)


def write_seq_display(path, inputs, outputs, targets=None, title=None):
    """Write the sequence-task (clstmseq) training picture to ``path`` as PNG, atomically; returns ``path``.

    Heat maps of the ``inputs``, ``outputs`` and ``targets`` (each ``(T, channels)``, channel 0 at
    the top, coloured over [0, 1] widened to the data), then for the first MAX_SEQ_CURVES output
    channels a panel with the output and target curves over time. ``targets`` may be None."""
    return _write(path, render_seq_display, inputs, outputs, targets, title)
