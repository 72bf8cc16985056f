"""Confidence voting: several models' readings of one line combined into one text with a confidence per character.

After Calamari's confidence voter, in character space, so that the models may have different codecs and
networks of different frame rates:

- A model's :class:`Reading` of a line (:func:`read_line`) gives per decoded character its position (the
  centre of the step where :func:`clstmtools.ctc.char_confidences` places it, as a fraction of the line) and
  its alternatives: the decoded character with its posterior at that step (what
  ``char_confidences`` reports), and every other non-blank class with its highest posterior over the
  character's frames (the run of steps around that step whose best class is the character, as in Calamari's
  decoder), capped at the decoded character's own, and left out below ALTERNATIVE_FLOOR (Calamari's 1e-4).
  The blank is not an alternative, and nothing is renormalized: Calamari keeps the blank among the
  alternatives as the empty character, but here "no character" is what a model whose reading has no
  character in a column votes, with its whole weight; and without renormalizing, one model's confidences
  are exactly its own posteriors.
- :func:`vote` aligns the readings' texts into columns (each reading in turn against the columns so far,
  by a minimal edit script of ``Levenshtein.opcodes``; a column is matched by its likeliest character so
  far), then sums, per column, each model's probabilities per character; a model without a character there
  gives 1 to "no character". The largest sum wins; ties go to the candidate named first, taking the models in
  the order given and each model's alternatives in its order, so the earliest model's reading wins a tie.
  A winning character's confidence is its sum over the number of models; its position the mean of the
  positions where the models that read it placed it. Calamari's synchronizer aligns only the substrings
  common to all readings and lets, between them, the readings of the most frequent length vote position by
  position; the columns here give every model a vote everywhere.
- :func:`disagreement` measures how much the models' texts differ, to choose the lines to transcribe next.
"""
import dataclasses
import itertools
import math

import Levenshtein
import numpy as np

from . import ctc
from .codec import Codec
from .datasets.layout import RecognizedLine

#: alternatives less probable than this are left out of a reading (Calamari's threshold)
ALTERNATIVE_FLOOR = 1e-4


@dataclasses.dataclass(frozen=True)
class Reading:
    """One model's reading of a line: its ``text``, and per character its position (``positions``, 0..1
    along the line) and its ``alternatives``: ``((character, probability), ...)``, the character read first,
    then the others by falling probability."""

    text: str
    positions: tuple
    alternatives: tuple

    def __post_init__(self):
        if not len(self.text) == len(self.positions) == len(self.alternatives):
            raise ValueError(f"a reading of {len(self.text)} characters has {len(self.positions)} positions "
                             f"and {len(self.alternatives)} sets of alternatives")
        for i, (char, alternatives) in enumerate(zip(self.text, self.alternatives)):
            if not alternatives or alternatives[0][0] != char:
                raise ValueError(f"the alternatives of character {i} ({char!r}) do not start with it")


def _frames(best, steps, labels):
    """Per character, ``(first, stop)``: the run of steps around its step whose best class is the character,
    or its step alone where another class is likelier there (as a beam search or an alignment may decide)."""
    change = np.flatnonzero(best[1:] != best[:-1]) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [len(best)]))
    run = np.searchsorted(starts, steps, side="right") - 1
    alone = best[steps] != labels
    return np.where(alone, steps, starts[run]), np.where(alone, steps + 1, stops[run])


def _peaks(outputs, first, stop):
    """``(characters, classes)``: each class's highest output over each character's frames."""
    bounds = np.empty(2 * len(first), np.int64)
    bounds[0::2] = first
    bounds[1::2] = stop  # the reductions from a stop to the next first are dropped
    padded = np.concatenate((outputs, np.zeros((1, outputs.shape[1]), outputs.dtype)))  # a stop may be T
    return np.maximum.reduceat(padded, bounds, axis=0)[0::2]


def read_line(outputs, codec, labels=None):
    """A model's :class:`Reading` of a line from its outputs, ``(T, classes)`` posteriors (class 0 the blank).

    ``codec`` is the model's codec (a :class:`~clstmtools.codec.Codec` or its list of code points);
    ``labels`` the decoded labels, as :func:`clstmtools.ctc.char_confidences` takes them (None for the
    best-path decoding, which is then done here)."""
    codepoints = np.array((codec if isinstance(codec, Codec) else Codec(codec)).codepoints, np.int64)
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    if outputs.ndim != 2 or outputs.shape[1] != len(codepoints):
        raise ValueError(f"outputs of shape {outputs.shape} do not fit a codec of {len(codepoints)} classes")
    if len(outputs) == 0 or (labels is not None and len(labels) == 0):
        if labels is not None and len(labels):
            raise ValueError(f"{len(labels)} labels cannot be read from no time steps")
        return Reading("", (), ())
    if labels is None:
        labels = ctc.best_path_decode(outputs)
    placed = ctc.char_confidences(outputs, labels)
    labels = np.asarray(labels, np.int64)
    steps = np.array([t for t, _ in placed], np.int64)
    posteriors = np.array([p for _, p in placed], np.float32)
    peaks = _peaks(outputs, *_frames(outputs.argmax(axis=1), steps, labels))
    peaks[:, 0] = 0.0
    peaks[np.arange(len(labels)), labels] = 0.0
    np.minimum(peaks, posteriors[:, None], out=peaks)
    rows, classes = np.nonzero(peaks >= ALTERNATIVE_FLOOR)
    probabilities = peaks[rows, classes]
    order = np.lexsort((codepoints[classes], -probabilities, rows))
    others = [[] for _ in labels]
    for row, point, p in zip(rows[order].tolist(), codepoints[classes[order]].tolist(),
                             probabilities[order].tolist()):
        others[row].append((chr(point), p))
    text = "".join(chr(point) for point in codepoints[labels].tolist())
    alternatives = tuple(((char, p),) + tuple(more) for char, (_, p), more in zip(text, placed, others))
    return Reading(text, tuple(((steps + 0.5) / len(outputs)).tolist()), alternatives)


