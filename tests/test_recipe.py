"""The training recipe through the real programs: exact resume after SIGINT, validation and early stopping,
augmentation, the run's curve picture and the terminal-only progress line."""
import os
import pty
import re
import signal
import subprocess

import h5py
import numpy as np
import pytest
from PIL import Image

from clstmtools import generate, resume
from clstmtools.augment import ELASTIC_STEP, Augmenter
from clstmtools.kernels.augment import warp_line
from clstmtools.datasets import OcrH5Dataset
from clstmtools.modelfile import load_net

import naive_augment
from test_drivers import TIMEOUT, assert_one_line_error, command, environment, run, run_all, succeeded, Job

REPORT = re.compile(r"^(\d+) \d+ dim ", re.M)
ERR_LINE = re.compile(r"^(VALERR|TESTERR) \S+ \S+ (\d+) (\S+) lrate .* errors (\d+) chars (\d+)$", re.M)
#: a tiny recognizer that starts up and trains quickly
TINY = dict(nhidden=8, report_every=1, threads=1, lrate=1e-3)
#: a tiny convolutional network with batch normalization and dropout of both kinds (channels, values)
DROPOUT_SPEC = "[1,24,0,1 Cr3,3,4 Bn Do0.2,2 Mp2,2 S1(1x0)1,3 Lbx8 Do0.3 O1c]"


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    assert generate.main(["-o", str(folder), "-q", "--seed", "4", "--tasks", "ocr", "--ocr-train", "60",
                          "--ocr-test", "20", "--height", "24"]) == 0
    return folder


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    """Lines of three letters a tiny network learns within a few hundred lines (200 train, 30 test)."""
    folder = tmp_path_factory.mktemp("easy")
    letters = "aeo"
    renderers, _, alphabet, _ = generate.ocr_setup([], generate.LineStyle(height=16), "letters", letters=letters)

    def line(rng):
        return " ".join("".join(letters[k] for k in rng.integers(0, 3, int(rng.integers(2, 6))))
                        for _ in range(int(rng.integers(1, 4))))

    for part, count in (("train", 200), ("test", 30)):
        generate.write_ocr_file(folder / f"{part}.h5", count, renderers, line, alphabet,
                                generate.stream(1, f"easy-{part}"))
    return folder


def model_weights(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in f if name.startswith(".")}


