"""PAGE XML and ALTO as data sets: reading order, line cutting, skipped lines, safe parsing, recognition back into copies."""
import shutil
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clstmtools.datasets import DatasetError, PageLineDataset, RecognizedLine, open_ocr_dataset
from clstmtools.datasets import pagelines, xmlfile
from clstmtools.datasets.pagelines import cut_line, layout_sources
from clstmtools.datasets.layout import LineGeometry

from conftest import shared_file
from margins import SEED, at_most
from test_datasets import idle_reader_stalled, returns_while_stalled
from test_drivers import TESTERR_CTC, Job, assert_one_line_error, run, run_all, succeeded

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v2#"
SAMPLE_PAGE = "page-sample/OCR-D-GT-PAGE/PAGE_0017_PAGE.xml"
SAMPLE_ALTO = "page-sample/OCR-D-GT-ALTO/PAGE_0017_ALTO.xml"
SAMPLE_IMAGE = "page-sample/OCR-D-IMG/INPUT_0017.tif"
HEIGHT = 24  # target_height of the programs' runs: small, for speed


def q(name, ns=PAGE_NS):
    return f"{{{ns}}}{name}"


def expected_page_lines(path):
    """(id, text) of the sample's lines in reading order, computed here with plain ElementTree."""
    page = ET.parse(path).getroot().find(q("Page"))
    refs = page.find(q("ReadingOrder")).find(q("OrderedGroup")).findall(q("RegionRefIndexed"))
    order = [ref.get("regionRef") for ref in sorted(refs, key=lambda ref: int(ref.get("index")))]
    regions = {region.get("id"): region for region in page.iter(q("TextRegion"))}
    return [(line.get("id"), line.find(q("TextEquiv")).findtext(q("Unicode")))
            for rid in order for line in regions[rid].findall(q("TextLine"))]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A copy of the sample workspace (so that nothing is ever written beside the shared data)."""
    root = tmp_path_factory.mktemp("workspace")
    for name in (SAMPLE_PAGE, SAMPLE_ALTO, SAMPLE_IMAGE):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_file(name), target)
    (root / "alto.txt").write_text(f"{SAMPLE_ALTO}\t{SAMPLE_IMAGE}\n", encoding="utf-8")
    return root


# --- synthetic pages -------------------------------------------------------------------------------
def write_page_image(path, size=(200, 120)):
    """A light page with dark bars where the synthetic lines are (rows 10-29, 50-69, 90-109)."""
    grey = np.full((size[1], size[0]), 230, np.uint8)
    for top in (10, 50, 90):
        grey[top + 4:top + 16, 20:180:6] = 20
    Image.fromarray(grey).save(path)


def page_xml(lines, order=None, image="page.png", size=(200, 120), prefix="", ns=PAGE_NS):
    """A PAGE document with one TextRegion per line: ``lines`` of (id, points or None, text or None)."""
    p = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{ns}"' if prefix else f'xmlns="{ns}"'
    regions = []
    for k, (line_id, points, text) in enumerate(lines):
        coords = f'<{p}Coords points="{points}"/>' if points is not None else ""
        equiv = f"<{p}TextEquiv><{p}Unicode>{text}</{p}Unicode></{p}TextEquiv>" if text is not None else ""
        regions.append(f'<{p}TextRegion id="r{k}"><{p}TextLine id="{line_id}">{coords}{equiv}</{p}TextLine>'
                       f'</{p}TextRegion>')
    reading = ""
    if order is not None:
        refs = "".join(f'<{p}RegionRefIndexed index="{i}" regionRef="{r}"/>' for i, r in enumerate(order))
        reading = f'<{p}ReadingOrder><{p}OrderedGroup id="g">{refs}</{p}OrderedGroup></{p}ReadingOrder>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}PcGts {declaration}><{p}Page imageFilename="{image}" '
            f'imageWidth="{size[0]}" imageHeight="{size[1]}">{reading}{"".join(regions)}</{p}Page></{p}PcGts>\n')


def box(top, left=10, right=190, height=20):
    return f"{left},{top} {right},{top} {right},{top + height} {left},{top + height}"


@pytest.fixture
def synthetic(tmp_path):
    write_page_image(tmp_path / "page.png")
    return tmp_path


# --- reading ---------------------------------------------------------------------------------------
def test_the_sample_page_gives_its_24_lines_in_reading_order(sample):
    data = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    expected = expected_page_lines(sample / SAMPLE_PAGE)
    assert len(data) == len(expected) == 24
    assert [data.name(i).rsplit("#", 1)[1] for i in range(len(data))] == [line_id for line_id, _ in expected]
    assert [data.text(i) for i in range(len(data))] == [text for _, text in expected]
    assert data.line_normalization == "center" and data.depth == HEIGHT
    widths = [data.input(i).shape[0] for i in range(len(data))]
    assert widths[0] > 5 * HEIGHT and min(widths) > 0  # "Berliniſche Monatsſchrift." is a long line


def test_the_alto_file_with_its_image_in_a_list_gives_the_same_lines(sample):
    page = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    alto = open_ocr_dataset(sample / "alto.txt", target_height=HEIGHT)
    assert [alto.name(i).rsplit("#", 1)[1] for i in range(24)] == [page.name(i).rsplit("#", 1)[1] for i in range(24)]
    # this ALTO file has no SP elements: its Strings (the PAGE file's Words) are joined by single spaces
    root = ET.parse(sample / SAMPLE_PAGE).getroot()
    words = {line.get("id"): " ".join(w.find(q("TextEquiv")).findtext(q("Unicode")) for w in line.findall(q("Word")))
             for line in root.iter(q("TextLine"))}
    for i in range(24):
        assert alto.text(i) == words[alto.name(i).rsplit("#", 1)[1]]
        assert alto.text(i).replace(" ", "") == page.text(i).replace(" ", "")
        assert alto.input(i).shape == page.input(i).shape  # the same boxes cut from the same image


def test_reading_order_follows_the_reading_order_element_then_document_order(synthetic):
    (synthetic / "p.xml").write_text(page_xml([("a", box(10), "first"), ("b", box(50), "second"),
                                               ("c", box(90), "third")], order=["r2", "r0"]))
    data = open_ocr_dataset(synthetic / "p.xml")
    assert [data.text(i) for i in range(3)] == ["third", "first", "second"]  # r1 is not listed: last


def test_prefixed_namespace_and_2010_point_coordinates(synthetic):
    ns2010 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19"
    text = page_xml([("a", box(10), "x"), ("b", box(50), "y")], prefix="pc", ns=ns2010)
    points = "".join(f'<pc:Point x="{x}" y="{y}"/>' for x, y in ((10, 50), (190, 50), (190, 70), (10, 70)))
    text = text.replace(f'<pc:Coords points="{box(50)}"/>', f"<pc:Coords>{points}</pc:Coords>")
    (synthetic / "p.xml").write_text(text)
    data = open_ocr_dataset(synthetic / "p.xml", dewarp="none")
    assert [data.text(i) for i in range(2)] == ["x", "y"]
    assert data.input(0).shape == data.input(1).shape  # the same box given two ways


def test_alto_spaces_hyphens_and_units(synthetic):
    strings = ('<String CONTENT="ab" HPOS="100" VPOS="500" WIDTH="400" HEIGHT="100"/><SP/>'
               '<String CONTENT="cd" HPOS="600" VPOS="500" WIDTH="400" HEIGHT="100"/>'
               '<String CONTENT="e" HPOS="1000" VPOS="500" WIDTH="100" HEIGHT="100"/><HYP CONTENT="¬"/>')
    (synthetic / "a.xml").write_text(
        f'<alto xmlns="{ALTO_NS}"><Description><MeasurementUnit>mm10</MeasurementUnit><sourceImageInformation>'
        f'<fileName>page.png</fileName></sourceImageInformation></Description><Layout><Page WIDTH="2000" HEIGHT="1200">'
        f'<PrintSpace><TextBlock><TextLine ID="l1" HPOS="100" VPOS="500" WIDTH="1800" HEIGHT="200">{strings}'
        f'</TextLine></TextBlock></PrintSpace></Page></Layout></alto>', encoding="utf-8")
    data = open_ocr_dataset(synthetic / "a.xml", dewarp="none", target_height=25)
    assert data.text(0) == "ab cde¬"  # SP is a space, Strings without one touch, HYP is the hyphen
    # mm10 scaled by the page's size to the 200x120 image: the line is 181x21 pixels, padded by 2
    assert data.input(0).shape == (181 + 2 * 2, 21 + 2 * 2)


def test_cut_line_sets_everything_outside_the_polygon_to_background():
    grey = np.zeros((40, 60), np.float32)  # all ink
    triangle = np.array([[10.0, 10.0], [50.0, 10.0], [10.0, 30.0]])
    geometry = LineGeometry(10, 10, 51, 31, pad=3)
    cut = cut_line(grey, triangle, geometry, background=255.0)
    assert cut.shape == (21 + 6, 41 + 6)
    assert (cut[:3] == 255).all() and (cut[:, :3] == 255).all() and (cut[-3:] == 255).all()
    assert cut[3 + 1, 3 + 1] == 0 and cut[3 + 19, 3 + 38] == 255  # inside the triangle, beyond its diagonal


def test_a_page_image_is_read_once_and_its_lines_cached(sample, monkeypatch):
    calls = []
    real = pagelines.read_grey
    monkeypatch.setattr(pagelines, "read_grey", lambda path: calls.append(path) or real(path))
    data = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    order = np.random.default_rng(0).permutation(len(data))
    first = {int(i): data.input(int(i)) for i in order}
    assert len(calls) == 1
    assert all(np.array_equal(data.input(i), first[i]) for i in range(len(data)))
    assert len(calls) == 1 and data.cache_nbytes > 0


def test_training_never_waits_for_the_idle_reader_cutting_a_page(synthetic, monkeypatch):
    (synthetic / "p.xml").write_text(page_xml([("a", box(10), "ab"), ("b", box(50), "cd"), ("c", box(90), "ef")]))
    expected = [PageLineDataset(layout_sources(str(synthetic / "p.xml")), target_height=12).input(i) for i in range(3)]
    data = PageLineDataset(layout_sources(str(synthetic / "p.xml")), target_height=12)
    with idle_reader_stalled(monkeypatch, pagelines, "read_grey") as held:
        data.read_ahead_when_idle(range(3))
        assert held.wait(60)  # the idle reader is inside the page image's read
        got = returns_while_stalled(lambda: data.input(1))
    np.testing.assert_array_equal(got, expected[1])
    for i in range(3):
        np.testing.assert_array_equal(data.input(i), expected[i])


def test_colour_lines_are_cut_from_the_page_in_red_green_and_blue(synthetic):
    """channels=3: each line cut from each of the page's colour planes (the paper of each its background) and
    stretched as its grey cut is; a grey page gives the grey lines three times, a coloured ink shows."""
    (synthetic / "page.xml").write_text(page_xml([("l1", box(10), "a"), ("l2", box(50), "b")]), "utf-8")
    grey = open_ocr_dataset(synthetic / "page.xml", dewarp="none", target_height=HEIGHT)
    colour = open_ocr_dataset(synthetic / "page.xml", target_height=HEIGHT, channels=3)
    assert colour.depth == 3 * HEIGHT and colour.line_normalization == "scale"
    for i in range(2):
        np.testing.assert_array_equal(colour.input(i), np.repeat(grey.input(i), 3, axis=1))
    page = np.asarray(Image.open(synthetic / "page.png").convert("RGB")).copy()
    page[(page == 20).all(axis=2)] = (30, 160, 40)  # green ink
    Image.fromarray(page).save(synthetic / "page.png")
    green = open_ocr_dataset(synthetic / "page.xml", target_height=HEIGHT, channels=3).input(0).reshape(-1, HEIGHT, 3)
    red, green = green[:, :, 0], green[:, :, 1]
    ink = red > 0.5  # where the red channel sees the ink, the green one sees less of it
    assert ink.any() and np.all(green[ink] < red[ink]) and green[ink].mean() < 0.7 * red[ink].mean()


def test_unusable_lines_are_reported_by_id_and_skipped_or_with_strict_an_error(synthetic):
    lines = [("good", box(10), "fine"), ("nocoords", None, "x"), ("flat", "10,50 190,50", "x"),
             ("outside", "500,10 600,10 600,30 500,30", "x"), ("notext", box(90), None), ("bad", "1,2 x,4 5,6", "x")]
    (synthetic / "p.xml").write_text(page_xml(lines))
    with pytest.warns(UserWarning) as caught:
        data = open_ocr_dataset(synthetic / "p.xml")
    assert len(data) == 1 and data.text(0) == "fine"
    message = str(caught[0].message)
    for line_id, reason in (("nocoords", "no coordinates"), ("flat", "a degenerate polygon (2 points)"),
                            ("outside", "outside the image (200x120)"), ("notext", "no text"),
                            ("bad", "coordinates '1,2 x,4 5,6' are not numbers")):
        assert f"line {line_id} ({reason}" in message, message
    with pytest.warns(UserWarning, match="4 line"):
        unlabelled = open_ocr_dataset(synthetic / "p.xml", labelled=False)
    assert len(unlabelled) == 2  # without ground truth, a line needs no text
    with pytest.raises(DatasetError, match=r"p\.xml: line nocoords: no coordinates"):
        open_ocr_dataset(synthetic / "p.xml", strict=True)


@pytest.mark.parametrize("content, message", [
    ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
     f'<PcGts xmlns="{PAGE_NS}"><Page>&lol2;</Page></PcGts>', "document type declaration"),
    ('<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "file:///etc/passwd">\n<PcGts/>', "document type declaration"),
    (f'<PcGts xmlns="{PAGE_NS}"><Page>&ext;</Page></PcGts>', "malformed XML: undefined entity"),
    (f'<PcGts xmlns="{PAGE_NS}"><Page imageFilename="page.png"><TextRegion>', "malformed XML: no element found"),
    ("<html><body>hello</body></html>", "neither PAGE XML (PcGts) nor ALTO (alto): the root element is html"),
    (f'<PcGts xmlns="{PAGE_NS}">' + "<a>" * 300 + "</a>" * 300 + "</PcGts>", "nested deeper than 256"),
    (f'<PcGts xmlns="{PAGE_NS}"><Page imageFilename="missing.tif"/></PcGts>', "image missing.tif not found"),
    (f'<PcGts xmlns="{PAGE_NS}"><Page imageFilename="http://example.org/p.tif"/></PcGts>', "is a URL"),
    (f'<PcGts xmlns="{PAGE_NS}"/>', "without a Page element"),
    (f'<alto xmlns="{ALTO_NS}"><Layout><Page/></Layout></alto>', "names no image"),
    (f'<?xml version="1.0" encoding="UTF-9"?>\n<PcGts xmlns="{PAGE_NS}"/>', "malformed XML: unknown encoding"),
])
def test_hostile_or_broken_xml_is_a_one_line_error_naming_the_file(synthetic, content, message):
    (synthetic / "bad.xml").write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        open_ocr_dataset(synthetic / "bad.xml")
    assert str(caught.value).startswith(str(synthetic / "bad.xml")) and "\n" not in str(caught.value)
    assert message in str(caught.value)


def test_bit_flipped_and_truncated_sample_files_give_one_line_errors_or_read(sample, tmp_path):
    rng = np.random.default_rng(1)
    original = (sample / SAMPLE_PAGE).read_bytes()
    target = (sample / SAMPLE_PAGE).parent / "fuzz.xml"  # beside the original: the image is found the same way
    try:
        for trial in range(30):
            data = bytearray(original[:int(rng.integers(1, len(original)))] if trial % 3 == 0 else original)
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
            target.write_bytes(bytes(data))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    open_ocr_dataset(target, target_height=HEIGHT)
                except DatasetError as error:
                    assert "\n" not in str(error) and str(error).startswith(str(target)), error
    finally:
        target.unlink()


def test_xml_size_limit(synthetic, monkeypatch):
    (synthetic / "p.xml").write_text(page_xml([("a", box(10), "x")]))
    monkeypatch.setattr(xmlfile, "MAX_XML_BYTES", 100)
    with pytest.raises(DatasetError, match=r"p\.xml: \d+ bytes is more than the 100"):
        open_ocr_dataset(synthetic / "p.xml")


def test_the_image_is_looked_for_beside_the_file_and_in_the_workspace_above_it_only(synthetic):
    # OCR-D: the XML in a file group's folder names its image relative to the workspace, the folder above
    (synthetic / "ws" / "OCR-D-GT").mkdir(parents=True)
    (synthetic / "ws" / "OCR-D-IMG").mkdir()
    shutil.copy(synthetic / "page.png", synthetic / "ws" / "OCR-D-IMG" / "p.png")
    (synthetic / "ws" / "OCR-D-GT" / "p.xml").write_text(page_xml([("a", box(10), "x")], image="OCR-D-IMG/p.png"))
    found = open_ocr_dataset(synthetic / "ws" / "OCR-D-GT" / "p.xml").documents[0].image
    assert found == str(synthetic / "ws" / "OCR-D-IMG" / "p.png")
    deep = synthetic / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "bare.xml").write_text(page_xml([("a", box(10), "x")]))  # page.png is two folders up
    (deep / "named.xml").write_text(page_xml([("a", box(10), "x")], image="ws/OCR-D-IMG/p.png"))  # so is ws/
    for name, image in (("bare.xml", "page.png"), ("named.xml", "ws/OCR-D-IMG/p.png")):
        with pytest.raises(DatasetError, match=f"{name}: image {image} not found"):
            open_ocr_dataset(deep / name)


def test_list_files_and_folders_of_xml(synthetic):
    (synthetic / "sub").mkdir()
    (synthetic / "sub" / "page.png").symlink_to(synthetic / "page.png")
    (synthetic / "sub" / "one.xml").write_text(page_xml([("a", box(10), "x")]))
    (synthetic / "sub" / "two.xml").write_text(page_xml([("b", box(50), "y")], image="other.png"))
    (synthetic / "list.txt").write_text("# pages\nsub/one.xml\nsub/two.xml\tpage.png\n")
    assert [s[1] for s in layout_sources(str(synthetic / "list.txt"))] == [None, str(synthetic / "page.png")]
    data = open_ocr_dataset(synthetic / "list.txt")
    assert [data.text(i) for i in range(2)] == ["x", "y"]  # two.xml's own image name is overridden
    (synthetic / "sub" / "two.xml").write_text(page_xml([("b", box(50), "y")]))
    folder = open_ocr_dataset(synthetic / "sub")
    assert [folder.text(i) for i in range(2)] == ["x", "y"]
    (synthetic / "mixed.txt").write_text("sub/one.xml\nline.png\n")
    with pytest.raises(DatasetError, match=r"mixed\.txt:2: line\.png: expected page\.xml"):
        open_ocr_dataset(synthetic / "mixed.txt")


# --- writing back ----------------------------------------------------------------------------------
def recognitions(data):
    """Made-up recognitions: each line's own text reversed, its characters spread evenly over 100 steps."""
    results = {}
    for i in range(len(data)):
        text = data.text(i)[::-1]
        steps = 100
        chars = [(int((k + 0.5) * steps / len(text)), 0.5 + 0.5 * k / len(text)) for k in range(len(text))]
        results[i] = RecognizedLine(text, chars, steps)
    return results


