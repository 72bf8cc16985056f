"""PAGE XML (2010-2019 schemas): the text lines of a page in reading order, and recognized text added back as a TextEquiv."""
from xml.etree.ElementTree import Element, SubElement

from .base import DatasetError
from .layout import (LayoutDocument, LayoutLine, find_image, insert_child, local_name, namespace_of, parse_points,
                     polygon_problem, qualifier)

#: every PAGE schema's namespace starts so (2010-03-19 ... 2019-07-15)
PAGE_NAMESPACE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"

#: what a TextLine holds before its TextEquivs, in schema order
_BEFORE_TEXT = ("AlternativeImage", "Coords", "Baseline", "Word", "TextEquiv")


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
    lines = [_line(element, q, number) for number, element in enumerate(_lines_in_reading_order(page, q), 1)]
    return LayoutDocument(path, "PAGE", document, image, lines, declared)


def _declared_size(page):
    try:
        size = int(page.get("imageWidth", "0")), int(page.get("imageHeight", "0"))
    except ValueError:
        return None
    return size if min(size) > 0 else None


def _lines_in_reading_order(page, q):
    """The page's TextLines: by the ReadingOrder position of their region (nearest listed ancestor),
    lines of unlisted regions after them; document order otherwise."""
    order = {}
    reading_order = page.find(q("ReadingOrder"))
    if reading_order is not None:
        for group in reading_order:
            _walk_group(group, order)
    parents = {child: parent for parent in page.iter() for child in parent}
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


def _line(element, q, number):
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
    return LayoutLine(line_id, text, points, element, problem)


def write_page_text(line, recognized, geometry=None):
    """Add the recognized text to the line's element as a TextEquiv after those there, with
    ``@index`` one above theirs (1 where there are none: ground truth stays first) and ``@conf``."""
    element = line.element
    q = qualifier(namespace_of(element.tag))
    equivs = [child for child in element if child.tag == q("TextEquiv")]
    index = max((_index_key(child) for child in equivs), default=0) + 1
    position = max((k + 1 for k, child in enumerate(element) if local_name(child.tag) in _BEFORE_TEXT), default=0)
    equiv = Element(q("TextEquiv"), {"index": str(index), "conf": f"{recognized.confidence:.4f}"})
    unicode = SubElement(equiv, q("Unicode"))
    unicode.text = recognized.text
    indent = insert_child(element, position, equiv)
    if indent is not None:
        equiv.text = indent + ("\t" if "\t" in indent else "    ")
        unicode.tail = indent
