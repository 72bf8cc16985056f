"""What PAGE and ALTO files have in common once read: the page's lines (id, text, polygon), its image, and the recognized text that goes back."""
import dataclasses
import os
import re
import urllib.parse

import numpy as np

from .base import DatasetError

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclasses.dataclass
class LayoutLine:
    """One text line of a page: ``polygon`` is an ``(n, 2)`` array of x, y in the file's units (None
    without coordinates); ``problem`` says why the line cannot be used, as found by the reader;
    ``parent`` is the element holding the line's (a PAGE TextRegion's text is written from its lines')."""

    id: str
    text: str
    polygon: object
    element: object
    problem: str = None
    parent: object = None


@dataclasses.dataclass
class LayoutDocument:
    """A PAGE or ALTO file read: its parsed ``document``, the page ``image`` path, the ``lines`` in
    reading order, the page size it declares (``(width, height)`` or None) and whether its
    coordinates are in other units than the image's pixels (ALTO mm10, inch1200: scaled by size)."""

    path: str
    format: str
    document: object
    image: str
    lines: list
    declared_size: tuple = None
    other_units: bool = False


@dataclasses.dataclass
class RecognizedLine:
    """A line's recognition: ``text``, and per character ``(time step, posterior)`` out of ``steps``."""

    text: str
    chars: list
    steps: int

    @property
    def confidence(self):
        """The mean of the characters' posteriors (0 for an empty line)."""
        return sum(p for _, p in self.chars) / len(self.chars) if self.chars else 0.0


@dataclasses.dataclass
class LineGeometry:
    """Where a cut line lies on its page, in pixels: the box of its polygon (clipped to the image), the
    left edge and width of the padded cut, and the file's units per pixel (1 but for ALTO mm10 or inch1200)."""

    left: int
    top: int
    right: int
    bottom: int
    pad: int
    unit_x: float = 1.0
    unit_y: float = 1.0

    @property
    def height(self):
        return self.bottom - self.top

    def x_of_step(self, t, steps):
        """The page column under time step ``t`` of ``steps`` (the normalized line keeps the aspect ratio)."""
        width = self.right - self.left + 2 * self.pad
        return self.left - self.pad + (t + 0.5) * width / steps


def namespace_of(tag):
    """``uri`` of an ElementTree tag ``{uri}name`` ("" for none)."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def local_name(tag):
    """``name`` of an ElementTree tag ``{uri}name`` (comments give "")."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def qualifier(namespace):
    """A function giving the ElementTree tag of a local name in ``namespace``."""
    return (lambda name: f"{{{namespace}}}{name}") if namespace else (lambda name: name)


def parse_points(text):
    """``(n, 2)`` float64 points from ``"x,y x,y ..."`` or ``"x y x y ..."``, or a string saying what is wrong."""
    numbers = _NUMBER.findall(text or "")
    if re.sub(r"[\s,]", "", _NUMBER.sub("", text or "")):
        return f"coordinates {_short(text)} are not numbers"
    if len(numbers) % 2:
        return f"coordinates {_short(text)} have an odd count of numbers"
    points = np.array(numbers, np.float64).reshape(-1, 2)
    if not np.isfinite(points).all() or np.abs(points).max(initial=0) > 1e7:
        return f"coordinates {_short(text)} are out of range"
    return points


def _short(text):
    return repr(text if len(text) <= 40 else text[:37] + "...")


def polygon_problem(points):
    """Why ``points`` are no usable polygon (fewer than 3 points, no area), or None."""
    if len(points) < 3:
        return f"a degenerate polygon ({len(points)} point{'s' if len(points) != 1 else ''})"
    x, y = points[:, 0], points[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    if area < 1 or np.ptp(x) < 1 or np.ptp(y) < 1:
        return "a degenerate polygon (no area)"
    return None


def find_image(xml_path, name, where):
    """The page image ``name`` given in ``xml_path``: absolute, or relative to the XML's folder; a name
    with a folder in it (``OCR-D-IMG/p.tif``) also relative to the folder above, as OCR-D workspaces
    name images relative to the workspace that holds the XML's folder. Nowhere else."""
    if name.startswith("file://"):
        name = urllib.parse.unquote(urllib.parse.urlparse(name).path)
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", name):
        raise DatasetError(f"{where}: the image {name} is a URL; give a local file in a list file "
                           f"(page.xml<TAB>page.tif)")
    if os.path.isabs(name):
        candidates = [name]
    else:
        folder = os.path.dirname(os.path.abspath(xml_path))
        candidates = [os.path.join(folder, name)]
        if os.path.dirname(os.path.normpath(name)) not in ("", os.curdir):
            candidates.append(os.path.join(os.path.dirname(folder), name))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    searched = " or ".join(os.path.dirname(candidate) or os.sep for candidate in candidates)
    raise DatasetError(f"{where}: image {name} not found (looked in {searched}); give it in a list file "
                       f"(page.xml<TAB>page.tif)")


def indent_before(parent, index):
    """The whitespace before child ``index`` of ``parent`` (for new siblings), or None if it is no indentation."""
    before = parent.text if index == 0 else parent[index - 1].tail
    return before if before and not before.strip() else None


def indent_subtree(element, indent, step):
    """Indent the descendants of ``element`` (new ones), whose own indentation is ``indent``, ``step`` more per level."""
    if len(element):
        element.text = indent + step
        for child in element:
            indent_subtree(child, indent + step, step)
            child.tail = indent + step
        element[-1].tail = indent


def word_spans(recognized, geometry):
    """``(start, end, word, mean posterior)`` in page pixels for each space-separated word: from its
    first character's step to its last's, widened by half the line's character pitch, not overlapping."""
    text = recognized.text
    if not text.strip():
        return []
    xs = np.array([geometry.x_of_step(t, recognized.steps) for t, _ in recognized.chars], np.float64)
    posteriors = [p for _, p in recognized.chars]
    pitch = float(np.median(np.diff(xs))) if len(xs) > 1 else geometry.right - geometry.left
    half = max(0.5, pitch / 2)
    spans, k = [], 0
    for word in text.split(" "):
        if word:
            start = max(geometry.left, xs[k] - half, spans[-1][1] if spans else geometry.left)
            end = max(start + 1, min(geometry.right, xs[k + len(word) - 1] + half))
            spans.append((start, end, word, float(np.mean(posteriors[k:k + len(word)]))))
        k += len(word) + 1
    return spans


def clip_to_columns(polygon, left, right):
    """The part of a polygon (``(n, 2)`` x, y) between the verticals ``x = left`` and ``x = right``, as a list
    of points (Sutherland-Hodgman clipping by the two half-planes; empty where they miss it)."""
    def clip(points, inside, x):
        kept = []
        for (x0, y0), (x1, y1) in zip(points[-1:] + points[:-1], points):
            if inside(x1) != inside(x0):  # the edge crosses the vertical: where it does
                kept.append((x, y0 + (y1 - y0) * (x - x0) / (x1 - x0)))
            if inside(x1):
                kept.append((x1, y1))
        return kept
    points = [(float(x), float(y)) for x, y in polygon]
    points = clip(points, lambda x: x >= left, left) if points else points
    return clip(points, lambda x: x <= right, right) if points else points