def first_text(element):
    """What a reader of the element's first TextEquiv (lowest index) gets, and that TextEquiv."""
    equivs = sorted(element.findall(q("TextEquiv")), key=lambda e: int(e.get("index", "0")))
    return equivs[0].findtext(q("Unicode")) or "", equivs[0]


def polygon_of(element):
    return np.array([[float(v) for v in point.split(",")] for point in element.find(q("Coords")).get("points").split()])


def assert_levels_agree(line, text):
    """The line's first TextEquiv is ``text``, its Words (no Glyphs) say the same and lie inside it, left to right."""
    assert first_text(line)[0] == text
    words = line.findall(q("Word"))
    assert [first_text(word)[0] for word in words] == text.split()
    assert not list(line.iter(q("Glyph")))
    outline = polygon_of(line)
    lefts = []
    for word in words:
        points = polygon_of(word)
        assert len(points) >= 3
        assert (points.min(axis=0) >= outline.min(axis=0) - 1).all() and (points.max(axis=0) <= outline.max(axis=0) + 1).all()
        assert 0 <= float(first_text(word)[1].get("conf")) <= 1
        lefts.append((points[:, 0].min(), points[:, 0].max()))
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(lefts, lefts[1:]))  # in order, not overlapping
    schema_order = ["Coords", "Baseline", "Word", "TextEquiv", "TextStyle"]
    ranks = [schema_order.index(child.tag.split("}")[1]) for child in line]
    assert ranks == sorted(ranks)


