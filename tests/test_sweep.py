"""clstmsweep through the real program: workers sharing a journal file or a PostgreSQL server, pruning,
failures with reasons, the best model, the report, killed and interrupted workers."""
import ast
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clstmtools import generate
from clstmtools.modelfile import load_net
from clstmtools.sweep import trial as trial_module
from clstmtools.sweep.trial import TrialRun, parse_error_line, trial_environment
from clstmtools.params import BY_NAME, search_space
from test_drivers import assert_one_line_error, attributes, environment, finish, succeeded, weights

optuna = pytest.importorskip("optuna", reason="Optuna is not installed: pip install -e '.[sweep]'")

ROOT = Path(__file__).resolve().parents[1]

#: each trial: a 4-cell clstmseq on 270 delay1 sequences, tested every 100 lines (about a second)
TRIAL = dict(ntrain=300, test_every=100, report_every=100, nhidden=4, seed=1)


@pytest.fixture(scope="module")
def delay1(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweepdata")
    assert generate.main(["-o", str(folder), "-q", "--seed", "3", "--tasks", "delay1", "-n", "300"]) == 0
    return folder / "delay1.h5"


def launch(cwd, *args, **settings):
    return subprocess.Popen([sys.executable, "-m", "clstmtools.drivers.clstmsweep", *map(str, args)], cwd=cwd,
                            env=environment(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sweep(cwd, *args, **settings):
    return finish(launch(cwd, *args, **settings))


def report(cwd, objective="test", **settings):
    """The rows of mode=report's table, split in three (trial, state, the rest), checking the lines around it."""
    result = succeeded(sweep(cwd, mode="report", **settings))
    rows = result.stdout.splitlines()
    assert rows[0].split()[:5] == ["trial", "state", "error", "lines", "time/s"]
    assert rows[-1] == f"# picture: {settings['study']}-sweep.png"
    with Image.open(cwd / f"{settings['study']}-sweep.png") as picture:
        assert picture.format == "PNG" and picture.width >= 360
    caveat = "; optimistic: the test set chose it" if objective == "test" else ""
    assert rows[-2] == f"# error: the {objective} error{caveat}"
    return [row.split(None, 2) for row in rows[1:-2]]


# --- the search space and the trials' environment (no Optuna needed) -----------------------------------
def test_search_space_follows_the_random_draws_scale_rules():
    space = {d.name: d for d in search_space("clstmctc", {"lrate": "1e-4,1e-2", "hidden": "10,100",
                                                          "momentum": "0.5,0.9", "lstm": "LSTM1:BIDILSTM",
                                                          "ntrain": "1000", "nhidden2": "-1:20"})}
    assert set(space) == {"lrate", "nhidden", "momentum", "lstm", "nhidden2"}
    assert (space["lrate"].type, space["lrate"].log, space["lrate"].lo, space["lrate"].hi) == (float, True, 1e-4, 1e-2)
    assert (space["nhidden"].type, space["nhidden"].log, space["nhidden"].variable) == (int, True, "hidden")
    assert (space["momentum"].type, space["momentum"].log) == (float, False)
    assert space["lstm"].choices == ("LSTM1", "BIDILSTM") and space["nhidden2"].choices == (-1, 20)
    env = trial_environment({"hidden": "10,100", "lrate": "1e-4,1e-2", "study": "s", "trials": "3", "PATH": "/bin"},
                            tuple(space.values())[:2], {"lrate": 0.001, "nhidden": 42}, "m-trial3")
    assert env == {"lrate": "0.001", "nhidden": "42", "PATH": "/bin", "save_name": "m-trial3", "mode": "train",
                   "PYTHONUNBUFFERED": "1"}


def test_error_lines_of_every_program_are_read():
    line = "TESTERR 3.5 runs/a b-trial3 200 0.25 lrate 0.001 hidden 4 -1 batch 1 momentum 0.9 errors 5 chars 20"
    assert parse_error_line("clstmctc", line) == ("TESTERR", 200, 0.25)
    assert parse_error_line("clstmtext", "VAL" + line[4:]) == ("VALERR", 200, 0.25)
    assert parse_error_line("clstmseq", "TESTERR 0.08 0.2 CERR 0.0436 0.2 N 30 at 200") == ("TESTERR", 200, 0.0436)
    assert parse_error_line("clstmctc", "200 17 dim 30 24 time 1.0 lines/s 9 lrate 0.001") is None


def test_bad_settings_are_refused_up_front(delay1, tmp_path):
    ok = dict(study="bad", save_name="m", **TRIAL)
    cases = [(("clstmseq", delay1), {**ok, "lrate": "0,1e-2"}, ("lrate='0,1e-2'", "positive float")),
             (("clstmseq", delay1), {**ok, "study": ""}, ("study",)),
             (("clstmctc", delay1), ok, ("testset=",)),
             (("clstmseq", delay1), {**ok, "objective": "validation"}, ("validation set",)),
             (("clstmseq", delay1), {**ok, "objective": "auto"}, ("no validation set", "objective=test")),
             (("clstmctc", delay1), {**ok, "testset": delay1}, ("no validation set", "validation=", "objective=test")),
             (("clstmocr", delay1), ok, ("PROGRAM",)),
             ((), dict(mode="report", study="nothing"), ("nothing.optuna",)),
             ((), dict(mode="report", study="db", storage="postgresql://u:secretpw@127.0.0.1:1/db"),
              ("storage=postgresql://u:***@127.0.0.1:1/db",))]
    workers = [launch(tmp_path, *args, **settings) for args, settings, _ in cases]  # at once: each mostly starts up
    for worker, (_, _, words) in zip(workers, cases):
        assert "secretpw" not in assert_one_line_error(finish(worker), "clstmsweep", *words)
    assert not list(tmp_path.iterdir())
    usage, echo = launch(tmp_path, "-h"), launch(tmp_path, params_only=1, study="x", trials=3)
    for name in ("study=", "storage=", "trials=10", "sampler=tpe", "pruner=median", "objective=auto"):
        assert name in succeeded(finish(usage)).stdout
    echoed = succeeded(finish(echo)).stderr
    assert "#: trials = 3" in echoed and "#: study = x" in echoed


# --- Optuna's public API, and how trials start -----------------------------------------------------
def test_the_sweep_uses_only_optunas_public_api():
    for path in (ROOT / "clstmtools" / "sweep").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna"):
                names = node.module.split(".") + [alias.name for alias in node.names]
                assert not [name for name in names if name.startswith("_")], f"{path.name}:{node.lineno}"
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                assert isinstance(node.value, ast.Name) and node.value.id == "self", f"{path.name}:{node.lineno}"


def version(text):
    return tuple(int(part) for part in re.match(r"\d+(?:\.\d+)*", text).group().split("."))


def test_optuna_is_bounded_to_the_versions_tested():
    spec = re.search(r'"optuna>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert spec, "the [sweep] extra bounds Optuna on both sides"
    assert version(spec.group(1)) <= version(optuna.__version__) < version(spec.group(2))


def test_trials_start_their_program_without_a_preexec_function(tmp_path, monkeypatch):
    seen = {}

    def popen(command, **options):
        seen.update(options, command=command)
    monkeypatch.setattr(trial_module.subprocess, "Popen", popen)
    with open(tmp_path / "log", "wb") as log:
        TrialRun("clstmseq", ["d.h5"], {}, None, "test", tmp_path / "log", print).start(log)
    assert seen.get("preexec_fn") is None and seen["start_new_session"]
    assert seen["command"][1:] == ["-m", "clstmtools.drivers.child", str(os.getpid()), "clstmseq", "d.h5"]


def test_a_trial_process_becomes_its_program_unless_its_worker_is_gone():
    def child(worker):
        return subprocess.run([sys.executable, "-m", "clstmtools.drivers.child", str(worker), "clstmseq", "-h"],
                              capture_output=True, text=True, timeout=120)
    alive = child(os.getpid())
    assert alive.returncode == 0 and alive.stdout.startswith("usage:"), alive.stderr
    gone = subprocess.Popen(["true"])
    gone.wait()
    stopped = child(gone.pid)  # its worker is no longer its parent: it never starts the program
    assert stopped.returncode == -signal.SIGTERM and stopped.stdout == ""


# --- workers sharing a study ---------------------------------------------------------------------
def two_workers(folder, delay1, **study):
    """Two workers started at once, two trials each, on learning rates that learn."""
    common = dict(TRIAL, save_name="m", objective="test", **study)  # clstmseq has no validation set
    workers = [launch(folder, "clstmseq", delay1, trials=2, **{**common, "lrate": "5e-3,3e-2", "nhidden": "3:4"})
               for _ in range(2)]
    for result in map(finish, workers):
        out = succeeded(result).stdout
        assert out.count(" started: ") == 2
        assert "minimizing the test error (the best trial's will be optimistic: the test set chooses it)" in out
        assert re.search(r"best of the study: trial \d, test error [0-9.e-]+ \(m-best.h5\); optimistic: "
                         r"the test set chose it$", out, re.M), out
    return common


def designed_trials(folder, delay1, common):
    """A hopeless learning rate, which the median pruner stops, and a trial that fails."""
    pruned = succeeded(sweep(folder, "clstmseq", delay1, trials=1, lrate=1e-9, **common))
    assert re.search(r"^trial 4 pruned at \d+ lines \(error [0-9.]+\); model so far in m-trial4-interrupted.h5$",
                     pruned.stdout, re.M), pruned.stdout
    failed = succeeded(sweep(folder, "clstmseq", delay1, trials=1, load="missing.h5", **common))
    assert "trial 5 failed: missing.h5: no such model file" in failed.stdout


def stored_trials(study, storage):
    """The study's trials as Optuna reads them from a database URL or a journal file."""
    if "://" not in storage:
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    return sorted(optuna.load_study(study_name=study, storage=storage).get_trials(), key=lambda t: t.number)


def check_study(folder, study, storage, designed):
    trials = stored_trials(study, storage)
    states = [t.state.name for t in trials]
    assert [t.number for t in trials] == list(range(6 if designed else 4))
    assert set(states[:4]) <= {"COMPLETE", "PRUNED"} and states[:4].count("COMPLETE") >= 3, states
    assert len({t.user_attrs["worker"] for t in trials[:4]}) == 2  # two workers, no trial run twice
    for t in trials[:4]:
        assert 5e-3 <= t.params["lrate"] <= 3e-2 and t.params["nhidden"] in (3, 4)
        if t.state.name == "COMPLETE":
            assert t.value == min(t.intermediate_values.values()) and t.user_attrs["lines"] == 300
    if designed:
        assert states[4:] == ["PRUNED", "FAIL"] and "missing.h5" in trials[5].user_attrs["fail_reason"]
        assert trials[4].user_attrs["lines"] >= 100 and (folder / trials[4].user_attrs["last_model"]).exists()
    best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: (t.value, t.number))
    kept = attributes(folder / "m-best.h5")
    chosen = trials[int(kept["sweep_trial"])]
    assert float(kept["sweep_error"]) == chosen.value == best.value and kept["lrate"] == repr(chosen.params["lrate"])
    assert kept["sweep_objective"] == "test"
    trial_model = weights(folder / f"m-trial{chosen.number}.h5")
    assert all(np.array_equal(w, trial_model[name]) for name, w in weights(folder / "m-best.h5").items())
    assert load_net(folder / "m-best.h5").attr_int("nhidden", 0) == chosen.params["nhidden"]
    rows = report(folder, study=study, storage=storage)
    assert sorted(int(row[0]) for row in rows) == [t.number for t in trials]
    assert float(rows[0][2].split()[0]) == best.value
    if designed:
        assert rows[-1][:2] == ["5", "FAIL"] and "missing.h5: no such model file" in rows[-1][2]


def test_two_workers_share_a_journal_study_with_pruning_failures_and_the_best_model(delay1, tmp_path):
    designed_trials(tmp_path, delay1, two_workers(tmp_path, delay1, study="j"))
    check_study(tmp_path, "j", str(tmp_path / "j.optuna"), designed=True)


def postgres_binaries():
    """The folder holding initdb and pg_ctl: on the PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(found)
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(folders[-1]) if folders else None


@pytest.fixture
def postgres_url():
    """A PostgreSQL server of its own on a free loopback port, in a temporary folder (initdb refuses root:
    as root, it runs as the user postgres, or nobody)."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on this machine: apt-get install postgresql")
    folder = tempfile.mkdtemp(prefix="clstmsweep-pg-")
    prefix = []
    if os.geteuid() == 0:
        user = "postgres" if "postgres" in {u.pw_name for u in pwd.getpwall()} else "nobody"
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = os.path.join(folder, "data")

    def pg(*args):
        return subprocess.run([*prefix, *args], cwd=folder, capture_output=True, text=True, timeout=120)

    made = pg(os.path.join(binaries, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    assert made.returncode == 0, made.stdout + made.stderr
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    ctl = os.path.join(binaries, "pg_ctl")
    started = pg(ctl, "-D", data, "-l", os.path.join(folder, "log"), "-o", options, "-w", "-t", "60", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        pg(ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(delay1, tmp_path, postgres_url):
    two_workers(tmp_path, delay1, study="pg", storage=postgres_url)
    check_study(tmp_path, "pg", postgres_url, designed=False)
    assert not list(tmp_path.glob("*.optuna"))


def test_trials_report_the_validation_error_when_they_have_a_validation_set(tmp_path):
    if "validation" not in BY_NAME:
        pytest.skip("this version of the trainers has no validation= (the training recipe)")
    assert generate.main(["-o", str(tmp_path), "-q", "--seed", "3", "--tasks", "text-upper", "--text-train", "100",
                          "--text-test", "20"]) == 0
    # no testset: a validation set alone is enough for a sweep
    result = succeeded(sweep(tmp_path, "clstmtext", tmp_path / "text-upper-train.txt", study="v", trials=1,
                             save_name="v", validation=0.2, ntrain=40, test_every=20, report_every=20, nhidden=4,
                             lrate=1e-2, seed=1))
    assert "minimizing the validation error;" in result.stdout and "optimistic" not in result.stdout
    assert report(tmp_path, objective="validation", study="v")[0][:2] == ["0", "COMPLETE"]
    log = (tmp_path / "v-trial0.log").read_text()
    validation = [parse_error_line("clstmtext", line) for line in log.splitlines() if line.startswith("VALERR")]
    assert len(validation) == 2
    (trial,) = stored_trials("v", str(tmp_path / "v.optuna"))
    assert trial.intermediate_values == {lines: error for _, lines, error in validation}
    assert trial.value == min(error for _, _, error in validation)
    # a study chooses by one error: a worker minimizing another is refused before it runs a trial
    other = sweep(tmp_path, "clstmtext", tmp_path / "text-upper-train.txt", study="v", trials=1, save_name="v",
                  objective="test", testset=tmp_path / "text-upper-test.txt", ntrain=40, test_every=20)
    assert_one_line_error(other, "clstmsweep", "objective=test", "minimizes the validation error")
    assert len(stored_trials("v", str(tmp_path / "v.optuna"))) == 1


# --- workers that die or are stopped --------------------------------------------------------------
def wait_for(condition, what, timeout=60):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def start_long_trial(folder, delay1, **settings):
    """A worker whose one trial trains for a long time; returns it once the trial has tested twice."""
    worker = launch(folder, "clstmseq", delay1, study="k", save_name="k", trials=2, heartbeat=1, lrate=1e-2,
                    objective="test", **{**TRIAL, "ntrain": 10**6}, **settings)
    seen = []
    for line in worker.stdout:
        seen.append(line)
        if line.startswith("trial 0: TESTERR") and "at 200 lines" in line:
            return worker
    pytest.fail(f"the worker stopped early: {''.join(seen)} {worker.stderr.read()}")


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_a_killed_workers_trial_is_marked_failed_and_not_left_running(delay1, tmp_path, kind, request):
    storage = request.getfixturevalue("postgres_url") if kind == "postgresql" else str(tmp_path / "k.optuna")
    worker = start_long_trial(tmp_path, delay1, storage=storage)
    worker.kill()
    killed = time.time()
    worker.wait()
    # the trial's own process is told (SIGTERM when its parent dies): it saves its model and stops
    wait_for(lambda: (tmp_path / "k-trial0-interrupted.h5").exists(), "the trial's model")
    assert stored_trials("k", storage)[0].state.name == "RUNNING"
    time.sleep(max(0.0, killed + 3.5 - time.time()))  # heartbeat=1: silent for three beats
    rows = report(tmp_path, study="k", storage=storage, heartbeat=1)
    assert rows[0][:2] == ["0", "FAIL"] and "stopped sending heartbeats" in rows[0][2]
    assert stored_trials("k", storage)[0].state.name == "FAIL"


def test_sigint_stops_the_worker_after_saving_the_trials_model(delay1, tmp_path):
    worker = start_long_trial(tmp_path, delay1)
    # its heartbeat keeps the trial alive for a report run later than three heartbeats after it started
    started = stored_trials("k", str(tmp_path / "k.optuna"))[0].datetime_start.timestamp()
    time.sleep(max(0.0, started + 3.5 - time.time()))
    assert report(tmp_path, study="k", heartbeat=1)[0][:2] == ["0", "RUNNING"]
    worker.send_signal(signal.SIGINT)
    result = finish(worker)
    assert result.returncode == 130 and "stopped by SIGINT" in result.stderr, result.stderr
    assert "trial 1 started" not in result.stdout
    (trial,) = stored_trials("k", str(tmp_path / "k.optuna"))
    assert trial.state.name == "FAIL" and "interrupted by SIGINT" in trial.user_attrs["fail_reason"]
    assert load_net(tmp_path / trial.user_attrs["last_model"]).attr_int("trial", 0) >= 200
