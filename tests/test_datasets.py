"""Tests for codecs, file-name labels and the dataset readers (HDF5, text pairs, line lists, image folders)."""
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from clstmtools.codec import Codec
from clstmtools.datasets import lines as line_lists
from clstmtools.datasets import (
    DatasetError, ImageFolderDataset, LineListDataset, OcrDataset, OcrH5Dataset, SeqH5Dataset, TextPairs,
    encode_input, ground_truth_path, open_ocr_dataset, write_ocr_h5, write_seq_h5,
)
from clstmtools.filenames import escape_label, label_from_filename, unescape_label
from clstmtools.images import read_image, scale_to_height

from conftest import shared_file, uw3_split


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


# --- codec ---------------------------------------------------------------------------------------
def test_codec_from_texts_and_round_trip():
    codec = Codec.from_texts(["bca", "ö€", "𝄞 a"])
    assert codec.codepoints == [0, 32, 97, 98, 99, 246, 8364, 119070]
    assert len(codec) == 8
    labels = codec.encode("a€𝄞ö")
    assert labels.dtype == np.int32 and labels.tolist() == [2, 6, 7, 5]
    assert codec.decode([0, 2, 0, 6, 7, 5, 0]) == "a€𝄞ö"
    assert codec == Codec([0, 32, 97, 98, 99, 246, 8364, 119070]) and codec != Codec([0, 97])
    assert hash(codec) == hash(Codec(codec.codepoints))
    assert "a" in codec and "z" not in codec


def test_codec_errors():
    codec = Codec.from_texts(["abc"])
    with pytest.raises(ValueError, match=r"character 'ö' \(U\+00F6\) is not in the codec"):
        codec.encode("aöb")
    with pytest.raises(ValueError, match="label 9"):
        codec.decode([1, 9])
    with pytest.raises(ValueError, match="blank"):
        Codec([97, 98])
    with pytest.raises(ValueError, match="both code point 97"):
        Codec([0, 97, 97])
    with pytest.raises(ValueError, match="U\\+0000"):
        Codec.from_texts(["a\0"])


def test_codec_translation():
    file_codec, model_codec = Codec([0, 98, 97]), Codec([0, 97, 99, 98])
    assert file_codec.translation_to(model_codec).tolist() == [0, 3, 1]
    assert model_codec.translation_to(file_codec).tolist() == [0, 2, -1, 1]


# --- OCR HDF5 --------------------------------------------------------------------------------------
TEXTS = ["abc", "ba", "cab ö"]


def ocr_lines(depth=8, seed=0, texts=TEXTS):
    """Random line images (width, depth) with maxima other than 1, their transcripts and codec."""
    rng = np.random.default_rng(seed)
    images = [rng.random((5 + 3 * i, depth)).astype(np.float32) * (2 + i) for i in range(len(texts))]
    codec = Codec.from_texts(texts)
    return images, [codec.encode(t) for t in texts], codec


def write_ocr(path, depth=8, **changes):
    images, transcripts, codec = ocr_lines(depth)
    data = dict(images=images, transcripts=transcripts, codec=codec.codepoints)
    data.update(changes)
    write_ocr_h5(path, data["images"], data["transcripts"], data["codec"])
    return images, transcripts, codec


def test_ocr_h5_reads_lines(tmp_path):
    path = tmp_path / "lines.h5"
    images, transcripts, codec = write_ocr(path)
    with OcrH5Dataset(path) as ds:
        assert len(ds) == 3 and ds.depth == 8 and ds.codec == codec
        for i, image in enumerate(images):
            x = ds.input(i)
            assert x.dtype == np.float32 and x.shape == image.shape
            np.testing.assert_allclose(x, image / image.max(), rtol=1e-6)
            assert ds.labels(i).dtype == np.int32
            np.testing.assert_array_equal(ds.labels(i), transcripts[i])
            assert ds.text(i) == TEXTS[i]
            assert ds.name(i) == f"{path}[{i}]"


def test_ocr_h5_blank_line_is_not_divided_by_zero(tmp_path):
    path = tmp_path / "blank.h5"
    images, _, _ = ocr_lines()
    images[1] = np.zeros_like(images[1])
    write_ocr(path, images=images)
    x = OcrH5Dataset(path).input(1)
    assert np.isfinite(x).all() and not x.any()


def test_ocr_h5_model_codec_reencodes_by_code_point(tmp_path):
    path = tmp_path / "lines.h5"
    write_ocr(path)
    model = Codec([0, ord("ö"), ord("c"), ord("b"), ord("a"), ord("z"), ord(" ")])
    ds = OcrH5Dataset(path, codec=model)
    assert ds.codec == model
    assert ds.labels(2).tolist() == [2, 4, 3, 6, 1]
    assert ds.text(2) == "cab ö"
    lacking = Codec([0, ord("a"), ord("b"), ord("c"), ord(" ")])
    ds = OcrH5Dataset(path, codec=lacking)  # evaluation counts the characters a model lacks as errors
    assert ds.text(2) == "cab ö" and ds.unknown_characters == {"ö": 1}
    with pytest.raises(DatasetError, match=r"lines.h5\[2\]: character 'ö' \(U\+00F6\) is not in the codec"):
        ds.labels(2)


