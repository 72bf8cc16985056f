"""Tests of convolutional networks through the real programs: lines too narrow for the pooling, the ocropy wrapper, every input and mode."""
import numpy as np
import pytest
from PIL import Image

from test_drivers import SUMMARY, TESTERR_CTC, Job, assert_one_line_error, run, run_all, succeeded

#: horizontal pooling by 4: a line needs at least 4 pixel columns for one step
POOLED_SPEC = "[1,24,0,1 Ck3,3,4 Bnk Mp2,2 Do0.1 Mp1,2 S1(1x0)1,3 Lbx8 O1c]"
NARROW = "000000n_7.png"  # 3 pixel columns at height 24, between the two test images


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    """A folder with expression images, a model with horizontal pooling by 4 trained on them, and
    ``narrow/``: the test images and one 3-pixel-wide image labelled 7."""
    from clstmtools import generate
    folder = tmp_path_factory.mktemp("pooled")
    assert generate.main(["-o", str(folder), "-q", "--seed", "5", "--tasks", "expr", "--expr-train", "6",
                          "--expr-test", "2"]) == 0
    succeeded(run("clstmctc", "expr-train", cwd=folder, spec=POOLED_SPEC, ntrain=2, save_name="pooled",
                  report_every=0, seed=1))
    (folder / "narrow").mkdir()
    (folder / "only").mkdir()
    for image in (folder / "expr-test").glob("*.png"):
        (folder / "narrow" / image.name).write_bytes(image.read_bytes())
    pixels = np.full((24, 3), 255, np.uint8)
    pixels[8:16, 1] = 0
    for target in ("narrow", "only"):
        Image.fromarray(pixels).save(folder / target / NARROW)
    return folder


