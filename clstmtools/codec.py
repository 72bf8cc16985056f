"""Codec: the mapping between Unicode characters and class labels (label 0 is the CTC blank)."""
import unicodedata
from collections import Counter

import numpy as np

#: the largest Unicode code point
MAX_CODEPOINT = 0x10FFFF

#: the values of unicode=: Unicode normalization forms, or none
UNICODE_FORMS = ("NFC", "NFD", "NFKC", "NFKD", "none")


def normalize_text(text, form):
    """``text`` in Unicode normalization ``form`` (one of :data:`UNICODE_FORMS`; ``none`` keeps it as it is)."""
    if form == "none":
        return text
    if form not in UNICODE_FORMS:
        raise ValueError(f"unknown Unicode normalization {form!r}: expected one of {', '.join(UNICODE_FORMS)}")
    return unicodedata.normalize(form, text)


def describe_char(char):
    """``'ö' (U+00F6)``: a character as it appears in error messages."""
    return f"{char!r} (U+{ord(char):04X})"


class Codec:
    """A list of code points; label ``i`` stands for ``chr(codepoints[i])`` and label 0 is the blank.

    The blank is stored as code point 0, as in clstm's files. Any other code point may
    appear once, in any order (a file's order is kept)."""

    __slots__ = ("_codepoints", "_labels")

    def __init__(self, codepoints):
        points = [int(c) for c in np.asarray(codepoints).ravel()]
        if not points or points[0] != 0:
            raise ValueError(f"a codec must start with the blank, code point 0; got {points[:5]}")
        seen = {}
        for label, point in enumerate(points):
            if not 0 <= point <= MAX_CODEPOINT:
                raise ValueError(f"codec entry {label} is {point}, not a Unicode code point")
            if point in seen:
                raise ValueError(f"codec entries {seen[point]} and {label} are both code point {point}")
            seen[point] = label
        self._codepoints = points
        self._labels = {chr(point): label for point, label in seen.items() if point != 0}

    @classmethod
    def from_texts(cls, texts):
        """The sorted set of code points in ``texts``, after the blank."""
        seen = set()
        for text in texts:
            seen.update(text)
        if "\0" in seen:
            raise ValueError("a text contains U+0000, which is reserved for the blank")
        return cls([0] + sorted(ord(c) for c in seen))

    @property
    def codepoints(self):
        return list(self._codepoints)

    def __len__(self):
        return len(self._codepoints)

    def __eq__(self, other):
        return isinstance(other, Codec) and self._codepoints == other._codepoints

    def __hash__(self):
        return hash(tuple(self._codepoints))

    def __repr__(self):
        return f"Codec({len(self)} classes: {self.decode(range(1, len(self)))!r})"

    def __contains__(self, char):
        return char in self._labels

    def encode(self, text):
        """Labels (>= 1) of the characters of ``text``, as an int32 array."""
        labels = self._labels
        try:
            return np.array([labels[c] for c in text], np.int32)
        except KeyError:
            missing = next(c for c in text if c not in labels)
            raise ValueError(f"character {describe_char(missing)} is not in the codec") from None

    def decode(self, labels):
        """The text of a label sequence; blanks (0) are skipped."""
        points = self._codepoints
        chars = []
        for label in labels:
            label = int(label)
            if not 0 <= label < len(points):
                raise ValueError(f"label {label} is outside the codec (0..{len(points) - 1})")
            if label:
                chars.append(chr(points[label]))
        return "".join(chars)

    def missing(self, text):
        """The characters of ``text`` that the codec lacks, in order (repeats kept)."""
        labels = self._labels
        return [c for c in text if c not in labels]

    def translation_to(self, other):
        """Int32 table mapping this codec's labels to ``other``'s (same character), -1 where ``other`` lacks it."""
        table = np.full(len(self), -1, np.int32)
        table[0] = 0
        for char, label in self._labels.items():
            table[label] = other._labels.get(char, -1)
        return table


#: how many different characters the one-line warning about characters outside a codec names
LISTED_CHARACTERS = 20


def missing_characters(texts, charset):
    """How often each character of ``texts`` that ``charset`` (a Codec, a set of characters) lacks occurs,
    the most frequent first, then by code point."""
    counts = Counter()
    for text in texts:
        counts.update(c for c in text if c not in charset)
    return by_frequency(counts)


def by_frequency(counts):
    """``counts`` (character -> count) as a Counter ordered the most frequent first, then by code point."""
    return Counter(dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))))


def show_char(text):
    """``text`` (a character, or '' for none) quoted as in Python, combining marks escaped (they would sit on the quote)."""
    if len(text) == 1 and unicodedata.category(text).startswith("M"):
        return f"'\\u{ord(text):04x}'"
    return repr(text)


def describe_counts(counts, limit=LISTED_CHARACTERS):
    """``'Ä' ×2, 'ſ' ×1``: characters with their counts, the most frequent first (then by code point), at
    most ``limit`` of them (None: all) and then how many more."""
    ordered = list(by_frequency(counts).items())
    limit = len(ordered) if limit is None else limit
    listed = ", ".join(f"{show_char(char)} ×{count}" for char, count in ordered[:limit])
    return listed + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


def missing_warning(counts, where, whose="the model's codec"):
    """One line saying which characters of the data set ``where`` are outside ``whose`` codec, with counts:
    ``3 characters in test.txt are not in the model's codec: 'Ä' ×2, 'ſ' ×1`` (None when there are none)."""
    if not counts:
        return None
    total = sum(counts.values())
    verb = "character in {} is" if total == 1 else "characters in {} are"
    return f"{total} {verb.format(where)} not in {whose}: {describe_counts(counts)}"


def resized_codec(codec, texts, mode, where, whose="the model's codec"):
    """The codec that training on ``texts`` (the data set ``where``) needs, from ``codec`` by ``mode``
    (kraken's resize): ``fail`` keeps ``codec`` and refuses characters it lacks (ValueError naming them
    and resize=union), ``union`` appends the characters it lacks (sorted), ``new`` keeps only the
    characters the texts have (in ``codec``'s order), then appends the others."""
    counts = missing_characters(texts, codec)
    if mode == "fail":
        if counts:
            raise ValueError(f"{missing_warning(counts, where, whose)}; set resize=union to add them "
                             f"(or resize=new to keep only the data's characters)")
        return codec
    added = [ord(c) for c in sorted(counts)]
    if mode == "union":
        return Codec(codec.codepoints + added)
    if mode == "new":
        present = set().union(*map(set, texts))
        return Codec([0] + [p for p in codec.codepoints[1:] if chr(p) in present] + added)
    raise ValueError(f"unknown resize mode {mode!r}: expected fail, union or new")
