"""Datasets: OCR lines (clstm HDF5, line lists, image folders), sequence pairs and text pairs, read lazily."""
import os
import warnings

import h5py
import numpy as np

from .codec import Codec
from .filenames import label_from_filename
from .images import IMAGE_EXTENSIONS, ImageReadError, image_size, is_image_name, read_image, scale_to_height


def write_ocr_h5(path, images, transcripts, codec):
    """Write OCR lines in clstm's layout.

    ``images``: list of ``(width, height)`` float arrays (row t is image column t, ink high);
    ``transcripts``: list of label lists (each label >= 1); ``codec``: list of code points,
    entry 0 the blank (stored as 0)."""
    with h5py.File(path, "w") as f:
        fvlen = h5py.vlen_dtype(np.float32)
        ivlen = h5py.vlen_dtype(np.int32)
        ds = f.create_dataset("images", (len(images),), dtype=fvlen)
        dims = np.zeros((len(images), 2), np.int32)
        for i, image in enumerate(images):
            image = np.asarray(image, np.float32)
            ds[i] = image.ravel()
            dims[i] = image.shape
        f.create_dataset("images_dims", data=dims)
        tr = f.create_dataset("transcripts", (len(transcripts),), dtype=ivlen)
        for i, labels in enumerate(transcripts):
            tr[i] = np.asarray(labels, np.int32)
        f.create_dataset("codec", data=np.asarray(codec, np.int32))


def write_seq_h5(path, inputs, outputs):
    """Write sequence pairs in clstmseq's layout: lists of ``(T, depth)`` arrays."""
    with h5py.File(path, "w") as f:
        for name, seqs in (("inputs", inputs), ("outputs", outputs)):
            seqs = [np.asarray(s, np.float32) for s in seqs]
            seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
            # one call with an object array: row-by-row writes are a hundred times slower
            data = np.empty(len(seqs), object)
            for i, s in enumerate(seqs):
                data[i] = s.ravel()
            f.create_dataset(name, data=data, dtype=h5py.vlen_dtype(np.float32))
            f.create_dataset(name + "_dims", data=np.array([s.shape for s in seqs], np.int32).reshape(-1, 2))


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
    from .dewarp import make_normalizer  # deferred: dewarping is only needed when asked for
    return make_normalizer(normalizer, target_height, **(norm or {}))


# --- OCR lines -----------------------------------------------------------------------------------
class OcrDataset:
    """OCR lines held in memory, and the interface every OCR dataset offers.

    ``len(ds)``; ``ds.input(i)``: ``(T, depth)`` float32, row t is image column t, ink high;
    ``ds.labels(i)``: int32 labels (>= 1) in ``ds.codec``; ``ds.text(i)``; ``ds.name(i)``;
    ``ds.codec``; ``ds.depth``. Unlabelled datasets (texts None) have ``text(i)`` None and
    no labels."""

    def __init__(self, inputs, texts, codec=None, names=None):
        self._inputs = [np.ascontiguousarray(x, np.float32) for x in inputs]
        names = list(names) if names is not None else [f"line {i}" for i in range(len(self._inputs))]
        self._setup(names, texts, codec)
        for i, x in enumerate(self._inputs):
            if x.ndim != 2 or x.shape[0] < 1:
                raise DatasetError(f"{names[i]}: an input must be a non-empty (T, depth) array, not {x.shape}")
            if x.shape[1] != self._inputs[0].shape[1]:
                raise DatasetError(f"{names[i]}: depth {x.shape[1]} differs from the first line's "
                                   f"{self._inputs[0].shape[1]}")
        self._depth = self._inputs[0].shape[1]

    def _setup(self, names, texts, codec, file_codec=None, wheres=None):
        """Names, texts, codec (given, else ``file_codec``, else from the texts) and the labels.

        ``wheres``: how errors name each line (default: its name)."""
        if not names:
            raise DatasetError("the dataset has no lines")
        if texts is not None and len(texts) != len(names):
            raise DatasetError(f"{len(names)} lines but {len(texts)} texts")
        self._names = names
        self._texts = None if texts is None else list(texts)
        self._depth = None
        if self._texts is None:
            self.codec = codec
            self._labels = None
            return
        self.codec = codec or file_codec or Codec.from_texts(self._texts)
        self._labels = []
        for where, text in zip(wheres or names, self._texts):
            try:
                self._labels.append(self.codec.encode(text))
            except ValueError as error:
                raise _context(where, error) from None

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

    def labels(self, i):
        if self._labels is None:
            raise DatasetError(f"{self.name(i)}: no ground truth (the dataset is unlabelled)")
        return self._labels[i]

    def text(self, i):
        return None if self._texts is None else self._texts[i]

    def name(self, i):
        return self._names[i]

    def __repr__(self):
        lines = len(getattr(self, "_names", ()))  # also while a failed constructor is being reported
        return f"{type(self).__name__}({lines} lines, codec {getattr(self, 'codec', None)!r})"


