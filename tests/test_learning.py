"""Learning tests: the real programs, on generated data, actually learn (small networks, seconds to a minute each)."""
import pytest

from clstmtools import generate
from margins import SEED, at_least, at_most
from test_drivers import TESTERR_CTC, TESTERR_SEQ, Job, run, run_all, succeeded


def generated(folder, *options):
    assert generate.main(["-o", str(folder), "-q", "--seed", "1", *options]) == 0
    return folder


def seq_tests(result):
    """(trial, binary error, binary error relative to always answering 0) of every TESTERR line."""
    return [(int(trial), float(cerr), float(ratio)) for _, _, cerr, ratio, _, trial in
            TESTERR_SEQ.findall(succeeded(result).stdout)]


def ctc_tests(result):
    """(trial, error rate) of every TESTERR line."""
    return [(int(trial), float(rate)) for _, _, trial, rate, _, _ in TESTERR_CTC.findall(succeeded(result).stdout)]


def test_clstmseq_learns_delay1_to_zero_error(tmp_path):
    generated(tmp_path, "--tasks", "delay1", "-n", "1000")
    result = run("clstmseq", "delay1.h5", cwd=tmp_path, save_name="model", nhidden=5, lrate=1e-3, ntrain=2500,
                 test_every=250, report_every=0, seed=SEED)
    tests = seq_tests(result)
    assert [trial for trial, *_ in tests] == list(range(250, 2501, 250))
    at_least("delay1 first test error", tests[0][1], 1e-9, tests)  # not already perfect: it learned
    at_most("delay1 last test error", tests[-1][1], 0, tests)
    check = succeeded(run("clstmseq", "delay1.h5", cwd=tmp_path, mode="test", load="model.h5"))
    assert " CERR 0 0 N 100 at " in check.stdout


def test_bidirectional_network_learns_revtiming_which_a_forward_one_cannot(tmp_path):
    """revtiming marks spikes with no spike in the next 5 steps: it needs the future."""
    generated(tmp_path, "--tasks", "revtiming", "-n", "1000")
    settings = dict(nhidden=8, lrate=1e-2, ntrain=2000, test_every=500, report_every=0, seed=SEED)
    bidi, forward = run_all([Job("clstmseq", ["revtiming.h5"], tmp_path, dict(settings, lstm=kind, save_name=kind))
                             for kind in ("BIDILSTM", "LSTM1")])
    bidi, forward = seq_tests(bidi), seq_tests(forward)
    at_most("revtiming BIDILSTM error", bidi[-1][1], 0.002, bidi)
    at_least("revtiming LSTM1 error", forward[-1][1], 0.05, forward)
    at_least("revtiming LSTM1 error / always 0", forward[-1][2], 0.5, forward)  # about as bad as always 0
    at_least("revtiming LSTM1 / BIDILSTM error", forward[-1][1] / max(bidi[-1][1], 0.001), 20)


def test_clstmtext_learns_upper_casing(tmp_path):
    generated(tmp_path, "--tasks", "text-upper", "--text-train", "2000", "--text-test", "100")
    result = run("clstmtext", "text-upper-train.txt", cwd=tmp_path, save_name="upper", nhidden=20, lrate=1e-2,
                 ntrain=3000, testset="text-upper-test.txt", test_every=500, report_every=0, seed=SEED)
    tests = ctc_tests(result)
    at_least("text-upper first test error", tests[0][1], 0.5, tests)
    best = min(rate for _, rate in tests)
    at_most("text-upper best test error", best, 0.03, tests)
    inputs, outputs = zip(*(line.split("\t") for line in
                            (tmp_path / "text-upper-test.txt").read_text("utf-8").splitlines()))
    (tmp_path / "inputs.txt").write_text("".join(text + "\n" for text in inputs), "utf-8")
    filtered = succeeded(run("clstmtext", "inputs.txt", cwd=tmp_path, mode="filter", load="upper.h5"))
    lines = filtered.stdout.splitlines()
    assert len(lines) == len(outputs)
    right = sum(line == truth for line, truth in zip(lines, outputs)) / len(outputs)
    at_least("text-upper filtered lines right", right, 0.7)


def write_ocr_lines(folder, height=24, letters="acdeimnorst"):
    """Generated lines of 1-3 random 'words' of 2-5 letters from a small alphabet (train 2000, test 50)."""
    renderers, _, alphabet, _ = generate.ocr_setup([], generate.LineStyle(height=height), "letters", letters=letters)
    assert alphabet == " " + letters

    def line(rng):
        return " ".join("".join(letters[k] for k in rng.integers(0, len(letters), int(rng.integers(2, 6))))
                        for _ in range(int(rng.integers(1, 4))))

    for part, count in (("train", 2000), ("test", 50)):
        generate.write_ocr_file(folder / f"ocr-{part}.h5", count, renderers, line, alphabet,
                                generate.stream(1, f"ocr-{part}"))


def test_clstmctc_learns_generated_lines_well_below_ten_percent(tmp_path):
    write_ocr_lines(tmp_path)
    result = run("clstmctc", "ocr-train.h5", cwd=tmp_path, save_name="ocr", nhidden=40, lrate=6e-3, ntrain=5000,
                 testset="ocr-test.h5", test_every=500, report_every=0, seed=SEED)
    tests = ctc_tests(result)
    assert [trial for trial, _ in tests] == list(range(500, 5001, 500))
    at_least("ocr lines first test error", tests[0][1], 0.5, tests)
    best = min(rate for _, rate in tests)
    at_most("ocr lines best test error", best, 0.07, tests)
    errs = succeeded(run("clstmctc", "ocr-test.h5", cwd=tmp_path, mode="quiet", load="ocr.h5"))
    assert float(errs.stdout.split()[-2]) == pytest.approx(100 * best, abs=1e-3)
