"""Recognition by one model or several voting: each model reads the lines its own way, and their readings are voted into one text per line.

A model is given to the programs by ``load=``; several are a comma list or a ``*`` pattern
(``load=book-fold*.h5``). Each model reads the lines as it was trained to (its line height and
normalization: the caller opens the data once per way of reading); the models' outputs become
readings (:func:`clstmtools.vote.read_line`) that :func:`clstmtools.vote.vote` combines. One model
alone is not voted: its text and confidences are its own decoding, exactly.
"""
import glob
import os

from . import ctc as ctcmod
from .datasets.layout import RecognizedLine
from .recognize import network_outputs

#: lines recognized by every model before their readings are voted (bounds the readings held at once)
CHUNK_LINES = 256
#: a voted line's character positions (fractions of the line) as steps of this many (for PAGE/ALTO boxes)
VOTE_STEPS = 1000


class ModelError(ValueError):
    """``load=`` names no model, or a pattern that matches none."""


def model_paths(load):
    """The model files ``load=`` names: a comma list, each item a file or a ``*``/``?`` pattern (its matches
    sorted); an item that matches nothing is an error."""
    paths = []
    for item in (part.strip() for part in load.split(",")):
        if not item:
            raise ModelError(f"load={load!r}: an empty name in the list")
        if glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise ModelError(f"load={load!r}: no model file matches {item}")
            paths += matches
        else:
            paths.append(item)
    return paths


def single_model(load):
    """The one model file ``load=`` names for training (a ModelError when it names several)."""
    paths = model_paths(load)
    if len(paths) != 1:
        raise ModelError(f"load={load!r} names {len(paths)} models: training starts from one")
    return paths[0]


class Reader:
    """One model with the lines read its way: ``task`` a :class:`clstmtools.tasks.CtcTask` over them
    (its inputs, codec, decoding); ``net`` the network; ``path`` names it."""

    def __init__(self, path, net, task):
        self.path, self.net, self.task = path, net, task

    def outputs(self, indices, skip):
        """``(i, outputs)`` of the lines ``indices`` that the model can read and that are long enough
        (``skip`` hears of those too short)."""
        readable = [i for i in indices if self.task.readable(i)]
        for i, _, outputs in network_outputs(self.net, self.task.inputs, readable, skip=skip):
            yield i, outputs


def recognized_lines(readers, indices, skip, confidences=True):
    """``(i, recognized, texts)`` for each line ``i`` of ``indices`` that at least one model read (not one it
    cannot read, nor one too short for it), in order: ``recognized`` a :class:`~clstmtools.datasets.layout.RecognizedLine` (the vote of the models,
    or the one model's decoding, with per-character confidences where ``confidences``) and ``texts``
    each model's own text (None for one model alone, or for a model the line was too short for).
    ``skip(i, reason)`` hears of lines too short for a model."""
    indices = list(indices)
    if len(readers) == 1:
        reader, = readers
        for i, outputs in reader.outputs(indices, skip):
            labels = reader.task.decode(outputs)
            chars = ctcmod.char_confidences(outputs, labels) if confidences else []
            yield i, RecognizedLine(reader.task.codec.decode(labels), chars, len(outputs)), None
        return
    from .vote import read_line, vote  # voting only: one model recognizes without it

    for start in range(0, len(indices), CHUNK_LINES):
        chunk = indices[start:start + CHUNK_LINES]
        readings = [{i: read_line(outputs, reader.task.codec, reader.task.decode(outputs))
                     for i, outputs in reader.outputs(chunk, skip)} for reader in readers]
        for i in chunk:
            present = [by_line[i] for by_line in readings if i in by_line]
            if not present:
                continue
            texts = [by_line[i].text if i in by_line else None for by_line in readings]
            yield i, vote(present).recognized_line(VOTE_STEPS), texts


def display_name(path):
    """A model's file name without its folder (how a vote's report names it)."""
    return os.path.basename(path)