def test_page_copies_make_the_recognized_text_the_first_textequiv_with_words_that_agree(sample, tmp_path):
    data = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    results = recognitions(data)
    written = data.write_copies(results, tmp_path / "out")
    assert written == [str(tmp_path / "out" / "PAGE_0017_PAGE.xml")]
    root = ET.parse(written[0]).getroot()
    by_id = {line.get("id"): line for line in root.iter(q("TextLine"))}
    for i in range(len(data)):
        line = by_id[data.name(i).rsplit("#", 1)[1]]
        assert_levels_agree(line, results[i].text)
        (equiv,) = line.findall(q("TextEquiv"))  # the ground truth is gone
        assert equiv.get("index") == "1"
        assert float(equiv.get("conf")) == pytest.approx(results[i].confidence, abs=1e-4)
    for region in root.iter(q("TextRegion")):
        lines = region.findall(q("TextLine"))
        if lines:
            assert first_text(region)[0] == "\n".join(first_text(line)[0] for line in lines)
            assert len(region.findall(q("TextEquiv"))) == 1
    reread = PageLineDataset([(written[0], str(sample / SAMPLE_IMAGE), written[0])], target_height=HEIGHT)
    assert [reread.text(i) for i in range(24)] == [results[i].text.strip() for i in range(24)]
    assert (sample / SAMPLE_PAGE).read_bytes() == shared_file(SAMPLE_PAGE).read_bytes()  # the input untouched


