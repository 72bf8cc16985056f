"""End-to-end tests of image folders: clstmctc trains on file-name or labels.txt labels, reads unlabelled images."""
import shutil

import Levenshtein
import numpy as np
import pytest
from PIL import Image

from clstmtools import generate
from clstmtools.filenames import escape_label
from margins import SEED, at_least, at_most
from test_drivers import SUMMARY, TESTERR_CTC, Job, assert_one_line_error, attributes, codec_text, run, run_all, \
    succeeded

#: a small expression recognizer that trains in about twenty seconds (1.4-2.6% error on the generated test folder
#: over five seeds)
TRAINING = dict(nhidden=40, optimizer="adam", init="scaled", lrate=3e-3, report_every=0, seed=SEED)
#: labels that a file system cannot hold in a name (and spaces), for a folder labelled by labels.txt
ODD_LABELS = ["1*2/3", "what? 4+5", "(6 / 7)*?", "8 ? 9"]
#: names of images that carry no usable label: no '_', nothing after it, an invalid escape
BAD_NAMES = ["nolabel.png", "000901_.png", "000902_7%zz8.png"]


def read_labels(folder):
    return dict(line.split("\t") for line in (folder / "labels.txt").read_text("utf-8").splitlines())


def render(style, text, seed):
    """``text`` as a dark-on-light 8-bit grey image, by the generator's expression renderer (little noise)."""
    image = np.asarray(style.render(text, np.random.default_rng(seed), noise=0.02))
    return 255 - image if image.mean() < 128 else image


@pytest.fixture(scope="session")
def expr(tmp_path_factory):
    """Generated expression folders: expr-train/ labelled by file name only (its labels.txt moved aside,
    three unusable names added), expr-test/ with its labels.txt, and odd/ labelled by a labels.txt."""
    folder = tmp_path_factory.mktemp("folders")
    assert generate.main(["-o", str(folder), "-q", "--seed", "2", "--tasks", "expr", "--expr-train", "600",
                          "--expr-test", "40"]) == 0
    train = folder / "expr-train"
    shutil.move(train / "labels.txt", folder / "train-labels.txt")
    first = sorted(train.glob("*.png"))[0]
    for name in BAD_NAMES:
        shutil.copy(first, train / name)
    odd = folder / "odd"
    odd.mkdir()
    style = generate.ExpressionStyle([])
    lines = []
    for i, (name, label) in enumerate(odd_entries()):
        Image.fromarray(render(style, label, i)).save(odd / name)
        lines.append(f"{name}\t{label}\n" if " " in name else f"{name} {label}\n")  # both forms
    (odd / "labels.txt").write_text("".join(lines), "utf-8")
    return folder


def odd_entries():
    """(file name, label) of the images of odd/: some names with a space, every label from ODD_LABELS."""
    return [(f"scan {i:02d}.png" if i % 2 else f"scan-{i:02d}.png", label) for i, label in enumerate(ODD_LABELS * 5)]


@pytest.fixture(scope="session")
def trained(expr):
    """Two training runs at once: a recognizer from file-name labels (tested on expr-test/) and a tiny one
    from odd/'s labels.txt."""
    names, odd = run_all([
        Job("clstmctc", ["expr-train"], expr, dict(TRAINING, save_name="expr", ntrain=10000, testset="expr-test",
                                                   test_every=1000)),
        Job("clstmctc", ["odd"], expr, dict(TRAINING, save_name="odd", ntrain=40, nhidden=4))])
    return succeeded(names), succeeded(odd)


