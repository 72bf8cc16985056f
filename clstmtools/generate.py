"""Synthetic training data: clstm's sequence tasks, rendered OCR lines, text-transform pairs and expression images."""
import argparse
import codecs
import os
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .datasets import write_ocr_h5, write_seq_h5
from .filenames import escape_label

# Conventions: a sequence task is a pair of arrays ``inputs (count, T, depth)`` and
# ``targets (count, T, 1)``, float32, rows are time steps. Every output file draws from its
# own random stream, seeded by (seed, file name), so the same seed writes the same file
# whatever else is generated in the same run.


class GenerateError(ValueError):
    """A request the generator cannot carry out (bad option, unreadable font or word list)."""


def stream(seed, name):
    """The random generator of one output (a task, or the train/test half of one)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))


# --- sequence tasks -------------------------------------------------------------------------

#: pulse probability of imod and the delay tasks
PULSE_PROBABILITY = 0.2
#: sigma (in steps) of the smoothing that turns noise into pulses (smod, detect)
PULSE_SMOOTHING = 0.5
#: spike-train intervals of the timing tasks: mean, standard deviation, minimum (steps)
SPIKE_MEAN, SPIKE_SD, SPIKE_MIN = 5.0, 2.5, 1
#: a spike is "isolated" for the timing tasks when its gap exceeds this many steps
TIMING_GAP = 5


def gaussian_weights(sigma):
    """Normalised Gaussian taps, truncated at four sigma (as scipy.ndimage does)."""
    radius = max(1, int(4.0 * sigma + 0.5))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def smooth_along_axis(values, sigma, axis):
    """Gaussian smoothing along one axis, edges mirrored (scipy's 'reflect'), in float64."""
    if sigma <= 0:
        return np.asarray(values, np.float64)
    weights = gaussian_weights(sigma)
    radius = len(weights) // 2
    values = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    padding = [(0, 0)] * (values.ndim - 1) + [(radius, radius)]
    padded = np.pad(values, padding, mode="symmetric")
    n = values.shape[-1]
    smoothed = sum(w * padded[..., k:k + n] for k, w in enumerate(weights))
    return np.moveaxis(smoothed, -1, axis)


def local_maxima(values):
    """True where a value exceeds both neighbours along axis 1.

    Unlike the original (``numpy.roll``), the sequence does not wrap around: a missing
    neighbour at either end counts as lower, so an end step can be a maximum."""
    lower = np.full_like(values[:, :1], -np.inf)
    before = np.concatenate([lower, values[:, :-1]], axis=1)
    after = np.concatenate([values[:, 1:], lower], axis=1)
    return (values > before) & (values > after)


def smoothed_pulses(rng, shape):
    """Pulses at the local maxima (along time, axis 1) of lightly smoothed uniform noise."""
    return local_maxima(smooth_along_axis(rng.random(shape), PULSE_SMOOTHING, axis=1))


def as_target(flags):
    """A (count, T) boolean array as float32 targets (count, T, 1)."""
    return flags.astype(np.float32)[:, :, None]


def copied_to_features(flags, depth):
    """A (count, T) pulse array copied to every one of ``depth`` features."""
    return np.repeat(flags.astype(np.float32)[:, :, None], depth, axis=2)


def make_threshold(rng, count, length, depth):
    inputs = rng.random((count, length, depth), dtype=np.float32)
    return inputs, as_target(inputs.sum(axis=2, dtype=np.float64) > 0.5 * depth)


def beat(count, length, period):
    return np.broadcast_to(np.arange(length) % period == 0, (count, length))


def make_mod(rng, count, length, depth, period):
    inputs = rng.random((count, length, depth), dtype=np.float32)
    return inputs, as_target(beat(count, length, period))


def make_dmod(rng, count, length, depth, period):
    inputs = rng.random((count, length, depth), dtype=np.float32)
    inputs[:, :, 0] = 0
    inputs[:, 0, 0] = 1
    return inputs, as_target(beat(count, length, period))


def counted_pulses(pulses, period):
    """The pulses whose running count is 1 more than a multiple of ``period``."""
    return pulses & (np.cumsum(pulses, axis=1) % period == 1)


def make_imod(rng, count, length, depth, period):
    pulses = rng.random((count, length)) < PULSE_PROBABILITY
    return copied_to_features(pulses, depth), as_target(counted_pulses(pulses, period))


def make_smod(rng, count, length, depth, period):
    pulses = smoothed_pulses(rng, (count, length))
    return copied_to_features(pulses, depth), as_target(counted_pulses(pulses, period))


def make_anbn(rng, count, length, depth):
    if length < 3:
        raise GenerateError(f"anbn needs sequences of at least 3 steps, got --length {length}")
    run = rng.integers(1, length // 3 + 1, size=count)
    steps = np.arange(length)
    return copied_to_features(steps < run[:, None], depth), as_target(steps == 2 * run[:, None])


def spike_train(rng, count, length):
    """Spikes at jittered integer intervals starting at step 0, and each spike's gaps.

    Returns ``(spikes, gap_before, gap_after)``, all ``(count, length)``; the gaps are
    meaningful at spikes only, and a spike with no neighbour on a side (within the
    sequence) has gap ``length + 1`` on that side, farther than any real one."""
    intervals = np.rint(SPIKE_MEAN + SPIKE_SD * rng.standard_normal((count, length)))
    intervals = np.maximum(SPIKE_MIN, intervals).astype(np.int64)
    # ``length`` intervals always reach past the end, since each is at least one step
    positions = np.concatenate([np.zeros((count, 1), np.int64), np.cumsum(intervals, axis=1)], axis=1)
    inside = positions < length
    far = length + 1
    before = np.concatenate([np.full((count, 1), far), intervals], axis=1)
    after = np.where(inside[:, 1:], intervals, far)
    rows, slots = np.nonzero(inside)
    steps = positions[rows, slots]
    spikes = np.zeros((count, length), bool)
    gap_before = np.zeros((count, length), np.int64)
    gap_after = np.zeros((count, length), np.int64)
    spikes[rows, steps] = True
    gap_before[rows, steps] = before[rows, slots]
    gap_after[rows, steps] = after[rows, slots]
    return spikes, gap_before, gap_after


def make_timing(rng, count, length, depth, direction):
    spikes, gap_before, gap_after = spike_train(rng, count, length)
    if direction == "forward":
        marked = gap_before > TIMING_GAP
    elif direction == "reverse":
        marked = gap_after > TIMING_GAP
    else:
        marked = (gap_before >= TIMING_GAP) & (gap_after >= TIMING_GAP)
    return copied_to_features(spikes, depth), as_target(spikes & marked)


def detect_channel1_after_channel0(pulses):
    """1 where channel 1 fires alone, channel 0 fired alone before it, and nothing else since.

    ``pulses``: (count, T, 2) booleans. A step where both channels fire disarms the detector;
    a lone channel-0 pulse (re)arms it; a lone channel-1 pulse fires it when armed."""
    count, length, _ = pulses.shape
    fired = np.zeros((count, length), bool)
    armed = np.zeros(count, bool)
    for t in range(length):
        first, second = pulses[:, t, 0], pulses[:, t, 1]
        fired[:, t] = armed & second & ~first
        armed = (first & ~second) | (armed & ~first & ~second)
    return fired


def make_detect(rng, count, length, depth, direction):
    pulses = smoothed_pulses(rng, (count, length, 2))
    forward = detect_channel1_after_channel0(pulses)
    if direction == "forward":
        return pulses.astype(np.float32), as_target(forward)
    if direction == "reverse":
        return pulses[:, ::-1].astype(np.float32), as_target(forward[:, ::-1])
    backward = detect_channel1_after_channel0(pulses[:, ::-1])[:, ::-1]
    return pulses.astype(np.float32), as_target(forward & backward)


def make_delay(rng, count, length, depth, shift):
    pulses = rng.random((count, length)) < PULSE_PROBABILITY
    shifted = np.zeros_like(pulses)
    if shift >= 0:
        shifted[:, shift:] = pulses[:, :max(length - shift, 0)]
    else:
        shifted[:, :shift] = pulses[:, -shift:]
    return as_target(pulses), as_target(shifted)


@dataclass(frozen=True)
class SequenceTask:
    """One of the original's sequence tasks: its maker, the maker's parameters, and a fixed
    input depth where the task defines one (None: the ``--depth`` option)."""
    maker: Callable
    params: tuple = ()
    depth: Optional[int] = None
    summary: str = ""

    def make(self, rng, count, length, depth):
        return self.maker(rng, count, length, self.depth or depth, **dict(self.params))


def _tasks():
    tasks = {"threshold": SequenceTask(make_threshold, summary="1 where the row sum exceeds depth/2"),
             "mod3": SequenceTask(make_mod, (("period", 3),), summary="1 at every multiple of 3")}
    for m in (3, 4, 5, 6):
        tasks[f"dmod{m}"] = SequenceTask(make_dmod, (("period", m),),
                                         summary=f"downbeat at step 0; 1 at every multiple of {m}")
    tasks["imod3"] = SequenceTask(make_imod, (("period", 3),), summary="pulses counted mod 3 (random)")
    for m in (3, 4, 5):
        tasks[f"smod{m}"] = SequenceTask(make_smod, (("period", m),),
                                         summary=f"pulses counted mod {m} (smoothed noise)")
    tasks["anbn"] = SequenceTask(make_anbn, summary="l ones, then a spike at step 2l")
    for name, direction in (("timing", "forward"), ("revtiming", "reverse"), ("biditiming", "both")):
        tasks[name] = SequenceTask(make_timing, (("direction", direction),),
                                   summary=f"isolated spikes ({direction})")
    for name, direction in (("detect", "forward"), ("revdetect", "reverse"), ("bididetect", "both")):
        tasks[name] = SequenceTask(make_detect, (("direction", direction),), depth=2,
                                   summary=f"channel 1 after channel 0 ({direction})")
    for d in (1, 2, 3):
        tasks[f"delay{d}"] = SequenceTask(make_delay, (("shift", d),), depth=1,
                                          summary=f"input delayed by {d}")
    for d in (1, 2):
        tasks[f"rdelay{d}"] = SequenceTask(make_delay, (("shift", -d),), depth=1,
                                           summary=f"input advanced by {d}")
    return tasks


#: every sequence task of the original, by name, in the original's order
SEQUENCE_TASKS = _tasks()


def make_sequence_task(name, count, length=29, depth=2, seed=1):
    """``(inputs (count, length, depth), targets (count, length, 1))`` of task ``name``, float32."""
    if name not in SEQUENCE_TASKS:
        raise GenerateError(f"unknown sequence task {name!r}; known: {', '.join(SEQUENCE_TASKS)}")
    if count < 1 or length < 1 or depth < 1:
        raise GenerateError(f"{name}: count, length and depth must be positive, got {count}, {length}, {depth}")
    inputs, targets = SEQUENCE_TASKS[name].make(stream(seed, name), count, length, depth)
    return np.ascontiguousarray(inputs, np.float32), np.ascontiguousarray(targets, np.float32)


def write_sequence_task(name, outdir, count, length=29, depth=2, seed=1):
    """Write task ``name`` to ``outdir/NAME.h5`` (clstmseq layout); returns the path."""
    inputs, targets = make_sequence_task(name, count, length, depth, seed)
    path = os.path.join(outdir, f"{name}.h5")
    write_seq_h5(path, list(inputs), list(targets))
    return path


# --- fonts and glyphs -----------------------------------------------------------------------

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


# --- OCR lines ---------------------------------------------------------------------------------

#: built-in word list for OCR lines and text pairs (the accented words show the alphabet check:
#: fonts that cannot draw their letters lose them)
WORDS = """
the of and to in is it you that he was for on are with as his they be at one have this from
or had by word but what some we can out other were all there when up use your how said an each
she which do their time if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under name very
through just form sentence great think say help low line differ turn cause much mean before move
right boy old too same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men change went light
kind off need house picture try us again animal point mother world near build self earth father
head stand own page should country found answer school grow study still learn plant cover food
sun four between state keep eye never last let thought city tree cross farm hard start might story
saw far sea draw left late run while press close night real life few north open seem together next
white children begin got walk example ease paper group always music those both mark often letter
until mile river car feet care second book carry took science eat room friend began idea fish
mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual
young ready above ever red list though feel talk bird soon body dog family direct pose leave song
measure door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing listen
six table travel less morning ten simple several vowel toward war lay against pattern slow center
café naïve über façade señor smörgåsbord déjà
""".split()

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


def make_ocr_lines(count, renderers, text_maker, rng, progress=None):
    """``count`` rendered lines: a list of (width, height) float32 images and their texts."""
    images, texts = [], []
    for i in range(count):
        text = text_maker(rng)
        renderer = renderers[int(rng.integers(len(renderers)))]
        images.append(renderer.render(text, rng))
        texts.append(text)
        if progress:
            progress.update(i + 1)
    return images, texts


def write_ocr_file(path, count, renderers, text_maker, alphabet, rng, progress=None):
    """Render ``count`` lines and write them in the clstmctc layout, codec = the alphabet."""
    images, texts = make_ocr_lines(count, renderers, text_maker, rng, progress)
    codec = [0] + [ord(ch) for ch in alphabet]
    label = {ch: i for i, ch in enumerate(alphabet, start=1)}
    write_ocr_h5(path, images, [[label[ch] for ch in text] for text in texts], codec)
    return path


# --- text pairs ------------------------------------------------------------------------------

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def spell_digits(text):
    """'412' -> 'four one two'."""
    return " ".join(DIGIT_NAMES[int(ch)] for ch in text)


#: deterministic string transforms for clstmtext: name -> (transform, kind of input)
TEXT_TRANSFORMS = {
    "reverse": (lambda s: s[::-1], "words"),
    "upper": (str.upper, "words"),
    "rot13": (lambda s: codecs.encode(s, "rot13"), "words"),
    "spell": (spell_digits, "digits"),
}


def make_text_pairs(name, count, rng):
    """``count`` (input, output) pairs of transform ``name``."""
    transform, kind = TEXT_TRANSFORMS[name]
    pairs = []
    for _ in range(count):
        if kind == "digits":
            source = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(1, 9))))
        else:
            source = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(1, 4))))
        pairs.append((source, transform(source)))
    return pairs