def test_ocr_h5_reads_lazily_and_checks_each_line(tmp_path):
    """A line whose data does not match its dims is reported when read, naming the sample."""
    path = tmp_path / "bad.h5"
    write_ocr(path)
    with h5py.File(path, "r+") as f:
        f["images_dims"][2] = [4, 8]  # the data holds 11 x 8 values
    ds = OcrH5Dataset(path)
    ds.input(0), ds.input(1)
    with pytest.raises(DatasetError, match=r"bad.h5: sample 2: images has 88 values but images_dims says 4x8"):
        ds.input(2)


def edit_h5(path, **edits):
    """Replace (value) or delete (None) datasets of an HDF5 file."""
    with h5py.File(path, "r+") as f:
        for name, value in edits.items():
            del f[name]
            if value is not None:
                f.create_dataset(name, data=value)


@pytest.mark.parametrize("edits,message", [
    (dict(images=None), "missing dataset 'images'"),
    (dict(images_dims=None), "missing dataset 'images_dims'"),
    (dict(transcripts=None), "missing dataset 'transcripts'"),
    (dict(codec=None), "missing dataset 'codec'"),
    (dict(images_dims=np.ones((2, 2), np.int32)), r"images_dims has shape \(2, 2\), expected \(3, 2\)"),
    (dict(images_dims=np.array([[5, 8], [0, 8], [11, 8]])), "sample 1: images_dims is"),
    (dict(codec=np.array([0, 97, 97])), "bad codec"),
    (dict(codec=np.array([0, 97, 98, 99])), r"sample 0: label 4 is not in the file's codec \(1..3\)"),
])
def test_ocr_h5_bad_files(tmp_path, edits, message):
    path = tmp_path / "bad.h5"
    write_ocr(path)
    edit_h5(path, **edits)
    with pytest.raises(DatasetError, match="bad.h5: " + message):
        OcrH5Dataset(path)


