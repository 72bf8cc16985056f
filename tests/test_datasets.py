"""Tests for codecs, file-name labels and the dataset readers (HDF5, text pairs, line lists, image folders)."""
import pytest

from clstmtools.filenames import escape_label, label_from_filename, unescape_label


# --- file-name labels ----------------------------------------------------------------------------
@pytest.mark.parametrize("label", ["hello world", 'a/b\\c:d*e?f"g<h>i|j', "100%", "tab\there\n", "ö€𝄞", "",
                                   "\x7f\x85\u2028"])
def test_escape_round_trip(label):
    escaped = escape_label(label)
    assert not set('/\\:*?"<>|') & set(escaped)
    assert all(ord(c) >= 0x20 for c in escaped)
    assert unescape_label(escaped) == label


def test_escape_forms():
    assert escape_label("a/b") == "a%2Fb"
    assert escape_label("50%") == "50%25"
    assert escape_label("\u2028") == "\u2028"  # printable enough for a file name: kept
    assert unescape_label("%u00F6%41") == "öA"
    assert unescape_label("x%u20ACy") == "x€y"


@pytest.mark.parametrize("bad", ["%", "a%", "%G0", "%u12", "%u12G4", "%1"])
def test_unescape_rejects_stray_percent(bad):
    with pytest.raises(ValueError, match="escape"):
        unescape_label(bad)


def test_label_from_filename():
    assert label_from_filename("0001_hello world.png") == "hello world"
    assert label_from_filename("dir/0001_a_b.c.png") == "a_b.c"
    assert label_from_filename("7_%2Fslash%25.jpg") == "/slash%"
    assert label_from_filename("nolabel.png") is None
    assert label_from_filename("0001_.png") is None
    assert label_from_filename("0001_x") == "x"
    with pytest.raises(ValueError, match="bad_%zz.png"):
        label_from_filename("bad_%zz.png")
