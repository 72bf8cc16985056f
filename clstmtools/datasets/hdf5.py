"""clstm's HDF5 files: OCR lines and clstmseq sequence pairs, written in one call and read lazily."""
import contextlib
import os

import h5py
import numpy as np

from ..atomic import atomic_write
from ..codec import Codec
from .base import DatasetError, OcrDataset, _context, resolve_normalizer


def write_ocr_h5(path, images, transcripts, codec):
    """Write OCR lines in clstm's layout.

    ``images``: list of ``(width, height)`` float arrays (row t is image column t, ink high);
    ``transcripts``: list of label lists (each label >= 1); ``codec``: list of code points,
    entry 0 the blank (stored as 0). Written atomically."""
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
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
    """Write sequence pairs in clstmseq's layout: lists of ``(T, depth)`` arrays (atomically)."""
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        for name, seqs in (("inputs", inputs), ("outputs", outputs)):
            seqs = [np.asarray(s, np.float32) for s in seqs]
            seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
            # one call with an object array: row-by-row writes are a hundred times slower
            data = np.empty(len(seqs), object)
            for i, s in enumerate(seqs):
                data[i] = s.ravel()
            f.create_dataset(name, data=data, dtype=h5py.vlen_dtype(np.float32))
            f.create_dataset(name + "_dims", data=np.array([s.shape for s in seqs], np.int32).reshape(-1, 2))


#: h5py's errors on a damaged file (a bad address, a broken B-tree, a truncated heap)
H5_ERRORS = (OSError, RuntimeError, KeyError, TypeError, ValueError)
#: a dataset read whole may declare at most this many times the file's size (or 1 MiB): more is a compression bomb
MAX_EXPANSION = 64


@contextlib.contextmanager
def _damage_reported(where):
    """Turn h5py's errors on a damaged file into a one-line DatasetError naming ``where``."""
    try:
        yield
    except DatasetError:
        raise
    except H5_ERRORS as error:
        lines = str(error).strip().splitlines()
        raise DatasetError(f"{where}: damaged HDF5 data ({type(error).__name__}: "
                           f"{lines[0] if lines else 'no message'})") from None


def _open_h5(path, required, kind):
    """Open an HDF5 file for reading and check that it has the datasets in ``required``: arrays of numbers, of a
    declared size the file could hold."""
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(f"{path}: cannot open as HDF5: {error}") from None
    try:
        with _damage_reported(path):
            limit = MAX_EXPANSION * os.path.getsize(path) + (1 << 20)
            for name in required:
                dataset = f.get(name, getlink=False)
                if dataset is None:
                    raise DatasetError(f"{path}: missing dataset {name!r} (a {kind} file has {', '.join(required)})")
                _check_dataset(dataset, path, limit)
    except BaseException:
        f.close()
        raise
    return f


def _check_dataset(dataset, path, limit):
    """Refuse anything but an array of numbers (or of variable-length number arrays) not larger than ``limit``."""
    name = getattr(dataset, "name", "?").lstrip("/")
    if not isinstance(dataset, h5py.Dataset):
        raise DatasetError(f"{path}: {name} is not a dataset")
    base = h5py.check_vlen_dtype(dataset.dtype) or dataset.dtype
    if base.kind not in "fiu":
        raise DatasetError(f"{path}: {name} holds {base}, not numbers")
    if dataset.size * max(dataset.dtype.itemsize, 8) > limit:
        raise DatasetError(f"{path}: {name} declares {dataset.size} entries, more than the file can hold")