def test_page_copies_can_keep_the_old_texts_after_the_recognized_one(sample, tmp_path):
    data = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    results = recognitions(data)
    (written,) = data.write_copies(results, tmp_path / "out", keep_old_text=True)
    root = ET.parse(written).getroot()
    by_id = {line.get("id"): line for line in root.iter(q("TextLine"))}
    for i in range(len(data)):
        line = by_id[data.name(i).rsplit("#", 1)[1]]
        assert_levels_agree(line, results[i].text)
        equivs = line.findall(q("TextEquiv"))
        assert [e.get("index") for e in equivs] == ["1", "2"]
        assert equivs[1].findtext(q("Unicode")) == data.text(i) and equivs[1].get("conf") is None
    region = next(r for r in root.iter(q("TextRegion")) if len(r.findall(q("TextLine"))) > 1)
    assert [e.get("index") for e in region.findall(q("TextEquiv"))] == ["1", "2"]


def test_alto_copies_get_strings_placed_by_the_time_steps(sample, tmp_path):
    data = open_ocr_dataset(sample / "alto.txt", target_height=HEIGHT)
    results = recognitions(data)
    written = data.write_copies(results, tmp_path / "out")
    root = ET.parse(written[0]).getroot()
    by_id = {line.get("ID"): line for line in root.iter(q("TextLine", ALTO_NS))}
    ids = set()
    for i in range(len(data)):
        line = by_id[data.name(i).rsplit("#", 1)[1]]
        strings = line.findall(q("String", ALTO_NS))
        assert " ".join(s.get("CONTENT") for s in strings) == " ".join(results[i].text.split())
        assert len(line.findall(q("SP", ALTO_NS))) == len(strings) - 1
        left, width = int(line.get("HPOS")), int(line.get("WIDTH"))
        ends = [(int(s.get("HPOS")), int(s.get("HPOS")) + int(s.get("WIDTH"))) for s in strings]
        assert all(left - 1 <= a < b <= left + width + 1 for a, b in ends), (ends, left, width)
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(ends, ends[1:]))  # in order, not overlapping
        assert all(0 <= float(s.get("WC")) <= 1 for s in strings)
        ids |= {s.get("ID") for s in strings}
    assert len(ids) == sum(len(line.findall(q("String", ALTO_NS))) for line in by_id.values())


