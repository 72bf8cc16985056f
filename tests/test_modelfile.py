"""Tests of clstm's HDF5 model files: the original's model loads and reproduces its outputs; saving is atomic."""
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import clstmtools as clstm
from clstmtools.modelfile import ModelFileError

CPP_MODEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "clstm2015-model"
needs_shared = pytest.mark.skipif(not CPP_MODEL.exists(), reason="../shared/data is not beside the checkout")


@needs_shared
def test_cpp_model_loads_and_reproduces_its_outputs():
    net = clstm.load_net(CPP_MODEL / "cmu-text-model.h5")
    assert net.attributes["kind"] == "BIDILSTM" and net.attributes["trial"] == "350000"
    assert (net.ninput(), net.noutput()) == (28, 38)
    assert net.codec[:3] == [0, 97, 98] and net.icodec[1] == 39
    ref = np.load(CPP_MODEL / "cmu-ref.npz")
    for i in range(5):
        net.inputs.aset(ref[f"input_{i}"][:, :, None])
        net.forward()
        np.testing.assert_allclose(net.outputs.array()[:, :, 0], ref[f"output_{i}"], atol=1e-5, rtol=0)


def _outputs(net, x):
    net.inputs.aset(x)
    net.forward()
    return net.outputs.array().copy()


@pytest.mark.parametrize("kind", ["bidi", "bidi2", "lstm1", "revlstm1", "lrbidi", "LINBIDILSTM"])
def test_save_then_load_gives_identical_outputs(tmp_path, kind):
    net = clstm.make_net(kind, ninput=4, nhidden=5, nhidden2=3, noutput=6, rng=1)
    net.codec = [0, 97, 98, 99, 100, 0x263A]
    net.attributes["trial"] = "17"
    x = np.random.default_rng(0).random((9, 4, 1), dtype=np.float32)
    path = tmp_path / "m.h5"
    clstm.save_net(path, net)
    loaded = clstm.load_net(path)
    assert np.array_equal(_outputs(net, x), _outputs(loaded, x))
    assert loaded.codec == net.codec and loaded.icodec == [0, 1, 2, 3]
    assert loaded.attributes["trial"] == "17" and loaded.attributes["kind"] == net.attributes["kind"]
    with h5py.File(path) as f:
        assert f.attrs["clstm-version"] == b"1"
        assert f.attrs.get_id("kind").get_type().get_size() == 256  # fixed-length strings, as the original
        assert all(f[n].dtype == np.float32 and f[n].ndim == 2 for n in f)


def test_save_keeps_previous_as_backup_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.h5"
    a = clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=1)
    b = clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=2)
    clstm.save_net(path, a)
    clstm.save_net(path, b)
    x = np.ones((3, 2, 1), np.float32)
    assert np.array_equal(_outputs(clstm.load_net(path), x), _outputs(b, x))
    assert np.array_equal(_outputs(clstm.load_net(str(path) + "~"), x), _outputs(a, x))
    assert sorted(os.listdir(tmp_path)) == ["m.h5", "m.h5~"]


def test_a_save_flushes_the_file_then_renames_it_then_flushes_the_folder(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        fsync(fd)

    def recording_replace(source, target):
        events.append(("replace", os.path.basename(target)))
        replace(source, target)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    path = clstm.save_net(tmp_path / "m.h5", clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=1))
    assert events == [("fsync", os.stat(path).st_ino), ("replace", "m.h5"), ("fsync", os.stat(tmp_path).st_ino)]


def test_a_failed_save_leaves_the_old_model_intact(tmp_path):
    path = tmp_path / "m.h5"
    a = clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=1)
    clstm.save_net(path, a)
    before = path.read_bytes()

    def crash(f):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        clstm.save_net(path, clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=2), extra=crash)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]


@pytest.mark.parametrize("mask", [0o022, 0o007])
def test_saved_models_get_the_mode_of_a_plainly_created_file(tmp_path, mask):
    old = os.umask(mask)
    try:
        path = clstm.save_net(tmp_path / "m.h5", clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=1))
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == 0o666 & ~mask


def test_a_save_killed_half_way_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "m.h5"
    script = ("import os, signal, clstmtools as clstm\n"
              "net = clstm.make_net('lstm1', ninput=2, nhidden=3, noutput=2, rng=1)\n"
              f"clstm.save_net({str(path)!r}, net, extra=lambda f: os.kill(os.getpid(), signal.SIGKILL))\n")
    killed = subprocess.run([sys.executable, "-c", script])
    assert killed.returncode == -signal.SIGKILL
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].startswith(".m.h5.") and left[0].endswith(".tmp")
    clstm.save_net(path, clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=2))
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]
    clstm.load_net(path)


def test_bad_model_files_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        clstm.load_net(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="text.h5: not an HDF5"):
        clstm.load_net(text)
    nokind = tmp_path / "nokind.h5"
    with h5py.File(nokind, "w") as f:
        f["x"] = np.zeros((1, 1))
    with pytest.raises(ModelFileError, match="nokind.h5: not a clstm model"):
        clstm.load_net(nokind)
    good = tmp_path / "good.h5"
    clstm.save_net(good, clstm.make_net("lstm1", ninput=2, nhidden=3, noutput=2, rng=1))
    missing = tmp_path / "missing-weight.h5"
    wrong = tmp_path / "wrong-shape.h5"
    for target in (missing, wrong):
        target.write_bytes(good.read_bytes())
    with h5py.File(missing, "a") as f:
        del f[".lstm1.1.softmax.W"]
    with pytest.raises(ModelFileError, match=r"missing-weight.h5: weight \.lstm1\.1\.softmax\.W is missing"):
        clstm.load_net(missing)
    with h5py.File(wrong, "a") as f:
        del f[".lstm1.0.lstm.WGI"]
        f[".lstm1.0.lstm.WGI"] = np.zeros((3, 5), np.float32)
    with pytest.raises(ModelFileError, match=r"wrong-shape.h5: weight .*WGI has shape \(3, 5\), expected \(3, 6\)"):
        clstm.load_net(wrong)