def test_file_name_labels_train_a_recognizer_and_bad_names_are_skipped_with_a_count(expr, trained):
    result, _ = trained
    tests = [(int(trial), float(rate)) for _, _, trial, rate, _, _ in TESTERR_CTC.findall(result.stdout)]
    assert [trial for trial, _ in tests] == list(range(1000, 10001, 1000))
    at_least("expr folder first test error", tests[0][1], 0.15, tests)
    at_most("expr folder best test error", min(rate for _, rate in tests), 0.07, tests)
    warning = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(warning) == 1 and warning[0].startswith("clstmctc: warning: ")
    assert "3 images without a label skipped" in warning[0]
    assert all(name in warning[0] for name in BAD_NAMES) and "invalid escape" in warning[0]
    # the labels decoded from the escaped names are the generator's labels: the codec has exactly their characters
    generated = [line.split("\t")[1] for line in (expr / "train-labels.txt").read_text("utf-8").splitlines()]
    assert codec_text(expr / "expr.h5") == "".join(sorted(set("".join(generated))))
    assert attributes(expr / "expr.h5")["line_normalization"] == "scale"


def test_labels_txt_holds_characters_a_file_name_cannot_and_spaces(expr, trained):
    _, result = trained
    assert "skipped" not in result.stderr
    assert set(codec_text(expr / "odd.h5")) == set("".join(ODD_LABELS))
    assert {"*", "/", "?", " "} <= set(codec_text(expr / "odd.h5"))
    dumped = succeeded(run("clstmctc", "odd", cwd=expr, mode="dump"))
    assert [line.split("\t", 1)[1] for line in dumped.stdout.splitlines()] == [label for _, label in
                                                                             sorted(odd_entries())]


def test_bad_names_are_reported_and_skipped_or_with_strict_an_error(expr, tmp_path):
    style = generate.ExpressionStyle([])
    for i, name in enumerate(["000001_1+2.png", f"000002_{escape_label('3/4*5')}.png", *BAD_NAMES]):
        Image.fromarray(render(style, "1+2", i)).save(tmp_path / name)
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    shutil.copy(tmp_path / "nolabel.png", unlabelled)
    lenient, strict, empty = run_all([Job("clstmctc", [tmp_path], tmp_path, dict(mode="dump")),
                                      Job("clstmctc", [tmp_path], tmp_path, dict(mode="dump", strict=1)),
                                      Job("clstmctc", [unlabelled], tmp_path, dict(mode="dump"))])
    assert succeeded(lenient).stdout == "0\t1+2\n1\t3/4*5\n"
    warning, = lenient.stderr.splitlines()
    assert warning.startswith(f"clstmctc: warning: {tmp_path}: 3 images without a label skipped: ")
    assert all(name in warning for name in BAD_NAMES)
    assert "000902_7%zz8.png (invalid escape at position 1 of '7%zz8'" in warning
    first = sorted(BAD_NAMES)[0]
    assert_one_line_error(strict, "clstmctc", f"{tmp_path / first}: no label")
    assert_one_line_error(empty, "clstmctc", "none of the images has a label (the first, nolabel.png: no label: "
                                             "the name has no '_' (ID_LABEL.ext))")


# --- recognition of new images ------------------------------------------------------------------
#: new images: (file name, text, how it is stored); no name carries its label
NEW_IMAGES = [("page one.png", "12+34", "grey"),
              ("dark.png", "(5-6)*7", "grey"), ("light.png", "(5-6)*7", "inverted"),
              ("colour.jpg", "8/9+10", "colour"),
              ("tall.png", "3*(4+5)", "tall"), ("small.png", "67-8", "small"),
              ("wide.png", "1+2*(3-4)/5+6*(7-8)/9+10", "grey"), ("one.bmp", "7", "grey")]


def stored(image, how):
    """A dark-on-light grey image in the form ``how``."""
    if how == "inverted":
        return Image.fromarray(255 - image)
    if how == "colour":  # blue ink on cream paper
        ink = (1 - image[..., None] / 255.0)
        paper, blue = np.array([250, 240, 200]), np.array([20, 40, 160])
        return Image.fromarray(np.rint(paper + ink * (blue - paper)).astype(np.uint8), "RGB")
    grey = Image.fromarray(image)
    if how in ("tall", "small"):
        height = 150 if how == "tall" else 16
        return grey.resize((max(1, round(grey.width * height / grey.height)), height), Image.Resampling.BICUBIC)
    return grey