def test_copies_never_replace_their_input(sample):
    data = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    with pytest.raises(DatasetError, match="would replace it"):
        data.output_paths((sample / SAMPLE_PAGE).parent)


# --- through the real program ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def page_model(sample):
    """A model trained by clstmctc on the sample page's lines (the learning is checked in the test below)."""
    result = succeeded(run("clstmctc", sample / SAMPLE_PAGE, cwd=sample, save_name="page", ntrain=2400, nhidden=50,
                           lrate=1e-3, optimizer="adam", init="scaled", report_every=0, test_every=600,
                           testset=sample / SAMPLE_PAGE, seed=SEED, target_height=HEIGHT))
    return sample / "page.h5", result


def test_a_model_trains_on_the_page_lines_through_the_program(page_model):
    path, result = page_model
    rates = [float(m.group(4)) for m in TESTERR_CTC.finditer(result.stdout)]
    assert len(rates) == 4, result.stdout[-2000:]
    at_most("page lines last / first test error", rates[-1] / rates[0], 0.85, rates)
    import h5py
    with h5py.File(path) as f:
        assert f.attrs["unicode"].decode().strip("\0 ") == "NFC"


def test_dump_prints_the_page_lines_and_alto_gives_the_same(sample):
    page, alto = run_all([Job("clstmctc", [sample / SAMPLE_PAGE], sample, dict(mode="dump")),
                          Job("clstmctc", [sample / "alto.txt"], sample, dict(mode="dump"))])
    texts = [line.split("\t", 1)[1] for line in succeeded(page).stdout.splitlines()]
    assert texts == [text for _, text in expected_page_lines(sample / SAMPLE_PAGE)]
    alto_texts = [line.split("\t", 1)[1] for line in succeeded(alto).stdout.splitlines()]
    assert [t.replace(" ", "") for t in alto_texts] == [t.replace(" ", "") for t in texts]