class _InkCache:
    """Line inputs kept as uint8 (a quarter of float32): every read, first or later, gives the quantized value."""

    def __init__(self, enabled):
        self.enabled = enabled
        self._lines = {}

    def get(self, i, load):
        stored = self._lines.get(i)
        if stored is None:
            stored = np.rint(np.clip(load(i), 0, 1) * np.float32(255)).astype(np.uint8)
            if self.enabled:
                self._lines[i] = stored
        return stored.astype(np.float32) / np.float32(255)

    @property
    def nbytes(self):
        return sum(line.nbytes for line in self._lines.values())


class _ImageLineDataset(OcrDataset):
    """Lines stored as image files, read on first use, normalized and cached."""

    def _setup_images(self, paths, wheres, normalizer, cache):
        self._paths = paths
        self._wheres = wheres
        self._normalizer = normalizer
        self._cache = _InkCache(cache)
        self._depth = getattr(normalizer, "target_height", None)
        # headers only (about 50 us each): unreadable files are reported now, not hours into training
        heights = {}
        for where, path in zip(wheres, paths):
            heights.setdefault(self._image_size(where, path)[1], where)
        if normalizer is None:
            if len(heights) > 1:
                (h0, w0), (h1, w1) = list(heights.items())[:2]
                raise DatasetError(f"{w1}: height {h1} differs from {w0}'s {h0}; lines of different "
                                   f"heights need a dewarping normalizer")
            self._depth = next(iter(heights))

    @staticmethod
    def _image_size(where, path):
        try:
            return image_size(path)
        except ImageReadError as error:
            raise _context(where, error.reason) from None

    def _load(self, i):
        try:
            image = read_image(self._paths[i])
        except ImageReadError as error:
            raise _context(self._wheres[i], error.reason) from None
        if self._normalizer is not None:
            try:
                image = self._normalizer(image)
            except ValueError as error:
                raise _context(self._wheres[i], error) from None
        return np.ascontiguousarray(image.T)

    def input(self, i):
        line = self._cache.get(i, self._load)
        if self._depth is not None and line.shape[1] != self._depth:
            raise DatasetError(f"{self._wheres[i]}: height {line.shape[1]} differs from the dataset's "
                               f"depth {self._depth}")
        return line

    @property
    def cache_nbytes(self):
        """Bytes held by the cache of normalized lines."""
        return self._cache.nbytes


def ground_truth_path(image_path):
    """The ocropus ground-truth file of a line image: ``x.bin.png``, ``x.nrm.png``, ``x.png`` -> ``x.gt.txt``."""
    stem, extension = os.path.splitext(image_path)
    if extension.lower() in IMAGE_EXTENSIONS:
        inner, variant = os.path.splitext(stem)
        if variant.lower() in (".bin", ".nrm"):
            stem = inner
    return stem + ".gt.txt"