def one_warning(result, *words):
    """The run succeeded with exactly one line on stderr: a warning naming ``words``."""
    succeeded(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_a_line_too_narrow_for_the_pooling_is_skipped_in_every_evaluation_mode(pooled):
    common = dict(load="pooled.h5")
    modes = ("errs", "full", "quiet", "text")
    *narrow, reference, alone, strict = run_all(
        [Job("clstmctc", ["narrow"], pooled, dict(common, mode=mode)) for mode in modes]
        + [Job("clstmctc", ["expr-test"], pooled, dict(common, mode="full")),
           Job("clstmctc", ["only"], pooled, dict(common, mode="text")),  # alone in its minibatch
           Job("clstmctc", ["narrow"], pooled, dict(common, mode="errs", strict=1))])
    for mode, result in zip(modes, narrow):
        warning = one_warning(result, "clstmctc: warning: skipping", f"narrow/{NARROW}", "3 input steps",
                              "needs 4 for one output step")
        assert ("not recognized" if mode == "text" else "not counted") in warning
    errs, full, quiet, text = (result.stdout.splitlines() for result in narrow)
    assert len(errs) == 3 and len(full) == 3 and len(quiet) == 1 and len(text) == 2
    assert SUMMARY.match(errs[-1]) and errs[-1] == full[-1] == quiet[-1] == succeeded(reference).stdout.splitlines()[-1]
    assert [line.split("\t")[1].split("/")[-1] for line in full[:-1]] == \
           [line.split("\t")[1].split("/")[-1] for line in reference.stdout.splitlines()[:-1]]
    assert NARROW not in "".join(text)
    assert alone.stdout == "" and f"only/{NARROW}" in one_warning(alone, "not recognized")
    assert_one_line_error(strict, "clstmctc", f"narrow/{NARROW}", "needs 4 for one output step")
    assert len(strict.stdout.splitlines()) == 1  # the line before it was printed


def test_training_skips_test_and_validation_lines_too_narrow_with_one_warning_each(pooled):
    result = succeeded(run("clstmctc", "expr-train", cwd=pooled, load="pooled.h5", ntrain=6, minibatch=2,
                           test_every=2, testset="narrow", valset="narrow", save_name="again", report_every=0))
    tests = TESTERR_CTC.findall(result.stdout)
    assert len(tests) == 2 and tests[0][-1] == tests[1][-1]  # the same characters counted each time
    assert result.stdout.count("VALERR") == 2
    assert " hidden 8 -1 batch " in result.stdout  # the spec's LSTM, not nhidden's default
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2, result.stderr  # at the first test, not at every one
    for warning, keyword in zip(sorted(warnings), ("TESTERR", "VALERR")):
        assert warning.startswith(f"skipping narrow/{NARROW}: 3 input steps") and f"not counted in {keyword}" in warning


def test_clstmtext_filter_prints_an_empty_line_for_an_input_too_short_and_clstmseq_refuses_pooling(tmp_path):
    from clstmtools import generate
    assert generate.main(["-o", str(tmp_path), "-q", "--seed", "3", "--tasks", "text-upper,mod3", "-n", "30",
                          "--text-train", "20", "--text-test", "4"]) == 0
    words = [line.split("\t")[0] for line in (tmp_path / "text-upper-train.txt").read_text("utf-8").splitlines()]
    short, long = min(words, key=len), max(words, key=len)
    (tmp_path / "filter.txt").write_text(f"{long}\n\n{short}\n{long}\n", "utf-8")
    pooling = 4 * len(short) + 4  # more than the short word's 3 + 4 len steps (characters and epsilons)
    trained, seq = run_all([
        Job("clstmtext", ["text-upper-train.txt"], tmp_path, dict(spec=f"[1,0,0,1 Mp1,{pooling} Lbx6 O1c]", ntrain=2,
                                                                   save_name="pooled", report_every=0)),
        Job("clstmseq", ["mod3.h5"], tmp_path, dict(spec="[1,0,0,1 Mp1,2 Lbx6 O1s]", ntrain=2, save_name="seq"))])
    succeeded(trained)
    assert_one_line_error(seq, "clstmseq", "horizontal pooling (Mp)")
    result = run("clstmtext", "filter.txt", cwd=tmp_path, mode="filter", load="pooled.h5")
    warning = one_warning(result, "clstmtext: warning: skipping filter.txt:3:", "printed as an empty line")
    assert "strict" not in warning
    assert len(result.stdout.split("\n")) == 5 and result.stdout.split("\n")[2] == ""


def test_a_model_trained_by_clstmctc_recognizes_through_the_ocropy_wrapper(pooled):
    from clstmtools import ctc, ocropy
    from clstmtools.codec import Codec
    from clstmtools.datasets import open_ocr_dataset
    from clstmtools.modelfile import load_net
    text = succeeded(run("clstmctc", "expr-test", cwd=pooled, load="pooled.h5", mode="text")).stdout.splitlines()
    wrapped, plain = ocropy.load(pooled / "pooled.h5"), load_net(pooled / "pooled.h5")
    assert wrapped.net.attributes["spec"] == POOLED_SPEC
    data = open_ocr_dataset(str(pooled / "expr-test"), target_height=24)
    codec = Codec(wrapped.net.codec)
    for i, line in enumerate(text):
        xs = data.input(i)
        outputs = wrapped.forward(xs)
        assert outputs.shape == (len(xs) // 4, wrapped.noutput())
        plain.inputs.aset(xs)
        plain.forward()
        np.testing.assert_array_equal(outputs, plain.outputs.array()[:, :, 0])
        assert line.split("\t")[1] == codec.decode(ctc.decode(outputs, "clstm"))


def test_the_display_picture_shows_the_feature_maps_and_the_pooled_steps():
    import clstmtools as clstm
    from clstmtools.display import render_display
    from clstmtools.network import describe_maps
    net = clstm.make_net("CNNBIDILSTM", ninput=48, noutput=5, rng=0)
    maps = describe_maps(net)
    assert maps == "conv 48x40, maxpool 24x40 1/2, conv 24x60 1/2, maxpool 12x60 1/4"
    assert describe_maps(clstm.make_net("BIDILSTM", ninput=48, nhidden=4, noutput=5, rng=0)) == ""
    T = 120
    image = np.random.default_rng(0).random((T, 48)).astype(np.float32)
    net.inputs.aset(image)
    net.forward()
    outputs = net.outputs.array()[:, :, 0]
    assert outputs.shape == (T // 4, 5)
    with_maps = render_display(image, outputs, outputs, "ab", "a", maps=maps)
    without = render_display(image, outputs, outputs, "ab", "a")
    assert with_maps.width == without.width and with_maps.height > without.height  # one more title line


def test_a_convolutional_and_a_recurrent_network_vote_each_reading_lines_its_way(pooled):
    succeeded(run("clstmctc", "expr-train", cwd=pooled, nhidden=4, target_height=32, ntrain=2, save_name="blstm",
                  report_every=0, seed=1))
    voted, alone = run_all([Job("clstmctc", ["narrow"], pooled, dict(load="pooled.h5,blstm.h5", mode="full")),
                            Job("clstmctc", ["narrow"], pooled, dict(load="pooled.h5", mode="full"))])
    rows = [line.split("\t") for line in succeeded(voted).stdout.splitlines()[:-1]]
    assert [row[1] for row in rows] == sorted(f"narrow/{p.name}" for p in (pooled / "narrow").glob("*.png"))
    assert f"narrow/{NARROW}" not in succeeded(alone).stdout  # too narrow for the pooling: the CNN skips it ...
    assert "needs 4 for one output step" in voted.stderr  # ... and says so; the BLSTM reads it and the line counts
    total = int(SUMMARY.match(voted.stdout.splitlines()[-1]).group(2))
    assert total == int(SUMMARY.match(alone.stdout.splitlines()[-1]).group(2)) + 1  # the narrow line's '7'
