"""End-to-end tests of clstmctc, clstmseq and clstmtext: the real programs as subprocesses on tiny generated data."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import h5py
import Levenshtein
import numpy as np
import pytest
from PIL import Image

from clstmtools import generate
from clstmtools.modelfile import load_net
from clstmtools.params import PARAMS, params_of

#: seconds any one program run may take (a cold numba cache compiles every kernel first)
TIMEOUT = 300
#: every name the programs read from the environment: never inherited from the test runner's environment
PARAMETER_NAMES = {name for param in PARAMS for name in (param.name, *param.aliases)} | {"CLSTM_SAVED", "CLSTM_TRIAL"}
OCR_HEIGHT = 24
SEQ_SAMPLES = 300  # testmod=10 holds out 30 of them

Result = namedtuple("Result", "returncode stdout stderr")
Job = namedtuple("Job", "program args cwd settings")

TESTERR_CTC = re.compile(r"^TESTERR (\S+) (\S+) (\d+) (\S+) lrate .* errors (\d+) chars (\d+)$", re.M)
TESTERR_SEQ = re.compile(r"^TESTERR (\S+) (\S+) CERR (\S+) (\S+) N (\d+) at (\d+)$", re.M)
SUMMARY = re.compile(r"^errs (\d+) total (\d+) rate (\S+) %$")
REPORT = re.compile(r"^(\d+) (\d+) dim (\d+) (\d+) time ", re.M)


# --- running the programs ------------------------------------------------------------------------
def command(program, args):
    return [sys.executable, "-m", f"clstmtools.drivers.{program}", *map(str, args)]


def environment(settings):
    env = {name: value for name, value in os.environ.items() if name not in PARAMETER_NAMES}
    env["threads"] = "1"  # the machine is shared; results do not depend on it
    env.update({name: str(value) for name, value in settings.items()})
    return env


def launch(job, **popen):
    return subprocess.Popen(command(job.program, job.args), cwd=job.cwd, env=environment(job.settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process, timeout=TIMEOUT):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"{process.args} ran past {timeout} s; stdout: {out[-2000:]} stderr: {err[-2000:]}")
    return Result(process.returncode, out, err)


def run_all(jobs):
    """Run independent jobs at the same time (each mostly waits on its start-up)."""
    processes = [launch(job) for job in jobs]
    return [finish(process) for process in processes]


def run(program, *args, cwd, **settings):
    return run_all([Job(program, args, cwd, settings)])[0]


def succeeded(result):
    assert result.returncode == 0, (f"status {result.returncode}\nstdout: {result.stdout[-3000:]}\n"
                                    f"stderr: {result.stderr}")
    assert "Traceback" not in result.stderr
    return result


def assert_one_line_error(result, program, *words):
    """The program failed with exactly one line on stderr naming ``words``, and no traceback."""
    assert result.returncode != 0, result.stdout[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{program}: error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --- model files -----------------------------------------------------------------------------------
def attributes(path):
    with h5py.File(path, "r") as f:
        return {name: bytes(value).decode().rstrip("\0") for name, value in f.attrs.items()}


def weights(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in f if name.startswith(".")}


def codec_text(path, name="codec"):
    with h5py.File(path, "r") as f:
        return "".join(chr(int(c)) for c in f[name][()].ravel()[1:])


# --- data ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """Tiny generated data: OCR lines, delay1 sequences, upper-casing pairs (and the two-file form)."""
    folder = tmp_path_factory.mktemp("data")
    assert generate.main(["-o", str(folder), "-q", "--seed", "3", "--tasks", "ocr,delay1,text-upper",
                          "--ocr-train", "60", "--ocr-test", "20", "--height", str(OCR_HEIGHT),
                          "-n", str(SEQ_SAMPLES), "--text-train", "200", "--text-test", "50"]) == 0
    pairs = [line.split("\t") for line in (folder / "text-upper-train.txt").read_text("utf-8").splitlines()]
    (folder / "inputs.txt").write_text("".join(i + "\n" for i, _ in pairs), "utf-8")
    (folder / "outputs.txt").write_text("".join(o + "\n" for _, o in pairs), "utf-8")
    (folder / "text-test.txt").write_text("".join(f"{i}\t{o}\n" for i, o in pairs[:10]), "utf-8")  # within the codecs
    (folder / "not-hdf5.h5").write_text("plain text, one line\n")
    return folder


@pytest.fixture
def ocr_train(data):
    return data / "ocr-train.h5"


@pytest.fixture
def ocr_test(data):
    return data / "ocr-test.h5"


# --- clstmctc training: best-on-test save, hooks, params echo and draws, display ----------------
HOOKS = dict(after_start="echo start >> hooks.log",
             after_test="echo test >> hooks.log; exit 3",  # fails: reported, training goes on
             after_save='echo "saved $CLSTM_SAVED" >> hooks.log')


@pytest.fixture(scope="session")
def ctc_run(data, tmp_path_factory):
    """One clstmctc training run with a test set, hooks, drawn settings and a display picture."""
    folder = tmp_path_factory.mktemp("ctc")
    result = run("clstmctc", data / "ocr-train.h5", cwd=folder, save_name="ctc", ntrain=30, nhidden="4,8",
                 lrate="1e-4,1e-3", params=1, seed=5, testset=data / "ocr-test.h5", test_every=10, maxeval=5,
                 display_every=10, report_every=10, **HOOKS)
    return folder, succeeded(result)


def test_clstmctc_reports_tests_and_saves_the_best_model(ctc_run):
    folder, result = ctc_run
    tests = [(int(trial), float(rate)) for _, name, trial, rate, _, _ in TESTERR_CTC.findall(result.stdout)]
    assert [trial for trial, _ in tests] == [10, 20, 30]
    assert all(name == "ctc" for _, name, *_ in TESTERR_CTC.findall(result.stdout))
    best_trial, best_rate = min(tests, key=lambda test: test[1])  # the first of equal rates
    saved = attributes(folder / "ctc.h5")
    assert int(saved["trial"]) == best_trial
    assert float(saved["last_err"]) == pytest.approx(best_rate)
    assert sorted(p.name for p in folder.glob("*.h5")) == ["ctc.h5"]  # no periodic saves with save_every=0
    reports = REPORT.findall(result.stdout)
    assert [int(trial) for trial, *_ in reports] == [0, 10, 20]
    assert all(int(depth) == OCR_HEIGHT for *_, depth in reports)
    for tag in ("TRU: '", "OUT: '", "ALN: '"):
        assert result.stdout.count("\n" + tag) == 3
    assert re.search(r"^# done: 30 lines in .* best test error", result.stdout, re.M)


def test_clstmctc_hooks_run_through_the_shell_and_a_failing_one_is_reported(ctc_run):
    folder, result = ctc_run
    log = (folder / "hooks.log").read_text().splitlines()
    saves = [line.split(" ", 1)[1] for line in log if line.startswith("saved ")]
    assert log[0] == "start"
    assert log.count("test") == 3
    assert saves and all(Path(path) == folder / "ctc.h5" for path in saves)
    assert len(saves) == len(re.findall(r"^# saved ctc\.h5$", result.stdout, re.M))
    failures = [line for line in result.stderr.splitlines() if line.startswith("after_test hook")]
    assert len(failures) == 3 and all("status 3" in line for line in failures)


def test_clstmctc_params_echo_draws_ranges_and_stores_them(ctc_run):
    folder, result = ctc_run
    echoed = dict(re.findall(r"^#: (\w+) = (.*)$", result.stderr, re.M))
    assert set(echoed) == {param.name for param in params_of("clstmctc")}
    nhidden, lrate = int(echoed["nhidden"]), float(echoed["lrate"])
    assert 4 <= nhidden <= 8 and 1e-4 <= lrate <= 1e-3
    assert echoed["seed"] == "5"
    saved = attributes(folder / "ctc.h5")
    assert int(saved["nhidden"]) == nhidden and float(saved["lrate"]) == lrate
    shapes = {name: w.shape for name, w in weights(folder / "ctc.h5").items()}
    noutput = len(codec_text(folder / "ctc.h5")) + 1
    assert shapes[".bidilstm.0.parallel.0.lstm.WGI"] == (nhidden, 1 + OCR_HEIGHT + nhidden)
    assert shapes[".bidilstm.1.softmax.W"] == (noutput, 2 * nhidden)


def test_clstmctc_display_writes_a_png(ctc_run):
    folder, _ = ctc_run
    with Image.open(folder / "ctc-display.png") as picture:
        assert picture.format == "PNG"
        picture.load()
        width, height = picture.size
    assert width > 50 and height > OCR_HEIGHT


# --- clstmctc evaluation modes ---------------------------------------------------------------------
def test_clstmctc_evaluation_modes_agree_with_each_other_and_with_the_file(ctc_run, ocr_test):
    folder, _ = ctc_run
    model, n = folder / "ctc.h5", 6
    modes = ("dump", "full", "errs", "text", "quiet")
    results = run_all([Job("clstmctc", [ocr_test], folder, dict(mode=mode, load=model, maxeval=n)) for mode in modes]
                      + [Job("clstmctc", [ocr_test], folder, dict(eval=1, load=model, maxeval=n))])
    dump, full, errs, text, quiet, old_eval = (succeeded(r).stdout.splitlines() for r in results)
    with h5py.File(ocr_test, "r") as f:
        codec = f["codec"][()].ravel()
        truths = ["".join(chr(int(codec[k])) for k in labels) for labels in f["transcripts"][:n]]
    assert dump == [f"{i}\t{truth}" for i, truth in enumerate(truths)]
    rows = [line.split("\t") for line in full[:-1]]
    assert [int(i) for _, i, _, _ in rows] == list(range(n))
    assert [truth for *_, truth in rows] == truths
    assert all(int(e) == Levenshtein.distance(out, truth) for e, _, out, truth in rows)
    assert errs[:-1] == [f"{e}\t{out}" for e, _, out, _ in rows]
    assert text == [f"{i}\t{out}" for _, i, out, _ in rows]
    errors, total, rate = SUMMARY.fullmatch(full[-1]).groups()
    assert int(errors) == sum(int(e) for e, *_ in rows) and int(total) == sum(map(len, truths))
    assert float(rate) == pytest.approx(100 * int(errors) / int(total), abs=1e-4)
    assert errs[-1] == quiet[-1] == full[-1] and len(quiet) == 1
    assert old_eval == errs


# --- saving and resuming -----------------------------------------------------------------------------
def test_periodic_saves_percent_names_and_resume_continues_the_trial(ocr_train, tmp_path):
    common = dict(nhidden=4, seed=2, report_every=1)
    percent, plain = run_all([
        Job("clstmctc", [ocr_train], tmp_path, dict(common, save_name="per-%03d", save_every=10, ntrain=20)),
        Job("clstmctc", [ocr_train], tmp_path, dict(common, save_name="plain", save_every=10, ntrain=12))])
    succeeded(percent), succeeded(plain)
    assert sorted(p.name for p in tmp_path.glob("*.h5")) == ["per-010.h5", "per-020.h5", "plain-00000010.h5"]
    assert [attributes(tmp_path / f"per-0{k}0.h5")["trial"] for k in (1, 2)] == ["10", "20"]
    resumed = succeeded(run("clstmctc", ocr_train, cwd=tmp_path, **dict(
        common, load="per-020.h5", save_name="per-%03d", save_every=10, ntrain=30, nhidden=50)))
    assert int(REPORT.search(resumed.stdout).group(1)) == 20
    assert [int(trial) for trial, *_ in REPORT.findall(resumed.stdout)] == list(range(20, 30))
    assert resumed.stdout.count(" hidden 4 -1 ") == 10 and " hidden 50 " not in resumed.stdout
    assert attributes(tmp_path / "per-030.h5")["trial"] == "30"
    assert attributes(tmp_path / "per-030.h5")["nhidden"] == "4"  # the loaded network's size, not nhidden=50
    before, after = weights(tmp_path / "per-020.h5"), weights(tmp_path / "per-030.h5")
    assert before.keys() == after.keys()
    assert any(not np.array_equal(before[name], after[name]) for name in before)


def test_same_seed_gives_identical_weights_and_another_seed_does_not(ocr_train, tmp_path):
    settings = dict(nhidden=5, ntrain=15, report_every=0, lrate=1e-3)
    results = run_all([Job("clstmctc", [ocr_train], tmp_path, dict(settings, save_name=name, seed=seed))
                       for name, seed in (("a", 11), ("b", 11), ("c", 12))])
    for result in results:
        succeeded(result)
    a, b, c = (weights(tmp_path / f"{name}.h5") for name in "abc")
    assert a.keys() == b.keys() == c.keys() and a
    assert all(a[name].tobytes() == b[name].tobytes() for name in a)
    assert any(a[name].tobytes() != c[name].tobytes() for name in a)


# --- never lose work: SIGINT and NaN ----------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_saves_the_interrupted_model_and_exits_non_zero(ocr_train, tmp_path, signum):
    process = launch(Job("clstmctc", [ocr_train], tmp_path,
                         dict(save_name="run", ntrain=10**6, nhidden=4, report_every=1, seed=1)))
    try:
        deadline = time.monotonic() + TIMEOUT
        first = ""
        while not REPORT.match(first):
            first = process.stdout.readline()
            assert first and time.monotonic() < deadline, "no report line before the end of the output"
        process.send_signal(signum)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signum
    assert "Traceback" not in err
    stop = re.search(rf"interrupted by {signum.name} at trial (\d+); saving the model to run-interrupted\.h5", err)
    trial = stop.group(1)
    net = load_net(tmp_path / "run-interrupted.h5")
    assert net.attributes["trial"] == trial
    assert all(np.isfinite(w).all() for _, w, _ in net.weights())


def test_nan_stops_training_and_keeps_the_last_good_model(ctc_run, data, tmp_path):
    shutil.copy(ctc_run[0] / "ctc.h5", tmp_path / "good.h5")
    before = (tmp_path / "good.h5").read_bytes()
    trial = int(attributes(tmp_path / "good.h5")["trial"])
    # the first update overflows; every update would be followed by a save
    result = run("clstmctc", data / "ocr-train.h5", cwd=tmp_path, load="good.h5", save_name="good", lrate=1e38,
                 save_every=1, report_every=0, seed=1)
    message = assert_one_line_error(result, "clstmctc", "NaN", "without saving")
    assert re.search(rf"\btrial {trial}\b", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.h5"]  # no save, no backup, no interrupted model
    assert (tmp_path / "good.h5").read_bytes() == before
    assert all(np.isfinite(w).all() for _, w, _ in load_net(tmp_path / "good.h5").weights())


def test_resuming_under_the_same_name_saves_only_a_better_model(ctc_run, data, tmp_path):
    for name, last_err in (("unbeatable", "0"), ("beatable", "2")):
        shutil.copy(ctc_run[0] / "ctc.h5", tmp_path / f"{name}.h5")
        with h5py.File(tmp_path / f"{name}.h5", "r+") as f:
            f.attrs["last_err"] = np.bytes_(last_err)
    before = (tmp_path / "unbeatable.h5").read_bytes()
    trial = int(attributes(tmp_path / "unbeatable.h5")["trial"])
    kept, replaced = run_all([Job("clstmctc", [data / "ocr-train.h5"], tmp_path, dict(
        load=f"{name}.h5", save_name=name, ntrain=trial + 10, test_every=5, testset=data / "ocr-test.h5",
        maxeval=3, report_every=0, seed=1)) for name in ("unbeatable", "beatable")])
    for result in (kept, replaced):
        assert [int(t) for _, _, t, *_ in TESTERR_CTC.findall(succeeded(result).stdout)] == [trial + 5, trial + 10]
    assert "# saved" not in kept.stdout and (tmp_path / "unbeatable.h5").read_bytes() == before
    assert "# saved beatable.h5" in replaced.stdout
    assert int(attributes(tmp_path / "beatable.h5")["trial"]) in (trial + 5, trial + 10)


# --- clstmseq ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def seq_run(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq")
    result = run("clstmseq", data / "delay1.h5", cwd=folder, save_name="seq", ntrain=300, test_every=100,
                 report_every=100, nhidden=4, lrate=1e-2, seed=4, display_every=100)
    return folder, succeeded(result)


def test_clstmseq_trains_tests_and_saves_the_best_model(seq_run):
    folder, result = seq_run
    tests = TESTERR_SEQ.findall(result.stdout)
    assert [(int(n), int(trial)) for *_, n, trial in tests] == [(30, 100), (30, 200), (30, 300)]
    cerrs = [float(cerr) for _, _, cerr, *_ in tests]
    assert all(0 <= cerr <= 1 for cerr in cerrs)
    best = int(tests[cerrs.index(min(cerrs))][-1])
    assert int(attributes(folder / "seq.h5")["trial"]) == best
    marks = re.findall(r"^(INP|OUT|TRU): (\S*)$", result.stdout, re.M)
    assert len(marks) == 9 and all(len(m) == 29 and set(m) <= {"_", "+"} for _, m in marks)


def test_clstmseq_display_writes_a_png(seq_run):
    folder, _ = seq_run
    with Image.open(folder / "seq-display.png") as picture:
        picture.load()
        assert picture.format == "PNG" and picture.size[0] >= 600


def test_clstmseq_mode_test_repeats_the_saved_models_test(seq_run, data):
    folder, training = seq_run
    trial = attributes(folder / "seq.h5")["trial"]
    result = succeeded(run("clstmseq", data / "delay1.h5", cwd=folder, mode="test", load="seq.h5"))
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith(f" at {trial}")
    assert lines[0] in training.stdout.splitlines()  # the same numbers as the test that saved it


# --- clstmtext ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def text_runs(data, tmp_path_factory):
    """clstmtext trained on a pairs file (with a test set) and on the two-file form."""
    folder = tmp_path_factory.mktemp("text")
    pairs, two = run_all([
        Job("clstmtext", [data / "text-upper-train.txt"], folder,
            dict(save_name="txt", ntrain=40, nhidden=6, report_every=20, testset=data / "text-test.txt",
                 test_every=20, maxeval=8, seed=6, display_every=20)),
        Job("clstmtext", [data / "inputs.txt", data / "outputs.txt"], folder,
            dict(save_name="two", ntrain=20, nhidden=4, neps=2, report_every=0, seed=6))])
    return folder, succeeded(pairs), succeeded(two)


def test_clstmtext_display_writes_a_png(text_runs):
    with Image.open(text_runs[0] / "txt-display.png") as picture:
        picture.load()
        assert picture.format == "PNG" and picture.size[0] >= 600


def test_clstmtext_trains_on_a_pairs_file(text_runs, data):
    folder, result, _ = text_runs
    tests = TESTERR_CTC.findall(result.stdout)
    assert [int(trial) for _, _, trial, *_ in tests] == [20, 40]
    test_lines = (data / "text-test.txt").read_text("utf-8").splitlines()[:8]  # maxeval=8
    assert [int(chars) for *_, chars in tests] == [sum(len(line.split("\t")[1]) for line in test_lines)] * 2
    for tag in ("INP: '", "TRU: '", "OUT: '", "ALN: '"):
        assert result.stdout.count("\n" + tag) == 2
    saved = attributes(folder / "txt.h5")
    assert saved["neps"] == "3" and int(saved["trial"]) in (20, 40)


def test_clstmtext_two_file_form_takes_inputs_and_outputs_from_their_own_files(text_runs, data):
    folder, _, _ = text_runs
    assert attributes(folder / "two.h5")["neps"] == "2"
    inputs, outputs = (data / name for name in ("inputs.txt", "outputs.txt"))
    assert codec_text(folder / "two.h5", "icodec") == "".join(sorted(set(inputs.read_text("utf-8")) - {"\n"}))
    assert codec_text(folder / "two.h5", "codec") == "".join(sorted(set(outputs.read_text("utf-8")) - {"\n"}))


def test_clstmtext_filter_prints_one_line_per_input_line(text_runs, tmp_path):
    folder, _, _ = text_runs
    (tmp_path / "in.txt").write_text("slow\nhouse may\n\ngood round\tIGNORED\nred\n", "utf-8")
    (tmp_path / "bad.txt").write_text("slow\nnaïve\n", "utf-8")
    good, bad = run_all([Job("clstmtext", [name], tmp_path, dict(mode="filter", load=folder / "txt.h5"))
                         for name in ("in.txt", "bad.txt")])
    lines = succeeded(good).stdout.split("\n")
    assert len(lines) == 6 and lines[-1] == "" and lines[2] == ""
    codec = set(codec_text(folder / "txt.h5"))
    assert all(set(line) <= codec for line in lines)
    assert succeeded(bad).stdout.split("\n")[1] == ""  # a line the model cannot read is printed empty
    assert bad.stderr.count("\n") == 1
    assert "1 character in bad.txt is not in the model's input codec: 'ï' ×1" in bad.stderr


# --- errors: bad settings, bad files, usage -----------------------------------------------------------
def test_bad_settings_are_one_line_errors_naming_the_variable(data, tmp_path):
    cases = [("clstmctc", data / "ocr-train.h5", "lrate", "fast"),
             ("clstmctc", data / "ocr-train.h5", "nhidden", "0"),
             ("clstmctc", data / "ocr-train.h5", "hidden", "-3"),
             ("clstmseq", data / "delay1.h5", "lstm", "bogus"),
             ("clstmtext", data / "text-upper-train.txt", "lrate", "1e-2,1e-4"),
             ("clstmseq", data / "delay1.h5", "nhidden", "10,4"),
             ("clstmtext", data / "text-upper-train.txt", "momentum", "x"),
             ("clstmctc", data / "ocr-train.h5", "mode", "bogus")]
    results = run_all([Job(program, [path], tmp_path, {"save_name": "x", name: value})
                       for program, path, name, value in cases])
    for (program, _, name, value), result in zip(cases, results):
        assert_one_line_error(result, program, f"{name}={value!r}")
    assert not list(tmp_path.iterdir())


def test_bad_files_are_one_line_errors_naming_the_file(data, tmp_path):
    (tmp_path / "notab.txt").write_text("abc\tABC\nno tab here\n", "utf-8")
    (tmp_path / "short.txt").write_text("abc\n", "utf-8")
    shutil.copy(data / "delay1.h5", tmp_path / "seqdata.h5")
    fake = data / "not-hdf5.h5"
    train = dict(save_name="x")
    cases = [("clstmctc", ["missing.h5"], train, ["missing.h5"]),
             ("clstmctc", [fake], train, [str(fake), "HDF5"]),
             ("clstmseq", [fake], train, [str(fake), "HDF5"]),
             ("clstmseq", ["missing.h5"], train, ["missing.h5"]),
             ("clstmtext", ["notab.txt"], train, ["notab.txt:2", "tab"]),
             ("clstmtext", ["short.txt", "notab.txt"], train, ["short.txt", "notab.txt"]),
             ("clstmctc", [data / "ocr-test.h5"], dict(mode="errs", load=data / "ocr-test.h5"),
              ["ocr-test.h5", "not a clstm model"]),
             ("clstmseq", [data / "delay1.h5"], dict(mode="test", load=fake), [str(fake), "HDF5"]),
             ("clstmtext", [data / "inputs.txt"], dict(mode="filter", load="nothere.h5"), ["nothere.h5"]),
             ("clstmseq", [data / "delay1.h5"], dict(mode="test"), ["load="]),
             ("clstmtext", [data / "inputs.txt"], {}, ["save_name"]),
             ("clstmseq", ["seqdata.h5"], dict(save_name="seqdata"), ["save_name", "replace", "seqdata.h5"])]
    results = run_all([Job(program, args, tmp_path, settings) for program, args, settings, _ in cases])
    for (program, _, _, words), result in zip(cases, results):
        assert_one_line_error(result, program, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notab.txt", "seqdata.h5", "short.txt"]
    assert (tmp_path / "seqdata.h5").read_bytes() == (data / "delay1.h5").read_bytes()


def test_usage_with_help_and_without_arguments(tmp_path):
    """-h (and no arguments, on stderr) shows the settings used most; --help-all every setting and the formats."""
    programs = ("clstmctc", "clstmseq", "clstmtext")
    results = run_all([Job(program, args, tmp_path, {}) for program in programs
                       for args in (["-h"], [], ["--help-all"])])
    for k, program in enumerate(programs):
        helped, bare, everything = results[3 * k: 3 * k + 3]
        succeeded(helped)
        assert helped.stdout.startswith("usage:") and f"{program} --help-all" in helped.stdout
        shown = re.findall(r"^  (\w+)=", helped.stdout, re.M)
        assert {"mode", "load", "save_name", "lrate", "nhidden", "seed"} <= set(shown)
        assert set(shown) < {param.name for param in params_of(program)}  # some, not all
        assert bare.returncode == 2 and bare.stdout == ""
        assert bare.stderr == helped.stdout
        succeeded(everything)
        assert everything.stdout.startswith(helped.stdout.split("\n\n")[0]) and "File formats:" in everything.stdout
        for param in params_of(program):
            assert f"\n  {param.name}=" in everything.stdout, param.name
        others = {p.name for p in PARAMS} - {p.name for p in params_of(program)}
        assert not any(f"\n  {name}=" in everything.stdout for name in others)


#: every console program of the package
CONSOLE_PROGRAMS = ("clstmctc", "clstmseq", "clstmtext", "clstmsweep", "clstmexport")


def test_help_fits_a_screen_and_says_where_the_rest_is(tmp_path):
    for program, result in zip(CONSOLE_PROGRAMS, run_all([Job(p, ["-h"], tmp_path, {}) for p in CONSOLE_PROGRAMS])):
        text = succeeded(result).stdout
        lines = text.rstrip("\n").splitlines()
        assert text.startswith("usage: ") and program in lines[0], program
        assert len(lines) <= 60 and max(map(len, lines)) <= 79, (program, len(lines))
        assert "docs/" in text and f"{program} -h | " in text, program
        if program != "clstmexport":  # it has no settings
            assert "params=1" in text and f"{program} --help-all" in text, program


def test_every_program_prints_its_version(tmp_path):
    from importlib.metadata import version

    results = run_all([Job(program, ["--version"], tmp_path, {}) for program in CONSOLE_PROGRAMS])
    for program, result in zip(CONSOLE_PROGRAMS, results):
        assert succeeded(result).stdout == f"{program} {version('clstmtools')}\n" and result.stderr == ""
    assert re.fullmatch(r"\d+\.\d+\.\d+", version("clstmtools"))


def test_installed_console_script_and_in_tree_launcher(ocr_test, tmp_path):
    script = shutil.which("clstmctc", path=os.path.dirname(sys.executable))
    launcher = Path(__file__).resolve().parents[1] / "bin" / "clstmseq"
    jobs = [[sys.executable, str(launcher), "-h"]]
    if script:
        jobs.append([script, str(ocr_test)])
    processes = [subprocess.Popen(job, cwd=tmp_path, env=environment(dict(mode="dump", maxeval=3)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for job in jobs]
    results = [succeeded(finish(process)) for process in processes]
    assert results[0].stdout.startswith("usage: [name=value ...] clstmseq")
    if not script:
        pytest.skip(f"no clstmctc console script beside {sys.executable} (package not installed there)")
    assert [line.split("\t")[0] for line in results[1].stdout.splitlines()] == ["0", "1", "2"]


def test_clstmctc_trains_on_pre_aligned_targets_in_minibatches(tmp_path):
    """target_name=NAME trains towards a stored (T, classes) target per line, also in minibatches."""
    from clstmtools.datasets import write_ocr_h5

    rng = np.random.default_rng(0)
    images, transcripts, targets = [], [], []
    for T in (12, 9, 15, 10):
        images.append(rng.uniform(0, 0.2, (T, 8)).astype(np.float32))
        labels = [1 + k % 2 for k in range(T // 4)]
        transcripts.append(labels)
        target = np.zeros((T, 3), np.float32)
        target[:, 0] = 1
        for k, c in enumerate(labels):
            target[4 * k + 1] = np.eye(3)[c]
            images[-1][4 * k + 1, c] = 2  # a mark the network can see
        targets.append(target)
    path = tmp_path / "aligned.h5"
    write_ocr_h5(path, images, transcripts, [0, ord("a"), ord("b")])
    with h5py.File(path, "a") as f:
        ds = f.create_dataset("tgt", (len(targets),), dtype=h5py.vlen_dtype(np.float32))
        for i, t in enumerate(targets):
            ds[i] = t.ravel()
        f["tgt_dims"] = np.array([t.shape for t in targets], np.int32)
    result = succeeded(run("clstmctc", path, cwd=tmp_path, save_name="al", target_name="tgt", minibatch=2,
                           ntrain=1000, nhidden=8, lrate=1e-2, optimizer="adam", report_every=0, seed=2))
    assert "done: 1000 lines" in result.stdout
    errs = succeeded(run("clstmctc", path, cwd=tmp_path, mode="quiet", load="al.h5"))
    assert errs.stdout.strip().endswith("rate 0.0000 %")


def test_clstmseq_debug_prints_weights_and_states(data, tmp_path):
    result = succeeded(run("clstmseq", data / "delay1.h5", cwd=tmp_path, ntrain=1, report_every=1, test_every=0,
                           nhidden=3, lstm="lstm1", debug_nets=1, debug_states=1))
    weights = re.findall(r"^WEIGHTS (\S+) (\d+)x(\d+) ", result.stdout, re.M)
    assert [name for name, *_ in weights][:2] == [".lstm1.0.lstm.WGI", ".lstm1.0.lstm.WGF"]
    assert (".lstm1.0.lstm.WGI", "3", "5") in weights and len(weights) == 9
    assert re.search(r"^STATES \.lstm1\.0\.lstm outputs \(29 steps x 3\)$", result.stdout, re.M)
    assert re.search(r"^STATES \.lstm1\.1\.softmax outputs \(29 steps x 2\)$", result.stdout, re.M)


def test_a_reader_that_goes_away_stops_the_program_quietly():
    """``clstmctc -h | head -1``: no traceback, no error line, the shell's broken-pipe status."""
    process = subprocess.Popen(command("clstmctc", ["-h"]), env=environment({}), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # before the program writes its usage
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 141 and stderr == b""


def test_the_programs_leave_their_objects_out_of_later_collections(monkeypatch):
    """main() freezes the objects there are (the imported modules) before the run and after it, so that
    neither the collections during a run nor the interpreter's last ones at exit walk them; the exit
    status is run()'s."""
    import gc

    from clstmtools.drivers import common
    monkeypatch.setattr(common, "run", lambda *args: 3)
    gc.unfreeze()
    fresh = [[] for _ in range(50)]  # tracked containers that a freeze moves to the permanent generation
    try:
        with pytest.raises(SystemExit) as stop:
            common.main_of("clstmctc", None, "", "")()
        assert stop.value.code == 3 and gc.get_freeze_count() >= len(fresh)
    finally:
        gc.unfreeze()
