"""Untrusted XML read safely (no DTD, no entities, bounded size and depth) into ElementTree elements, and written back with its own namespace prefixes."""
import os
import xml.parsers.expat
from xml.etree.ElementTree import Comment, TreeBuilder

from .base import DatasetError

#: the largest XML file read (PAGE files with glyph outlines run to a few MB)
MAX_XML_BYTES = 64 << 20
#: the deepest element nesting accepted (PAGE and ALTO need about ten)
MAX_XML_DEPTH = 256

_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
#: characters of attribute values that a parser would turn into spaces unless written as references
_ATTRIBUTE_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


class XmlDocument:
    """A parsed XML file: ``root`` (an Element, tags as ``{namespace}name``), the ``(prefix, uri)``
    declarations in the order met (prefix "" for a default namespace), and ``path``."""

    def __init__(self, path, root, namespaces):
        self.path, self.root, self.namespaces = path, root, namespaces

    def tostring(self):
        """The document as UTF-8 bytes with its namespace prefixes, all declared on the root."""
        return _Writer(self.namespaces).document(self.root).encode("utf-8")


def _name(expat_name):
    """Expat's ``uri}local`` as ElementTree's ``{uri}local``."""
    return "{" + expat_name if "}" in expat_name else expat_name


def parse_xml(path):
    """The XML file at ``path`` as an :class:`XmlDocument`; a one-line DatasetError naming the file if it
    is unreadable, too large, not well-formed, or has a DTD or entity declarations (never resolved)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_XML_BYTES:
            raise DatasetError(f"{path}: {size} bytes is more than the {MAX_XML_BYTES} an XML file may have")
        with open(path, "rb") as f:
            data = f.read(MAX_XML_BYTES + 1)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror}") from None
    builder = TreeBuilder(insert_comments=True)
    namespaces = []
    depth = [0]

    def refuse(what):
        def handler(*args):
            raise DatasetError(f"{path}: {what} is not accepted in PAGE or ALTO files (line {parser.CurrentLineNumber})")
        return handler

    def start(name, attributes):
        depth[0] += 1
        if depth[0] > MAX_XML_DEPTH:
            raise DatasetError(f"{path}: elements nested deeper than {MAX_XML_DEPTH} (line {parser.CurrentLineNumber})")
        builder.start(_name(name), {_name(attributes[k]): attributes[k + 1] for k in range(0, len(attributes), 2)})

    def end(name):
        depth[0] -= 1
        builder.end(_name(name))

    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.ordered_attributes = True
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse("a document type declaration (<!DOCTYPE>)")
    parser.EntityDeclHandler = refuse("an entity declaration")
    parser.ExternalEntityRefHandler = refuse("an external entity")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.CommentHandler = builder.comment
    parser.StartNamespaceDeclHandler = lambda prefix, uri: namespaces.append((prefix or "", uri or ""))
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        reason = xml.parsers.expat.ErrorString(error.code)
        raise DatasetError(f"{path}: malformed XML: {reason} (line {error.lineno}, column {error.offset + 1})") from None
    except LookupError as error:  # an encoding declaration Python does not know
        raise DatasetError(f"{path}: malformed XML: {error}") from None
    return XmlDocument(path, builder.close(), namespaces)


class _Writer:
    """Serializes an element tree with the prefixes of the document's declarations."""

    def __init__(self, namespaces):
        self.prefix = {_XML_NAMESPACE: "xml"}  # uri -> prefix for elements
        self.attribute_prefix = {_XML_NAMESPACE: "xml"}  # uri -> non-empty prefix for attributes
        self.declared = []
        for prefix, uri in namespaces:
            if uri and uri not in self.prefix and prefix not in {p for p, _ in self.declared}:
                self.prefix[uri] = prefix
                self.declared.append((prefix, uri))
            if prefix and uri not in self.attribute_prefix and uri:
                self.attribute_prefix[uri] = prefix

    def _qualified(self, name, attribute=False):
        if not name.startswith("{"):
            return name
        uri, local = name[1:].split("}", 1)
        table = self.attribute_prefix if attribute else self.prefix
        if uri not in table:  # a namespace the document never declared: give it a prefix of its own
            used = {p for p, _ in self.declared}
            prefix = next(f"ns{k}" for k in range(len(used) + 1) if f"ns{k}" not in used)
            self.declared.append((prefix, uri))
            table[uri] = prefix
            self.attribute_prefix.setdefault(uri, prefix)
            self.prefix.setdefault(uri, prefix)
        prefix = table[uri]
        return f"{prefix}:{local}" if prefix else local

    def document(self, root):
        # imported here: xml.sax.saxutils brings urllib, http and ssl (10 ms of every program's start-up)
        from xml.sax.saxutils import quoteattr

        body = []
        self._element(root, body)  # first: undeclared namespaces get their prefixes on the way
        declarations = "".join(f" xmlns{':' + p if p else ''}={quoteattr(u)}" for p, u in self.declared)
        start = body[0]  # "<tag" of the root: the declarations go right after it
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + start + declarations + "".join(body[1:]) + "\n"

    def _element(self, element, out):
        from xml.sax.saxutils import escape, quoteattr

        if element.tag is Comment:
            out.append(f"<!--{element.text or ''}-->")
        else:
            tag = self._qualified(element.tag)
            out.append(f"<{tag}")
            attributes = "".join(f" {self._qualified(k, True)}={quoteattr(v, _ATTRIBUTE_ENTITIES)}"
                                 for k, v in element.attrib.items())
            if len(element) or element.text:
                out.append(f"{attributes}>{escape(element.text or '', {chr(13): '&#13;'})}")
                for child in element:
                    self._element(child, out)
                out.append(f"</{tag}>")
            else:
                out.append(f"{attributes}/>")
        if element.tail:
            out.append(escape(element.tail, {"\r": "&#13;"}))

