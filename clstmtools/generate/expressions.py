"""Arithmetic-expression images in ID_LABEL.png folders with a labels.txt."""
import os

import numpy as np
from PIL import Image, ImageDraw

from ..filenames import escape_label
from .common import draw_unseen
from .fonts import drawable_characters, font_label, load_font

EXPRESSION_CHARACTERS = "0123456789+-*/()"
#: font sizes (px) and stroke widths the expression images draw from; a stroke is at most
#: one pixel per STROKE_PER_SIZE px of font size (heavier strokes fill small glyphs)
EXPRESSION_SIZES = (14, 48)
EXPRESSION_STROKES = (0, 0, 0, 1, 2)
STROKE_PER_SIZE = 22
#: share of expression images drawn light on dark
INVERTED_SHARE = 0.25


def random_expression(rng, depth=3, top=True):
    """An arithmetic expression such as ``(1+4)*2``; the top level is always an operation."""
    if depth == 0 or (not top and rng.random() < 0.35):
        return str(int(rng.integers(0, 100 if rng.random() < 0.2 else 10)))
    left = random_expression(rng, depth - 1, False)
    right = random_expression(rng, depth - 1, False)
    text = left + "+-*/"[int(rng.integers(4))] + right
    return f"({text})" if not top and rng.random() < 0.5 else text


class ExpressionStyle:
    """Fonts for expression images: the built-in font at any size and stroke width, plus files."""

    def __init__(self, font_sources):
        self.sources = [None]
        self.dropped = {}
        self._cache = {}
        for source in font_sources:
            font = load_font(source, 32)
            _, lost = drawable_characters(font, EXPRESSION_CHARACTERS)
            if lost:
                self.dropped[font_label(source, font)] = lost
            else:
                self.sources.append(source)

    def font(self, source, size):
        key = (source, size)
        if key not in self._cache:
            self._cache[key] = load_font(source, size)
        return self._cache[key]

    def render(self, text, rng, noise):
        """An 8-bit grey PIL image of ``text``: varied font, size, stroke, padding, polarity, noise."""
        source = self.sources[int(rng.integers(len(self.sources)))]
        size = int(rng.integers(EXPRESSION_SIZES[0], EXPRESSION_SIZES[1] + 1))
        stroke = min(EXPRESSION_STROKES[int(rng.integers(len(EXPRESSION_STROKES)))], size // STROKE_PER_SIZE)
        font = self.font(source, size)
        left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
        pad_top, pad_bottom = (int(v) for v in rng.integers(2, max(3, size // 2) + 1, 2))
        pad_left, pad_right = (int(v) for v in rng.integers(2, size + 1, 2))
        width = right - left + pad_left + pad_right
        height = bottom - top + pad_top + pad_bottom
        paper, ink = int(rng.integers(200, 256)), int(rng.integers(0, 70))
        if rng.random() < INVERTED_SHARE:
            paper, ink = 255 - paper, 255 - ink
        image = Image.new("L", (width, height), paper)
        ImageDraw.Draw(image).text((pad_left - left, pad_top - top), text, font=font, fill=ink,
                                   stroke_width=stroke, stroke_fill=ink)
        sd = rng.uniform(0, noise) * 255
        if sd > 0:
            pixels = np.asarray(image, np.float64) + sd * rng.standard_normal((height, width))
            image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        return image


def write_expression_folder(folder, count, style, rng, noise=0.08, progress=None, exclude=frozenset()):
    """``count`` images ``ID_LABEL.png`` (label escaped for file names, none in ``exclude``) and
    ``labels.txt``; returns the set of labels written."""
    os.makedirs(folder, exist_ok=True)
    digits = max(6, len(str(count - 1)))
    lines = []
    for i in range(count):
        label = draw_unseen(lambda: random_expression(rng), exclude, "expr")
        name = f"{i:0{digits}d}_{escape_label(label)}.png"
        style.render(label, rng, noise).save(os.path.join(folder, name), format="PNG")
        lines.append(f"{name}\t{label}\n")
        if progress:
            progress.update(i + 1)
    with open(os.path.join(folder, "labels.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    return {line.rstrip("\n").split("\t", 1)[1] for line in lines}
