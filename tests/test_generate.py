"""Tests of the synthetic data generator: every task's defining property, seeds, OCR lines, text pairs, expressions."""
import ast
import codecs
import os

import h5py
import numpy as np
import pytest
from PIL import Image, ImageFont

from clstmtools import generate
from clstmtools.filenames import label_from_filename

N = 300
LENGTH = 29
SMALL = ["--ocr-train", "12", "--ocr-test", "4", "--text-train", "50", "--text-test", "10",
         "--expr-train", "40", "--expr-test", "6", "-n", str(N), "-q"]
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def run_main(outdir, *extra):
    status = generate.main(["-o", str(outdir), *SMALL, *extra])
    assert status == 0
    return outdir


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """Everything, once, at small sizes."""
    return run_main(tmp_path_factory.mktemp("gen"), "--seed", "5")


def read_h5(path):
    with h5py.File(path, "r") as f:
        return {name: [np.asarray(v) for v in f[name][()]] if f[name].dtype == object else f[name][()]
                for name in f}


def read_seq(path):
    """inputs (N, T, d) and targets (N, T) from a clstmseq file, checking the layout on the way."""
    data = read_h5(path)
    dims, odims = data["inputs_dims"], data["outputs_dims"]
    assert len(data["inputs"]) == len(data["outputs"]) == N
    assert (dims[:, 0] == LENGTH).all() and (odims == [LENGTH, 1]).all()
    assert all(v.dtype == np.float32 for v in data["inputs"] + data["outputs"])
    x = np.stack([v.reshape(d) for v, d in zip(data["inputs"], dims)])
    y = np.stack([v.reshape(d) for v, d in zip(data["outputs"], odims)])[:, :, 0]
    return x, y


def binary(a):
    assert np.isin(a, (0, 1)).all()
    return a.astype(bool)


def pulses_of(x):
    """The one pulse train copied to every feature."""
    assert (x == x[:, :, :1]).all()
    return binary(x[:, :, 0])


# --- NumPy/Python twins of each task's definition ----------------------------------------------

def counted_twin(pulses, m):
    out = np.zeros_like(pulses)
    for i, row in enumerate(pulses):
        count = 0
        for t, p in enumerate(row):
            count += p
            out[i, t] = p and count % m == 1
    return out


def gaps_twin(spikes):
    """For every spike: steps to the previous and next spike (inf when none)."""
    before = np.full(spikes.shape, np.inf)
    after = np.full(spikes.shape, np.inf)
    for i, row in enumerate(spikes):
        where = list(np.flatnonzero(row))
        for k, t in enumerate(where):
            before[i, t] = t - where[k - 1] if k else np.inf
            after[i, t] = where[k + 1] - t if k + 1 < len(where) else np.inf
    return before, after


def detect_twin(x):
    y = np.zeros(x.shape[:2], bool)
    for i, seq in enumerate(x):
        state = False
        for t, (a, b) in enumerate(seq > 0.5):
            if a and not b:
                state = True
            elif b and not a and state:
                y[i, t], state = True, False
            elif a or b:
                state = False
    return y


def check_task(name, x, y):
    steps = np.arange(LENGTH)
    if name == "threshold":
        assert (binary(y) == (x.astype(np.float64).sum(axis=2) > 0.5 * x.shape[2])).all()
    elif name == "mod3":
        assert (binary(y) == (steps % 3 == 0)).all()
    elif name.startswith("dmod"):
        m = int(name[4:])
        assert (x[:, 0, 0] == 1).all() and (x[:, 1:, 0] == 0).all()
        assert (binary(y) == (steps % m == 0)).all()
    elif name == "imod3" or name.startswith("smod"):
        pulses = pulses_of(x)
        assert (binary(y) == counted_twin(pulses, int(name[-1]))).all()
        if name.startswith("smod"):  # local maxima are never adjacent
            assert not (pulses[:, 1:] & pulses[:, :-1]).any()
        else:
            assert 0.15 < pulses.mean() < 0.25
    elif name == "anbn":
        run = pulses_of(x).sum(axis=1)
        assert (pulses_of(x) == (steps < run[:, None])).all()
        assert run.min() >= 1 and run.max() <= LENGTH // 3
        assert (binary(y) == (steps == 2 * run[:, None])).all()
    elif name.endswith("timing"):
        spikes = pulses_of(x)
        assert spikes[:, 0].all()
        before, after = gaps_twin(spikes)
        intervals = before[np.isfinite(before)]
        assert intervals.min() >= 1 and 4 < intervals.mean() < 6.5
        want = {"timing": before > 5, "revtiming": after > 5, "biditiming": (before >= 5) & (after >= 5)}
        assert (binary(y) == (spikes & want[name])).all()
    elif name.endswith("detect"):
        assert x.shape[2] == 2
        binary(x)
        if name == "revdetect":
            assert (binary(y) == detect_twin(x[:, ::-1])[:, ::-1]).all()
        else:
            both = detect_twin(x[:, ::-1])[:, ::-1] if name == "bididetect" else True
            assert (binary(y) == (detect_twin(x) & both)).all()
    else:
        shift = int(name[-1]) * (-1 if name.startswith("r") else 1)
        assert x.shape[2] == 1
        pulses = binary(x[:, :, 0])
        want = np.zeros_like(pulses)
        for t in range(LENGTH):
            if 0 <= t - shift < LENGTH:
                want[:, t] = pulses[:, t - shift]
        assert (binary(y) == want).all()


