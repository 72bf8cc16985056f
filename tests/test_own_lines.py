"""Your own lines through the real programs: characters outside a model's codec are counted errors, resize=union|new
fine-tunes a model on new characters, freeze=N trains the output layer alone, folds=K trains cross-fold models,
several models vote, and the evaluation report."""
import json
import re
import shutil
import signal
import time

import h5py
import numpy as np
import pytest

from clstmtools import generate, resume
from clstmtools.codec import Codec
from clstmtools.modelfile import load_net
from margins import SEED, at_least, at_most
from test_drivers import SUMMARY, TESTERR_CTC, TIMEOUT, Job, assert_one_line_error, attributes, codec_text, finish, \
    launch, run, run_all, succeeded

#: the characters of the base model's lines, and those only the new lines have
OLD_LETTERS, NEW_LETTERS = "acdeimnorst", "bhlu"
HEIGHT = 24
#: the weights of a BIDILSTM's output layer are named after its place
OUTPUT_LAYER = ".bidilstm.1."
#: a small recognizer that learns the generated lines in a few seconds
TRAINING = dict(nhidden=40, optimizer="adam", init="scaled", lrate=6e-3, report_every=0, seed=SEED)


def write_lines(path, letters, count, name, exclude=frozenset()):
    """``count`` generated lines of 1-3 'words' of ``letters`` in clstm's HDF5 layout; returns their texts."""
    renderers, _, alphabet, _ = generate.ocr_setup([], generate.LineStyle(height=HEIGHT), "letters", letters=letters)

    def line(rng):
        return " ".join("".join(letters[k] for k in rng.integers(0, len(letters), int(rng.integers(2, 6))))
                        for _ in range(int(rng.integers(1, 4))))

    return generate.write_ocr_file(path, count, renderers, line, alphabet, generate.stream(1, name), exclude=exclude)


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    """old-{train,test}.h5 (OLD_LETTERS) and new-{train,test}.h5 (with NEW_LETTERS too), and base.h5: a model
    trained by clstmctc on the old lines only."""
    folder = tmp_path_factory.mktemp("finetune")
    for part, letters in (("old", OLD_LETTERS), ("new", OLD_LETTERS + NEW_LETTERS)):
        seen = write_lines(folder / f"{part}-train.h5", letters, 400, f"{part}-train")
        write_lines(folder / f"{part}-test.h5", letters, 30, f"{part}-test", exclude=seen)
    succeeded(run("clstmctc", "old-train.h5", cwd=folder, save_name="base", ntrain=3000, **TRAINING))
    return folder


def error_rates(result):
    """(trial, error rate, errors, characters) of every TESTERR line."""
    return [(int(trial), float(rate), int(errors), int(chars))
            for _, _, trial, rate, errors, chars in TESTERR_CTC.findall(succeeded(result).stdout)]


def test_a_test_set_with_characters_the_training_lines_lack_is_scored_not_refused(lines, tmp_path):
    trained, errs = run_all([
        Job("clstmctc", [lines / "old-train.h5"], tmp_path, dict(TRAINING, save_name="m", ntrain=20, test_every=10,
                                                                   testset=lines / "new-test.h5")),
        Job("clstmctc", [lines / "new-test.h5"], tmp_path, dict(mode="errs", load=lines / "base.h5"))])
    with h5py.File(lines / "new-test.h5") as f:
        texts = [Codec(f["codec"][()]).decode(t) for t in f["transcripts"][()]]
    unknown = {c: sum(t.count(c) for t in texts) for c in NEW_LETTERS if any(c in t for t in texts)}
    counts = ", ".join(f"{c!r} ×{n}" for c, n in sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))
    warning = f"{sum(unknown.values())} characters in {lines / 'new-test.h5'} are not in the model's codec: {counts}"
    assert f"# {warning}\n" in trained.stdout  # once, before the tests
    assert [t[3] for t in error_rates(trained)] == [sum(map(len, texts))] * 2  # every character counted
    assert succeeded(errs).stderr == f"clstmctc: warning: {warning}\n"
    errors, total, _ = SUMMARY.match(errs.stdout.splitlines()[-1]).groups()
    assert int(total) == sum(map(len, texts))
    assert int(errors) >= sum(unknown.values())  # a character the model cannot produce is an error