@dataclasses.dataclass
class VotedLine:
    """The vote on a line: ``text``, per character its ``confidences`` and ``positions`` (0..1 along the
    line); the models' own ``texts`` and their :func:`disagreement`."""

    text: str
    confidences: list
    positions: list
    texts: list
    disagreement: float

    @property
    def confidence(self):
        """The mean of the characters' confidences (0 for an empty line)."""
        return sum(self.confidences) / len(self.confidences) if self.confidences else 0.0

    def recognized_line(self, steps):
        """The :class:`~clstmtools.datasets.layout.RecognizedLine` of the vote on a line of ``steps`` time steps."""
        return RecognizedLine(self.text, [(step_at(position, steps), confidence)
                                          for position, confidence in zip(self.positions, self.confidences)], steps)


def step_at(position, steps):
    """The time step of ``steps`` whose centre ``position`` (0..1 along the line) falls in."""
    return min(max(int(position * steps), 0), steps - 1)


def _mean(values, n):
    """The mean of ``values`` padded with zeros to ``n`` values; exactly the value itself when all n are equal."""
    if len(values) == n and values.count(values[0]) == n:
        return values[0]
    return math.fsum(values) / n


def _likeliest(column, readings):
    """The character that the readings in ``column`` read with the largest sum of probabilities (the first on a tie)."""
    sums = {}
    for reading, j in zip(readings, column):
        if j is not None:
            char, p = reading.alternatives[j][0]
            sums[char] = sums.get(char, 0.0) + p
    return max(sums, key=sums.get)


def align(readings):
    """The columns of the readings' texts aligned: per column, per reading the index of its character there,
    or None. Each reading in turn is aligned to the columns so far, each column standing for its likeliest
    character, by ``Levenshtein.opcodes``."""
    n = len(readings)
    columns = [[j] + [None] * (n - 1) for j in range(len(readings[0].text))]
    for i in range(1, n):
        backbone = "".join(_likeliest(column, readings) for column in columns)
        aligned = []
        for tag, a1, a2, b1, b2 in Levenshtein.opcodes(backbone, readings[i].text):
            paired = min(a2 - a1, b2 - b1) if tag in ("equal", "replace") else 0
            for k in range(paired):
                columns[a1 + k][i] = b1 + k
            aligned += columns[a1:a2]  # past the paired ones: no character of reading i there
            for j in range(b1 + paired, b2):
                aligned.append([None] * i + [j] + [None] * (n - 1 - i))
        columns = aligned
    return columns


def vote(readings):
    """The :class:`VotedLine` of several models' :class:`Reading` of one line (see the module's description)."""
    readings = list(readings)
    if not readings:
        raise ValueError("a vote needs at least one reading")
    n = len(readings)
    text, confidences, positions = [], [], []
    for column in align(readings):
        votes = {}  # candidate (None: no character) -> the probabilities the models give it, in order
        for reading, j in zip(readings, column):
            if j is None:
                votes.setdefault(None, []).append(1.0)
            else:
                for char, p in reading.alternatives[j]:
                    votes.setdefault(char, []).append(p)
        winner = max(votes, key=lambda candidate: math.fsum(votes[candidate]))
        if winner is None:
            continue
        text.append(winner)
        confidences.append(_mean(votes[winner], n))
        readers = [reading.positions[j] for reading, j in zip(readings, column)
                   if j is not None and reading.text[j] == winner]
        if not readers:  # won on the models' alternatives alone
            readers = [reading.positions[j] for reading, j in zip(readings, column) if j is not None]
        positions.append(_mean(readers, len(readers)))
    texts = [reading.text for reading in readings]
    return VotedLine("".join(text), confidences, positions, texts, disagreement(texts))


def disagreement(texts):
    """How much ``texts`` differ, 0 (all equal) to 1: the edit distances between all pairs of them added up,
    over their longer lengths added up (0 when all are empty).

    One text that differs from four others in one character of ten scores 0.04, a two-three split on that
    character 0.06, a three-way split 0.07; the same difference weighs more in a shorter line."""
    distance = length = 0
    for a, b in itertools.combinations(texts, 2):
        distance += Levenshtein.distance(a, b)
        length += max(len(a), len(b))
    return distance / length if length else 0.0


def most_disagreement(disagreements, n):
    """The indices of the (at most) ``n`` lines with the largest disagreement above 0, the largest first (the
    earlier line first on a tie)."""
    ranked = sorted((i for i, d in enumerate(disagreements) if d > 0), key=lambda i: (-disagreements[i], i))
    return ranked[:n]