@pytest.mark.parametrize("name", list(generate.SEQUENCE_TASKS))
def test_sequence_task_has_its_defining_property(out, name):
    x, y = read_seq(os.path.join(out, f"{name}.h5"))
    assert x.shape[2] == (generate.SEQUENCE_TASKS[name].depth or 2)
    assert 0 < y.sum() < y.size  # the property is not checked on an empty target
    check_task(name, x, y)


def test_every_task_is_written_and_nothing_else(out):
    names = set(os.listdir(out))
    expected = {f"{t}.h5" for t in generate.SEQUENCE_TASKS} | {"ocr-train.h5", "ocr-test.h5", "expr-train",
                                                               "expr-test"}
    expected |= {f"text-{t}-{part}.txt" for t in generate.TEXT_TRANSFORMS for part in ("train", "test")}
    assert names == expected


def same_files(a, b, names):
    for name in names:
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if name.endswith(".h5"):
            da, db = read_h5(pa), read_h5(pb)
            assert da.keys() == db.keys()
            for key in da:
                if isinstance(da[key], list):
                    if len(da[key]) != len(db[key]) or any(
                            not np.array_equal(u, v) for u, v in zip(da[key], db[key])):
                        return False
                elif not np.array_equal(da[key], db[key]):
                    return False
        elif os.path.isdir(pa):
            if sorted(os.listdir(pa)) != sorted(os.listdir(pb)) or not same_files(pa, pb, os.listdir(pa)):
                return False
        elif open(pa, "rb").read() != open(pb, "rb").read():
            return False
    return True


def test_same_seed_same_data_different_seed_different_data(out, tmp_path):
    tasks = "--tasks", "smod4,biditiming,ocr,text-reverse,expr"
    names = ["smod4.h5", "biditiming.h5", "ocr-train.h5", "ocr-test.h5", "text-reverse-train.txt", "expr-test"]
    # a subset written alone equals the same files of the full run: each file has its own stream
    assert same_files(out, run_main(tmp_path / "again", *tasks, "--seed", "5"), names)
    other = run_main(tmp_path / "other", *tasks, "--seed", "6")
    assert not any(same_files(out, other, [name]) for name in names)


def test_train_and_test_differ(out):
    labels = [open(os.path.join(out, f"expr-{part}", "labels.txt")).read() for part in ("train", "test")]
    assert not labels[0].startswith(labels[1][:40])
    ocr = [read_h5(os.path.join(out, f"ocr-{part}.h5"))["images"][0] for part in ("train", "test")]
    assert ocr[0].shape != ocr[1].shape or not np.array_equal(*ocr)
    for t in generate.TEXT_TRANSFORMS:
        train, test = (open(os.path.join(out, f"text-{t}-{part}.txt")).read() for part in ("train", "test"))
        assert train[:100] != test[:100]


# --- fonts and OCR lines -----------------------------------------------------------------------

def test_glyph_check_drops_what_the_builtin_font_cannot_draw():
    font = ImageFont.load_default(size=32)
    kept, dropped = generate.drawable_characters(font, "ab ö€Z9\t\u4e00a")
    assert kept == "ab Z9" and dropped == "ö€\t\u4e00"


@pytest.mark.skipif(not os.path.exists(DEJAVU), reason="DejaVu Sans is not installed")
def test_glyph_check_keeps_what_a_real_font_draws():
    kept, dropped = generate.drawable_characters(ImageFont.truetype(DEJAVU, 32), "aö€\u4e00")
    assert kept == "aö€" and dropped == "\u4e00"


