"""ONNX export: clstmexport on models trained here and on the C++ clstm's file, every layer type and LSTM variant,
onnxruntime against clstmtools on lines of several lengths and batch sizes, bad input, the deployment page's example."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import Levenshtein
import numpy as np
import pytest

from clstmtools import generate
from clstmtools import network as N
from clstmtools.datasets import open_ocr_dataset
from clstmtools.modelfile import load_net, save_net
from conftest import shared_file
from test_drivers import Job, Result, assert_one_line_error, run, run_all, succeeded

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
from clstmtools import onnx_export as E  # noqa: E402
from clstmtools.drivers import clstmexport  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5
#: a tiny convolutional network with every feature-map layer that keeps state (batch norm statistics)
CNN_SPEC = "[1,48,0,1 Cr3,3,4 Bnr Mp2,2 Cr3,3,4 Gn2 Do0.2 Mp2,1 S1(1x0)1,3 Lbx8 O1c]"
#: a small expression recognizer trained through clstmctc (about 10 s on a loaded machine)
TRAINING = dict(nhidden=16, optimizer="adam", init="scaled", lrate=3e-3, report_every=0, seed=1, ntrain=2500)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A BIDILSTM trained on an image folder and an LSTM1 trained on an HDF5 file, both by the real clstmctc."""
    folder = tmp_path_factory.mktemp("onnx")
    assert generate.main(["-o", str(folder), "-q", "--seed", "4", "--tasks", "expr,ocr", "--expr-train", "200",
                          "--expr-test", "6", "--ocr-train", "20", "--ocr-test", "6", "--height", "24"]) == 0
    results = run_all([Job("clstmctc", ["expr-train"], folder, dict(TRAINING, save_name="bidi")),
                       Job("clstmctc", ["ocr-train.h5"], folder,
                           dict(save_name="lstm1", lstm="LSTM1", nhidden=8, ntrain=20, seed=2, report_every=0)),
                       Job("clstmctc", ["expr-train"], folder,
                           dict(save_name="cnn", spec=CNN_SPEC, ntrain=40, seed=3, report_every=0))])
    for result in results:
        succeeded(result)
    return folder


def session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def assert_matches(path, net, lines, batch_sizes=(1, 2, len)):
    """onnxruntime on the exported file gives clstmtools' outputs for the lines, in batches of each size, to
    TOLERANCE times max(1, the line's largest output) (float32 rounding grows with unbounded outputs)."""
    expected = E.clstmtools_outputs(net, lines)
    sess = session(path)
    for size in batch_sizes:
        size = size(lines) if callable(size) else size
        for start in range(0, len(lines), size):
            got = E.onnxruntime_outputs(sess, lines[start:start + size])
            for out, ref in zip(got, expected[start:start + size]):  # posteriors: to 1e-5 absolute
                np.testing.assert_allclose(out, ref, rtol=0, atol=TOLERANCE * max(1.0, np.abs(ref).max()))


def export(model, folder, name="model.onnx"):
    result = succeeded(run("clstmexport", model, name, cwd=folder))
    assert re.fullmatch(r"clstmexport: wrote \S+: .*; onnxruntime matches clstmtools to \S+\n", result.stdout)
    return folder / name


def test_a_bidilstm_trained_here_exports_with_its_codec_and_normalization(trained):
    path = export(trained / "bidi.h5", trained, "bidi.onnx")
    net = load_net(trained / "bidi.h5")
    from clstmtools.datasets import open_ocr_dataset
    data = open_ocr_dataset(trained / "expr-test", dewarp="none", target_height=48)
    lines = [data.input(i) for i in range(len(data))]
    assert len({len(line) for line in lines}) > 3
    assert_matches(path, net, lines, batch_sizes=(1, 4, len))
    meta = session(path).get_modelmeta().custom_metadata_map
    assert json.loads(meta["codec"]) == list(net.codec) and net.codec[0] == 0 and len(net.codec) > 10
    normalization = json.loads(meta["normalization"])
    assert normalization["line_normalization"] == "scale" and normalization["target_height"] == "48"
    assert normalization["unicode"] == "NFC"
    assert json.loads(meta["attributes"])["kind"] == "BIDILSTM"
    model = onnx.load(str(path))
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input]
    assert dims == [["batch", "time", 48], ["batch"]]


