"""Fonts and glyphs: loading a font and finding which characters it really draws."""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .common import GenerateError

#: a code point no font draws (a Unicode noncharacter): its rendering is the font's .notdef box
MISSING_CHARACTER = "\uffff"


def load_font(source, size):
    """Pillow's built-in scalable font (``source`` None) or a TrueType/OpenType file at ``size`` px."""
    if source is None:
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(source, size)
    except OSError as error:
        raise GenerateError(f"{source}: cannot load this font ({error})") from None


def font_label(source, font):
    return " ".join(font.getname()) if source is None else os.path.basename(source)


def glyph_image(font, text):
    """The ink of ``text`` alone, cropped to its box, as a uint8 array (empty when no ink)."""
    left, top, right, bottom = font.getbbox(text)
    if right <= left or bottom <= top:
        return np.zeros((0, 0), np.uint8)
    image = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(image).text((-left, -top), text, font=font, fill=255)
    return np.asarray(image)


def drawable_characters(font, characters):
    """Split ``characters`` into those the font draws and those it cannot (kept order, no repeats).

    A character is drawn when it leaves ink that differs from the font's .notdef box; the
    space counts when it advances the pen and leaves no ink. Other whitespace and control
    characters are never drawable."""
    missing = glyph_image(font, MISSING_CHARACTER)
    kept, dropped = [], []
    for ch in dict.fromkeys(characters):
        if ch == " ":
            ok = font.getlength(ch) > 0 and not glyph_image(font, ch).any()
        elif not ch.isprintable() or ch.isspace():
            ok = False
        else:
            ink = glyph_image(font, ch)
            ok = ink.any() and not (ink.shape == missing.shape and np.array_equal(ink, missing))
        (kept if ok else dropped).append(ch)
    return "".join(kept), "".join(dropped)


def common_alphabet(fonts, characters):
    """The characters every font in ``fonts`` ((label, font) pairs) draws, and per font what it drops."""
    alphabet = "".join(dict.fromkeys(characters))
    dropped = {}
    for label, font in fonts:
        _, lost = drawable_characters(font, alphabet)
        if lost:
            dropped[label] = lost
            alphabet = "".join(ch for ch in alphabet if ch not in lost)
    return alphabet, dropped
