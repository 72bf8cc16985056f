"""The OCR dataset interface, its in-memory form, and the helpers every reader shares (errors, text files, normalizers)."""
from collections import Counter

import numpy as np

from ..codec import Codec, describe_char, missing_characters, normalize_text
from ..images import scale_to_height


class DatasetError(ValueError):
    """Bad data in a dataset; the message names the file (and line or sample) and what is wrong."""


def _context(where, error):
    """``error`` re-raised as a DatasetError prefixed with ``where`` (a file, line or sample)."""
    return DatasetError(f"{where}: {error}")


def resolve_normalizer(normalizer, target_height=48, norm=None):
    """A line normalizer: None stays None, a dewarp method name is built by ``dewarp.make_normalizer``
    (with ``norm``: norm_range, norm_vscale, norm_smooth2d, norm_smooth1d), a callable is kept."""
    if normalizer is None or callable(normalizer):
        return normalizer
    from ..dewarp import make_normalizer  # deferred: dewarping is only needed when requested
    return make_normalizer(normalizer, target_height, **(norm or {}))


class OcrDataset:
    """OCR lines held in memory, and the interface every OCR dataset offers.

    ``len(ds)``; ``ds.input(i)``: ``(T, depth)`` float32, row t is image column t, ink high;
    ``ds.labels(i)``: int32 labels (>= 1) in ``ds.codec``; ``ds.text(i)``; ``ds.name(i)``;
    ``ds.codec``; ``ds.depth``. Unlabelled datasets (texts None) have ``text(i)`` None and
    no labels. Texts are put in Unicode normalization ``unicode`` (NFC, NFD, NFKC, NFKD or none)
    before the codec is built or applied."""

    def __init__(self, inputs, texts, codec=None, names=None, unicode="NFC"):
        self._inputs = [np.ascontiguousarray(x, np.float32) for x in inputs]
        names = list(names) if names is not None else [f"line {i}" for i in range(len(self._inputs))]
        self._setup(names, texts, codec, unicode=unicode)
        for i, x in enumerate(self._inputs):
            if x.ndim != 2 or x.shape[0] < 1:
                raise DatasetError(f"{names[i]}: an input must be a non-empty (T, depth) array, not {x.shape}")
            if not np.isfinite(x).all():
                raise DatasetError(f"{names[i]}: the input contains NaN or infinity")
            if x.shape[1] != self._inputs[0].shape[1]:
                raise DatasetError(f"{names[i]}: depth {x.shape[1]} differs from the first line's "
                                   f"{self._inputs[0].shape[1]}")
        self._depth = self._inputs[0].shape[1]

    def _setup(self, names, texts, codec, file_codec=None, wheres=None, unicode="NFC"):
        """Names, texts (normalized to ``unicode``), codec (given, else ``file_codec`` unless the
        normalization changed a text, else from the texts) and the labels.

        ``wheres``: how errors name each line (default: its name)."""
        if not names:
            raise DatasetError("the dataset has no lines")
        if texts is not None and len(texts) != len(names):
            raise DatasetError(f"{len(names)} lines but {len(texts)} texts")
        self._names = names
        self.unicode = unicode
        self._texts = None if texts is None else [normalize_text(text, unicode) for text in texts]
        if file_codec is not None and self._texts != list(texts):
            file_codec = None  # codecs are built from the normalized text
        self._depth = None
        if self._texts is None:
            self.codec = codec
            self._labels = None
            self.unknown_characters = Counter()
            return
        for where, text in zip(wheres or names, self._texts):
            if "\0" in text:
                raise DatasetError(f"{where}: the text contains U+0000, which is reserved for the blank")
        self._wheres = wheres
        self.encode_with(codec or file_codec or Codec.from_texts(self._texts))

    def encode_with(self, codec):
        """Take ``codec`` as the dataset's codec and label every line by it. A line with characters
        the codec lacks keeps its text (evaluation counts them as errors) but has no labels;
        ``unknown_characters`` counts those characters over the whole dataset."""
        self.codec = codec
        self.unknown_characters = missing_characters(self._texts, codec)
        self._labels = [codec.encode(text) if not self.unknown_characters or not codec.missing(text) else None
                        for text in self._texts]

    def __len__(self):
        return len(self._names)

    @property
    def labelled(self):
        return self._texts is not None

    @property
    def depth(self):
        """Features per time step (the normalized line height)."""
        if self._depth is None:
            self._depth = self.input(0).shape[1]
        return self._depth

    def input(self, i):
        return self._inputs[i]

    def stored_width(self, i):
        """The width (time steps) of line ``i`` as stored, known without reading it, or None (image files:
        only their normalization tells). It is the same in every process that opens the data."""
        return len(self._inputs[i])

    def read_ahead_when_idle(self, indices):
        """Nothing here: lines held in memory need no reading ahead, and HDF5 files are read on
        demand (a thread at idle priority could hold h5py's lock while training waits for it).
        Image datasets read ahead (:meth:`.lines._ImageLineDataset.read_ahead_when_idle`)."""

    def labels(self, i):
        if self._labels is None:
            raise DatasetError(f"{self.name(i)}: no ground truth (the dataset is unlabelled)")
        labels = self._labels[i]
        if labels is None:
            absent = list(dict.fromkeys(self.codec.missing(self._texts[i])))
            what = "character {} is" if len(absent) == 1 else "characters {} are"
            raise DatasetError(f"{(self._wheres or self._names)[i]}: "
                               f"{what.format(', '.join(map(describe_char, absent)))} not in the codec")
        return labels

    def text(self, i):
        return None if self._texts is None else self._texts[i]

    def name(self, i):
        return self._names[i]

    def __repr__(self):
        lines = len(getattr(self, "_names", ()))  # also while a failed constructor is being reported
        return f"{type(self).__name__}({lines} lines, codec {getattr(self, 'codec', None)!r})"


def height_scaler(target_height):
    """A normalizer scaling a ``(height, width)`` image to ``target_height`` rows, keeping the aspect ratio."""
    def scale(image):
        return scale_to_height(image, target_height)
    scale.target_height = target_height
    return scale


def read_text_lines(path):
    """The lines of a UTF-8 text file without their line ends; errors name the file (and line)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror}") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    text = []
    for number, line in enumerate(lines, 1):
        try:
            text.append(line.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as error:
            raise DatasetError(f"{path}:{number}: not UTF-8 ({error.reason} at column {error.start + 1})") from None
    return text