@pytest.fixture(scope="session")
def recognized(expr, trained):
    """The recognizer run on a folder of new images (text, and with conf=1) and on a list of them."""
    new = expr / "new"
    new.mkdir()
    style = generate.ExpressionStyle([])
    images = {}
    for seed, (name, text, how) in enumerate(NEW_IMAGES):
        images.setdefault(text, render(style, text, seed))  # the twins share one rendering
        stored(images[text], how).save(new / name)
    (expr / "new.txt").write_text("".join(f"new/{name}\n" for name, _, _ in NEW_IMAGES), "utf-8")
    model = dict(mode="text", load="expr.h5")
    plain, confident, listed = run_all([Job("clstmctc", ["new"], expr, model),
                                        Job("clstmctc", ["new"], expr, dict(model, conf=1)),
                                        Job("clstmctc", ["new.txt"], expr, dict(model, conf=1))])
    return [[line.split("\t") for line in succeeded(result).stdout.splitlines()]
            for result in (plain, confident, listed)]


def test_every_new_image_is_recognized_with_its_file_name(expr, recognized):
    plain, confident, listed = recognized
    names = sorted(name for name, _, _ in NEW_IMAGES)
    assert [row[0] for row in plain] == [f"new/{name}" for name in names]
    assert all(len(row) == 2 for row in plain)
    truth = {f"new/{name}": text for name, text, _ in NEW_IMAGES}
    right = [row[0] for row in plain if row[1] == truth[row[0]]]
    errors = sum(Levenshtein.distance(row[1], truth[row[0]]) for row in plain)
    at_most("expr new images character errors", errors / sum(map(len, truth.values())), 0.15, plain)
    at_least("expr new images read right", len(right), 0.5 * len(NEW_IMAGES), plain)


def test_confidence_column_and_a_list_file_of_images_give_the_same_text(expr, recognized):
    plain, confident, listed = recognized
    assert [row[:2] for row in confident] == plain
    confidences = [float(row[2]) for row in confident]
    assert all(0 <= c <= 1 for c in confidences) and max(confidences) > 0.9
    # the list names the images in its own order, by absolute path; the model's scaling applies to both
    by_name = {row[0]: row for row in confident}
    assert len(listed) == len(NEW_IMAGES)
    for (name, _, _), row in zip(NEW_IMAGES, listed):
        assert row[0] == str(expr / "new" / name)
        assert row[1:] == by_name[f"new/{name}"][1:]


def test_light_on_dark_image_reads_like_its_dark_on_light_twin(recognized):
    plain, confident, _ = recognized
    text = {row[0]: row[1:] for row in confident}
    assert text["new/light.png"] == text["new/dark.png"]
    # read, not guessed: within one character of the truth (the short training's model can miss
    # one character here, and which one moves with the last bit of the LSTM's float32 rounding)
    at_most("expr light image errors", Levenshtein.distance(text["new/light.png"][0], "(5-6)*7"), 1)


def test_evaluation_modes_on_a_labelled_folder(expr, trained):
    result, _ = trained
    best = min(int(errors) for *_, errors, _ in TESTERR_CTC.findall(result.stdout))
    errs, full, quiet = run_all([Job("clstmctc", ["expr-test"], expr, dict(mode=mode, load="expr.h5"))
                                 for mode in ("errs", "full", "quiet")])
    summaries = {SUMMARY.match(r.stdout.splitlines()[-1]).groups() for r in map(succeeded, (errs, full, quiet))}
    (errors, total, _), = summaries
    assert int(errors) == best  # the saved model is the best on the test folder
    labels = read_labels(expr / "expr-test")
    assert int(total) == sum(map(len, labels.values()))
    rows = [line.split("\t") for line in full.stdout.splitlines()[:-1]]
    assert [row[1] for row in rows] == [f"expr-test/{name}" for name in sorted(labels)]
    assert [row[3] for row in rows] == [labels[name] for name in sorted(labels)]
    assert sum(int(row[0]) for row in rows) == int(errors)
    assert [line.split("\t") for line in errs.stdout.splitlines()[:-1]] == [[row[0], row[2]] for row in rows]
    assert quiet.stdout.count("\n") == 1
