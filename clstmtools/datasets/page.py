"""PAGE XML (2010-2019 schemas): the text lines of a page in reading order, and recognized text written back as each line's first TextEquiv, with its words."""
import math
from xml.etree.ElementTree import Element, SubElement

import numpy as np

from .base import DatasetError
from .layout import (LayoutDocument, LayoutLine, clip_to_columns, find_image, indent_subtree, local_name, namespace_of,
                     parse_points, polygon_problem, qualifier, word_spans)

#: every PAGE schema's namespace starts so (2010-03-19 ... 2019-07-15)
PAGE_NAMESPACE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"

#: what follows the TextEquivs of a TextLine, and of a TextRegion, in schema order
_AFTER_LINE_TEXT = ("TextStyle", "UserDefined", "Labels")
_AFTER_REGION_TEXT = ("TextStyle",)


def is_page(root):
    """Whether a document's root element is a PAGE ``PcGts``."""
    namespace = namespace_of(root.tag)
    return local_name(root.tag) == "PcGts" and (namespace.startswith(PAGE_NAMESPACE) or not namespace)


def read_page(document, image=None):
    """A :class:`LayoutDocument` of a parsed PAGE file; ``image`` (a path) overrides ``Page/@imageFilename``."""
    path = document.path
    q = qualifier(namespace_of(document.root.tag))
    page = document.root.find(q("Page"))
    if page is None:
        raise DatasetError(f"{path}: a PAGE file without a Page element")
    if image is None:
        name = page.get("imageFilename")
        if not name:
            raise DatasetError(f"{path}: the Page names no image (imageFilename); give it in a list file "
                               f"(page.xml<TAB>page.tif)")
        image = find_image(path, name, path)
    declared = _declared_size(page)
    parents = {child: parent for parent in page.iter() for child in parent}
    lines = [_line(element, q, number, parents[element])
             for number, element in enumerate(_lines_in_reading_order(page, q, parents), 1)]
    return LayoutDocument(path, "PAGE", document, image, lines, declared)


def _declared_size(page):
    try:
        size = int(page.get("imageWidth", "0")), int(page.get("imageHeight", "0"))
    except ValueError:
        return None
    return size if min(size) > 0 else None


def _lines_in_reading_order(page, q, parents):
    """The page's TextLines: by the ReadingOrder position of their region (nearest listed ancestor),
    lines of unlisted regions after them; document order otherwise."""
    order = {}
    reading_order = page.find(q("ReadingOrder"))
    if reading_order is not None:
        for group in reading_order:
            _walk_group(group, order)
    ranked = []
    for position, line in enumerate(page.iter(q("TextLine"))):
        rank, node = len(order), parents.get(line)
        while node is not None and node is not page:
            if node.get("id") in order:
                rank = order[node.get("id")]
                break
            node = parents.get(node)
        ranked.append((rank, position, line))
    return [line for _, _, line in sorted(ranked, key=lambda entry: entry[:2])]


def _walk_group(group, order):
    """Add the region ids of a reading-order group to ``order`` (id -> position), first mention first."""
    if group.get("regionRef"):
        order.setdefault(group.get("regionRef"), len(order))
    members = [child for child in group if local_name(child.tag).startswith(("RegionRef", "OrderedGroup",
                                                                              "UnorderedGroup"))]
    if local_name(group.tag).startswith("OrderedGroup"):
        members.sort(key=_index_key)
    for member in members:
        if local_name(member.tag).startswith("RegionRef"):
            if member.get("regionRef"):
                order.setdefault(member.get("regionRef"), len(order))
        else:
            _walk_group(member, order)


def _index_key(element):
    """Sort key of an element by its ``@index`` (missing or not a number: 0, as the first)."""
    try:
        return int(element.get("index", "0"))
    except ValueError:
        return 0


def _line(element, q, number, parent):
    line_id = element.get("id") or f"textline_{number}"
    equivs = sorted((child for child in element if child.tag == q("TextEquiv")), key=_index_key)
    text = ""
    if equivs:
        text = (equivs[0].findtext(q("Unicode")) or "").strip()
    coords = element.find(q("Coords"))
    problem, points = None, None
    if coords is None:
        problem = "no coordinates (Coords)"
    else:
        if coords.get("points") is not None:
            points = parse_points(coords.get("points"))
        else:  # the 2010 schema: Point children
            points = parse_points(" ".join(f"{p.get('x')},{p.get('y')}" for p in coords.findall(q("Point"))))
        if isinstance(points, str):
            points, problem = None, points
        else:
            problem = polygon_problem(points)
    return LayoutLine(line_id, text, points, element, problem, parent)