def test_ocr_h5_bad_labels_and_empty(tmp_path):
    images, transcripts, codec = ocr_lines()
    write_ocr(tmp_path / "zero.h5", transcripts=[transcripts[0], [1, 0, 2], transcripts[2]])
    with pytest.raises(DatasetError, match=r"zero.h5: sample 1: label 0 is not in the file's codec"):
        OcrH5Dataset(tmp_path / "zero.h5")
    write_ocr(tmp_path / "short.h5", transcripts=transcripts[:2])
    with pytest.raises(DatasetError, match="short.h5: 2 transcripts for 3 images"):
        OcrH5Dataset(tmp_path / "short.h5")
    write_ocr_h5(tmp_path / "empty.h5", [], [], [0])
    with pytest.raises(DatasetError, match="empty.h5: no lines"):
        OcrH5Dataset(tmp_path / "empty.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="text.h5: cannot open as HDF5"):
        OcrH5Dataset(tmp_path / "text.h5")


def test_ocr_h5_heights_must_agree_without_a_normalizer(tmp_path):
    images, _, _ = ocr_lines()
    images[2] = images[2][:, :6]
    write_ocr(tmp_path / "mixed.h5", images=images)
    with pytest.raises(DatasetError, match="mixed.h5: sample 2: images_dims height 6 differs from sample 0's 8"):
        OcrH5Dataset(tmp_path / "mixed.h5")

    def normalizer(image):
        return scale_to_height(image, 4)
    normalizer.target_height = 4
    ds = OcrH5Dataset(tmp_path / "mixed.h5", normalizer=normalizer)
    assert ds.depth == 4
    x = ds.input(2)
    assert x.shape == (round(11 * 4 / 6), 4)
    image = images[2] / images[2].max()
    np.testing.assert_allclose(x, scale_to_height(np.ascontiguousarray(image.T), 4).T, atol=1e-6)


def test_ocr_h5_pre_aligned_targets(tmp_path):
    path = tmp_path / "aligned.h5"
    images, _, codec = write_ocr(path)
    rng = np.random.default_rng(3)
    targets = [rng.random((len(image), len(codec))).astype(np.float32) for image in images]
    with h5py.File(path, "r+") as f:
        ds = f.create_dataset("aligned", (3,), dtype=h5py.vlen_dtype(np.float32))
        for i, t in enumerate(targets):
            ds[i] = t.ravel()
        f["aligned_dims"] = np.array([t.shape for t in targets])
    ds = OcrH5Dataset(path, target_name="aligned")
    for i, t in enumerate(targets):
        np.testing.assert_array_equal(ds.targets(i), t)
    with pytest.raises(DatasetError, match="aligned.h5: no pre-aligned target dataset 'other'"):
        OcrH5Dataset(path, target_name="other")
    with OcrH5Dataset(path) as plain, pytest.raises(DatasetError, match="aligned.h5: targets are computed by CTC"):
        plain.targets(0)
    ds.close()
    with h5py.File(path, "r+") as f:
        f["aligned_dims"][1] = [2, len(codec) * 4]
    with pytest.raises(DatasetError, match=r"aligned.h5: sample 1: aligned has 2 steps but the image has 8"):
        OcrH5Dataset(path, target_name="aligned").targets(1)


# --- sequence HDF5 -------------------------------------------------------------------------------
def seq_samples(seed=0, noutput=1):
    rng = np.random.default_rng(seed)
    inputs = [rng.random((t, 2)).astype(np.float32) for t in (4, 7, 5)]
    outputs = [(rng.random((len(x), noutput)) > 0.5).astype(np.float32) for x in inputs]
    return inputs, outputs


def test_seq_h5_reads_and_widens(tmp_path):
    inputs, outputs = seq_samples()
    write_seq_h5(tmp_path / "seq.h5", inputs, outputs)
    with SeqH5Dataset(tmp_path / "seq.h5") as ds:
        assert len(ds) == 3 and ds.ninput == 2 and ds.noutput == 2
        for i in range(3):
            np.testing.assert_array_equal(ds.input(i), inputs[i])
            y = ds.output(i)
            assert y.dtype == np.float32 and y.shape == (len(inputs[i]), 2)
            np.testing.assert_array_equal(y[:, 1], outputs[i][:, 0])
            np.testing.assert_array_equal(y[:, 0], 1 - outputs[i][:, 0])
    inputs, outputs = seq_samples(noutput=3)
    write_seq_h5(tmp_path / "seq3.h5", inputs, outputs)
    ds = SeqH5Dataset(tmp_path / "seq3.h5")
    assert ds.noutput == 3
    np.testing.assert_array_equal(ds.output(1), outputs[1])


def test_seq_h5_bad_files(tmp_path):
    inputs, outputs = seq_samples()
    write_seq_h5(tmp_path / "steps.h5", inputs, outputs[:1] + [outputs[1][:3]] + outputs[2:])
    with pytest.raises(DatasetError, match="steps.h5: sample 1: input has 7 steps but output has 3"):
        SeqH5Dataset(tmp_path / "steps.h5")
    write_seq_h5(tmp_path / "depth.h5", inputs[:2] + [np.ones((5, 3))], outputs)
    with pytest.raises(DatasetError, match="depth.h5: sample 2: inputs_dims depth 3 differs from sample 0's 2"):
        SeqH5Dataset(tmp_path / "depth.h5")
    write_seq_h5(tmp_path / "count.h5", inputs, outputs[:2])
    with pytest.raises(DatasetError, match="count.h5: 3 inputs but 2 outputs"):
        SeqH5Dataset(tmp_path / "count.h5")
    write_seq_h5(tmp_path / "empty.h5", [], [])
    with pytest.raises(DatasetError, match="empty.h5: no samples"):
        SeqH5Dataset(tmp_path / "empty.h5")
    write_seq_h5(tmp_path / "missing.h5", inputs, outputs)
    edit_h5(tmp_path / "missing.h5", outputs_dims=None)
    with pytest.raises(DatasetError, match="missing.h5: missing dataset 'outputs_dims'"):
        SeqH5Dataset(tmp_path / "missing.h5")
    write_seq_h5(tmp_path / "length.h5", inputs, outputs)
    with h5py.File(tmp_path / "length.h5", "r+") as f:
        f["inputs_dims"][2] = [4, 2]
        f["outputs_dims"][2] = [4, 1]
    ds = SeqH5Dataset(tmp_path / "length.h5")
    ds.input(1), ds.output(1)
    with pytest.raises(DatasetError, match="length.h5: sample 2: inputs has 10 values but inputs_dims says 4x2"):
        ds.input(2)
    with pytest.raises(DatasetError, match="length.h5: sample 2: outputs has 5 values but outputs_dims says 4x1"):
        ds.output(2)


# --- text pairs ----------------------------------------------------------------------------------
def test_text_pairs_read(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("# a comment\nabc\tCBA\n\n   \nö\t€ x\n#x\ty\nempty\t\n\tno input\ntab\tin\toutput\n",
                    encoding="utf-8")
    pairs = TextPairs.read(path)
    assert pairs.inputs == ["abc", "ö", "#x", "tab"]
    assert pairs.outputs == ["CBA", "€ x", "y", "in\toutput"]
    assert pairs.sources == [f"{path}:{n}" for n in (2, 5, 6, 9)]
    assert pairs[1] == ("ö", "€ x") and len(pairs) == 4
    assert pairs.icodec == Codec([0] + sorted(map(ord, "abcö#xt")))
    assert pairs.codec == Codec([0] + sorted(map(ord, "CBA€ xyinoutp\t")))


def test_text_pairs_errors(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("a\tb\nno tab here\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="pairs.txt:2: no tab between input and output"):
        TextPairs.read(path)
    path.write_bytes(b"a\tb\nc\t\xff\n")
    with pytest.raises(DatasetError, match="pairs.txt:2: not UTF-8"):
        TextPairs.read(path)
    path.write_text("# only\n\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="pairs.txt: no input/output pairs"):
        TextPairs.read(path)
    with pytest.raises(DatasetError, match="absent.txt: cannot read"):
        TextPairs.read(tmp_path / "absent.txt")


def test_text_pairs_read_two_reads_both_files(tmp_path):
    """The original read the input file twice; the outputs must come from the second file."""
    (tmp_path / "in.txt").write_text("abc\nde\n\n# c\nfg\n", encoding="utf-8")
    (tmp_path / "out.txt").write_text("XYZ\nUV\nskipped\nskipped\nW\n", encoding="utf-8")
    pairs = TextPairs.read_two(tmp_path / "in.txt", tmp_path / "out.txt")
    assert pairs.inputs == ["abc", "de", "fg"] and pairs.outputs == ["XYZ", "UV", "W"]
    assert pairs.codec == Codec([0] + sorted(map(ord, "XYZUVW")))
    (tmp_path / "short.txt").write_text("X\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="in.txt has 5 lines but .*short.txt has 1"):
        TextPairs.read_two(tmp_path / "in.txt", tmp_path / "short.txt")


def naive_encode_input(text, icodec, neps):
    """NumPy twin: neps empty steps, then per character a one-hot step and neps empty steps."""
    rows = [np.zeros(len(icodec))] * neps
    for char in text:
        rows.append(np.eye(len(icodec))[icodec.codepoints.index(ord(char))])
        rows += [np.zeros(len(icodec))] * neps
    return np.array(rows, np.float32).reshape(-1, len(icodec))


def test_encode_input():
    icodec = Codec.from_texts(["hello"])
    for text, neps in (("hello", 3), ("", 2), ("l", 0), ("eh", 1)):
        x = encode_input(text, icodec, neps)
        assert x.dtype == np.float32 and x.shape == (neps + len(text) * (1 + neps), len(icodec))
        np.testing.assert_array_equal(x, naive_encode_input(text, icodec, neps))
    with pytest.raises(ValueError, match="'x'"):
        encode_input("hex", icodec, 3)


def test_encode_input_matches_the_original():
    """The one-hot inputs the 2015 clstmtext built for the first CMU test words (neps=3)."""
    reference = np.load(shared_file("clstm2015-model/cmu-ref.npz"))
    with h5py.File(shared_file("clstm2015-model/cmu-text-model.h5"), "r") as f:
        icodec = Codec(f["icodec"][()].astype(np.int64))
    assert len(reference["ground_truth"]) == 5
    for i, pair in enumerate(reference["ground_truth"]):
        word = str(pair).split("\t")[0]
        np.testing.assert_array_equal(encode_input(word, icodec, 3), reference[f"input_{i}"])


# --- line lists --------------------------------------------------------------------------------------
def write_line(folder, stem, text, height=20, width=50, seed=0, extension=".bin.png"):
    """A dark-on-light line image with its .gt.txt; returns the image path."""
    ink = np.random.default_rng(seed).random((height, width)) < 0.2
    ink[0], ink[-1], ink[:, 0], ink[:, -1] = False, False, False, False
    path = folder / (stem + extension)
    Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).save(path)
    if text is not None:
        (folder / (stem + ".gt.txt")).write_text(text + "\n", encoding="utf-8")
    return path


def quantized(x):
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.float32) / np.float32(255)


def test_ground_truth_path():
    assert ground_truth_path("a/x.bin.png") == "a/x.gt.txt"
    assert ground_truth_path("a/x.nrm.png") == "a/x.gt.txt"
    assert ground_truth_path("a/x.png") == "a/x.gt.txt"
    assert ground_truth_path("a/x.JPG") == "a/x.gt.txt"
    assert ground_truth_path("a/v1.2.tif") == "a/v1.2.gt.txt"


def test_line_list(tmp_path):
    (tmp_path / "lines").mkdir()
    texts = ["héllo", "wörld €", ""]
    for i, text in enumerate(texts):
        write_line(tmp_path / "lines", f"{i:04d}", text, seed=i)
    listfile = tmp_path / "list.txt"
    listfile.write_text("# comment\nlines/0000.bin.png\n\n  lines/0001.bin.png  \n"
                        f"{tmp_path}/lines/0002.bin.png\n", encoding="utf-8")
    ds = LineListDataset(listfile, normalizer=None)
    assert len(ds) == 3 and ds.depth == 20
    assert ds.codec == Codec.from_texts(texts)
    for i, text in enumerate(texts):
        assert ds.text(i) == text
        assert ds.codec.decode(ds.labels(i)) == text
        image_path = tmp_path / "lines" / f"{i:04d}.bin.png"
        assert ds.name(i) == str(image_path)
        x = ds.input(i)
        assert x.dtype == np.float32 and x.shape == (50, 20)
        np.testing.assert_array_equal(x, quantized(read_image(image_path).T))
        np.testing.assert_array_equal(ds.input(i), x)
    assert ds.cache_nbytes == 3 * 50 * 20
    unlabelled = LineListDataset(listfile, normalizer=None, labelled=False, codec=ds.codec)
    assert unlabelled.text(1) is None and not unlabelled.labelled
    with pytest.raises(DatasetError, match="no ground truth"):
        unlabelled.labels(0)


def wait_for_idle_reader():
    """Until the idle reader has finished (it runs only when a core is idle: this thread sleeps meanwhile)."""
    deadline = time.monotonic() + 60
    while any(t.name == "clstm-idle-read" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)


@contextlib.contextmanager
def idle_reader_stalled(monkeypatch, module, function):
    """The idle reader held inside ``module.function`` (its image read) until the block ends, as a
    thread at idle priority is on a busy machine; yields an event set once it is held there."""
    held, release = threading.Event(), threading.Event()
    real = getattr(module, function)

    def stalling(*args, **kwargs):
        if threading.current_thread().name == "clstm-idle-read" and not release.is_set():
            held.set()
            release.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, function, stalling)
    try:
        yield held
    finally:
        release.set()
        wait_for_idle_reader()


def returns_while_stalled(read, seconds=30):
    """What ``read()`` returns, asserting that it returned on its own thread within ``seconds``."""
    result = []
    reader = threading.Thread(target=lambda: result.append(read()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert not reader.is_alive(), "training's read waits for the stalled idle reader"
    return result[0]


def test_idle_read_ahead_caches_what_input_gives_and_leaves_a_broken_line_to_input(tmp_path):
    paths = [write_line(tmp_path, f"{i:02d}", "ab", seed=i) for i in range(6)]
    listfile = tmp_path / "list.txt"
    listfile.write_text("".join(f"{p.name}\n" for p in paths), encoding="utf-8")
    reference = LineListDataset(listfile, target_height=12)
    expected = [reference.input(i) for i in range(6)]
    ds = LineListDataset(listfile, target_height=12)
    uncached = LineListDataset(listfile, target_height=12, cache=False)
    paths[4].write_bytes(b"not a PNG any more")  # breaks after opening, as a file can
    ds.read_ahead_when_idle(range(6))
    wait_for_idle_reader()
    assert ds.cache_nbytes == sum(x.nbytes // 4 for k, x in enumerate(expected) if k != 4)  # uint8 in the cache
    for i in (0, 1, 2, 3, 5):
        np.testing.assert_array_equal(ds.input(i), expected[i])
    with pytest.raises(DatasetError, match="04.bin.png: not an image"):
        ds.input(4)
    uncached.read_ahead_when_idle(range(6))
    assert uncached.cache_nbytes == 0 and not any(t.name == "clstm-idle-read" for t in threading.enumerate())


def test_training_never_waits_for_a_stalled_idle_reader(tmp_path, monkeypatch):
    paths = [write_line(tmp_path, f"{i:02d}", "ab", seed=i) for i in range(4)]
    listfile = tmp_path / "list.txt"
    listfile.write_text("".join(f"{p.name}\n" for p in paths), encoding="utf-8")
    expected = [LineListDataset(listfile, target_height=12).input(i) for i in range(4)]
    ds = LineListDataset(listfile, target_height=12)
    with idle_reader_stalled(monkeypatch, line_lists, "read_image") as held:
        ds.read_ahead_when_idle(range(4))
        assert held.wait(60)  # the idle reader is inside line 0's read
        got = returns_while_stalled(lambda: [ds.input(i) for i in (0, 2)])
    for x, i in zip(got, (0, 2)):
        np.testing.assert_array_equal(x, expected[i])
    assert ds.cache_nbytes == sum(x.nbytes // 4 for x in expected)  # the idle reader went on and kept the rest
    for i in range(4):
        np.testing.assert_array_equal(ds.input(i), expected[i])


def test_line_list_errors(tmp_path):
    write_line(tmp_path, "a", "ab")
    write_line(tmp_path, "b", None)
    write_line(tmp_path, "c", "c", height=30)
    (tmp_path / "d.png").write_text("not an image")
    (tmp_path / "d.gt.txt").write_text("d")

    def check(lines, message, **options):
        listfile = tmp_path / "list.txt"
        listfile.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        with pytest.raises(DatasetError, match=message):
            LineListDataset(listfile, **options)

    check(["a.bin.png", "missing.png"], r"list.txt:2: missing.png: no such image file")
    check(["a.bin.png", "b.bin.png"], r"list.txt:2: b.bin.png: no ground truth file b.gt.txt")
    check(["# nothing", ""], r"list.txt: the list names no images")
    check(["a.bin.png", "d.png"], r"list.txt:2: d.png: not an image file", normalizer=None)
    check(["a.bin.png", "c.bin.png"], r"list.txt:2: c.bin.png: height 30 differs from .*list.txt:1: a.bin.png's 20",
          normalizer=None)
    (tmp_path / "list.txt").write_text("a.bin.png\n", encoding="utf-8")
    lacking = LineListDataset(tmp_path / "list.txt", normalizer=None, codec=Codec.from_texts(["bxyz"]))
    assert lacking.unknown_characters == {"a": 1} and lacking.text(0) == "ab"
    with pytest.raises(DatasetError, match=r"list.txt:1: a.bin.png: character 'a' \(U\+0061\) is not in the codec"):
        lacking.labels(0)
    with pytest.raises(DatasetError, match="nolist.txt: cannot read"):
        LineListDataset(tmp_path / "nolist.txt")


def test_line_list_with_a_normalizer_reports_failures(tmp_path):
    write_line(tmp_path, "a", "ab", height=20)
    write_line(tmp_path, "c", "c", height=30)
    (tmp_path / "list.txt").write_text("a.bin.png\nc.bin.png\n")

    def normalizer(image):
        if image.shape[0] != 20:
            raise ValueError(f"line height {image.shape[0]} is not 20")
        return image
    ds = LineListDataset(tmp_path / "list.txt", normalizer=normalizer)
    assert ds.depth == 20 and ds.input(0).shape == (50, 20)
    with pytest.raises(DatasetError, match="list.txt:2: c.bin.png: line height 30 is not 20"):
        ds.input(1)


# --- image folders -------------------------------------------------------------------------------
def write_named(folder, name, height=24, width=40, seed=0):
    ink = np.random.default_rng(seed).random((height, width)) < 0.2
    ink[0], ink[-1], ink[:, 0], ink[:, -1] = False, False, False, False
    Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).save(folder / name)
    return folder / name


def test_image_folder_labels_from_names(tmp_path):
    names = [f"0001_{escape_label('a/b')}.png", "0002_hello world.jpg", "0003_x.bmp", "nolabel.png", "0004_.png"]
    for i, name in enumerate(names):
        write_named(tmp_path, name, height=24 + 24 * i, width=40, seed=i)
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.warns(UserWarning, match="2 images without a label skipped: 0004_.png, nolabel.png"):
        ds = ImageFolderDataset(tmp_path, target_height=12)
    assert ds.skipped == ["0004_.png", "nolabel.png"]
    assert len(ds) == 3 and ds.depth == 12
    assert [ds.text(i) for i in range(3)] == ["a/b", "hello world", "x"]
    assert ds.name(1) == str(tmp_path / names[1])
    assert ds.input(0).shape == (20, 12)  # 40 x 24 scaled to height 12
    assert ds.input(2).shape == (7, 12)  # 40 x 72 scaled to height 12
    np.testing.assert_array_equal(ds.input(0), quantized(scale_to_height(read_image(tmp_path / names[0]), 12).T))
    with pytest.raises(DatasetError, match="0004_.png: no label"):
        ImageFolderDataset(tmp_path, strict=True)
    unlabelled = ImageFolderDataset(tmp_path, labelled=False)
    assert len(unlabelled) == 5 and unlabelled.text(3) is None and unlabelled.skipped == []


def test_image_folder_labels_txt_and_gt_files(tmp_path):
    for i, name in enumerate(["a.png", "b b.png", "c.png", "d.png"]):
        write_named(tmp_path, name, seed=i)
    (tmp_path / "labels.txt").write_text("a.png first label\nb b.png\tsecond  label\n# comment\n\n"
                                         "c.png\tö€\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="1 images without a label skipped: d.png"):
        ds = ImageFolderDataset(tmp_path, target_height=24)
    assert [ds.text(i) for i in range(len(ds))] == ["first label", "second  label", "ö€"]
    assert ds.depth == 24 and ds.input(0).shape == (40, 24)
    (tmp_path / "labels.txt").write_text("a.png x\nz.png y\n")
    with pytest.raises(DatasetError, match="labels.txt:2: no image file 'z.png' in the folder"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "labels.txt").write_text("a.png x\na.png y\n")
    with pytest.raises(DatasetError, match="labels.txt:2: 'a.png' is labelled twice"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "labels.txt").write_text("a.png\n")
    with pytest.raises(DatasetError, match="labels.txt:1: no label after the file name 'a.png'"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "labels.txt").unlink()
    (tmp_path / "a.gt.txt").write_text("from gt\n")
    (tmp_path / "d.gt.txt").write_text("dee\n")
    with pytest.warns(UserWarning, match="2 images"):
        ds = ImageFolderDataset(tmp_path)
    assert [ds.text(i) for i in range(len(ds))] == ["from gt", "dee"]


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no image files"):
        ImageFolderDataset(tmp_path)
    write_named(tmp_path, "x_a.png")
    (tmp_path / "y_b.png").write_text("not an image")
    with pytest.raises(DatasetError, match="y_b.png: not an image file"):
        ImageFolderDataset(tmp_path)
    with pytest.raises(DatasetError, match="absent: cannot list"):
        ImageFolderDataset(tmp_path / "absent")


# --- the opener ----------------------------------------------------------------------------------------
def test_open_ocr_dataset_by_kind(tmp_path):
    write_ocr(tmp_path / "lines.dat")  # HDF5 known by its signature, not its name
    ds = open_ocr_dataset(tmp_path / "lines.dat")
    assert isinstance(ds, OcrH5Dataset) and ds.depth == 8
    (tmp_path / "folder").mkdir()
    write_named(tmp_path / "folder", "1_ab.png", height=96, width=96)
    ds = open_ocr_dataset(tmp_path / "folder")
    assert isinstance(ds, ImageFolderDataset) and ds.depth == 48 and ds.input(0).shape == (48, 48)
    write_line(tmp_path, "l", "ab", height=48)
    (tmp_path / "list.h5").write_text("l.bin.png\n")  # a text list despite its name
    ds = open_ocr_dataset(tmp_path / "list.h5", dewarp="none")
    assert isinstance(ds, LineListDataset) and ds.depth == 48
    with pytest.raises(DatasetError, match="nothing.txt: no such file or folder"):
        open_ocr_dataset(tmp_path / "nothing.txt")
    with pytest.raises(DatasetError, match="list.h5: pre-aligned targets"):
        open_ocr_dataset(tmp_path / "list.h5", target_name="aligned")


def test_colour_lines_from_every_kind_of_dataset(tmp_path):
    """channels=3: a row's red, green and blue side by side (depth 3 x height); an image folder or list reads
    colour (a grey image's three channels alike) and is scaled, never dewarped; an HDF5 file's grey lines
    come three times."""
    write_ocr(tmp_path / "lines.h5")
    grey = open_ocr_dataset(tmp_path / "lines.h5")
    colour = open_ocr_dataset(tmp_path / "lines.h5", channels=3)
    assert colour.depth == 24 and colour.input(1).shape == (grey.input(1).shape[0], 24)
    np.testing.assert_array_equal(colour.input(1), np.repeat(grey.input(1), 3, axis=1))
    folder = tmp_path / "folder"
    folder.mkdir()
    write_named(folder, "1_ab.png", height=96, width=96)
    pixels = np.full((24, 40, 3), 240, np.uint8)
    pixels[8:16, 5:35] = (220, 20, 20)  # a red bar
    Image.fromarray(pixels).save(folder / "2_cd.png")
    ds = open_ocr_dataset(folder, target_height=12, channels=3)
    assert ds.depth == 36 and ds.line_normalization == "scale"
    same = ds.input(0).reshape(-1, 12, 3)
    assert same.shape[0] == 12 and np.array_equal(same[..., 0], same[..., 1]) and np.array_equal(same[..., 1], same[..., 2])
    red = ds.input(1).reshape(20, 12, 3)  # scaled to half its size
    assert red[:, 5, 0].max() < 0.3 < red[10, 5, 1]  # faint in red, dark in green
    (folder / "list.txt").write_text("2_cd.png\n")
    (folder / "2_cd.gt.txt").write_text("cd")
    listed = open_ocr_dataset(folder / "list.txt", target_height=12, channels=3)
    np.testing.assert_array_equal(listed.input(0), ds.input(1))
    with pytest.raises(DatasetError, match=r"list.txt: dewarp=center straightens grey lines; .*dewarp=none$"):
        open_ocr_dataset(folder / "list.txt", dewarp="center", channels=3)


def test_in_memory_dataset():
    ds = OcrDataset([np.ones((3, 4)), np.zeros((5, 4))], ["ab", "b"], names=["one", "two"])
    assert len(ds) == 2 and ds.depth == 4 and ds.codec == Codec([0, 97, 98])
    assert ds.input(1).dtype == np.float32 and ds.labels(0).tolist() == [1, 2] and ds.name(1) == "two"
    with pytest.raises(DatasetError, match="two: depth 5 differs from the first line's 4"):
        OcrDataset([np.ones((3, 4)), np.zeros((5, 5))], ["ab", "b"], names=["one", "two"])
    with pytest.raises(DatasetError, match="no lines"):
        OcrDataset([], [])


# --- the real uw3 lines ----------------------------------------------------------------------------
def test_uw3_split(uw3_dir, uw3_lists):
    train, test = uw3_split(uw3_dir.glob("book/*/*.bin.png"))
    assert len(train) == 450 and len(test) == 50
    assert test[0] > test[-1] > train[0] > train[-1]
    train_list, test_list = uw3_lists
    assert len(train_list.read_text().split()) == 450 and len(test_list.read_text().split()) == 50


def test_uw3_lines_without_dewarping_need_one_height(uw3_lists):
    with pytest.raises(DatasetError, match=r"test.txt:\d+: book/.*bin.png: height \d+ differs from"):
        LineListDataset(uw3_lists[1], normalizer=None)


def test_uw3_train_lines_centred_and_cached_compactly(uw3_lists):
    pytest.importorskip("clstmtools.dewarp")
    ds = open_ocr_dataset(uw3_lists[0])  # a line list: centre-line dewarping to height 48 by default
    assert isinstance(ds, LineListDataset) and len(ds) == 450 and ds.depth == 48
    assert len(ds.codec) > 60 and all(ds.text(i) for i in range(len(ds)))
    first = ds.input(0)
    widths = []
    for i in range(len(ds)):
        x = ds.input(i)
        assert x.dtype == np.float32 and x.shape[1] == 48 and 0 <= x.min() and x.max() <= 1
        widths.append(x.shape[0])
    assert np.median(widths) > 500  # (one uw3 "line" is a 35 x 916 vertical strip: it comes out 1 wide)
    np.testing.assert_array_equal(ds.input(0), first)
    assert ds.cache_nbytes < 40e6  # uint8: about 18 MB for the 450 lines, far under 400 MB


# --- scripts/lines2h5.py -------------------------------------------------------------------------------
LINES2H5 = Path(__file__).resolve().parents[1] / "scripts" / "lines2h5.py"


def lines2h5(*args):
    return subprocess.run([sys.executable, str(LINES2H5), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def assert_same_lines(h5_dataset, list_dataset):
    assert len(h5_dataset) == len(list_dataset) and h5_dataset.depth == list_dataset.depth
    assert h5_dataset.codec == list_dataset.codec
    for i in range(len(list_dataset)):
        assert h5_dataset.text(i) == list_dataset.text(i)
        np.testing.assert_array_equal(h5_dataset.labels(i), list_dataset.labels(i))
        x = list_dataset.input(i)
        np.testing.assert_allclose(h5_dataset.input(i), x / max(x.max(), 1e-30), rtol=1e-6)


def test_lines2h5_round_trip(tmp_path):
    for i, text in enumerate(["ab c", "ünï", "€"]):
        write_line(tmp_path, f"l{i}", text, height=16, width=30 + i, seed=i)
    (tmp_path / "list.txt").write_text("l0.bin.png\nl1.bin.png\nl2.bin.png\n")
    result = lines2h5(tmp_path / "list.txt", tmp_path / "out.h5", "--dewarp", "none")
    assert result.returncode == 0, result.stderr
    assert "wrote 3 lines" in result.stdout
    with OcrH5Dataset(tmp_path / "out.h5") as written:
        assert_same_lines(written, LineListDataset(tmp_path / "list.txt", normalizer=None))
    (tmp_path / "bad.txt").write_text("l0.bin.png\nmissing.png\n")
    result = lines2h5(tmp_path / "bad.txt", tmp_path / "bad.h5", "--dewarp", "none")
    assert result.returncode == 1 and "bad.txt:2: missing.png: no such image file" in result.stderr


def test_lines2h5_uw3_test_lines_centred(uw3_lists, tmp_path):
    pytest.importorskip("clstmtools.dewarp")
    result = lines2h5(uw3_lists[1], tmp_path / "uw3-test.h5", "--dewarp", "center", "--target-height", "32")
    assert result.returncode == 0, result.stderr
    assert "wrote 50 lines (depth 32" in result.stdout
    with OcrH5Dataset(tmp_path / "uw3-test.h5") as written:
        assert_same_lines(written, LineListDataset(uw3_lists[1], normalizer="center", target_height=32))


def test_nan_or_infinity_in_images_and_sequences_is_an_error_naming_file_and_sample(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 1, (10, 6)).astype(np.float32) for _ in range(3)]
    images[1][4, 2] = np.nan
    write_ocr_h5(tmp_path / "ocr.h5", images, [[1], [2], [1]], [0, 65, 66])
    with OcrH5Dataset(tmp_path / "ocr.h5") as data:
        data.input(0)
        with pytest.raises(DatasetError, match=r"ocr\.h5: sample 1: images contains NaN or infinity$"):
            data.input(1)
    inputs = [rng.uniform(0, 1, (5, 2)) for _ in range(3)]
    outputs = [rng.uniform(0, 1, (5, 1)) for _ in range(3)]
    outputs[2][3, 0] = -np.inf
    inputs[0][1, 1] = np.inf
    write_seq_h5(tmp_path / "seq.h5", inputs, outputs)
    with SeqH5Dataset(tmp_path / "seq.h5") as data:
        with pytest.raises(DatasetError, match=r"seq\.h5: sample 0: inputs contains NaN or infinity$"):
            data.input(0)
        data.output(1)
        with pytest.raises(DatasetError, match=r"seq\.h5: sample 2: outputs contains NaN or infinity$"):
            data.output(2)


def test_a_nan_target_stops_clstmseq_with_a_one_line_error_naming_file_and_sample(tmp_path):
    rng = np.random.default_rng(1)
    outputs = [rng.uniform(0, 1, (6, 1)) for _ in range(8)]
    outputs[5][2, 0] = np.nan
    write_seq_h5(tmp_path / "nan.h5", [rng.uniform(0, 1, (6, 2)) for _ in range(8)], outputs)
    env = dict(os.environ, ntrain="40", save_name="x", test_every="-1", report_every="0", threads="1")
    result = subprocess.run([sys.executable, "-m", "clstmtools.drivers.clstmseq", "nan.h5"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["clstmseq: error: nan.h5: sample 5: outputs contains NaN or infinity"]
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("cache", [True, False])
def test_ocr_h5_lines_are_normalized_once_and_cached_exactly(tmp_path, cache):
    images, _, _ = ocr_lines()
    write_ocr(tmp_path / "lines.h5", images=images)
    calls = []

    def normalizer(image):
        calls.append(image.shape)
        return scale_to_height(image, 4)
    normalizer.target_height = 4
    ds = OcrH5Dataset(tmp_path / "lines.h5", normalizer=normalizer, cache=cache)
    first = ds.input(1)
    first *= 0  # a caller's copy: scaling it in place leaves the cache alone
    again = ds.input(1)
    image = images[1] / images[1].max()
    np.testing.assert_allclose(again, scale_to_height(np.ascontiguousarray(image.T), 4).T, atol=1e-6)
    assert len(calls) == (1 if cache else 2)
    assert ds.cache_nbytes == (again.nbytes if cache else 0)
