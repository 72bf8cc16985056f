"""Labels carried in file names: escaping characters a file name cannot hold, and reading them back."""
import os
import re

#: characters that cannot appear in a file name on common systems, plus the escape character itself
_FORBIDDEN = frozenset('/\\:*?"<>|%')

#: an escape: ``%XX`` (code point < 256) or ``%uXXXX``
_ESCAPE = re.compile(r"%(?:u([0-9A-Fa-f]{4})|([0-9A-Fa-f]{2}))")


def _needs_escape(ch):
    code = ord(ch)
    return ch in _FORBIDDEN or code < 0x20 or 0x7F <= code < 0xA0


def escape_label(label):
    """``label`` with every character a file name cannot hold written as ``%XX`` or ``%uXXXX``."""
    out = []
    for ch in label:
        if not _needs_escape(ch):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(f"%u{ord(ch):04X}")
    return "".join(out)


def unescape_label(text):
    """Undo :func:`escape_label`; any ``%XX``/``%uXXXX`` is decoded, a stray ``%`` is a ValueError."""
    out = []
    pos = 0
    while True:
        percent = text.find("%", pos)
        if percent < 0:
            out.append(text[pos:])
            return "".join(out)
        match = _ESCAPE.match(text, percent)
        if match is None:
            raise ValueError(
                f"invalid escape at position {percent} of {text!r}: '%' must start %XX or %uXXXX")
        out.append(text[pos:percent])
        out.append(chr(int(match.group(1) or match.group(2), 16)))
        pos = match.end()


def label_from_filename(name):
    """The label in ``ID_LABEL.ext`` (unescaped), or None when there is no ``_`` or the label is empty.

    Only the base name counts; the label runs from the first ``_`` to the last ``.``."""
    base = os.path.basename(name)
    stem = base.rsplit(".", 1)[0] if "." in base else base
    if "_" not in stem:
        return None
    label = stem.split("_", 1)[1]
    if not label:
        return None
    try:
        return unescape_label(label)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