def _vlen_lengths(dataset, path):
    """The element counts that the variable-length ``dataset`` declares, read from its raw storage before h5py
    reads any element: libhdf5 trusts a stored count and allocates and fills that many elements, so a bit flip
    in one makes it spin for minutes (gigabytes of memset) in C code that no signal interrupts. ``None`` where
    the storage cannot be read raw (compact or filtered layouts, which clstm never writes)."""
    name = dataset.name.lstrip("/")
    sizeof_addr = dataset.file.id.get_create_plist().get_sizes()[0]
    record = 4 + sizeof_addr + 4  # on disk: count, global heap collection address, object index
    count = len(dataset)
    if count == 0:
        return np.zeros(0, np.int64)
    layout = dataset.id.get_create_plist().get_layout()
    pieces = []  # (element offset, file offset, bytes)
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None:  # never written: no element to read
            return np.zeros(count, np.int64)
        pieces.append((0, offset, count * record))
    elif layout == h5py.h5d.CHUNKED and dataset.id.get_create_plist().get_nfilters() == 0:
        rows = dataset.chunks[0]
        for k in range(dataset.id.get_num_chunks()):
            info = dataset.id.get_chunk_info(k)
            if info.byte_offset is None:
                continue
            pieces.append((info.chunk_offset[0], info.byte_offset, min(info.size, rows * record)))
    else:
        return None
    lengths = np.zeros(count, np.int64)
    size = os.path.getsize(path)
    with open(path, "rb") as raw:
        for first, offset, nbytes in pieces:
            nbytes = min(nbytes, (count - first) * record)
            if offset + nbytes > size:
                raise DatasetError(f"{path}: {name}: storage at {offset} runs past the end of the file")
            raw.seek(offset)
            data = np.frombuffer(raw.read(nbytes), np.uint8)
            data = data[:len(data) // record * record].reshape(-1, record)
            lengths[first:first + len(data)] = data[:, :4].copy().view("<u4").ravel()
    return lengths


def _vlen_counts(dataset, path, whole=False):
    """The stored counts of the variable-length ``dataset`` (``None`` for other datasets or layouts), for
    ``_read_array`` to check before each read; ``whole``: the dataset is about to be read whole, so its counts
    together must fit in the file."""
    if h5py.check_vlen_dtype(dataset.dtype) is None:
        return None
    counts = _vlen_lengths(dataset, path)
    if counts is not None and whole:
        total = int(counts.sum()) * h5py.check_vlen_dtype(dataset.dtype).itemsize
        if total > os.path.getsize(path):
            raise DatasetError(f"{path}: {dataset.name.lstrip('/')} declares {total} bytes of values, more than "
                               f"the file holds")
    return counts


def _dims(f, path, name, count):
    """The ``(count, 2)`` dims dataset ``name``, checked to be positive integers."""
    dims = f[name][()]
    if dims.shape != (count, 2):
        raise DatasetError(f"{path}: {name} has shape {dims.shape}, expected ({count}, 2)")
    bad = np.flatnonzero((dims <= 0).any(axis=1) | (dims != np.round(dims)).any(axis=1))
    if bad.size:
        raise DatasetError(f"{path}: sample {bad[0]}: {name} is {dims[bad[0]].tolist()}, not two positive integers")
    return dims.astype(np.int64)


def _read_array(dataset, path, dims, i, counts=None):
    """Sample ``i`` of a variable-length dataset as a ``dims[i]``-shaped float32 array, checked to be finite
    (one vectorized test as it is read: a NaN pixel or target must be blamed on the data, not the network).
    ``counts``: the dataset's stored counts (``_vlen_counts``), checked against ``dims`` before libhdf5 reads."""
    name = dataset.name.lstrip("/")
    rows, columns = dims[i]
    if counts is not None and counts[i] != rows * columns:
        raise DatasetError(f"{path}: sample {i}: {name} has {counts[i]} values but {name}_dims says "
                           f"{rows}x{columns}")
    if counts is not None and counts[i] * h5py.check_vlen_dtype(dataset.dtype).itemsize > os.path.getsize(path):
        raise DatasetError(f"{path}: sample {i}: {name} declares {counts[i]} values, more than the file holds")
    with _damage_reported(f"{path}: sample {i}"):
        values = np.asarray(dataset[i], np.float32)
    if values.size != rows * columns:
        raise DatasetError(f"{path}: sample {i}: {name} has {values.size} values but {name}_dims says "
                           f"{rows}x{columns}")
    if not np.isfinite(values).all():
        raise DatasetError(f"{path}: sample {i}: {name} contains NaN or infinity")
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
    method name) lets lines of different heights be resampled; resampled lines are cached after
    their first normalization, as list lines are, but exactly (float32: an HDF5 file's values need
    not be multiples of 1/255); ``cache=False`` resamples on every read. ``target_name`` other than ``ctc`` names a pre-aligned target dataset (with
    ``<name>_dims``) read by ``targets(i)``. The lines are grey: with ``channels=3`` each row's value comes
    three times (red, green, blue alike), as a colour network reads a line."""

    REQUIRED = ("images", "images_dims", "transcripts", "codec")

    def __init__(self, path, codec=None, normalizer=None, target_name="ctc", target_height=48, norm=None,
                 unicode="NFC", cache=True, channels=1):
        if channels not in (1, 3):
            raise DatasetError(f"{path}: lines have 1 channel (grey) or 3 (colour), not {channels}")
        self.channels = channels
        self.unicode = unicode
        self._cache = {} if cache else None
        self.path = path = os.fspath(path)
        self._file = f = _open_h5(path, self.REQUIRED, "clstm OCR")
        try:
            normalizer = resolve_normalizer(normalizer, target_height, norm)
            with _damage_reported(path):
                self._read_header(f, path, codec, normalizer, target_name)
        except BaseException:
            f.close()
            raise

    def _read_header(self, f, path, codec, normalizer, target_name):
        count = len(f["images"])
        if count == 0:
            raise DatasetError(f"{path}: no lines")
        self._dims = _dims(f, path, "images_dims", count)
        self._images = f["images"]  # kept: looking a dataset up by name costs as much as reading a line
        self._counts = _vlen_counts(self._images, path)
        try:
            file_codec = Codec(f["codec"][()])
        except ValueError as error:
            raise DatasetError(f"{path}: bad codec: {error}") from None
        transcripts = f["transcripts"]
        if len(transcripts) != count:
            raise DatasetError(f"{path}: {len(transcripts)} transcripts for {count} images")
        _vlen_counts(transcripts, path, whole=True)
        texts = []
        for i, labels in enumerate(transcripts[()]):
            labels = np.asarray(labels).ravel()
            bad = labels[(labels < 1) | (labels >= len(file_codec))]
            if bad.size:
                raise DatasetError(f"{path}: sample {i}: label {int(bad[0])} is not in the file's codec "
                                   f"(1..{len(file_codec) - 1})")
            texts.append(file_codec.decode(labels))
        self.file_codec = file_codec
        self._setup([f"{path}[{i}]" for i in range(count)], texts, codec, file_codec, unicode=self.unicode)
        self._normalizer = normalizer
        if normalizer is None:
            _consistent(path, "images_dims", self._dims[:, 1], "height")
            self._depth = int(self._dims[0, 1]) * self.channels
        else:
            height = getattr(normalizer, "target_height", None)
            self._depth = None if height is None else height * self.channels
        self.target_name = target_name
        if target_name != "ctc":
            for name in (target_name, target_name + "_dims"):
                if name not in f:
                    raise DatasetError(f"{path}: no pre-aligned target dataset {name!r} "
                                       f"(target_name={target_name})")
                _check_dataset(f[name], path, MAX_EXPANSION * os.path.getsize(path) + (1 << 20))
            self._target_dims = _dims(f, path, target_name + "_dims", count)
            self._target_counts = _vlen_counts(f[target_name], path)

    def input(self, i):
        line = self._grey_input(i)
        return np.repeat(line, 3, axis=1) if self.channels == 3 else line

    def stored_width(self, i):
        return int(self._dims[i, 0]) if self._normalizer is None else None

    def _grey_input(self, i):
        if self._normalizer is None:
            return self._read(i)
        line = None if self._cache is None else self._cache.get(i)
        if line is None:
            line = self._normalized(i)
            if self._cache is not None:
                self._cache[i] = line
        return line.copy()  # callers may scale their copy in place

    def _read(self, i):
        line = _read_array(self._images, self.path, self._dims, i, self._counts)
        top = line.max()
        if top > 0:
            line /= top
        return line

    def _normalized(self, i):
        try:
            line = np.ascontiguousarray(self._normalizer(self._read(i).T).T)
        except ValueError as error:
            raise _context(f"{self.path}: sample {i}", error) from None
        if self._depth is not None and line.shape[1] * self.channels != self._depth:
            raise DatasetError(f"{self.path}: sample {i}: normalized height {line.shape[1]} differs "
                               f"from {self._depth // self.channels}")
        return line

    @property
    def cache_nbytes(self):
        """Bytes held by the cache of normalized lines."""
        return sum(line.nbytes for line in (self._cache or {}).values())

    def targets(self, i):
        """The pre-aligned ``(T, classes)`` targets of sample ``i`` from the ``target_name`` dataset."""
        if self.target_name == "ctc":
            raise DatasetError(f"{self.path}: targets are computed by CTC (target_name=ctc); "
                               f"there is no pre-aligned target dataset to read")
        targets = _read_array(self._file[self.target_name], self.path, self._target_dims, i,
                              self._target_counts)
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
            with _damage_reported(path):
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
                self._inputs, self._outputs = f["inputs"], f["outputs"]
                self._input_counts = _vlen_counts(self._inputs, path)
                self._output_counts = _vlen_counts(self._outputs, path)
        except BaseException:
            f.close()
            raise
        self.ninput = int(self._input_dims[0, 1])
        self.noutput = max(2, int(self._output_dims[0, 1]))

    def __len__(self):
        return len(self._input_dims)

    def input(self, i):
        return _read_array(self._inputs, self.path, self._input_dims, i, self._input_counts)

    def output(self, i):
        y = _read_array(self._outputs, self.path, self._output_dims, i, self._output_counts)
        if y.shape[1] == 1:
            y = np.concatenate([np.float32(1) - y, y], axis=1)
        return y

    def name(self, i):
        return f"{self.path}[{i}]"
