"""Text lines cut out of page images described by PAGE XML or ALTO files (one file, a list of them, a folder), and the recognized text written back into copies."""
import math
import os
import warnings

import numpy as np
from PIL import Image, ImageDraw

from ..images import ImageReadError, colour_ink, image_info, ink_from_grey, read_colour, read_grey
from .alto import is_alto, read_alto, write_alto_text
from .base import DatasetError, read_text_lines, resolve_normalizer
from .layout import LineGeometry
from .lines import _ImageLineDataset, quantized, report_pages
from .page import is_page, read_page, write_page_regions, write_page_text
from ..atomic import write_or_raise
from .xmlfile import parse_xml

XML_EXTENSION = ".xml"


def looks_like_xml(path):
    """Whether the file at ``path`` starts like an XML document (``<`` after a byte-order mark and blanks)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(encoding, "ignore").lstrip().startswith("<")
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def layout_sources(path):
    """``[(xml, image or None, where)]`` when ``path`` is PAGE/ALTO data, else None: an XML file, a folder
    with ``.xml`` files, or a list file whose entries are ``.xml`` files (``page.xml<TAB>page.tif`` names
    the image too; paths relative to the list's folder)."""
    if os.path.isdir(path):
        try:
            names = sorted(name for name in os.listdir(path) if name.lower().endswith(XML_EXTENSION)
                           and os.path.isfile(os.path.join(path, name)))
        except OSError as error:
            raise DatasetError(f"{path}: cannot list the folder: {error.strerror}") from None
        return [(os.path.join(path, name), None, os.path.join(path, name)) for name in names] or None
    if looks_like_xml(path):
        return [(path, None, path)]
    entries = [(number, line.strip()) for number, line in enumerate(read_text_lines(path), 1)
               if line.strip() and not line.strip().startswith("#")]
    if not entries or not entries[0][1].split("\t")[0].strip().lower().endswith(XML_EXTENSION):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    sources = []
    for number, entry in entries:
        fields = [field.strip() for field in entry.split("\t")]
        where = f"{path}:{number}: {entry}"
        if len(fields) > 2 or not fields[0].lower().endswith(XML_EXTENSION):
            raise DatasetError(f"{where}: expected page.xml or page.xml<TAB>page-image (a list of PAGE/ALTO files)")
        xml_path = os.path.join(folder, fields[0])
        if not os.path.isfile(xml_path):
            raise DatasetError(f"{where}: no such file {fields[0]}")
        image = os.path.join(folder, fields[1]) if len(fields) == 2 and fields[1] else None
        if image is not None and not os.path.isfile(image):
            raise DatasetError(f"{where}: no such image file {fields[1]}")
        sources.append((xml_path, image, where))
    return sources


def read_layout(path, image=None, where=None):
    """The :class:`~.layout.LayoutDocument` of a PAGE or ALTO file (``image``: the page image, else the file's)."""
    document = parse_xml(path)
    if is_page(document.root):
        return read_page(document, image)
    if is_alto(document.root):
        return read_alto(document, image)
    raise DatasetError(f"{where or path}: neither PAGE XML (PcGts) nor ALTO (alto): the root element is "
                       f"{document.root.tag}")


def cut_line(grey, polygon, geometry, background):
    """The polygon's box out of a page's grey levels, everything outside the polygon set to
    ``background``, padded by ``geometry.pad`` on every side."""
    g = geometry
    pad = g.pad
    cut = np.full((g.bottom - g.top + 2 * pad, g.right - g.left + 2 * pad), background, np.float32)
    mask = Image.new("1", (cut.shape[1], cut.shape[0]), 0)
    ImageDraw.Draw(mask).polygon([(float(x) - g.left + pad, float(y) - g.top + pad) for x, y in polygon], fill=1)
    inside = np.asarray(mask, bool)
    box = grey[g.top:g.bottom, g.left:g.right]
    region = cut[pad:pad + box.shape[0], pad:pad + box.shape[1]]
    np.copyto(region, box, where=inside[pad:pad + box.shape[0], pad:pad + box.shape[1]])
    return cut


class PageLineDataset(_ImageLineDataset):
    """The text lines of PAGE XML or ALTO pages, cut out of the page images.

    ``sources``: ``(xml path, image path or None, where)`` triples (see :func:`layout_sources`).
    Lines are taken in reading order; each is its polygon's box with everything outside the
    polygon set to the page's background, padded, then normalized (``normalizer``: a callable or a
    dewarp method name, built with ``target_height`` and ``norm``). Lines without coordinates, with
    a degenerate polygon, outside the image or (``labelled``) without text are listed in
    ``skipped`` with a warning, or are an error with ``strict=True``. A page image is read once,
    when one of its lines is first needed, and all its lines are cut then and cached as uint8
    (``cache=False``: the last page is kept instead). ``channels=3`` cuts colour lines (see
    :meth:`.lines._ImageLineDataset._colour`)."""

    def __init__(self, sources, codec=None, normalizer="center", target_height=48, norm=None, labelled=True,
                 strict=False, cache=True, unicode="NFC", channels=1):
        self.documents = [read_layout(xml_path, image, where) for xml_path, image, where in sources]
        self.skipped = []
        self._entries, self._geometry, paged = [], [], []
        for d, document in enumerate(self.documents):
            width, height, pages = self._page_header(document)
            if pages > 1:
                paged.append(f"{document.image} ({pages} pages)")
            units = self._units(document, width, height)
            for line in document.lines:
                problem = line.problem or _placement_problem(line.polygon, units, width, height)
                if problem is None and labelled and not line.text:
                    problem = "no text"
                if problem is not None:
                    if strict:
                        raise DatasetError(f"{document.path}: line {line.id}: {problem}")
                    self.skipped.append(f"{document.path}: line {line.id} ({problem})")
                    continue
                self._entries.append((d, line))
                self._geometry.append(_geometry(line.polygon, units, width, height))
        report_pages(paged)
        if self.skipped:
            more = "; ..." if len(self.skipped) > 10 else ""
            warnings.warn(f"{len(self.skipped)} line(s) skipped: {'; '.join(self.skipped[:10])}{more}", stacklevel=2)
        if not self._entries:
            raise DatasetError(f"{sources[0][2]}: no usable text lines"
                               + (f" ({self.skipped[0]}{', ...' if len(self.skipped) > 1 else ''})"
                                  if self.skipped else ""))
        names = [f"{self.documents[d].path}#{line.id}" for d, line in self._entries]
        texts = [line.text for _, line in self._entries] if labelled else None
        self._setup(names, texts, codec, unicode=unicode)
        self._wheres = names
        self._normalizer = resolve_normalizer(normalizer, target_height, norm)
        self._colour(channels)
        self._keep_lines(cache)
        self._last_page = (None, None)  # without a cache: (document index, its planes)

    @staticmethod
    def _page_header(document):
        try:
            return image_info(document.image)
        except ImageReadError as error:
            raise DatasetError(f"{document.path}: image {document.image}: {error.reason}") from None

    @staticmethod
    def _units(document, width, height):
        """File units per image pixel, ``(x, y)``; a PAGE file declaring another size than its image's is an error."""
        declared = document.declared_size
        if document.other_units:
            return declared[0] / width, declared[1] / height
        if document.format == "PAGE" and declared is not None and tuple(declared) != (width, height):
            raise DatasetError(f"{document.path}: the Page is {declared[0]}x{declared[1]} but its image "
                               f"{document.image} is {width}x{height}")
        return 1.0, 1.0

    def _page_planes(self, d):
        """``[(levels, background), ...]`` of page ``d``: its grey levels, and in colour also its red, green and
        blue levels (``(height, width)`` each), each with its paper level (what most of a page is; strided: the
        median of a whole page costs ~50 ms)."""
        document = self.documents[d]
        try:
            if self.channels == 3:
                grey, colour = read_colour(document.image)
                planes = [grey] + [colour[:, :, c] for c in range(3)]
            else:
                planes = [read_grey(document.image)]
        except ImageReadError as error:
            raise DatasetError(f"{document.path}: image {document.image}: {error.reason}") from None
        return [(plane, float(np.median(plane[::3, ::3]))) for plane in planes]

    def _cut(self, i, planes):
        d, line = self._entries[i]
        geometry = self._geometry[i]
        pixels = line.polygon / np.array([geometry.unit_x, geometry.unit_y])
        cuts = [cut_line(plane, pixels, geometry, background) for plane, background in planes]
        ink = ink_from_grey(cuts[0]) if len(cuts) == 1 else colour_ink(cuts[0], np.stack(cuts[1:], axis=2))
        return quantized(self._normalized(i, ink))

    def _read(self, i):
        """Line ``i`` with the other lines of its page not yet cached, all cut now: a page image is read
        once. Without a cache, line ``i`` alone, from the last page read (kept for its next line)."""
        d = self._entries[i][0]
        if not self._cache.enabled:
            page = self._last_page
            if page[0] != d:
                page = self._last_page = (d, self._page_planes(d))
            return {i: self._cut(i, page[1])}
        planes = self._page_planes(d)
        return {j: self._cut(j, planes) for j, (e, _) in enumerate(self._entries)
                if e == d and (j == i or self._cache.get(j) is None)}

    def geometry(self, i):
        """The :class:`~.layout.LineGeometry` of line ``i`` on its page."""
        return self._geometry[i]

    def output_paths(self, folder):
        """Where :meth:`write_copies` writes each file's copy; an error if two inputs share a name or a copy
        would replace its input."""
        folder = os.fspath(folder)
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise DatasetError(f"output={folder}: not a folder")
        targets = {}
        for document in self.documents:
            target = os.path.join(folder, os.path.basename(document.path))
            if target in targets.values():
                raise DatasetError(f"output={folder}: two input files are named {os.path.basename(document.path)}")
            if os.path.exists(target) and os.path.samefile(target, document.path):
                raise DatasetError(f"output={folder}: the copy of {document.path} would replace it; "
                                   f"give another folder")
            targets[document.path] = target
        return targets

    def write_copies(self, results, folder, keep_old_text=False):
        """Write into ``folder`` a copy of every file with the recognized text of its lines: ``results``
        maps line indices to :class:`~.layout.RecognizedLine`. In PAGE files the recognized text is each
        line's first TextEquiv, its words rebuilt and its region's text joined from its lines' (the old
        texts kept after it with ``keep_old_text``); in ALTO files it replaces the line's Strings. Returns
        the paths written."""
        targets = self.output_paths(folder)
        written = []
        for i, recognized in results.items():
            d, line = self._entries[i]
            if self.documents[d].format == "PAGE":
                write_page_text(line, recognized, self._geometry[i], keep_old_text)
                written.append(line)
            else:
                write_alto_text(line, recognized, self._geometry[i])
        write_page_regions(written, keep_old_text)
        copies = [(targets[document.path], document.document.tostring()) for document in self.documents]
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise DatasetError(f"output={folder}: cannot create the folder: {error.strerror}") from None
        for target, data in copies:
            write_or_raise(target, data, DatasetError)
        return [target for target, _ in copies]


def _placement_problem(polygon, units, width, height):
    """Why a polygon (file units) cannot be cut from a ``width`` x ``height`` image, or None."""
    x = polygon[:, 0] / units[0]
    y = polygon[:, 1] / units[1]
    if x.max() < 0 or y.max() < 0 or x.min() >= width or y.min() >= height:
        return f"outside the image ({width}x{height})"
    return None


def _geometry(polygon, units, width, height):
    """The :class:`LineGeometry` of a polygon that overlaps the image: its pixel box clipped, and the padding."""
    x = polygon[:, 0] / units[0]
    y = polygon[:, 1] / units[1]
    left, right = max(0, math.floor(x.min())), min(width, math.floor(x.max()) + 1)
    top, bottom = max(0, math.floor(y.min())), min(height, math.floor(y.max()) + 1)
    return LineGeometry(left, top, right, bottom, pad=max(2, (bottom - top) // 8), unit_x=units[0], unit_y=units[1])