def interrupted_at_random(job, rng, ntrain):
    """Run ``job``, SIGINT it once its reports pass a random trial; returns the trial it was told at."""
    process = subprocess.Popen(command(job.program, job.args), cwd=job.cwd, env=environment(job.settings),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target = int(rng.integers(3, ntrain // 2))
    told = None
    for line in process.stdout:
        match = REPORT.match(line)
        if match and told is None and int(match.group(1)) >= target:
            told = int(match.group(1))
            process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    assert process.wait(timeout=TIMEOUT) == 130, err
    assert told is not None and "saving the model to" in err and "without its resume state" not in err, err
    return told


# --- exact resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", [dict(optimizer="sgd", momentum=0.9, pseudo_batch=3),
                                      dict(optimizer="adam", lrate=3e-3, augment=1, validation=0.2, test_every=20),
                                      dict(optimizer="adam", lrate=3e-3, augment=1, minibatch=4),
                                      dict(optimizer="adam", lrate=3e-3, minibatch=2, spec=DROPOUT_SPEC)],
                         ids=["sgd", "adam-augment-validation", "minibatch4-augment", "cnn-batchnorm-dropout"])
def test_sigint_and_resume_end_with_the_uninterrupted_weights(lines, tmp_path, settings):
    ntrain = 80
    common = dict(TINY, ntrain=ntrain, save_every=ntrain, seed=11, **settings)
    data = lines / "ocr-train.h5"
    whole = Job("clstmctc", [data], tmp_path, dict(common, save_name="whole"))
    stopped = Job("clstmctc", [data], tmp_path, dict(common, save_name="cut"))
    processes = [subprocess.Popen(command(whole.program, whole.args), cwd=tmp_path, env=environment(whole.settings),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    told = interrupted_at_random(stopped, np.random.default_rng(), ntrain)
    state = resume.read(tmp_path / "cut-interrupted.h5")
    assert state is not None and state.get("trial") >= told
    assert load_net(tmp_path / "cut-interrupted.h5").attr_int("trial") == state.get("trial")
    # the resumed run draws nothing from its own seed: the sample order and augmentation continue
    succeeded(run("clstmctc", data, cwd=tmp_path, **dict(common, save_name="cut", load="cut-interrupted.h5",
                                                          seed=999)))
    assert processes[0].wait(timeout=TIMEOUT) == 0, processes[0].stderr.read()
    final = f"-{ntrain:08d}.h5"
    expected, got = model_weights(tmp_path / ("whole" + final)), model_weights(tmp_path / ("cut" + final))
    assert expected.keys() == got.keys()
    # float32 rounding: now and then (1 run in ~10, first runs while the kernels compile) a weight
    # differs by ~3e-7 (2.8e-6 relative) after the 80 steps; a resume that lost any state (the
    # sample order, the augmentation's draws, Adam's moments) differs by more than 1e-4
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert any(not np.array_equal(w, model_weights(tmp_path / "cut-interrupted.h5")[n]) for n, w in got.items())


def test_a_model_with_resume_state_keeps_clstms_layout(lines, tmp_path):
    succeeded(run("clstmctc", lines / "ocr-train.h5", cwd=tmp_path, **dict(TINY, ntrain=5, save_name="m",
                                                                             optimizer="adam")))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        top = set(f)
        assert {"codec", "icodec", resume.GROUP} <= top
        assert all(isinstance(f[name], h5py.Dataset) for name in top - {resume.GROUP})
        assert "resume" not in f.attrs
    state = resume.read(tmp_path / "m.h5")
    assert state.get("trial") == 5 and len(state.layers) == len(load_net(tmp_path / "m.h5").layers())
    assert state.layers[0]["adam_step"] == 5


# --- validation and early stopping ----------------------------------------------------------------
def test_validation_selects_the_saved_model_and_reports_its_test_error(easy, tmp_path):
    result = succeeded(run("clstmctc", easy / "train.h5", cwd=tmp_path,
                           **dict(TINY, ntrain=300, test_every=30, report_every=0, validation=0.1, seed=2,
                                  optimizer="adam", lrate=3e-2, nhidden=16, save_name="v",
                                  testset=easy / "test.h5")))
    assert "# validation: 20 of 200 training samples held out (validation=0.1)" in result.stdout
    tests = ERR_LINE.findall(result.stdout)
    val = {int(t): float(r) for kind, t, r, _, _ in tests if kind == "VALERR"}
    test = {int(t): float(r) for kind, t, r, _, _ in tests if kind == "TESTERR"}
    assert sorted(val) == sorted(test) == list(range(30, 301, 30))
    best = min(val, key=lambda t: (val[t], t))
    assert load_net(tmp_path / "v.h5").attr_int("trial") == best
    assert float(load_net(tmp_path / "v.h5").attributes["last_err"]) == pytest.approx(val[best])
    selected = re.search(r"^# selected model \(v\.h5\): trial (\d+), validation error (\S+), test error (\S+)$",
                         result.stdout, re.M)
    assert selected and int(selected.group(1)) == best
    assert float(selected.group(3)) == pytest.approx(test[best])
    assert min(val.values()) < max(val.values())  # it learned something, so the choice mattered
    assert best != max(val) or val[best] < min(val[t] for t in val if t != best)
    quiet = succeeded(run("clstmctc", easy / "test.h5", cwd=tmp_path, mode="quiet", load="v.h5"))
    assert float(quiet.stdout.split()[-2]) == pytest.approx(100 * test[best], abs=1e-3)
    picture = Image.open(tmp_path / "v-curve.png")
    assert picture.format == "PNG" and picture.size[0] > 400


def test_early_stop_ends_a_run_that_stopped_improving(lines, tmp_path):
    # lrate so small that nothing changes: no validation ever improves on the first
    result = succeeded(run("clstmctc", lines / "ocr-train.h5", cwd=tmp_path,
                           **dict(TINY, ntrain=1000, test_every=10, report_every=0, validation=0.1, lrate=1e-12,
                                  early_stop=3, save_name="e")))
    assert re.search(r"^# early stop at trial 40: no improvement in 3 validations \(best \S+ at trial 10\)$",
                     result.stdout, re.M), result.stdout
    assert len(re.findall(r"^VALERR", result.stdout, re.M)) == 4
    assert "# done: 40 lines" in result.stdout


def test_validation_settings_are_checked(lines, tmp_path):
    for settings, words in ((dict(validation=1.5), ("validation",)),
                            (dict(validation=0.2, valset=lines / "ocr-test.h5"), ("valset", "validation"))):
        assert_one_line_error(run("clstmctc", lines / "ocr-train.h5", cwd=tmp_path,
                                  **dict(TINY, ntrain=5, save_name="x", **settings)), "clstmctc", *words)


def test_clstmtext_validates_on_a_valset(tmp_path):
    assert generate.main(["-o", str(tmp_path), "-q", "--seed", "2", "--tasks", "text-upper", "--text-train", "100",
                          "--text-test", "20"]) == 0
    train = tmp_path / "text-upper-train.txt"
    (tmp_path / "val.txt").write_text("".join(train.read_text("utf-8").splitlines(True)[:10]), "utf-8")
    result = succeeded(run("clstmtext", train, cwd=tmp_path, **dict(TINY, ntrain=40, test_every=20, report_every=0,
                                                                     valset="val.txt", save_name="t",
                                                                     testset="val.txt")))
    assert [kind for kind, *_ in ERR_LINE.findall(result.stdout)] == ["VALERR", "TESTERR"] * 2


# --- augmentation -----------------------------------------------------------------------------------
def test_augmented_lines_differ_keep_their_depth_and_a_plausible_width(lines):
    data = OcrH5Dataset(str(lines / "ocr-train.h5"))
    first, second = Augmenter(np.random.default_rng(5), 1.0), Augmenter(np.random.default_rng(5), 1.0)
    for i in range(20):
        x = data.input(i)
        y = first(x)
        assert y.dtype == np.float32 and y.shape[1] == x.shape[1] and np.all((y >= 0) & (y <= 1))
        # scale and aspect change the width by at most ~21%, the padding adds at most a depth
        assert 0.75 * len(x) <= len(y) <= 1.25 * len(x) + x.shape[1] + 2
        assert len(y) != len(x) or not np.allclose(y, x, atol=0.05)
        np.testing.assert_array_equal(second(x), y)  # seeded
        ink = y.sum(axis=1)
        assert ink.max() > 0.2 * x.sum(axis=1).max()  # still a line of ink, not noise


@pytest.mark.parametrize("elastic", [False, True])
def test_warp_kernel_matches_its_numpy_twin(elastic):
    rng = np.random.default_rng(11 + elastic)
    for depth, width, scale, x_scale, shift in [(24, 70, 1.1, 1.05, 1.3), (48, 33, 0.9, 0.85, -2.0), (5, 9, 1.0, 1.0, 0.0)]:
        image = rng.random((depth, width), dtype=np.float32) * (rng.random((depth, width)) < 0.4)
        out_width = int(round(width * x_scale))
        grid = ((depth - 1) // ELASTIC_STEP + 2, (out_width - 1) // ELASTIC_STEP + 2)
        fields = (rng.uniform(-1.5, 1.5, (2,) + grid) if elastic else np.zeros((2, 0, 0))).astype(np.float32)
        out = np.full((depth, out_width), np.nan, np.float32)
        centre = (depth - 1) / 2
        warp_line(out, image, np.float32(centre), np.float32(shift), np.float32(scale), np.float32(x_scale),
                  fields[0], fields[1], np.float32(ELASTIC_STEP))
        expected = naive_augment.warp_line(image, out_width, centre, shift, scale, x_scale, fields[0], fields[1],
                                           ELASTIC_STEP)
        assert out.dtype == np.float32 and not np.isnan(out).any()
        np.testing.assert_allclose(out, expected, atol=2e-5)
        if not elastic and scale == x_scale == 1 and shift == 0:
            np.testing.assert_array_equal(out, image)  # the identity map copies the line


def test_augment_probability_degrades_that_share_of_lines(lines):
    x = OcrH5Dataset(str(lines / "ocr-train.h5")).input(0)
    for probability, low, high in [(0.0, 0, 0), (0.5, 60, 140), (1.0, 200, 200)]:
        augment = Augmenter(np.random.default_rng(8), probability)
        kept = [augment(x) is x for _ in range(200)]
        assert low <= 200 - sum(kept) <= high, (probability, sum(kept))


def test_augment_changes_training_lines_but_never_test_lines(lines, tmp_path):
    common = dict(TINY, ntrain=6, report_every=1, randomize=0, seed=3, save_every=6)
    plain, augmented, never = run_all([
        Job("clstmctc", [lines / "ocr-train.h5"], tmp_path, dict(common, save_name="a")),
        Job("clstmctc", [lines / "ocr-train.h5"], tmp_path, dict(common, save_name="b", augment=1, augment_p=1)),
        Job("clstmctc", [lines / "ocr-train.h5"], tmp_path, dict(common, save_name="c", augment=1, augment_p=0))])
    widths = [re.findall(r"^\d+ \d+ dim (\d+) ", succeeded(r).stdout, re.M) for r in (plain, augmented, never)]
    assert len(widths[0]) == len(widths[1]) == 6 and widths[0] != widths[1]
    # augment_p=0 trains on the lines as they are, exactly as without augment
    assert widths[2] == widths[0]
    expected, got = model_weights(tmp_path / "a-00000006.h5"), model_weights(tmp_path / "c-00000006.h5")
    assert expected.keys() == got.keys() and all(np.array_equal(expected[name], got[name]) for name in expected)
    # recognition and tests read the lines as they are, whatever augment says
    outputs = [succeeded(run("clstmctc", lines / "ocr-test.h5", cwd=tmp_path, mode=mode, load="b-00000006.h5",
                             augment=value)).stdout for mode in ("text", "full") for value in (0, 1)]
    assert outputs[0] == outputs[1] and outputs[2] == outputs[3]


# --- the curve and the progress line -------------------------------------------------------------------
def test_the_curve_png_grows_with_the_run(lines, tmp_path):
    data = lines / "ocr-train.h5"
    common = dict(TINY, report_every=0, test_every=10, testset=lines / "ocr-test.h5", save_name="c", seed=1,
                  save_every=20)
    succeeded(run("clstmctc", data, cwd=tmp_path, **dict(common, ntrain=20)))
    first = resume.read(tmp_path / "c-00000020.h5").arrays["curve"]
    before = (tmp_path / "c-curve.png").read_bytes()
    with Image.open(tmp_path / "c-curve.png") as picture:
        picture.load()
        assert picture.format == "PNG" and picture.size == (880, 460)
    succeeded(run("clstmctc", data, cwd=tmp_path, **dict(common, ntrain=60, load="c-00000020.h5")))
    second = resume.read(tmp_path / "c-00000060.h5").arrays["curve"]
    assert len(first) == 2 and len(second) == 6 and np.array_equal(second[:2], first, equal_nan=True)
    assert list(second[:, 0]) == [10, 20, 30, 40, 50, 60] and np.all(np.diff(second[:, 1]) > 0)
    assert (tmp_path / "c-curve.png").read_bytes() != before
    with Image.open(tmp_path / "c-curve.png") as picture:
        picture.load()
        assert picture.format == "PNG"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_progress_line_on_a_terminal_only(lines, tmp_path):
    settings = dict(TINY, ntrain=40, report_every=0, save_name="p")
    piped = succeeded(run("clstmctc", lines / "ocr-train.h5", cwd=tmp_path, **settings))
    assert "\r" not in piped.stdout and "lines/s, " not in piped.stdout
    leader, follower = pty.openpty()
    process = subprocess.Popen(command("clstmctc", [lines / "ocr-train.h5"]), cwd=tmp_path,
                               env=environment(settings), stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=TIMEOUT) == 0
    os.close(leader)
    text = seen.decode()
    assert re.search(r"\r\x1b\[K\[\d+/40 [\d.]+%\] [\d.]+ lines/s, (\?|\d+:\d\d:\d\d) to go", text), text[-500:]
    assert "# done: 40 lines" in text


def test_the_curve_labels_its_last_x_tick_inside_the_panel():
    from clstmtools.curve import BOTTOM, PANEL_HEIGHT, PANEL_WIDTH, render_curve
    points = [(n, n / 10, 50.0, 0.1, 0.08, 0.05) for n in (500, 5000, 10000)]  # 10000 sits at the right edge
    picture = np.asarray(render_curve(points).convert("L"))
    band = picture[PANEL_HEIGHT - BOTTOM + 2:PANEL_HEIGHT - BOTTOM + 16, :PANEL_WIDTH]
    assert (band[:, -40:] < 128).any()  # the label "10000" is drawn there...
    assert (band[:, -2:] > 200).all()  # ...whole, not cut at the panel's edge
