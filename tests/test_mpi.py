"""Training over MPI through the real programs: mpiexec -n 2 on this machine's loopback, against one process."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clstmtools import generate
from clstmtools.modelfile import load_net
from test_drivers import TESTERR_CTC, TIMEOUT, command, environment, run, succeeded

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
if MPIEXEC is None:
    pytest.skip("no mpiexec (pip install 'clstmtools[mpi]')", allow_module_level=True)

#: a tiny recognizer; minibatch=8 is the global minibatch, four lines on each of two ranks
SETTINGS = dict(nhidden=8, minibatch=8, report_every=0, seed=3, lrate=1e-2, threads=1)


def mpi(ranks, program, args, cwd, **settings):
    """``mpiexec -n ranks`` running ``program``, started (a Popen)."""
    env = environment({name: value for name, value in settings.items() if value is not None})
    return subprocess.Popen([MPIEXEC, "-n", str(ranks), *command(program, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process, timeout=TIMEOUT):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def weights(path):
    return {name: w for name, w, _ in load_net(str(path)).weights()}


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpi")
    assert generate.main(["-o", str(folder), "-q", "--seed", "5", "--tasks", "expr,delay1,text-upper", "--expr-train",
                          "60", "--expr-test", "10", "-n", "60", "--text-train", "40", "--text-test", "10"]) == 0
    return folder


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_end_with_one_process_weights_and_rank_0_alone_writes(lines, tmp_path, optimizer):
    settings = dict(SETTINGS, optimizer=optimizer, ntrain=48, testset=lines / "expr-test", test_every=16)
    one = succeeded(run("clstmctc", lines / "expr-train", cwd=tmp_path, save_name="one", save_every=48, **settings))
    status, out, err = finished(mpi(2, "clstmctc", [lines / "expr-train"], tmp_path, save_name="two", save_every=48,
                                    **settings))
    assert status == 0, err
    a, b = weights(tmp_path / "one-00000048.h5"), weights(tmp_path / "two-00000048.h5")
    assert max(np.abs(a[name] - b[name]).max() for name in a) <= 1e-5  # the same update, to float32 sums
    # the tests split among the ranks count what one process counts; rank 0 alone prints them and writes
    tests_one, tests_two = TESTERR_CTC.findall(one.stdout), TESTERR_CTC.findall(out)
    assert [(m[2], m[5]) for m in tests_two] == [(m[2], m[5]) for m in tests_one] and len(tests_two) == 3
    assert out.count("# done") == 1
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two"))
    assert written == ["two-00000048.h5", "two-curve.png"]


def rank_processes(mpiexec_pid):
    """{rank: pid} of the programs an mpiexec started (its descendants with a PMI_RANK)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    ranks, todo = {}, [mpiexec_pid]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"PMI_RANK="):
                ranks[int(item.split(b"=")[1])] = pid
    return ranks


def test_a_killed_rank_ends_the_job_and_the_saved_model_resumes_exactly(lines, tmp_path):
    settings = dict(SETTINGS, save_every=48)
    job = mpi(2, "clstmctc", [lines / "expr-train"], tmp_path, save_name="cut", ntrain=10**6, **settings)
    deadline = time.monotonic() + TIMEOUT
    while not (tmp_path / "cut-00000096.h5").exists() and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.05)
    assert (tmp_path / "cut-00000096.h5").exists(), finished(job)
    os.kill(rank_processes(job.pid)[1], signal.SIGKILL)
    killed = time.monotonic()
    status, _, err = finished(job, timeout=60)
    assert status != 0 and time.monotonic() - killed < 30
    saved = sorted(tmp_path.glob("cut-0*.h5"))
    load_net(str(saved[-1]))  # the last model written is whole
    status, out, err = finished(mpi(2, "clstmctc", [lines / "expr-train"], tmp_path, save_name="resumed", ntrain=96,
                                    load=tmp_path / "cut-00000048.h5", **settings))
    assert status == 0, err
    a, b = weights(tmp_path / "cut-00000096.h5"), weights(tmp_path / "resumed-00000096.h5")
    assert all(np.array_equal(a[name], b[name]) for name in a)  # the uninterrupted run's weights


def test_a_rank_that_cannot_read_its_line_stops_every_rank_with_the_error(lines, tmp_path):
    folder = tmp_path / "lines"
    shutil.copytree(lines / "expr-train", folder)
    broken = sorted(folder.glob("*.png"))[3]
    broken.write_bytes(broken.read_bytes()[:60])  # a truncated image, found when a rank reads it
    started = time.monotonic()
    status, out, err = finished(mpi(2, "clstmctc", [folder], tmp_path, save_name="m", ntrain=10**6,
                                    **dict(SETTINGS, minibatch=60)))
    assert status != 0 and time.monotonic() - started < 120
    errors = [line for line in err.splitlines() if line.startswith("clstmctc: error: ")]
    assert errors and all(broken.name in line for line in errors), err


def test_folds_run_one_a_rank(lines, tmp_path):
    status, out, err = finished(mpi(2, "clstmctc", [lines / "expr-train"], tmp_path, save_name="cv", folds=2,
                                    ntrain=16, test_every=8, **dict(SETTINGS, minibatch=1)))
    assert status == 0, err
    assert "# fold 0 of 2: cv-fold0.h5" in out and "# fold 1 of 2: cv-fold1.h5" in out
    assert "# 2 fold models cv-fold0.h5 ... cv-fold1.h5" in out
    for k in range(2):
        assert (tmp_path / f"cv-fold{k}.log").read_text().count("VALERR") == 2


def test_clstmtext_and_clstmseq_train_over_two_ranks(lines, tmp_path):
    text = mpi(2, "clstmtext", [lines / "text-upper-train.txt"], tmp_path, save_name="t", ntrain=32,
               testset=lines / "text-upper-test.txt", test_every=16, **SETTINGS)
    seq = mpi(2, "clstmseq", [lines / "delay1.h5"], tmp_path, save_name="s", ntrain=32, test_every=16,
              **dict(SETTINGS, minibatch=None))
    for process, name in ((text, "t.h5"), (seq, "s.h5")):
        status, out, err = finished(process)
        assert status == 0, err
        assert out.count("TESTERR") == 2 and (tmp_path / name).exists()


def test_a_minibatch_smaller_than_the_ranks_is_refused(lines, tmp_path):
    status, out, err = finished(mpi(2, "clstmctc", [lines / "expr-train"], tmp_path, save_name="m", ntrain=8,
                                    **dict(SETTINGS, minibatch=1)))
    assert status != 0 and "minibatch=1: the minibatch is shared among the 2 ranks" in err