def read_ground_truth(path):
    """A ``.gt.txt`` file's text without its trailing newline; UTF-8 errors name the file."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror}") from None
    return text.removesuffix("\n").removesuffix("\r")


class LineListDataset(_ImageLineDataset):
    """Line images named in a text file, one path per line, with ocropus ``.gt.txt`` ground truth.

    Relative paths are resolved against the list file's folder; blank lines and lines
    starting with ``#`` are skipped. ``normalizer``: a callable, a dewarp method name
    (``center``, ``mean``, ``none``, built with ``target_height`` and ``norm``), or None for
    the images as they are (then they must share one height). Normalized lines are cached
    as uint8 (``cache=False`` to read every time)."""

    def __init__(self, listfile, codec=None, normalizer="center", target_height=48, norm=None,
                 labelled=True, cache=True):
        listfile = os.fspath(listfile)
        folder = os.path.dirname(os.path.abspath(listfile))
        paths, wheres, texts = [], [], []
        for number, line in enumerate(read_text_lines(listfile), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            path = os.path.join(folder, entry)
            where = f"{listfile}:{number}: {entry}"
            if not os.path.isfile(path):
                raise DatasetError(f"{where}: no such image file")
            if labelled:
                truth = ground_truth_path(path)
                if not os.path.isfile(truth):
                    raise DatasetError(f"{where}: no ground truth file {os.path.basename(truth)}")
                texts.append(read_ground_truth(truth))
            paths.append(path)
            wheres.append(where)
        if not paths:
            raise DatasetError(f"{listfile}: the list names no images")
        self._setup(paths, texts if labelled else None, codec, wheres=wheres)
        self._setup_images(paths, wheres, resolve_normalizer(normalizer, target_height, norm), cache)


class ImageFolderDataset(_ImageLineDataset):
    """Every image in a folder (sorted by name), labelled by ``labels.txt``, ``.gt.txt`` files or file names.

    With a ``labels.txt`` beside the images (``FILENAME<TAB>LABEL`` or ``FILENAME LABEL``), it
    labels the images; otherwise each image's ``x.gt.txt`` if present, else its name
    (``ID_LABEL.ext``, see :func:`label_from_filename`). Images without a label (or with an
    invalid ``%`` escape in the name) are skipped and listed in ``skipped`` (with a warning),
    or are an error with ``strict=True``; ``labelled=False`` takes every image with text None.
    Images are scaled to ``target_height`` keeping their aspect ratio, unless a ``normalizer``
    (a callable or a dewarp method name) does the scaling."""

    def __init__(self, directory, codec=None, target_height=48, normalizer=None, strict=False,
                 labelled=True, norm=None, cache=True):
        directory = os.fspath(directory)
        try:
            files = sorted(name for name in os.listdir(directory)
                           if is_image_name(name) and os.path.isfile(os.path.join(directory, name)))
        except OSError as error:
            raise DatasetError(f"{directory}: cannot list the folder: {error.strerror}") from None
        if not files:
            raise DatasetError(f"{directory}: no image files ({' '.join(IMAGE_EXTENSIONS)})")
        self.skipped = []
        texts = None
        if labelled:
            labels = self._labels_by_name(directory, files)
            for name in files:
                if isinstance(labels[name], _Unlabelled):
                    if strict:
                        raise DatasetError(f"{os.path.join(directory, name)}: {labels[name].reason}")
                    self.skipped.append(name)
            if self.skipped:
                shown = ", ".join(labels[name].shown(name) for name in self.skipped[:10])
                more = ", ..." if len(self.skipped) > 10 else ""
                warnings.warn(f"{directory}: {len(self.skipped)} images without a label skipped: {shown}{more}",
                              stacklevel=2)
            files = [name for name in files if not isinstance(labels[name], _Unlabelled)]
            if not files:
                first = self.skipped[0]
                raise DatasetError(f"{directory}: none of the images has a label (the first, {first}: "
                                   f"{labels[first].reason})")
            texts = [labels[name] for name in files]
        paths = [os.path.join(directory, name) for name in files]
        self._setup(paths, texts, codec)
        self._setup_images(paths, paths, resolve_normalizer(normalizer or height_scaler(target_height),
                                                            target_height, norm), cache)

    @staticmethod
    def _labels_by_name(directory, files):
        """Label of each image file name, or an :class:`_Unlabelled` saying why it has none."""
        listing = os.path.join(directory, "labels.txt")
        if os.path.isfile(listing):
            labels = _read_labels_txt(listing, set(files))
            return {name: labels.get(name) or _Unlabelled(f"no label in {listing}") for name in files}
        labels = {}
        for name in files:
            truth = ground_truth_path(os.path.join(directory, name))
            if os.path.isfile(truth):
                labels[name] = read_ground_truth(truth) or _Unlabelled(f"no label: {truth} is empty")
            else:
                labels[name] = _label_in_name(name)
        return labels


class _Unlabelled:
    """Why an image of a folder has no label."""

    def __init__(self, reason, detailed=False):
        self.reason = reason
        self.detailed = detailed

    def shown(self, name):
        """``name`` for the list of skipped images, with the reason where "without a label" does not say it."""
        return f"{name} ({self.reason})" if self.detailed else name


def _label_in_name(name):
    """The label in an ``ID_LABEL.ext`` file name, or an :class:`_Unlabelled`."""
    try:
        label = label_from_filename(name)
    except ValueError as error:
        return _Unlabelled(str(error).removeprefix(f"{name}: "), detailed=True)
    if label is None:
        stem = os.path.splitext(name)[0]
        return _Unlabelled("no label after the '_' of ID_LABEL" if "_" in stem else
                           "no label: the name has no '_' (ID_LABEL.ext)")
    return label


def height_scaler(target_height):
    """A normalizer scaling a ``(height, width)`` image to ``target_height`` rows, keeping the aspect ratio."""
    def scale(image):
        return scale_to_height(image, target_height)
    scale.target_height = target_height
    return scale


def _read_labels_txt(path, files):
    """``labels.txt``: ``FILENAME<TAB>LABEL`` or ``FILENAME LABEL`` per line; the label is the rest of the line."""
    labels = {}
    for number, line in enumerate(read_text_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, separator, label = line.partition("\t") if "\t" in line else line.partition(" ")
        where = f"{path}:{number}"
        if not separator:
            raise DatasetError(f"{where}: no label after the file name {name!r}")
        if name not in files:
            raise DatasetError(f"{where}: no image file {name!r} in the folder")
        if name in labels:
            raise DatasetError(f"{where}: {name!r} is labelled twice")
        labels[name] = label or None
    return labels


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


# --- HDF5 files ----------------------------------------------------------------------------------
def _open_h5(path, required, kind):
    """Open an HDF5 file for reading and check that it has the datasets in ``required``."""
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(f"{path}: cannot open as HDF5: {error}") from None
    for name in required:
        if name not in f:
            f.close()
            raise DatasetError(f"{path}: missing dataset {name!r} (a {kind} file has {', '.join(required)})")
    return f


def _dims(f, path, name, count):
    """The ``(count, 2)`` dims dataset ``name``, checked to be positive integers."""
    dims = f[name][()]
    if dims.shape != (count, 2):
        raise DatasetError(f"{path}: {name} has shape {dims.shape}, expected ({count}, 2)")
    bad = np.flatnonzero((dims <= 0).any(axis=1) | (dims != np.round(dims)).any(axis=1))
    if bad.size:
        raise DatasetError(f"{path}: sample {bad[0]}: {name} is {dims[bad[0]].tolist()}, not two positive integers")
    return dims.astype(np.int64)


def _read_array(dataset, path, dims, i):
    """Sample ``i`` of a variable-length dataset as a ``dims[i]``-shaped float32 array."""
    name = dataset.name.lstrip("/")
    values = np.asarray(dataset[i], np.float32)
    rows, columns = dims[i]
    if values.size != rows * columns:
        raise DatasetError(f"{path}: sample {i}: {name} has {values.size} values but {name}_dims says "
                           f"{rows}x{columns}")
    return values.reshape(rows, columns)


def _consistent(path, name, values, what):
    """Check that ``values`` (one per sample) are all equal; the error names the first that is not."""
    bad = np.flatnonzero(values != values[0])
    if bad.size:
        raise DatasetError(f"{path}: sample {bad[0]}: {name} {what} {values[bad[0]]} differs from "
                           f"sample 0's {values[0]}")


class _H5File:
    """An HDF5 file held open for lazy reading; ``close()``, or use the dataset as a context manager."""

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class OcrH5Dataset(_H5File, OcrDataset):
    """OCR lines in clstm's HDF5 layout, read one line at a time from the open file.

    Each image is divided by its maximum. ``codec``: a model's codec to re-encode the
    transcripts into (by code point), else the file's. ``normalizer`` (callable or dewarp
    method name) lets lines of different heights be resampled. ``target_name`` other than
    ``ctc`` names a pre-aligned target dataset (with ``<name>_dims``) read by ``targets(i)``."""

    REQUIRED = ("images", "images_dims", "transcripts", "codec")

    def __init__(self, path, codec=None, normalizer=None, target_name="ctc", target_height=48, norm=None):
        self.path = path = os.fspath(path)
        self._file = f = _open_h5(path, self.REQUIRED, "clstm OCR")
        try:
            self._read_header(f, path, codec, resolve_normalizer(normalizer, target_height, norm), target_name)
        except BaseException:
            f.close()
            raise

    def _read_header(self, f, path, codec, normalizer, target_name):
        count = len(f["images"])
        if count == 0:
            raise DatasetError(f"{path}: no lines")
        self._dims = _dims(f, path, "images_dims", count)
        self._images = f["images"]  # kept: looking a dataset up by name costs as much as reading a line
        try:
            file_codec = Codec(f["codec"][()])
        except ValueError as error:
            raise DatasetError(f"{path}: bad codec: {error}") from None
        transcripts = f["transcripts"]
        if len(transcripts) != count:
            raise DatasetError(f"{path}: {len(transcripts)} transcripts for {count} images")
        texts = []
        for i, labels in enumerate(transcripts[()]):
            labels = np.asarray(labels).ravel()
            bad = labels[(labels < 1) | (labels >= len(file_codec))]
            if bad.size:
                raise DatasetError(f"{path}: sample {i}: label {int(bad[0])} is not in the file's codec "
                                   f"(1..{len(file_codec) - 1})")
            texts.append(file_codec.decode(labels))
        self.file_codec = file_codec
        self._setup([f"{path}[{i}]" for i in range(count)], texts, codec, file_codec)
        self._normalizer = normalizer
        if normalizer is None:
            _consistent(path, "images_dims", self._dims[:, 1], "height")
            self._depth = int(self._dims[0, 1])
        else:
            self._depth = getattr(normalizer, "target_height", None)
        self.target_name = target_name
        if target_name != "ctc":
            for name in (target_name, target_name + "_dims"):
                if name not in f:
                    raise DatasetError(f"{path}: no pre-aligned target dataset {name!r} "
                                       f"(target_name={target_name})")
            self._target_dims = _dims(f, path, target_name + "_dims", count)

    def input(self, i):
        line = _read_array(self._images, self.path, self._dims, i)
        top = line.max()
        if top > 0:
            line /= top
        if self._normalizer is not None:
            try:
                line = np.ascontiguousarray(self._normalizer(line.T).T)
            except ValueError as error:
                raise _context(f"{self.path}: sample {i}", error) from None
            if self._depth is not None and line.shape[1] != self._depth:
                raise DatasetError(f"{self.path}: sample {i}: normalized height {line.shape[1]} differs "
                                   f"from {self._depth}")
        return line

    def targets(self, i):
        """The pre-aligned ``(T, classes)`` targets of sample ``i`` from the ``target_name`` dataset."""
        if self.target_name == "ctc":
            raise DatasetError(f"{self.path}: targets are computed by CTC (target_name=ctc); "
                               f"there is no pre-aligned target dataset to read")
        targets = _read_array(self._file[self.target_name], self.path, self._target_dims, i)
        steps = self._dims[i, 0] if self._normalizer is None else self.input(i).shape[0]
        if targets.shape[0] != steps:
            raise DatasetError(f"{self.path}: sample {i}: {self.target_name} has {targets.shape[0]} steps "
                               f"but the image has {steps} columns")
        return targets


class SeqH5Dataset(_H5File):
    """Sequence pairs in clstmseq's HDF5 layout, read one sample at a time from the open file.

    ``input(i)``: ``(T, ninput)``; ``output(i)``: ``(T, noutput)``, where an output depth of
    1 is widened to 2 as ``[1 - y, y]``."""

    REQUIRED = ("inputs", "inputs_dims", "outputs", "outputs_dims")

    def __init__(self, path):
        self.path = path = os.fspath(path)
        self._file = f = _open_h5(path, self.REQUIRED, "clstmseq")
        try:
            count = len(f["inputs"])
            if count == 0:
                raise DatasetError(f"{path}: no samples")
            if len(f["outputs"]) != count:
                raise DatasetError(f"{path}: {count} inputs but {len(f['outputs'])} outputs")
            self._input_dims = _dims(f, path, "inputs_dims", count)
            self._output_dims = _dims(f, path, "outputs_dims", count)
            bad = np.flatnonzero(self._input_dims[:, 0] != self._output_dims[:, 0])
            if bad.size:
                i = bad[0]
                raise DatasetError(f"{path}: sample {i}: input has {self._input_dims[i, 0]} steps but "
                                   f"output has {self._output_dims[i, 0]}")
            _consistent(path, "inputs_dims", self._input_dims[:, 1], "depth")
            _consistent(path, "outputs_dims", self._output_dims[:, 1], "depth")
        except BaseException:
            f.close()
            raise
        self._inputs, self._outputs = f["inputs"], f["outputs"]
        self.ninput = int(self._input_dims[0, 1])
        self.noutput = max(2, int(self._output_dims[0, 1]))

    def __len__(self):
        return len(self._input_dims)

    def input(self, i):
        return _read_array(self._inputs, self.path, self._input_dims, i)

    def output(self, i):
        y = _read_array(self._outputs, self.path, self._output_dims, i)
        if y.shape[1] == 1:
            y = np.concatenate([np.float32(1) - y, y], axis=1)
        return y

    def name(self, i):
        return f"{self.path}[{i}]"


# --- text pairs ----------------------------------------------------------------------------------
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
    pair; ``pairs.icodec``, ``pairs.codec``: input and output codecs; ``pairs[i]`` is a tuple."""

    def __init__(self, inputs, outputs, sources=None):
        if len(inputs) != len(outputs):
            raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.sources = list(sources) if sources is not None else [f"pair {i}" for i in range(len(inputs))]
        self.icodec = Codec.from_texts(self.inputs)
        self.codec = Codec.from_texts(self.outputs)

    @classmethod
    def read(cls, path):
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
        return cls._checked(inputs, outputs, sources, path)

    @classmethod
    def read_two(cls, inputs_path, outputs_path):
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
        return cls._checked(inputs, outputs, sources, inputs_path)

    @classmethod
    def _checked(cls, inputs, outputs, sources, path):
        if not inputs:
            raise DatasetError(f"{path}: no input/output pairs")
        try:
            return cls(inputs, outputs, sources)
        except ValueError as error:
            raise _context(path, error) from None

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        return self.inputs[i], self.outputs[i]


