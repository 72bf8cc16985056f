"""Rendered OCR text lines (clstmctc HDF5): line texts, fonts, and per-line slant, wobble, blur and noise."""
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..datasets import write_ocr_h5
from .common import WORDS, GenerateError, draw_unseen, smooth_along_axis
from .fonts import common_alphabet, font_label, load_font

#: characters of the ``letters`` kind of OCR line before the font check
LETTERS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'-()"
           "äöüßéèàçñ€")

#: punctuation that may end a word of a ``words`` line
TRAILING_PUNCTUATION = ".,;:!?"


@dataclass(frozen=True)
class LineStyle:
    """How OCR lines look: output height and the largest distortions (each line draws its own
    amount uniformly between none and these)."""
    height: int = 48          # rows of every line image
    noise: float = 0.1        # standard deviation of additive Gaussian noise (ink is 0..1)
    blur: float = 0.7         # Gaussian blur sigma, output pixels
    slant: float = 0.2        # horizontal shear, pixels per pixel of height
    wobble: float = 1.5       # amplitude of the sinusoidal baseline, output pixels

    def check(self):
        if self.height < 8:
            raise GenerateError(f"--height must be at least 8, got {self.height}")
        for name in ("noise", "blur", "slant", "wobble"):
            if getattr(self, name) < 0:
                raise GenerateError(f"--{name} must not be negative, got {getattr(self, name)}")
        if self.wobble > 0.1 * self.height:
            raise GenerateError(f"--wobble {self.wobble} is more than a tenth of --height {self.height}; "
                             "the baseline would leave the line")
        if self.slant > 1:
            raise GenerateError(f"--slant must be at most 1, got {self.slant}")


#: fraction of the line height taken by the text band (capital top to descender bottom),
#: centred; the rest is margin for accents, wobble and noise
TEXT_BAND = 0.6
#: lines are rendered this many times larger, then scaled down (anti-aliasing)
OVERSAMPLE = 2