def test_recognition_into_page_and_alto_copies(sample, page_model, tmp_path):
    model = page_model[0]
    settings = dict(load=model, mode="text", target_height=HEIGHT)
    page, alto, kept = run_all([
        Job("clstmctc", [sample / SAMPLE_PAGE], sample, dict(settings, output=tmp_path / "p")),
        Job("clstmctc", [sample / "alto.txt"], sample, dict(settings, output=tmp_path / "a")),
        Job("clstmctc", [sample / SAMPLE_PAGE], sample, dict(settings, output=tmp_path / "k", keep_old_text=1))])
    recognized = dict(line.split("\t", 1) for line in succeeded(page).stdout.splitlines())
    assert any(text.strip() for text in recognized.values())
    root = ET.parse(tmp_path / "p" / "PAGE_0017_PAGE.xml").getroot()
    lines = list(root.iter(q("TextLine")))
    assert len(lines) == 24
    for line in lines:
        assert_levels_agree(line, recognized[f"{sample / SAMPLE_PAGE}#{line.get('id')}"])
        (equiv,) = line.findall(q("TextEquiv"))
        assert equiv.get("index") == "1" and 0 <= float(equiv.get("conf")) <= 1
    succeeded(kept)
    truths = dict(expected_page_lines(sample / SAMPLE_PAGE))
    for line in ET.parse(tmp_path / "k" / "PAGE_0017_PAGE.xml").getroot().iter(q("TextLine")):
        assert_levels_agree(line, recognized[f"{sample / SAMPLE_PAGE}#{line.get('id')}"])
        old = line.findall(q("TextEquiv"))[1]
        assert old.get("index") == "2" and old.findtext(q("Unicode")) == truths[line.get("id")]
    alto_recognized = dict(line.split("\t", 1) for line in succeeded(alto).stdout.splitlines())
    root = ET.parse(tmp_path / "a" / "PAGE_0017_ALTO.xml").getroot()
    lines = list(root.iter(q("TextLine", ALTO_NS)))
    assert len(lines) == 24
    for line in lines:
        words = [s.get("CONTENT") for s in line.findall(q("String", ALTO_NS))]
        assert " ".join(words) == " ".join(alto_recognized[f"{sample / SAMPLE_ALTO}#{line.get('ID')}"].split())


def test_bad_pages_are_one_line_errors_and_nothing_is_written(sample, page_model, tmp_path):
    write_page_image(tmp_path / "page.png", size=(200, 120))
    (tmp_path / "malformed.xml").write_text(page_xml([("a", box(10), "x")])[:-30])
    (tmp_path / "noimage.xml").write_text(page_xml([("a", box(10), "x")], image="gone.tif"))
    (tmp_path / "outside.xml").write_text(page_xml([("a", box(10), "x"), ("far", "300,10 400,10 400,30", "y")]))
    (tmp_path / "other.xml").write_text('<?xml version="1.0"?><TEI xmlns="http://www.tei-c.org/ns/1.0"/>')
    cases = [("malformed.xml", ["malformed XML"]), ("noimage.xml", ["image gone.tif not found"]),
             ("outside.xml", ["line far", "outside the image (200x120)"]), ("other.xml", ["neither PAGE"])]
    jobs = [Job("clstmctc", [tmp_path / name], tmp_path,
                dict(load=page_model[0], mode="text", strict=1, output=tmp_path / f"out-{name}",
                     target_height=HEIGHT)) for name, _ in cases]
    trained = cases[1:3]  # training reads its data through the same opener
    jobs += [Job("clstmctc", [tmp_path / name], tmp_path, dict(save_name=f"model-{name}", ntrain=5, strict=1))
             for name, _ in trained]
    (tmp_path / "images").mkdir()
    Image.open(tmp_path / "page.png").crop((0, 0, 100, 40)).save(tmp_path / "images" / "1_a.png")
    jobs.append(Job("clstmctc", [tmp_path / "images"], tmp_path,
                    dict(load=page_model[0], mode="text", output=tmp_path / "out-images", target_height=HEIGHT)))
    results = run_all(jobs)
    for (name, words), result in zip(cases + trained, results):
        assert_one_line_error(result, "clstmctc", str(tmp_path / name), *words)
    assert_one_line_error(results[-1], "clstmctc", "needs PAGE or ALTO input")
    assert not [p.name for p in Path(tmp_path).iterdir() if p.name.startswith("out-") or p.suffix == ".h5"]