def write_text_pairs(path, pairs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for source, target in pairs:
            f.write(f"{source}\t{target}\n")
    return path


# --- expression images -------------------------------------------------------------------------

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


def write_expression_folder(folder, count, style, rng, noise=0.08, progress=None):
    """``count`` images ``ID_LABEL.png`` (label escaped for file names) and ``labels.txt``."""
    os.makedirs(folder, exist_ok=True)
    digits = max(6, len(str(count - 1)))
    lines = []
    for i in range(count):
        label = random_expression(rng)
        name = f"{i:0{digits}d}_{escape_label(label)}.png"
        style.render(label, rng, noise).save(os.path.join(folder, name), format="PNG")
        lines.append(f"{name}\t{label}\n")
        if progress:
            progress.update(i + 1)
    with open(os.path.join(folder, "labels.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    return folder


# --- command line ------------------------------------------------------------------------------

class Progress:
    """A line on stderr every few seconds while ``what`` runs; silent for short runs."""

    def __init__(self, what, total, quiet=False, every=3.0):
        self.what, self.total, self.quiet, self.every = what, total, quiet, every
        self.start = self.last = time.monotonic()

    def update(self, done):
        now = time.monotonic()
        if not self.quiet and now - self.last >= self.every and done < self.total:
            self.last = now
            print(f"{self.what}: {done}/{self.total} ({100 * done // self.total}%) "
                  f"{now - self.start:.0f} s", file=sys.stderr, flush=True)

    def elapsed(self):
        return time.monotonic() - self.start


#: names for --tasks beyond the single sequence tasks
TASK_GROUPS = ("all", "seq", "ocr", "text", "expr")


def selected_tasks(spec):
    """``--tasks`` resolved to (sequence tasks, text transforms, ocr?, expr?), in a fixed order."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    known = set(SEQUENCE_TASKS) | set(TASK_GROUPS) | {f"text-{t}" for t in TEXT_TRANSFORMS}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise GenerateError(f"unknown task(s) {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(TASK_GROUPS)}, {', '.join(SEQUENCE_TASKS)}, "
                         f"{', '.join('text-' + t for t in TEXT_TRANSFORMS)}")
    everything = "all" in names
    sequences = [t for t in SEQUENCE_TASKS if everything or "seq" in names or t in names]
    transforms = [t for t in TEXT_TRANSFORMS if everything or "text" in names or f"text-{t}" in names]
    return sequences, transforms, everything or "ocr" in names, everything or "expr" in names


def build_parser():
    p = argparse.ArgumentParser(
        prog="generate.py",
        description="Write synthetic training data: clstm's sequence tasks (clstmseq HDF5), rendered "
                    "OCR lines (clstmctc HDF5), text-transform pairs (clstmtext) and arithmetic-"
                    "expression images (ID_LABEL.png folders). The same options and seed write the "
                    "same files.")
    p.add_argument("--tasks", default="all",
                   help="comma-separated: sequence tasks (" + ", ".join(SEQUENCE_TASKS) + "), 'seq' for "
                        "all of them, 'ocr', 'text' (or text-" + "/text-".join(TEXT_TRANSFORMS) + "), "
                        "'expr', or 'all' (default)")
    p.add_argument("-o", "--outdir", default=".", help="output directory (created; default .)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    g = p.add_argument_group("sequence tasks (OUTDIR/TASK.h5)")
    g.add_argument("-n", "--samples", type=int, default=50000, help="sequences per task (50000)")
    g.add_argument("--length", type=int, default=29, help="steps per sequence (29)")
    g.add_argument("--depth", type=int, default=2,
                   help="input depth (2); the detect tasks always have 2, the delay tasks 1")
    g = p.add_argument_group("OCR lines (OUTDIR/ocr-train.h5, ocr-test.h5)")
    g.add_argument("--ocr-train", type=int, default=1000, metavar="N", help="training lines (1000)")
    g.add_argument("--ocr-test", type=int, default=100, metavar="M", help="test lines (100)")
    g.add_argument("--height", type=int, default=LineStyle.height, help="line height in pixels (48)")
    g.add_argument("--font", action="append", default=[], metavar="TTF",
                   help="TrueType/OpenType font file, may be repeated (default: Pillow's built-in font); "
                        "expression images use these besides the built-in font")
    g.add_argument("--ocr-text", choices=("words", "letters"), default="words",
                   help="words from a list (default), or random characters")
    g.add_argument("--wordlist", metavar="FILE", help="UTF-8 file of words (whitespace-separated) "
                                                      "instead of the built-in list")
    g.add_argument("--noise", type=float, default=LineStyle.noise, help="largest noise sd, ink 0..1 (0.1)")
    g.add_argument("--blur", type=float, default=LineStyle.blur, help="largest blur sigma in pixels (0.7)")
    g.add_argument("--slant", type=float, default=LineStyle.slant, help="largest shear (0.2)")
    g.add_argument("--wobble", type=float, default=LineStyle.wobble,
                   help="largest baseline wobble amplitude in pixels (1.5)")
    g = p.add_argument_group("text pairs (OUTDIR/text-NAME-train.txt, -test.txt)")
    g.add_argument("--text-train", type=int, default=10000, metavar="N", help="training pairs (10000)")
    g.add_argument("--text-test", type=int, default=1000, metavar="M", help="test pairs (1000)")
    g = p.add_argument_group("expression images (OUTDIR/expr-train/, expr-test/)")
    g.add_argument("--expr-train", type=int, default=500, metavar="N", help="training images (500)")
    g.add_argument("--expr-test", type=int, default=100, metavar="M", help="held-out images (100)")
    return p


def read_wordlist(path):
    try:
        with open(path, encoding="utf-8") as f:
            words = f.read().split()
    except (OSError, UnicodeDecodeError) as error:
        raise GenerateError(f"{path}: cannot read the word list ({error})") from None
    if not words:
        raise GenerateError(f"{path}: the word list is empty")
    return words


def report_dropped(what, dropped):
    for label, lost in dropped.items():
        print(f"{what}: font {label!r} cannot draw {lost!r}; dropped", file=sys.stderr)


def run(args):
    """Write everything ``args`` asks for; returns [(path, description)]."""
    sequences, transforms, ocr, expr = selected_tasks(args.tasks)
    for option in ("samples", "length", "depth", "height"):
        if getattr(args, option) < 1:
            raise GenerateError(f"--{option} must be positive, got {getattr(args, option)}")
    for option in ("ocr_train", "ocr_test", "text_train", "text_test", "expr_train", "expr_test"):
        if getattr(args, option) < 0:
            raise GenerateError(f"--{option.replace('_', '-')} must not be negative")
    os.makedirs(args.outdir, exist_ok=True)
    written = []
    say = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))

    start = time.monotonic()
    for k, name in enumerate(sequences, 1):
        say(f"seq {k}/{len(sequences)}: {name} ({time.monotonic() - start:.0f} s so far)")
        path = write_sequence_task(name, args.outdir, args.samples, args.length, args.depth, args.seed)
        depth = SEQUENCE_TASKS[name].depth or args.depth
        written.append((path, f"{args.samples} sequences x {args.length} steps, depth {depth} -> 1: "
                              f"{SEQUENCE_TASKS[name].summary}"))

    if ocr and (args.ocr_train or args.ocr_test):
        style = LineStyle(args.height, args.noise, args.blur, args.slant, args.wobble)
        words = read_wordlist(args.wordlist) if args.wordlist else WORDS
        renderers, text_maker, alphabet, dropped = ocr_setup(args.font, style, args.ocr_text, words)
        report_dropped("ocr", dropped)
        for part, count in (("train", args.ocr_train), ("test", args.ocr_test)):
            if count:
                path = os.path.join(args.outdir, f"ocr-{part}.h5")
                progress = Progress(f"ocr-{part}", count, args.quiet)
                write_ocr_file(path, count, renderers, text_maker, alphabet, stream(args.seed, f"ocr-{part}"),
                               progress)
                written.append((path, f"{count} lines, height {style.height}, "
                                      f"{len(alphabet)} characters {alphabet!r}"))
                say(f"ocr-{part}: {progress.elapsed():.1f} s")

    for name in transforms:
        for part, count in (("train", args.text_train), ("test", args.text_test)):
            if count:
                path = os.path.join(args.outdir, f"text-{name}-{part}.txt")
                write_text_pairs(path, make_text_pairs(name, count, stream(args.seed, f"text-{name}-{part}")))
                written.append((path, f"{count} pairs input<TAB>{name}(input)"))

    if expr and (args.expr_train or args.expr_test):
        style = ExpressionStyle(args.font)
        report_dropped("expr", style.dropped)
        for part, count in (("train", args.expr_train), ("test", args.expr_test)):
            if count:
                folder = os.path.join(args.outdir, f"expr-{part}")
                progress = Progress(f"expr-{part}", count, args.quiet)
                write_expression_folder(folder, count, style, stream(args.seed, f"expr-{part}"),
                                        args.noise, progress)
                written.append((folder + os.sep, f"{count} images ID_LABEL.png + labels.txt"))
                say(f"expr-{part}: {progress.elapsed():.1f} s")
    return written


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        written = run(args)
    except (ValueError, OSError) as error:
        print(f"generate.py: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} outputs in {time.monotonic() - start:.1f} s:")
    for path, description in written:
        print(f"  {path}: {description}")
    return 0