class LineRenderer:
    """Renders text lines with one font into ``(width, height)`` float32 arrays, ink 1 on 0."""

    def __init__(self, source, style):
        self.style = style
        self.canvas_height = OVERSAMPLE * style.height
        probe = load_font(source, 100)
        top, bottom = self._band(probe)
        size = max(4, int(round(100 * TEXT_BAND * self.canvas_height / (bottom - top))))
        self.font = load_font(source, size)
        self.label = font_label(source, self.font)
        self.band_top, self.band_bottom = self._band(self.font)

    @staticmethod
    def _band(font):
        """Top of the capitals and bottom of the descenders, relative to the ascender line."""
        return font.getbbox("H")[1], font.getbbox("gjpqy")[3]

    def render(self, text, rng):
        style = self.style
        left, top, right, bottom = self.font.getbbox(text)
        wobble = rng.uniform(0, style.wobble) * OVERSAMPLE
        # the band is centred; a glyph reaching past the margins (a tall accent) widens the
        # canvas symmetrically instead of being cut
        height = self.canvas_height
        offset = height / 2 - (self.band_top + self.band_bottom) / 2
        room = wobble + 2 * OVERSAMPLE
        overflow = max(0.0, room - (top + offset), (bottom + offset) - (height - room))
        grow = int(np.ceil(overflow))
        height += 2 * grow
        offset += grow
        slant = rng.uniform(-style.slant, style.slant)
        margin = int(np.ceil(abs(slant) * height / 2)) + int(rng.integers(height // 8, height // 3 + 1))
        width = (right - left) + 2 * margin
        image = Image.new("L", (width, height))
        ImageDraw.Draw(image).text((margin - left, offset), text, font=self.font, fill=255)
        if slant:
            # output (x, y) samples input (x + slant * (y - centre), y): a shear about the centre row
            image = image.transform((width, height), Image.Transform.AFFINE,
                                    (1, slant, -slant * height / 2, 0, 1, 0), Image.Resampling.BILINEAR)
        ink = np.asarray(image, np.float32) / np.float32(255)
        if wobble:
            period = rng.uniform(2, 8) * height
            shift = wobble * np.sin(2 * np.pi * np.arange(width) / period + rng.uniform(0, 2 * np.pi))
            ink = shift_columns(ink, shift)
        out_width = max(1, int(round(width * style.height / height)))
        scaled = Image.fromarray(ink).resize((out_width, style.height), Image.Resampling.LANCZOS)
        ink = np.asarray(scaled, np.float64)
        sigma = rng.uniform(0, style.blur)
        if sigma > 0.05:
            ink = smooth_along_axis(smooth_along_axis(ink, sigma, 0), sigma, 1)
        ink = np.clip(ink, 0, None)
        peak = ink.max()
        if peak > 0:
            ink /= peak
        sd = rng.uniform(0, style.noise)
        if sd > 0:
            ink = np.clip(ink + sd * rng.standard_normal(ink.shape), 0, 1)
        return np.ascontiguousarray(ink.T, np.float32)


def shift_columns(image, shift):
    """Move each column ``x`` of ``image`` down by ``shift[x]`` rows (linear interpolation, zeros shifted in)."""
    rows = image.shape[0]
    source = np.arange(rows)[:, None] - shift[None, :]
    below = np.floor(source).astype(np.int64)
    frac = (source - below).astype(np.float32)
    columns = np.broadcast_to(np.arange(image.shape[1]), source.shape)

    def sample(r):
        inside = (r >= 0) & (r < rows)
        return np.where(inside, image[np.clip(r, 0, rows - 1), columns], np.float32(0))

    return (1 - frac) * sample(below) + frac * sample(below + 1)


def capitalized(word):
    return word[:1].upper() + word[1:]


class LineText:
    """Random line texts: a few words from a list, or random characters from an alphabet."""

    def __init__(self, kind, alphabet, words):
        self.kind = kind
        self.alphabet = alphabet
        allowed = set(alphabet)
        self.words = [w for w in words if set(w) <= allowed and set(capitalized(w)) <= allowed]
        self.digits = "".join(ch for ch in "0123456789" if ch in allowed)
        self.punctuation = "".join(ch for ch in TRAILING_PUNCTUATION if ch in allowed)
        if kind == "words" and not self.words:
            raise GenerateError("no word of the word list can be drawn with the chosen fonts")
        self.letters = alphabet.replace(" ", "")
        if not self.letters:
            raise GenerateError("the chosen fonts draw none of the requested characters")

    def __call__(self, rng):
        if self.kind == "letters":
            length = int(rng.integers(3, 25))
            chars = [self.letters[i] for i in rng.integers(0, len(self.letters), length)]
            for i in range(1, length - 1):
                if " " in self.alphabet and rng.random() < 0.15 and chars[i - 1] != " ":
                    chars[i] = " "
            return "".join(chars)
        words = []
        for _ in range(int(rng.integers(1, 6))):
            if self.digits and rng.random() < 0.1:
                word = "".join(self.digits[i] for i in rng.integers(0, len(self.digits), int(rng.integers(1, 5))))
            else:
                word = self.words[int(rng.integers(len(self.words)))]
                if rng.random() < 0.2:
                    word = capitalized(word)
            if self.punctuation and rng.random() < 0.15:
                word += self.punctuation[int(rng.integers(len(self.punctuation)))]
            words.append(word)
        return " ".join(words)


def ocr_setup(font_sources, style, kind="words", words=WORDS, letters=LETTERS):
    """The renderers (one per font; the built-in font when ``font_sources`` is empty), the
    text maker and the alphabet every font draws; also ``{font: dropped characters}``."""
    style.check()
    if kind not in ("words", "letters"):
        raise GenerateError(f"unknown OCR text kind {kind!r}: use 'words' or 'letters'")
    renderers = [LineRenderer(source, style) for source in (font_sources or [None])]
    if kind == "words":
        wanted = " " + "".join(words) + "".join(capitalized(w)[:1] for w in words) + "0123456789" + TRAILING_PUNCTUATION
    else:
        wanted = " " + letters
    alphabet, dropped = common_alphabet([(r.label, r.font) for r in renderers], wanted)
    text_maker = LineText(kind, alphabet, words)
    return renderers, text_maker, "".join(sorted(alphabet)), dropped


def make_ocr_lines(count, renderers, text_maker, rng, progress=None, exclude=frozenset()):
    """``count`` rendered lines: a list of (width, height) float32 images and their texts (none of
    them in ``exclude``)."""
    images, texts = [], []
    for i in range(count):
        text = draw_unseen(lambda: text_maker(rng), exclude, "ocr lines")
        renderer = renderers[int(rng.integers(len(renderers)))]
        images.append(renderer.render(text, rng))
        texts.append(text)
        if progress:
            progress.update(i + 1)
    return images, texts


def write_ocr_file(path, count, renderers, text_maker, alphabet, rng, progress=None, exclude=frozenset()):
    """Render ``count`` lines (texts not in ``exclude``) and write them in the clstmctc layout, codec =
    the alphabet; returns the set of texts written."""
    images, texts = make_ocr_lines(count, renderers, text_maker, rng, progress, exclude)
    codec = [0] + [ord(ch) for ch in alphabet]
    label = {ch: i for i, ch in enumerate(alphabet, start=1)}
    write_ocr_h5(path, images, [[label[ch] for ch in text] for text in texts], codec)
    return set(texts)