def test_training_a_model_on_characters_it_lacks_names_them_and_resize(lines, tmp_path):
    result = run("clstmctc", lines / "new-train.h5", cwd=tmp_path, load=lines / "base.h5", save_name="m", ntrain=3000)
    assert_one_line_error(result, "clstmctc", "new-train.h5 are not in the model's codec: ", "'b' ×", "resize=union")
    without_load = run("clstmctc", lines / "new-train.h5", cwd=tmp_path, resize="union", save_name="m")
    assert_one_line_error(without_load, "clstmctc", "resize=union", "load=")


def output_rows(path):
    """{character: (output weight row, bias)} of a model's output layer; '' for the blank."""
    net = load_net(str(path))
    layer = net.layers()[-1]
    return {chr(p) if p else "": (layer.W[k].copy(), layer.b[k]) for k, p in enumerate(net.codec)}


@pytest.fixture(scope="module")
def tuned(lines):
    """base.h5 resized by resize=union to the new lines' characters without training (resized.h5), and fine-tuned on
    them (tuned.h5); and the base model's error on the new test lines."""
    trial = load_net(str(lines / "base.h5")).attr_int("trial")
    resized, tuned, before = run_all([
        Job("clstmctc", [lines / "new-train.h5"], lines, dict(load="base.h5", resize="union", save_name="resized",
                                                                ntrain=trial)),
        Job("clstmctc", [lines / "new-train.h5"], lines, dict(TRAINING, load="base.h5", resize="union",
                                                                save_name="tuned", ntrain=trial + 1000,
                                                                test_every=500, testset=lines / "new-test.h5")),
        Job("clstmctc", [lines / "new-test.h5"], lines, dict(load="base.h5", mode="quiet"))])
    return succeeded(resized), succeeded(tuned), succeeded(before)


def test_resize_union_keeps_every_old_output_exactly_and_learns_the_new_characters(lines, tuned):
    resized, tuned, before = tuned
    base = load_net(str(lines / "base.h5"))
    assert f"# resize=union: {len(base.codec)} -> {len(base.codec) + 4} outputs; added 'bhlu'" in resized.stdout
    assert codec_text(lines / "resized.h5") == OLD_LETTERS_WITH_SPACE + NEW_LETTERS  # the new ones appended
    old, new = output_rows(lines / "base.h5"), output_rows(lines / "resized.h5")
    for char, (row, bias) in old.items():  # bit for bit
        assert np.array_equal(new[char][0], row) and new[char][1] == bias, char
    assert all(np.abs(new[c][0]).max() > 0 for c in NEW_LETTERS)  # drawn, not zero
    same = {name: w for name, w, _ in base.weights() if not name.startswith(OUTPUT_LAYER)}
    for name, w, _ in load_net(str(lines / "resized.h5")).weights():
        if name in same:
            assert np.array_equal(w, same[name]), name
    tests = error_rates(tuned)
    errors, total, _ = SUMMARY.match(before.stdout.splitlines()[-1]).groups()
    at_least("resize=union new lines error before", int(errors) / int(total), 0.1)  # the new characters
    at_most("resize=union new lines best test error", min(t[1] for t in tests), 0.15, tests)
    assert "# base.h5 was trained on other lines" in tuned.stdout  # its choice of the best model starts afresh
    assert float(attributes(lines / "tuned.h5")["last_err"]) == min(t[1] for t in tests)


#: the base model's characters in codec order (the generator's alphabet: a space, then the letters)
OLD_LETTERS_WITH_SPACE = " " + OLD_LETTERS


def test_resize_new_keeps_only_the_datas_characters(lines, tmp_path):
    few = tmp_path / "few.h5"
    write_lines(few, "acdemnr", 60, "few")
    base = load_net(str(lines / "base.h5"))
    succeeded(run("clstmctc", few, cwd=tmp_path, load=lines / "base.h5", resize="new", save_name="kept",
                  ntrain=base.attr_int("trial")))
    kept = codec_text(tmp_path / "kept.h5")
    assert kept == " acdemnr"
    old, new = output_rows(lines / "base.h5"), output_rows(tmp_path / "kept.h5")
    assert set(new) == set(kept) | {""}
    for char, (row, bias) in new.items():
        assert np.array_equal(row, old[char][0]) and bias == old[char][1], char