def write_page_text(line, recognized, geometry, keep_old_text=False):
    """Make the recognized text the line's first TextEquiv (``@index`` 1, ``@conf`` the mean posterior) and
    rebuild its Words from the CTC time steps (each a TextEquiv of its own, its Coords the line's polygon
    between the word's first and last characters), so that the two levels agree; the old Words (with
    their Glyphs) go. The line's earlier TextEquivs go too, or with ``keep_old_text`` stay after the new
    one, numbered from 2 in their order."""
    element = line.element
    q = qualifier(namespace_of(element.tag))
    words = []
    for number, (start, end, word, confidence) in enumerate(word_spans(recognized, geometry), 1):
        word_element = Element(q("Word"), {"id": f"{line.id}_w{number:03d}"})
        points = _columns_of(line.polygon, start * geometry.unit_x, end * geometry.unit_x)
        SubElement(word_element, q("Coords"), {"points": " ".join(f"{x},{y}" for x, y in points)})
        word_element.append(_text_equiv(q, word, confidence))
        words.append(word_element)
    _set_text(element, q, _text_equiv(q, recognized.text, recognized.confidence), keep_old_text, words=words)


def write_page_regions(lines, keep_old_text=False):
    """Make the first TextEquiv of each TextRegion holding one of ``lines`` (:class:`LayoutLine`) its
    TextLines' first texts joined by newlines (after the lines are written: the levels agree)."""
    regions = {id(line.parent): line.parent for line in lines
               if line.parent is not None and local_name(line.parent.tag) == "TextRegion"}
    for region in regions.values():
        q = qualifier(namespace_of(region.tag))
        texts = [_first_text(child, q) for child in region if child.tag == q("TextLine")]
        if texts:
            _set_text(region, q, _text_equiv(q, "\n".join(texts)), keep_old_text)


def _first_text(element, q):
    equivs = sorted((child for child in element if child.tag == q("TextEquiv")), key=_index_key)
    return (equivs[0].findtext(q("Unicode")) or "") if equivs else ""


def _text_equiv(q, text, confidence=None):
    equiv = Element(q("TextEquiv"), {"index": "1"})
    if confidence is not None:
        equiv.set("conf", f"{confidence:.4f}")
    SubElement(equiv, q("Unicode")).text = text
    return equiv


def _columns_of(polygon, left, right):
    """Integer points of the part of ``polygon`` between the verticals at ``left`` and ``right`` (file units):
    inside the line's outline, as the schema wants of a Word; its box where that part has no area."""
    left, right = math.floor(left), max(math.ceil(right), math.floor(left) + 1)
    points = []
    for x, y in clip_to_columns(polygon, left, right):
        point = (int(round(x)), int(round(y)))
        if not points or point != points[-1]:
            points.append(point)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3 or polygon_problem(np.array(points, np.float64)) is not None:
        top, bottom = int(math.floor(polygon[:, 1].min())), int(math.ceil(polygon[:, 1].max()))
        points = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return points


def _set_text(element, q, equiv, keep_old_text, words=None):
    """Put ``equiv`` first among the element's TextEquivs (the older ones after it, numbered from 2, with
    ``keep_old_text``; else dropped) and, unless ``words`` is None, ``words`` in place of its Words; in the
    schema's order (what comes after the TextEquivs: TextStyle, UserDefined, Labels of a TextLine, TextStyle
    of a TextRegion), indented like the element's children."""
    children = list(element)
    old = sorted((child for child in children if child.tag == q("TextEquiv")), key=_index_key)
    replaced = {q("TextEquiv")} | (set() if words is None else {q("Word")})
    after_names = _AFTER_LINE_TEXT if local_name(element.tag) == "TextLine" else _AFTER_REGION_TEXT
    before = [child for child in children if child.tag not in replaced and local_name(child.tag) not in after_names]
    after = [child for child in children if child.tag not in replaced and local_name(child.tag) in after_names]
    for number, child in enumerate(old, 2):
        child.set("index", str(number))
    new = [*(words or []), equiv]
    ordered = [*before, *new, *(old if keep_old_text else []), *after]
    indent = element.text if element.text and not element.text.strip() else None
    closing = children[-1].tail if children else None
    for child in children:
        element.remove(child)
    element.extend(ordered)
    if indent is not None:
        own = closing if closing is not None and not closing.strip() else indent
        step = indent[len(own):] if indent.startswith(own) and len(indent) > len(own) else "    "
        for child in ordered:
            child.tail = indent
        for child in new:
            indent_subtree(child, indent, step)
        ordered[-1].tail = closing