# --- one opener for the drivers --------------------------------------------------------------------
def open_ocr_dataset(path, codec=None, dewarp=None, target_height=48, norm=None, strict=False, labelled=True,
                     target_name="ctc"):
    """Open OCR lines: a folder of images, a clstm HDF5 file (by signature), or a text list of line images.

    ``dewarp``: ``none``, ``mean`` or ``center``; default ``none`` for HDF5 and folders,
    ``center`` for line lists. ``none`` takes HDF5 lines as stored and scales image files
    (folders, lists) to ``target_height`` keeping the aspect ratio. ``norm``: the normalizer's
    norm_range, norm_vscale, norm_smooth2d, norm_smooth1d. The dataset's ``line_normalization``
    says what was done: ``scale``, ``center``, ``mean`` or ``none`` (HDF5 lines as stored)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file or folder")
    is_h5 = os.path.isfile(path) and h5py.is_hdf5(path)
    if target_name != "ctc" and not is_h5:
        raise DatasetError(f"{path}: pre-aligned targets (target_name={target_name}) need a clstm HDF5 file")
    default = "center" if not is_h5 and not os.path.isdir(path) else "none"
    method = dewarp or default
    if method != "none":
        normalizer = resolve_normalizer(method, target_height, norm)
    else:
        normalizer = None if is_h5 else height_scaler(target_height)
    if os.path.isdir(path):
        dataset = ImageFolderDataset(path, codec, target_height, normalizer, strict, labelled)
    elif is_h5:
        dataset = OcrH5Dataset(path, codec, normalizer, target_name)
    else:
        dataset = LineListDataset(path, codec, normalizer, target_height, labelled=labelled)
    dataset.line_normalization = "scale" if method == "none" and not is_h5 else method
    return dataset