def test_an_lstm1_trained_here_exports(trained):
    path = export(trained / "lstm1.h5", trained, "lstm1.onnx")
    net = load_net(trained / "lstm1.h5")
    assert net.attributes["kind"] == "LSTM1"
    from clstmtools.datasets import OcrH5Dataset
    data = OcrH5Dataset(trained / "ocr-test.h5")
    lines = [data.input(i) for i in range(len(data))]
    assert_matches(path, net, lines, batch_sizes=(1, 3, len))


def test_a_convolutional_network_trained_here_exports_with_its_pooled_lengths(trained):
    path = export(trained / "cnn.h5", trained, "cnn.onnx")
    net = load_net(trained / "cnn.h5")
    norms = [layer for layer in net.layers() if isinstance(layer, N.BatchNorm)]
    assert norms and not np.allclose(norms[0].running_var, 1)  # statistics that training moved
    from clstmtools.datasets import open_ocr_dataset
    data = open_ocr_dataset(trained / "expr-test", dewarp="none", target_height=48)
    lines = [data.input(i) for i in range(len(data))]
    expected = E.clstmtools_outputs(net, lines)
    assert [len(out) for out in expected] == [len(line) // 2 for line in lines]
    sess = session(path)
    assert sess.get_modelmeta().custom_metadata_map["pooling_width"] == "2"
    for group in ([0], [1, 2], list(range(len(lines)))):
        for i, out in zip(group, E.onnxruntime_outputs(sess, [lines[i] for i in group])):
            np.testing.assert_allclose(out, expected[i], rtol=0, atol=TOLERANCE)


def test_the_cpp_clstm_model_file_exports_and_reproduces_the_originals_outputs(tmp_path):
    model = shared_file("clstm2015-model/cmu-text-model.h5")
    reference = np.load(shared_file("clstm2015-model/cmu-ref.npz"))
    path = export(model, tmp_path)
    net = load_net(model)
    lines = [reference[f"input_{i}"].astype(np.float32) for i in range(5)]
    assert len({len(line) for line in lines}) > 2
    assert_matches(path, net, lines, batch_sizes=(1, 2, len))
    got = E.onnxruntime_outputs(session(path), lines)
    for i, out in enumerate(got):
        np.testing.assert_allclose(out, reference[f"output_{i}"], rtol=0, atol=TOLERANCE)
    meta = session(path).get_modelmeta().custom_metadata_map
    assert json.loads(meta["icodec"]) == net.icodec and json.loads(meta["normalization"]) == {"neps": "3"}


def every_kind():
    """(kind, attributes) of every prefab kind, LSTM variant, output type and single layer type."""
    kinds = [(kind, {}) for kind in N.PREFABS] + [("BIDILSTM2", dict(nhidden2=5))]
    kinds += [("BIDILSTM", dict(lstm_type=t)) for t in N.LSTM_TYPES if t != "LSTM"]
    kinds += [("BIDILSTM", dict(output_type=t)) for t in N.OUTPUT_TYPES if t != "SoftmaxLayer"]
    return kinds + [(kind, {}) for kind in N.LAYER_TYPES]


@pytest.mark.parametrize("kind,attributes", every_kind(), ids=lambda v: v if isinstance(v, str) else
                         "-".join(map(str, v.values())) or "default")
def test_every_kind_layer_type_and_lstm_variant_matches(kind, attributes, tmp_path):
    """Large random weights (clstm's +-0.01 would keep every unit linear), peepholes included."""
    net = N.make_net(kind, ninput=6, nhidden=7, noutput=5, **attributes)
    rng = np.random.default_rng(len(kind))
    for _, w, _ in net.weights():
        w[...] = rng.uniform(-0.6, 0.6, w.shape)
    save_net(tmp_path / "m.h5", net)
    net, difference = E.export(tmp_path / "m.h5", tmp_path / "m.onnx")
    assert difference <= TOLERANCE
    lines = [rng.uniform(0, 1, (n, 6)).astype(np.float32) for n in (1, 3, 12, 40, 7)]
    assert_matches(tmp_path / "m.onnx", net, lines, batch_sizes=(1, 2, len))


#: image networks: the named specs, and specs with every feature-map layer (even kernels, pooling by 3,
#: group and batch norm, dropout, every activation, two input channels)
SPECS = [("CNNBIDILSTM", 48, {}), ("CRNN", 48, {}),
         ("VGSL", 24, dict(spec="[1,24,0,1 Ct3,2,5 Gn5 Bnr Mp2,3 Cs2,2,4 Do0.3,2 Mp1,2 Ck1,1,3 S1(1x0)1,3 Lrx6 "
                                "Lfx5 Fl7 O1l]")),
         ("VGSL", 48, dict(spec="[1,24,0,2 Cr3,3,4 Gn2 Bns Bnt Bnk Mp2,2 S1(1x0)1,3 Lbx5 Fr6 Ft6 Fs6 Fm6]"))]


@pytest.mark.parametrize("kind,ninput,attributes", SPECS, ids=["CNNBIDILSTM", "CRNN", "spec1", "spec2"])
def test_convolutional_networks_match_with_their_pooled_lengths(kind, ninput, attributes, tmp_path):
    net = N.make_net(kind, ninput=ninput, noutput=5, rng=3, **attributes)
    rng = np.random.default_rng(1)
    for _, w, _ in net.weights():
        w[...] = rng.uniform(-0.5, 0.5, w.shape)
    for layer in net.layers():
        if isinstance(layer, N.BatchNorm):  # running statistics as training leaves them
            layer.running_mean[...] = rng.uniform(-0.5, 0.5, layer.C)
            layer.running_var[...] = rng.uniform(0.2, 2.0, layer.C)
    save_net(tmp_path / "m.h5", net)
    net, difference = E.export(tmp_path / "m.h5", tmp_path / "m.onnx")
    assert difference <= TOLERANCE
    width = E.pooling_width(net)
    assert width == {"CNNBIDILSTM": 4, "CRNN": 4, "VGSL": 6 if "Mp2,3" in attributes.get("spec", "") else 2}[kind]
    lines = [rng.uniform(0, 1, (n, ninput)).astype(np.float32) for n in (width, 3 * width + 1, 17 * width + width - 1)]
    expected = E.clstmtools_outputs(net, lines)
    assert [len(out) for out in expected] == [1, 3, 17]
    sess = session(tmp_path / "m.onnx")
    for group in ([0], [1], [2], [0, 1, 2], [2, 0]):
        got = E.onnxruntime_outputs(sess, [lines[i] for i in group])
        for i, out in zip(group, got):
            np.testing.assert_allclose(out, expected[i], rtol=0, atol=TOLERANCE)


def test_the_first_steps_output_gate_has_no_peephole_as_in_clstm(tmp_path):
    """The check would catch an export with clstm's output-gate peephole at the first step (ONNX's LSTM op)."""
    net = N.make_net("LSTM", ninput=3, noutput=4)
    net.P[2] = 2.0
    net.W[...] = 0.5
    lines = E.check_lines(net)
    right = E.session_of(E.build_model(net).SerializeToString())
    assert E.largest_difference(right, net, lines) <= TOLERANCE
    net.P[2] = 0.0
    without = E.session_of(E.build_model(net).SerializeToString())
    net.P[2] = 2.0
    assert E.largest_difference(without, net, lines) > 1e-2


def run_main(monkeypatch, capsys, *args):
    """clstmexport's main in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["clstmexport", *map(str, args)])
    with pytest.raises(SystemExit) as exit:
        clstmexport.main()
    out, err = capsys.readouterr()
    return exit.value.code, out, err


def test_bad_input_is_a_one_line_error_and_leaves_no_file(tmp_path, monkeypatch, capsys):
    model = shared_file("clstm2015-model/cmu-text-model.h5")
    (tmp_path / "corrupt.h5").write_bytes(model.read_bytes()[:5000])
    (tmp_path / "text.h5").write_text("not a model\n")
    (tmp_path / "afile").write_text("")
    monkeypatch.chdir(tmp_path)
    cases = [(["corrupt.h5", "out.onnx"], ["corrupt.h5"]),
             (["text.h5", "out.onnx"], ["text.h5", "not an HDF5"]),
             ([model, "afile/out.onnx"], ["afile/out.onnx", "cannot write"]),
             ([model, "."], ["is a folder"])]
    for args, words in cases:
        status, out, err = run_main(monkeypatch, capsys, *args)
        assert_one_line_error(Result(status, out, err), "clstmexport", *words)
    assert_one_line_error(run("clstmexport", "missing.h5", "out.onnx", cwd=tmp_path), "clstmexport", "missing.h5",
                          "no such model file")  # and once through the real program
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "corrupt.h5", "text.h5"]
    status, out, err = run_main(monkeypatch, capsys)
    assert status == 2 and out == "" and err.startswith("usage: clstmexport MODEL.h5 OUT.onnx")


def test_a_mismatch_is_a_one_line_error_and_writes_nothing(tmp_path, monkeypatch, capsys):
    net = N.make_net("LSTM1", ninput=4, nhidden=3, noutput=3, rng=1)
    save_net(tmp_path / "m.h5", net)
    (tmp_path / "m.onnx").write_bytes(b"the previous export")
    real = E.clstmtools_outputs
    monkeypatch.setattr(E, "clstmtools_outputs", lambda net, lines: [out + 1e-4 for out in real(net, lines)])
    result = Result(*run_main(monkeypatch, capsys, tmp_path / "m.h5", tmp_path / "m.onnx"))
    assert result.returncode == 1
    assert_one_line_error(result, "clstmexport", "m.h5", "differ from clstmtools'", "nothing written")
    assert (tmp_path / "m.onnx").read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5", "m.onnx"]


def test_without_the_extra_the_error_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['onnxruntime'] = None; sys.argv = ['clstmexport', 'm.h5', 'o.onnx']; "
            "from clstmtools.drivers.clstmexport import main; main()")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == ("clstmexport: error: the onnx extra is not installed (onnxruntime is "
                                     "missing): pip install 'clstmtools[onnx]'")


def test_the_trainers_never_import_onnx():
    code = ("import sys, clstmtools, clstmtools.drivers.clstmctc, clstmtools.drivers.clstmseq, "
            "clstmtools.drivers.clstmtext, clstmtools.drivers.clstmexport; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_the_deployment_pages_example_recognizes_a_line_like_clstmctc(trained, tmp_path):
    page = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- onnx-example -->\n```python\n(.*?)```", page, re.S).group(1)
    export(trained / "bidi.h5", tmp_path)
    images = sorted((trained / "expr-test").glob("*.png"))[:3]
    processes = []
    for i, image in enumerate(images):  # each in a folder of its own with model.onnx and line.png
        folder = tmp_path / str(i)
        folder.mkdir()
        shutil.copy(tmp_path / "model.onnx", folder / "model.onnx")
        shutil.copy(image, folder / "line.png")
        processes.append(subprocess.Popen([sys.executable, "-c", code], cwd=folder, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    texts = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        texts.append(out.rstrip("\n"))
    (tmp_path / "list.txt").write_text("".join(f"{image}\n" for image in images))
    expected = succeeded(run("clstmctc", "list.txt", cwd=tmp_path, load=trained / "bidi.h5", mode="text",
                             ctc="standard"))
    ours = [line.split("\t")[1] for line in expected.stdout.splitlines()]
    margins = top_two_margins(trained / "bidi.h5", tmp_path / "list.txt")
    for text, our_text, margin in zip(texts, ours, margins):
        # the same text, or one character apart where two classes tie within float32 rounding at a
        # frame (a briefly trained model has such frames, and two runtimes may break the tie apart)
        assert text == our_text or (Levenshtein.distance(text, our_text) == 1 and margin < 1e-3), (texts, ours)
    assert sum(map(len, texts)) > 5


def top_two_margins(model, listfile):
    """For each line of ``listfile``, the smallest gap between the two likeliest classes at any frame
    of clstmtools' outputs (the lines scaled to the model's height, as mode=text does for a
    folder-trained model)."""
    net = load_net(str(model))
    assert net.attributes["line_normalization"] == "scale"
    data = open_ocr_dataset(str(listfile), dewarp="none", target_height=int(net.attributes["target_height"]),
                            labelled=False)
    margins = []
    for i in range(len(data)):
        net.inputs.aset(data.input(i)[:, :, None])
        net.forward()
        top = np.sort(net.outputs.array()[:, :, 0], axis=1)
        margins.append(float((top[:, -1] - top[:, -2]).min()))
    return margins