# --- TIFF ------------------------------------------------------------------------------------------
def test_tiff_lines_in_a_list_one_bit_sixteen_bit_and_multi_page(tmp_path):
    from test_images import GREY8
    Image.fromarray(GREY8 > 127).save(tmp_path / "a.tif")  # mode 1
    Image.fromarray(GREY8.astype(np.uint16) * 257).save(tmp_path / "b.bin.tif")
    Image.fromarray(GREY8).save(tmp_path / "c.tiff", save_all=True, append_images=[Image.fromarray(GREY8)])
    for name, text in (("a", "one"), ("b", "sixteen"), ("c", "pages")):
        (tmp_path / f"{name}.gt.txt").write_text(text + "\n")
    (tmp_path / "list.txt").write_text("a.tif\nb.bin.tif\nc.tiff\n")
    with pytest.warns(UserWarning, match=r"1 image\(s\) with several pages.*c\.tiff \(2 pages\)"):
        data = open_ocr_dataset(tmp_path / "list.txt", dewarp="none", target_height=GREY8.shape[0])
    assert [data.text(i) for i in range(3)] == ["one", "sixteen", "pages"]
    for i in range(3):
        np.testing.assert_allclose(data.input(i), data.input(2), atol=0.02)  # the same ink, whatever the depth


def test_a_one_bit_multi_page_tiff_page(synthetic):
    grey = np.asarray(Image.open(synthetic / "page.png"))
    Image.fromarray(grey > 127).save(synthetic / "page.tif", save_all=True, append_images=[Image.fromarray(grey)])
    (synthetic / "p.xml").write_text(page_xml([("a", box(10), "x"), ("b", box(50), "y")], image="page.tif"))
    with pytest.warns(UserWarning, match=r"page\.tif \(2 pages\)"):
        data = open_ocr_dataset(synthetic / "p.xml", dewarp="none", target_height=25)
    ink = data.input(0)
    assert ink.shape == (181 + 4, 25) and ink.max() == 1 and (ink[:, :2] == 0).all()  # dark bars, white padding


# --- Unicode normalization -------------------------------------------------------------------------
def chars(codec):
    return "".join(map(chr, list(codec.codepoints)[1:]))


def test_unicode_normalization_of_transcripts_builds_the_codec(sample):
    from clstmtools.datasets import OcrDataset, TextPairs
    texts = ["a\u0308b", "\u00e4c"]  # ä decomposed, then precomposed
    inputs = [np.zeros((5, 3), np.float32)] * 2
    nfc = OcrDataset(inputs, texts)  # NFC by default
    assert [nfc.text(i) for i in range(2)] == ["\u00e4b", "\u00e4c"] and "\u0308" not in chars(nfc.codec)
    nfd = OcrDataset(inputs, texts, unicode="NFD")
    assert nfd.text(1) == "a\u0308c" and "\u00e4" not in chars(nfd.codec)
    kept = OcrDataset(inputs, texts, unicode="none")
    assert [kept.text(i) for i in range(2)] == texts
    pairs = TextPairs(["a\u0308"], ["\u00e4"], unicode="NFD")
    assert pairs.inputs == pairs.outputs == ["a\u0308"]
    # the sample's "o" + U+0364 has no precomposed form: NFC keeps it; NFKC makes the long s an s
    page = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT)
    assert "o\u0364" in page.text(2)
    compatible = open_ocr_dataset(sample / SAMPLE_PAGE, target_height=HEIGHT, unicode="NFKC")
    assert compatible.text(0) == "Berlinische Monatsschrift." and "\u017f" not in chars(compatible.codec)


def test_models_keep_their_unicode_normalization(tmp_path):
    from test_images import GREY8
    for name, text in (("a", "a\u0308a"), ("b", "\u00e4b")):
        Image.fromarray(GREY8).save(tmp_path / f"{name}.png")
        (tmp_path / f"{name}.gt.txt").write_text(text)
    (tmp_path / "train.txt").write_text("a.png\nb.png\n")
    (tmp_path / "pairs.txt").write_text("\u00e4\ta\u0308\n")
    ctc, text = run_all([
        Job("clstmctc", ["train.txt"], tmp_path, dict(save_name="ocr", ntrain=4, unicode="NFD", target_height=24)),
        Job("clstmtext", ["pairs.txt"], tmp_path, dict(save_name="g2p", ntrain=4, unicode="NFD"))])
    succeeded(ctc), succeeded(text)
    from clstmtools.modelfile import load_net
    net = load_net(tmp_path / "ocr.h5")
    assert net.attributes["unicode"] == "NFD" and 0xE4 not in list(net.codec) and 0x308 in list(net.codec)
    assert load_net(tmp_path / "g2p.h5").attributes["unicode"] == "NFD"
    # the precomposed ä of the test data is decomposed as the model's training text was, whatever unicode= says
    errs, dump, filtered = run_all([
        Job("clstmctc", ["train.txt"], tmp_path, dict(load="ocr.h5", mode="full", unicode="NFC", target_height=24)),
        Job("clstmctc", ["train.txt"], tmp_path, dict(mode="dump", unicode="NFC")),
        Job("clstmtext", ["pairs.txt"], tmp_path, dict(load="g2p.h5", mode="filter", unicode="NFC"))])
    truths = [line.split("\t")[3] for line in succeeded(errs).stdout.splitlines()[:-1]]
    assert truths == ["a\u0308a", "a\u0308b"]
    assert [line.split("\t")[1] for line in succeeded(dump).stdout.splitlines()] == ["\u00e4a", "\u00e4b"]
    succeeded(filtered)