def ocr_lines(path):
    data = read_h5(path)
    images = [v.reshape(d) for v, d in zip(data["images"], data["images_dims"])]
    codec = data["codec"]
    texts = ["".join(chr(codec[label]) for label in labels) for labels in data["transcripts"]]
    for labels in data["transcripts"]:
        assert len(labels) and labels.min() >= 1 and labels.max() < len(codec)
    return images, texts, codec


def ink_centre(image):
    rows = np.arange(image.shape[1])
    return (image.sum(axis=0) * rows).sum() / image.sum()


def test_ocr_lines(out):
    images, texts, codec = ocr_lines(os.path.join(out, "ocr-train.h5"))
    assert codec[0] == 0 and list(codec[1:]) == sorted(set(codec[1:]))
    drawable, _ = generate.drawable_characters(ImageFont.load_default(size=40), "".join(map(chr, codec[1:])))
    assert len(drawable) == len(codec) - 1  # the codec claims only characters the font draws
    assert "ö" not in "".join(texts) and " " in "".join(texts)
    for image, text in zip(images, texts):
        assert image.dtype == np.float32 and image.shape[1] == 48
        assert image.min() >= 0 and image.max() == 1
        assert image.shape[0] > 10 * len(text)
        assert abs(ink_centre(image) - 24) < 5


def test_ocr_lines_are_not_clipped_and_options_apply(tmp_path):
    status = generate.main(["-o", str(tmp_path), "--tasks", "ocr", "--ocr-train", "10", "--ocr-test", "0",
                            "--height", "32", "--noise", "0", "--blur", "0", "--slant", "0.5", "--wobble", "3",
                            "--ocr-text", "letters", "-q"])
    assert status == 0
    images, texts, _ = ocr_lines(tmp_path / "ocr-train.h5")
    for image in images:
        assert image.shape[1] == 32
        border = np.concatenate([image[:2].ravel(), image[-2:].ravel(), image[:, :2].ravel(), image[:, -2:].ravel()])
        assert border.max() < 0.05  # all glyphs lie well inside
        assert abs(ink_centre(image) - 16) < 4
        assert (image[2:-2, 2:-2] == 0).mean() > 0.5  # no noise was added


@pytest.mark.skipif(not os.path.exists(DEJAVU), reason="DejaVu Sans is not installed")
def test_ocr_with_a_font_file_keeps_its_characters(tmp_path):
    style = generate.LineStyle()
    _, _, alphabet, dropped = generate.ocr_setup([DEJAVU], style, "letters")
    assert "ö" in alphabet and "€" in alphabet and not dropped
    _, _, alphabet, dropped = generate.ocr_setup([DEJAVU, None], style, "letters")
    assert "ö" not in alphabet and "ö" in dropped["Aileron Regular"]


# --- text pairs and expressions ----------------------------------------------------------------

DIGITS = "zero one two three four five six seven eight nine".split()
TRANSFORM_TWINS = {"reverse": lambda s: "".join(reversed(s)), "upper": lambda s: s.upper(),
                   "rot13": lambda s: codecs.decode(s, "rot_13"),
                   "spell": lambda s: " ".join(DIGITS["0123456789".index(c)] for c in s)}