def test_freeze_trains_the_output_layer_alone_then_everything_and_a_resumed_run_goes_on_freezing(lines, tmp_path):
    base = load_net(str(lines / "base.h5"))
    trial = base.attr_int("trial")
    frozen, thawed, part = run_all([
        Job("clstmctc", [lines / "old-train.h5"], tmp_path, dict(TRAINING, load=lines / "base.h5", freeze=30,
                                                                   save_name="frozen", ntrain=trial + 30,
                                                                   minibatch=3)),
        Job("clstmctc", [lines / "old-train.h5"], tmp_path, dict(TRAINING, load=lines / "base.h5", freeze=10,
                                                                   save_name="thawed", ntrain=trial + 30)),
        Job("clstmctc", [lines / "old-train.h5"], tmp_path, dict(TRAINING, load=lines / "base.h5", freeze=30,
                                                                   save_name="part", ntrain=trial + 12))])
    assert f"# training the output layer only, until trial {trial + 30} (freeze)" in succeeded(frozen).stdout
    assert f"# trial {trial + 10}: training every layer" in succeeded(thawed).stdout
    # the same command continued from the model saved at trial + 12 goes on freezing until trial + 30
    resumed = succeeded(run("clstmctc", lines / "old-train.h5", cwd=tmp_path, **dict(
        TRAINING, load="part.h5", freeze=30, save_name="resumed", ntrain=trial + 40)))
    assert f"until trial {trial + 30} (freeze)" in resumed.stdout and f"# trial {trial + 30}: training" in resumed.stdout
    before = {name: w for name, w, _ in base.weights()}
    output_names = {name for name in before if name.startswith(OUTPUT_LAYER)}
    assert len(output_names) == 2
    for model, backbone_kept in (("frozen", True), ("part", True), ("thawed", False), ("resumed", False)):
        after = {name: w for name, w, _ in load_net(str(tmp_path / f"{model}.h5")).weights()}
        changed = {name for name in before if not np.array_equal(before[name], after[name])}
        assert output_names <= changed, model
        assert (changed == output_names) == backbone_kept, (model, changed)


def test_folds_are_disjoint_cover_the_data_and_train_a_model_each(lines, tmp_path):
    result = succeeded(run("clstmctc", lines / "old-train.h5", cwd=tmp_path, folds=3, ntrain=30, test_every=15,
                           save_name="cv", **dict(TRAINING, nhidden=4)))
    held = []
    for k in range(3):
        assert re.search(rf"^# fold {k} of 3: cv-fold{k}.h5, trial \d+, validation error \S+$", result.stdout, re.M)
        state = resume.read(tmp_path / f"cv-fold{k}.h5")
        held.append(set(state.arrays["validation"].tolist()))
        assert (tmp_path / f"cv-fold{k}.log").read_text().count("VALERR") == 2
    assert all(not a & b for i, a in enumerate(held) for b in held[i + 1:])
    assert set().union(*held) == set(range(400)) and max(map(len, held)) - min(map(len, held)) <= 1
    assert re.search(r"^# 3 fold models cv-fold0.h5 ... cv-fold2.h5: validation error mean \S+ \(from \S+ to \S+\); "
                     r"they vote with load='cv-fold\*.h5'$", result.stdout, re.M)


# --- voting and the report ------------------------------------------------------------------------------
def test_a_vote_of_identical_models_is_the_model(lines, tmp_path):
    shutil.copy(lines / "base.h5", tmp_path / "copy.h5")
    jobs = [Job("clstmctc", [lines / "new-test.h5"], tmp_path, dict(load=load, mode=mode, conf=1))
            for mode in ("full", "text") for load in (lines / "base.h5", f"{lines / 'base.h5'},copy.h5")]
    full_one, full_two, text_one, text_two = map(succeeded, run_all(jobs))
    assert full_two.stdout == full_one.stdout and text_two.stdout == text_one.stdout
    assert "any model's codec" in full_two.stderr and "the model's codec" in full_one.stderr


