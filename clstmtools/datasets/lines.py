"""Line images named in a list file, with ocropus ``.gt.txt`` ground truth, read on first use and cached."""
import os
import threading
import warnings

import numpy as np

from ..images import IMAGE_EXTENSIONS, ImageReadError, image_info, read_image
from .base import DatasetError, OcrDataset, _context, read_text_lines, resolve_normalizer


def quantized(line):
    """A normalized float line as the uint8 the cache keeps (a quarter of float32)."""
    return np.rint(np.clip(line, 0, 1) * np.float32(255)).astype(np.uint8)


class _InkCache:
    """Line inputs kept as uint8: every read, first or later, gives the quantized value.

    Shared by the training thread and the idle reader without a lock: a line is stored whole,
    by one dictionary operation, and whoever stores a line first keeps it (both store the same)."""

    def __init__(self, enabled):
        self.enabled = enabled
        self._lines = {}

    def get(self, i):
        """Line ``i`` as kept (uint8), or None."""
        return self._lines.get(i)

    def keep(self, lines):
        """Keep ``{index: uint8 line}`` (nothing when disabled)."""
        if self.enabled:
            for i, line in lines.items():
                self._lines.setdefault(i, line)

    @property
    def nbytes(self):
        return sum(line.nbytes for line in tuple(self._lines.values()))


class _ImageLineDataset(OcrDataset):
    """Lines stored as image files, read on first use, normalized and cached."""

    def _setup_images(self, paths, wheres, normalizer, cache, channels=1):
        self._paths = paths
        self._wheres = wheres
        self._normalizer = normalizer
        self._keep_lines(cache)
        self._colour(channels)
        # headers only (about 50 us each): unreadable files are reported now, not hours into training
        heights, paged = {}, []
        for where, path in zip(wheres, paths):
            _, height, pages = self._image_info(where, path)
            heights.setdefault(height, where)
            if pages > 1:
                paged.append(f"{where} ({pages} pages)")
        report_pages(paged)
        if normalizer is None:
            if len(heights) > 1:
                (h0, w0), (h1, w1) = list(heights.items())[:2]
                raise DatasetError(f"{w1}: height {h1} differs from {w0}'s {h0}; lines of different "
                                   f"heights need a dewarping normalizer")
            self._depth = next(iter(heights)) * channels

    def _colour(self, channels):
        """Read ``channels`` per pixel: 1 (grey) or 3 (red, green, blue; a grey image's three alike), the
        channels of a row next to each other in a line's ``(T, height * channels)`` input."""
        if channels not in (1, 3):
            raise DatasetError(f"line images have 1 channel (grey) or 3 (colour), not {channels}")
        self.channels = channels
        height = getattr(self._normalizer, "target_height", None)
        self._depth = None if height is None else height * channels

    def _keep_lines(self, cache):
        """The cache of normalized lines (none unless ``cache``)."""
        self._cache = _InkCache(cache)

    @staticmethod
    def _image_info(where, path):
        try:
            return image_info(path)
        except ImageReadError as error:
            raise _context(where, error.reason) from None

    def _load(self, i):
        try:
            image = read_image(self._paths[i], self.channels)
        except ImageReadError as error:
            raise _context(self._wheres[i], error.reason) from None
        return self._normalized(i, image)

    def _normalized(self, i, image):
        """Line ``i``'s ``(height, width)`` ink image (``(height, width, 3)`` in colour) normalized, as the
        ``(T, depth)`` input."""
        if self._normalizer is not None:
            try:
                image = self._normalizer(image)
            except ValueError as error:
                raise _context(self._wheres[i], error) from None
        return np.ascontiguousarray(image.swapaxes(0, 1)).reshape(image.shape[1], -1)

    def _read(self, i):
        """``{index: uint8 line}``: line ``i`` read and normalized, with any lines read along with it
        (a page's, in :class:`~.pagelines.PageLineDataset`). Touches no state shared between
        threads: training and the idle reader may read at the same time."""
        return {i: quantized(self._load(i))}

    def stored_width(self, i):
        return None  # only reading and normalizing the image tells

    def input(self, i):
        stored = self._cache.get(i)
        if stored is None:
            lines = self._read(i)
            self._cache.keep(lines)
            stored = lines[i]
        line = stored.astype(np.float32) / np.float32(255)
        if self._depth is not None and line.shape[1] != self._depth:
            raise DatasetError(f"{self._wheres[i]}: height {line.shape[1]} differs from the dataset's "
                               f"depth {self._depth}")
        return line

    @property
    def cache_nbytes(self):
        """Bytes held by the cache of normalized lines."""
        return self._cache.nbytes

    def read_ahead_when_idle(self, indices):
        """Read, normalize and cache the lines ``indices`` on a thread of their own that runs only
        when a core would otherwise be idle (Linux's SCHED_IDLE class): training's first pass
        then finds most lines ready, read in the gaps its own threads leave (the CTC alignment
        and the glue between kernels run on one core). The lines are the same whoever reads them
        (the cache keeps them quantized either way); a line that fails is left for ``input`` to
        report in its place. Training never waits for this thread, which may get no CPU for
        seconds on a busy machine: the two share no lock, and a line training needs before the
        idle reader has stored it, training reads itself. Nothing without a cache."""
        if self._cache.enabled:
            threading.Thread(target=self._read_ahead, args=(list(indices),), name="clstm-idle-read",
                             daemon=True).start()

    def _read_ahead(self, indices):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: this thread
        except (AttributeError, OSError):  # not Linux: do without rather than compete for the cores
            return
        for i in indices:
            if self._cache.get(i) is not None:
                continue
            try:
                self._cache.keep(self._read(i))
            except Exception:  # noqa: BLE001 - reported by input() when training reaches the line
                pass


def report_pages(paged):
    """Warn, once for a whole dataset, of multi-page images (``"where (N pages)"`` each) of which only the first page is read."""
    if paged:
        more = ", ..." if len(paged) > 5 else ""
        warnings.warn(f"{len(paged)} image(s) with several pages, of which only the first is read: "
                      f"{', '.join(paged[:5])}{more}", stacklevel=3)


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
    as uint8 (``cache=False`` to read every time). ``channels=3`` reads colour lines (see
    :meth:`_ImageLineDataset._colour`), which only scaling normalizes."""

    def __init__(self, listfile, codec=None, normalizer="center", target_height=48, norm=None,
                 labelled=True, cache=True, unicode="NFC", channels=1):
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
        self._setup(paths, texts if labelled else None, codec, wheres=wheres, unicode=unicode)
        self._setup_images(paths, wheres, resolve_normalizer(normalizer, target_height, norm), cache, channels)