@pytest.mark.parametrize("name", list(generate.TEXT_TRANSFORMS))
def test_text_pairs_follow_their_transform(out, name):
    with open(os.path.join(out, f"text-{name}-train.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[-1] == "" and len(lines) == 51
    for line in lines[:-1]:
        source, target = line.split("\t")
        assert source and target and not source.startswith("# ")
        assert target == TRANSFORM_TWINS[name](source)
        assert target != source or name == "upper" and not source.isalpha()


def check_expression(label):
    assert set(label) <= set("0123456789+-*/()") and label[0] != ")"
    tree = ast.parse(label, mode="eval").body
    assert isinstance(tree, ast.BinOp)  # a whole expression, parentheses balanced


@pytest.mark.parametrize("part", ["train", "test"])
def test_expression_folder_round_trips_labels(out, part):
    folder = os.path.join(out, f"expr-{part}")
    with open(os.path.join(folder, "labels.txt"), encoding="utf-8") as f:
        listed = dict(line.split("\t") for line in f.read().splitlines())
    images = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    assert sorted(listed) == images and len(images) == (40 if part == "train" else 6)
    sizes, polarity = set(), set()
    for name in images:
        label = label_from_filename(name)
        assert label == listed[name]
        check_expression(label)
        assert not set("*/") & set(name)
        with Image.open(os.path.join(folder, name)) as image:
            assert image.format == "PNG" and image.mode == "L"
            pixels = np.asarray(image)
        sizes.add(pixels.shape)
        polarity.add(np.median(pixels) > 127)
    if part == "train":
        assert len({h for h, _ in sizes}) > 5 and len({w for _, w in sizes}) > 5
        assert polarity == {True, False}  # dark on light, and some light on dark
    assert any("%2A" in n or "%2F" in n for n in images)


# --- command line ------------------------------------------------------------------------------

def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert generate.main(["-o", str(tmp_path), "--tasks", "delay9"]) == 1
    assert "delay9" in capsys.readouterr().err
    bad_font = tmp_path / "bad.ttf"
    bad_font.write_bytes(b"not a font")
    assert generate.main(["-o", str(tmp_path), "--tasks", "ocr", "--font", str(bad_font)]) == 1
    err = capsys.readouterr().err
    assert str(bad_font) in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--help"])
    assert exit_info.value.code == 0


def test_smoothing_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    noise = np.random.default_rng(0).random((5, 29, 2))
    for sigma in (0.5, 1.7):
        ours = generate.smooth_along_axis(noise, sigma, axis=1)
        assert np.allclose(ours, ndimage.gaussian_filter1d(noise, sigma, axis=1, mode="reflect"), atol=1e-12)


def test_the_project_readers_take_the_output(out):
    from clstmtools.datasets import ImageFolderDataset, OcrH5Dataset, SeqH5Dataset, TextPairs
    with SeqH5Dataset(os.path.join(out, "delay2.h5")) as seqs:
        assert len(seqs) == N and seqs.input(0).shape == (LENGTH, 1) and seqs.output(0).shape == (LENGTH, 2)
    with OcrH5Dataset(os.path.join(out, "ocr-test.h5")) as lines:
        assert len(lines) == 4 and lines.depth == 48
        assert [lines.text(i) for i in range(4)] == ocr_lines(os.path.join(out, "ocr-test.h5"))[1]
    pairs = TextPairs.read(os.path.join(out, "text-spell-test.txt"))
    assert len(pairs.inputs) == 10 and set("".join(pairs.inputs)) <= set("0123456789")
    folder = ImageFolderDataset(os.path.join(out, "expr-test"), strict=True)
    assert len(folder) == 6 and all(check_expression(folder.text(i)) is None for i in range(6))


def test_test_sets_share_no_item_with_their_training_sets(tmp_path):
    # small vocabularies make repeats likely: before the check, ~30% of a text-pair test set was in training
    assert generate.main(["-o", str(tmp_path), "-q", "--seed", "5", "--tasks", "ocr,text,expr", "--ocr-train", "200",
                          "--ocr-test", "100", "--height", "16", "--text-train", "2000", "--text-test", "500",
                          "--expr-train", "300", "--expr-test", "100"]) == 0

    def pairs(path):
        return [line.split("\t") for line in path.read_text("utf-8").splitlines()]

    for name in generate.TEXT_TRANSFORMS:
        train = {source for source, _ in pairs(tmp_path / f"text-{name}-train.txt")}
        test = [source for source, _ in pairs(tmp_path / f"text-{name}-test.txt")]
        assert len(test) == 500 and not train & set(test), name
    train = {label for _, label in pairs(tmp_path / "expr-train" / "labels.txt")}
    test = [label for _, label in pairs(tmp_path / "expr-test" / "labels.txt")]
    assert len(test) == 100 and not train & set(test)
    texts = [{"".join(chr(codec[k]) for k in labels) for labels in transcripts}
             for codec, transcripts in (ocr_transcripts(tmp_path / f"ocr-{part}.h5") for part in ("train", "test"))]
    assert len(texts[1]) > 50 and not texts[0] & texts[1]


def test_a_test_set_that_cannot_be_kept_apart_is_an_error():
    with pytest.raises(generate.GenerateError, match="cannot draw a test item that is not in the training set"):
        generate.common.draw_unseen(lambda: "same", {"same"}, "text-upper")


def ocr_transcripts(path):
    with h5py.File(path, "r") as f:
        return [int(c) for c in f["codec"][()].ravel()], [list(t) for t in f["transcripts"]]