def test_models_with_other_codecs_vote_and_the_report_agrees_with_errs(lines, tuned, tmp_path):
    models = dict(load=f"{lines / 'base.h5'},{lines / 'tuned.h5'},{lines / 'resized.h5'}")
    errs, report, disagree = map(succeeded, run_all([
        Job("clstmctc", [lines / "new-test.h5"], tmp_path, dict(models, mode="errs")),
        Job("clstmctc", [lines / "new-test.h5"], tmp_path, dict(models, mode="report", report="r.json")),
        Job("clstmctc", [lines / "new-test.h5"], tmp_path, dict(models, mode="quiet", disagree=3))]))
    errors, total, _ = SUMMARY.match(errs.stdout.splitlines()[-1]).groups()
    assert errs.stderr == ""  # one of them knows every character
    data = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert (data["errors"], data["characters"], data["lines"]) == (int(errors), int(total), 30)
    assert data["unknown_characters"] == {} and data["models"] == ["base.h5", "tuned.h5", "resized.h5"]
    assert sum(int(line.split("\t")[0]) for line in errs.stdout.splitlines()[:-1]) == int(errors)
    assert data["cer"] == pytest.approx(int(errors) / int(total))
    assert {"cer", "wer", "scripts", "confusions", "unknown_characters"} <= set(data)
    assert sum(c["count"] for c in data["confusions"]) <= int(errors) and data["scripts"]["Latin"]["characters"] > 0
    assert report.stdout.startswith(f"30 lines, {total} characters, {errors} errors") and "WER" in report.stdout
    ranked = re.findall(r"^# (\d\.\d+)\t(\S+)\n#\tbase.h5\t(.*)\n#\ttuned.h5\t(.*)\n#\tresized.h5\t(.*)$",
                        disagree.stdout, re.M)
    assert len(ranked) == 3 and [float(r[0]) for r in ranked] == sorted((float(r[0]) for r in ranked), reverse=True)
    assert all(len({r[2], r[3], r[4]}) > 1 for r in ranked)  # lines the models read differently


def test_interrupted_folds_continue_from_their_interrupted_models(lines, tmp_path):
    settings = dict(TRAINING, folds=2, nhidden=4, test_every=20, save_name="cv", threads=2)  # both folds at once
    process = launch(Job("clstmctc", [lines / "old-train.h5"], tmp_path, dict(settings, ntrain=10**6)))
    logs = [tmp_path / f"cv-fold{k}.log" for k in range(2)]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not all(log.exists() and "VALERR" in log.read_text() for log in logs):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    status, out, _ = finish(process)
    assert status == 128 + signal.SIGTERM and "run the same command again" in out
    stopped = [load_net(str(tmp_path / f"cv-fold{k}-interrupted.h5")).attr_int("trial") for k in range(2)]
    again = succeeded(run("clstmctc", lines / "old-train.h5", cwd=tmp_path, **dict(settings, ntrain=max(stopped) + 20)))
    for k in range(2):
        assert f"# fold {k}: continuing from cv-fold{k}-interrupted.h5" in again.stdout
        assert f"interrupted by SIGTERM at trial {stopped[k]}" in logs[k].read_text()
        assert "VALERR" in logs[k].read_text().rsplit("interrupted by SIGTERM", 1)[1]  # it went on training


def test_clstmtext_resizes_inputs_and_outputs_and_reports_a_vote(tmp_path):
    (tmp_path / "a.txt").write_text("".join(f"{w}\t{w.upper()}\n" for w in ("abc", "cab", "bca", "aab", "cca")), "utf-8")
    (tmp_path / "b.txt").write_text("".join(f"{w}\t{w.upper()}\n" for w in ("abd", "dab", "xca", "cab")), "utf-8")
    tiny = dict(nhidden=4, report_every=0, seed=SEED)
    succeeded(run("clstmtext", "a.txt", cwd=tmp_path, save_name="a", ntrain=20, **tiny))
    refused, tuned = run_all([Job("clstmtext", ["b.txt"], tmp_path, dict(tiny, load="a.h5", save_name="r", ntrain=40)),
                              Job("clstmtext", ["b.txt"], tmp_path, dict(tiny, load="a.h5", save_name="b", ntrain=40,
                                                                         resize="union"))])
    assert_one_line_error(refused, "clstmtext", "not in the model's input codec: 'd' ×2, 'x' ×1", "resize=union")
    assert "# resize=union: 4 -> 6 inputs; added 'dx'" in succeeded(tuned).stdout
    assert "# resize=union: 4 -> 6 outputs; added 'DX'" in tuned.stdout
    assert codec_text(tmp_path / "b.h5", "icodec") == "abcdx" and codec_text(tmp_path / "b.h5") == "ABCDX"
    report = succeeded(run("clstmtext", "b.txt", cwd=tmp_path, load="a.h5,b.h5", mode="report", report="r.json"))
    data = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert data["characters"] == 12 and data["lines"] == 4 and data["unknown_characters"] == {}
    assert data["models"] == ["a.h5", "b.h5"] and report.stdout.startswith("4 lines, 12 characters")
