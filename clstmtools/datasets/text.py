"""Text pairs for clstmtext and its one-hot input encoding."""
import os

import numpy as np

from ..codec import Codec, normalize_text
from .base import DatasetError, _context, read_text_lines


def encode_input(text, icodec, neps=3):
    """One-hot ``(T, len(icodec))`` float32 of ``text`` with ``neps`` empty steps before it and after each character.

    ``T = neps + len(text) * (1 + neps)``, clstmtext's input encoding."""
    if int(neps) != neps or neps < 0:
        raise ValueError(f"neps must be a non-negative integer, not {neps!r}")
    neps = int(neps)
    labels = icodec.encode(text)
    steps = np.zeros((neps + len(labels) * (1 + neps), len(icodec)), np.float32)
    steps[neps + np.arange(len(labels)) * (1 + neps), labels] = 1
    return steps


def _skipped_text_line(line):
    return not line.strip() or line.startswith("# ")


class TextPairs:
    """Input/output string pairs for clstmtext, with their codecs (sorted code points seen, plus the blank).

    ``pairs.inputs``, ``pairs.outputs``: lists of str; ``pairs.sources``: ``file:line`` of each
    pair; ``pairs.icodec``, ``pairs.codec``: input and output codecs; ``pairs[i]`` is a tuple.
    Both sides are put in Unicode normalization ``unicode`` (NFC, NFD, NFKC, NFKD or none) first."""

    def __init__(self, inputs, outputs, sources=None, unicode="NFC"):
        if len(inputs) != len(outputs):
            raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
        self.unicode = unicode
        self.inputs = [normalize_text(text, unicode) for text in inputs]
        self.outputs = [normalize_text(text, unicode) for text in outputs]
        self.sources = list(sources) if sources is not None else [f"pair {i}" for i in range(len(inputs))]
        self.icodec = Codec.from_texts(self.inputs)
        self.codec = Codec.from_texts(self.outputs)

    @classmethod
    def read(cls, path, unicode="NFC"):
        """Pairs from a UTF-8 file of ``input<TAB>output`` lines (blank and ``# `` lines skipped)."""
        path = os.fspath(path)
        inputs, outputs, sources = [], [], []
        for number, line in enumerate(read_text_lines(path), 1):
            if _skipped_text_line(line):
                continue
            text_in, tab, text_out = line.partition("\t")
            if not tab:
                raise DatasetError(f"{path}:{number}: no tab between input and output")
            if text_in and text_out:
                inputs.append(text_in)
                outputs.append(text_out)
                sources.append(f"{path}:{number}")
        return cls._checked(inputs, outputs, sources, path, unicode)

    @classmethod
    def read_two(cls, inputs_path, outputs_path, unicode="NFC"):
        """Pairs from two UTF-8 files, the inputs and the outputs line by line (same number of lines)."""
        inputs_path, outputs_path = os.fspath(inputs_path), os.fspath(outputs_path)
        input_lines, output_lines = read_text_lines(inputs_path), read_text_lines(outputs_path)
        if len(input_lines) != len(output_lines):
            raise DatasetError(f"{inputs_path} has {len(input_lines)} lines but {outputs_path} has "
                               f"{len(output_lines)}")
        inputs, outputs, sources = [], [], []
        for number, (text_in, text_out) in enumerate(zip(input_lines, output_lines), 1):
            if _skipped_text_line(text_in) or _skipped_text_line(text_out):
                continue
            inputs.append(text_in)
            outputs.append(text_out)
            sources.append(f"{inputs_path}:{number}")
        return cls._checked(inputs, outputs, sources, inputs_path, unicode)

    @classmethod
    def _checked(cls, inputs, outputs, sources, path, unicode):
        if not inputs:
            raise DatasetError(f"{path}: no input/output pairs")
        try:
            return cls(inputs, outputs, sources, unicode)
        except ValueError as error:
            raise _context(path, error) from None

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        return self.inputs[i], self.outputs[i]