def test_layout_without_text_gets_the_recognized_text(synthetic, tmp_path):
    (synthetic / "p.xml").write_text(page_xml([("a", box(10), None), ("b", box(50), None)]))
    (synthetic / "a.xml").write_text(
        f'<alto xmlns="{ALTO_NS}"><Description><sourceImageInformation><fileName>page.png</fileName>'
        '</sourceImageInformation></Description><Layout><Page WIDTH="200" HEIGHT="120"><PrintSpace><TextBlock>'
        '<TextLine ID="l1"><Shape><Polygon POINTS="10,10 190,10 190,30 10,30"/></Shape></TextLine>'
        '</TextBlock></PrintSpace></Page></Layout></alto>')
    (synthetic / "both.txt").write_text("p.xml\na.xml\n")
    data = open_ocr_dataset(synthetic / "both.txt", labelled=False)
    assert len(data) == 3 and data.text(0) is None
    results = {i: RecognizedLine("ab c", [(5, 0.9), (20, 0.8), (40, 0.7), (70, 0.6)], 100) for i in range(3)}
    page, alto = data.write_copies(results, tmp_path / "out")
    equivs = ET.parse(page).getroot().findall(f".//{q('TextLine')}/{q('TextEquiv')}")
    assert [(e.get("index"), e.get("conf"), e.findtext(q("Unicode"))) for e in equivs] == [("1", "0.7500", "ab c")] * 2
    line = ET.parse(alto).getroot().find(f".//{q('TextLine', ALTO_NS)}")
    assert [child.tag.split("}")[1] for child in line] == ["Shape", "String", "SP", "String"]
    first, space, second = line[1:]
    assert first.get("CONTENT") == "ab" and second.get("CONTENT") == "c" and first.get("WC") == "0.8500"
    assert int(first.get("HPOS")) < int(space.get("HPOS")) <= int(second.get("HPOS"))
    assert int(first.get("VPOS")) == 10 and int(first.get("HEIGHT")) == 21
    empty = open_ocr_dataset(synthetic / "a.xml", labelled=False)
    (copy,) = empty.write_copies({0: RecognizedLine("", [], 100)}, tmp_path / "empty")
    strings = ET.parse(copy).getroot().findall(f".//{q('String', ALTO_NS)}")
    assert [(s.get("CONTENT"), s.get("HPOS"), s.get("WIDTH")) for s in strings] == [("", "10", "181")]


def test_page_words_lie_inside_a_slanted_line(synthetic, tmp_path):
    (synthetic / "p.xml").write_text(page_xml([("a", "10,10 190,40 190,60 10,30", None)]))
    data = open_ocr_dataset(synthetic / "p.xml", labelled=False)
    (copy,) = data.write_copies({0: RecognizedLine("ab cd ef", [(12 * k + 5, 0.9) for k in range(8)], 100)},
                                tmp_path / "out")
    line = ET.parse(copy).getroot().find(f".//{q('TextLine')}")
    assert_levels_agree(line, "ab cd ef")
    for word in line.findall(q("Word")):
        for x, y in polygon_of(word):  # between the line's upper edge and its lower one, 20 below
            top = 10 + (x - 10) * 30 / 180
            assert top - 1 <= y <= top + 21, (x, y)


def test_xml_copies_keep_prefixes_comments_and_escapes(tmp_path):
    text = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<pc:PcGts xmlns:pc="' + PAGE_NS + '" xmlns:x="urn:x">\n'
            '  <!-- a comment -->\n  <pc:Metadata x:foo="a&quot;b\'c" xml:lang="de">t&amp;t &lt;b&gt; &#13; \xe4</pc:Metadata>\n'
            '  <x:Other attr="1&#10;2"/>\n</pc:PcGts>\n')
    (tmp_path / "in.xml").write_bytes(text.encode("latin-1"))
    copy = xmlfile.parse_xml(str(tmp_path / "in.xml")).tostring()
    assert copy.decode("utf-8").splitlines()[1].startswith(f'<pc:PcGts xmlns:pc="{PAGE_NS}" xmlns:x="urn:x">')
    assert "<!-- a comment -->" in copy.decode("utf-8")
    original = ET.parse(tmp_path / "in.xml").getroot()
    assert ET.tostring(ET.fromstring(copy)) == ET.tostring(original)


def test_a_vote_writes_page_copies_like_its_one_model(sample, page_model, tmp_path):
    shutil.copy(page_model[0], tmp_path / "copy.h5")
    settings = dict(mode="text", target_height=HEIGHT, conf=1)
    one, two = map(succeeded, run_all([
        Job("clstmctc", [sample / SAMPLE_PAGE], sample, dict(settings, load=page_model[0], output=tmp_path / "one")),
        Job("clstmctc", [sample / SAMPLE_PAGE], sample, dict(settings, load=f"{page_model[0]},{tmp_path / 'copy.h5'}",
                                                             output=tmp_path / "two"))]))
    assert two.stdout == one.stdout  # texts and confidences
    lines = [{line.get("id"): line for line in ET.parse(tmp_path / name / "PAGE_0017_PAGE.xml").getroot().iter(
        q("TextLine"))} for name in ("one", "two")]
    for line_id, line in lines[1].items():
        assert_levels_agree(line, first_text(lines[0][line_id])[0])
        assert line.find(q("TextEquiv")).get("conf") == lines[0][line_id].find(q("TextEquiv")).get("conf")
