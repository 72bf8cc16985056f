"""ALTO (v1-v4): the text lines of a page, and recognized text written back as String and SP elements placed by the CTC time steps."""
from xml.etree.ElementTree import Element

import numpy as np

from .base import DatasetError
from .layout import (LayoutDocument, LayoutLine, find_image, indent_before, local_name, namespace_of, parse_points,
                     polygon_problem, qualifier, word_spans)

#: ALTO v2-v4 namespaces start so; v1 files have the CCS namespace or none
ALTO_NAMESPACES = ("http://www.loc.gov/standards/alto/", "http://schema.ccs-gmbh.com/ALTO")

#: the elements of a TextLine that hold its text (replaced by the recognized text)
_TEXT_ELEMENTS = ("String", "SP", "HYP")


def is_alto(root):
    """Whether a document's root element is an ALTO ``alto``."""
    namespace = namespace_of(root.tag)
    return local_name(root.tag) == "alto" and (namespace.startswith(ALTO_NAMESPACES) or not namespace)


def read_alto(document, image=None):
    """A :class:`LayoutDocument` of a parsed ALTO file; ``image`` (a path) overrides ``sourceImageInformation/fileName``."""
    path = document.path
    q = qualifier(namespace_of(document.root.tag))
    description = document.root.find(q("Description"))
    if image is None:
        name = None if description is None else description.findtext(f"{q('sourceImageInformation')}/{q('fileName')}")
        if not name or not name.strip():
            raise DatasetError(f"{path}: the ALTO file names no image (sourceImageInformation/fileName); give it "
                               f"in a list file (alto.xml<TAB>page.tif)")
        image = find_image(path, name.strip(), path)
    unit = "pixel" if description is None else (description.findtext(q("MeasurementUnit")) or "pixel").strip()
    pages = document.root.findall(f"{q('Layout')}/{q('Page')}")
    if len(pages) > 1:
        raise DatasetError(f"{path}: {len(pages)} Page elements; a file for one page image is needed")
    declared = None
    if pages:
        try:
            declared = float(pages[0].get("WIDTH", "0")), float(pages[0].get("HEIGHT", "0"))
        except ValueError:
            declared = None
        if declared is not None and not (min(declared) > 0 and max(declared) < 1e7):
            declared = None
    if unit != "pixel" and declared is None:
        raise DatasetError(f"{path}: coordinates in {unit} need the Page's WIDTH and HEIGHT to be scaled to the image")
    lines = [_line(element, q, number) for number, element in enumerate(document.root.iter(q("TextLine")), 1)]
    return LayoutDocument(path, "ALTO", document, image, lines, declared, other_units=unit != "pixel")


def _line(element, q, number):
    line_id = element.get("ID") or f"textline_{number}"
    text = _line_text(element, q)
    polygon = element.find(f"{q('Shape')}/{q('Polygon')}")
    if polygon is not None:
        points = parse_points(polygon.get("POINTS"))
    else:
        box = [element.get(name) for name in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
        if None in box:
            return LayoutLine(line_id, text, None, element, "no coordinates (HPOS, VPOS, WIDTH, HEIGHT or Shape)")
        points = parse_points(" ".join(box))
        if not isinstance(points, str):
            (x, y), (w, h) = points
            points = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    if isinstance(points, str):
        return LayoutLine(line_id, text, None, element, points)
    return LayoutLine(line_id, text, points, element, polygon_problem(points))


def _line_text(element, q):
    """The Strings' CONTENT with a space for each SP and the HYP's hyphen; where a line has no SP at all
    (some converters leave them out), its Strings are joined by single spaces."""
    spaced = element.find(q("SP")) is None
    parts = []
    for child in element:
        if child.tag == q("String") and child.get("CONTENT"):
            if spaced and parts and parts[-1] != " ":
                parts.append(" ")
            parts.append(child.get("CONTENT"))
        elif child.tag == q("SP") and parts and parts[-1] != " ":
            parts.append(" ")
        elif child.tag == q("HYP"):
            parts.append(child.get("CONTENT") or "-")
    return "".join(parts).strip()


def write_alto_text(line, recognized, geometry):
    """Replace the line's String/SP/HYP elements by the recognized words: each String placed at its
    characters' CTC time steps (``geometry.x_of_step``), with WC its mean posterior, SP between
    (an empty recognition: one String with empty CONTENT over the line)."""
    element = line.element
    q = qualifier(namespace_of(element.tag))
    old = [k for k, child in enumerate(element) if local_name(child.tag) in _TEXT_ELEMENTS]
    position = old[0] if old else len(element)
    indent = indent_before(element, position) if len(element) else None
    closing = element[-1].tail if len(element) else None
    for k in reversed(old):
        del element[k]
    new, previous_end = [], None
    # the schema wants a String in every TextLine: an empty recognition is one empty String over the line
    boxes = word_spans(recognized, geometry) or [(geometry.left, geometry.right, "", recognized.confidence)]
    for number, (start, end, word, confidence) in enumerate(boxes):
        if previous_end is not None:
            new.append(_box(q("SP"), previous_end, geometry.top, start - previous_end, None, geometry))
        string = _box(q("String"), start, geometry.top, end - start, geometry.height, geometry)
        string.set("ID", f"{line.id}_{number + 1:03d}")
        string.set("CONTENT", word)
        string.set("WC", f"{confidence:.4f}")
        new.append(string)
        previous_end = end
    for offset, child in enumerate(new):
        element.insert(position + offset, child)
    if indent is not None:
        for child in new:
            child.tail = indent
        last = position + len(new) - 1
        if last == len(element) - 1 and last >= 0:
            element[last].tail = closing


def _box(tag, x, y, width, height, geometry):
    element = Element(tag)
    for name, value, scale in (("HPOS", x, geometry.unit_x), ("VPOS", y, geometry.unit_y),
                               ("WIDTH", width, geometry.unit_x), ("HEIGHT", height, geometry.unit_y)):
        if value is not None:
            element.set(name, str(int(round(value * scale))))
    return element
