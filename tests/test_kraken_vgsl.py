"""kraken's VGSL: the example specs of kraken's documentation build, train, reload identically and export to ONNX as
written; scaled down, and with strides, GRUs and labels, they train through the real clstmctc (colour lines too)."""
import numpy as np
import pytest
from PIL import Image

from clstmtools import generate
from clstmtools import network as N
from clstmtools.datasets import open_ocr_dataset
from clstmtools.modelfile import load_net, save_net
from test_drivers import SUMMARY, Job, run_all, succeeded

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from clstmtools import onnx_export as E  # noqa: E402

#: the example specs of kraken's VGSL documentation (docs/vgsl.rst), as written there
KRAKEN_EXAMPLES = [
    "[1,48,0,1 Cr3,3,32 Mp2,2 Cr3,3,64 Mp2,2 S1(1x12)1,3 Lbx100 Do O1c103]",
    "[1,48,0,1 S1(1x48)1,3 Lbx100 O1c103]",
    "[1,1,0,48 Lbx100 O1c103]",
    "[1,1,0,48 Lbx100 Do 01c59]",
    "[1,48,0,1 Cr3,3,32 Do0.1,2 Mp2,2 Cr3,3,64 Do0.1,2 Mp2,2 S1(1x12)1,3 Lbx100 Do 01c59]",
    "[1,0,0,3 Cr3,3,16 Mp3,3 Lfys64 Lbx128 Lbx256 Do 01c59]",
]
#: the same networks for lines 24 pixels high and a few units, and specs with strides, GRUs and labels
SCALED = {
    "example1": "[1,24,0,1 Cr3,3,4 Mp2,2 Cr3,3,8 Mp2,2 S1(1x6)1,3 Lbx8 Do O1c103]",
    "example2": "[1,24,0,1 S1(1x24)1,3 Lbx8 O1c103]",
    "example3": "[1,1,0,24 Lbx8 O1c103]",
    "example4": "[1,1,0,24 Lbx8 Do 01c59]",
    "example5": "[1,24,0,1 Cr3,3,4 Do0.1,2 Mp2,2 Cr3,3,8 Do0.1,2 Mp2,2 S1(1x6)1,3 Lbx8 Do 01c59]",
    "example6": "[1,0,0,3 Cr3,3,4 Mp3,3 Lfys8 Lbx8 Lbx8 Do 01c59]",
    "strided": "[1,24,0,1 Cr3,3,6,2,2 Mp2,2,2,1 Cm3,3,4,1,2 S1(1x0)1,3 Lbx8 O1c]",
    "gru": "[1,24,0,1 Cr3,3,4 Mp2,2 S1(1x0)1,3 Gbx8 Gfx6 Grys4 O1c]",
    "named": "[1,24,0,1 C{conv}r3,3,4 Mp{pool}2,2 S{rows}1(1x0)1,3 L{blstm}bx8 Do{drop} O{out}1c]",
}
COLOUR = {"example6"}  # trained on colour images


@pytest.mark.parametrize("spec", KRAKEN_EXAMPLES, ids=[f"example{k}" for k in range(1, 7)])
def test_kraken_examples_as_written_train_reload_identically_and_export(spec, tmp_path):
    height, channels = N.line_format(spec)
    depth = (height or 48) * channels
    net = N.make_net("VGSL", rng=0, init="scaled", spec=spec, ninput=depth, noutput=11)
    net.setLearningRate(1e-3, 0.9)
    rng = np.random.default_rng(0)
    lines = [rng.random((T, depth), np.float32) for T in (61, 40)]
    net.set_training(True)
    for _ in range(2):
        net.inputs.aset_batch(lines)
        net.forward()
        net.d_outputs.aset_batch([rng.uniform(-1, 1, (net.output_length(len(x)), 11)).astype(np.float32)
                                  for x in lines])
        net.backward()
        net.update()
    net.set_training(False)
    before = E.clstmtools_outputs(net, lines)
    assert all(out.shape == (net.output_length(len(x)), 11) for out, x in zip(before, lines))
    save_net(tmp_path / "m.h5", net)
    loaded = load_net(tmp_path / "m.h5")
    assert loaded.attributes["spec"] == spec
    for again, out in zip(E.clstmtools_outputs(loaded, lines), before):
        np.testing.assert_array_equal(again, out)
    _, difference = E.export(tmp_path / "m.h5", tmp_path / "m.onnx")
    assert difference <= E.TOLERANCE
    session = E.session_of((tmp_path / "m.onnx").read_bytes())
    for got, out in zip(E.onnxruntime_outputs(session, lines), before):  # the two lines as one padded batch
        np.testing.assert_allclose(got, out, rtol=0, atol=E.TOLERANCE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """OCR lines 24 pixels high, expression images and their colour twins (blue ink on cream), and a model of
    every SCALED spec trained on them by clstmctc."""
    folder = tmp_path_factory.mktemp("kraken")
    assert generate.main(["-o", str(folder), "-q", "--seed", "2", "--tasks", "ocr,expr", "--ocr-train", "8",
                          "--ocr-test", "2", "--height", "24", "--expr-train", "6", "--expr-test", "2"]) == 0
    for part in ("train", "test"):
        (folder / f"colour-{part}").mkdir()
        for image in (folder / f"expr-{part}").glob("*.png"):
            ink = 1 - np.asarray(Image.open(image).convert("L"), np.float32)[:, :, None] / 255
            rgb = (1 - ink) * np.array([245, 235, 210]) + ink * np.array([30, 40, 150])
            Image.fromarray(rgb.astype(np.uint8)).save(folder / f"colour-{part}" / image.name)
    common = dict(ntrain=4, minibatch=2, report_every=0, seed=1, init="scaled", optimizer="adam", lrate=1e-3)
    jobs = [Job("clstmctc", ["colour-train" if name in COLOUR else "ocr-train.h5"], folder,
                dict(common, spec=spec, save_name=name, target_height=24)) for name, spec in SCALED.items()]
    for result in run_all(jobs):
        assert "# done: 4 lines" in succeeded(result).stdout  # none skipped: every line fits the pooling
    return folder


def data_lines(folder, name):
    if name in COLOUR:
        data = open_ocr_dataset(folder / "colour-test", target_height=24, channels=3)
        assert data.depth == 72
    else:
        data = open_ocr_dataset(folder / "ocr-test.h5")
    return [data.input(i) for i in range(len(data))]


@pytest.mark.parametrize("name", SCALED)
def test_scaled_kraken_examples_and_strided_gru_and_labelled_specs_train_reload_and_export(trained, name, tmp_path):
    model = trained / f"{name}.h5"
    net = load_net(model)
    assert net.attributes["spec"] == SCALED[name] and int(net.attributes["trial"]) == 4
    lines = data_lines(trained, name)
    outputs = E.clstmtools_outputs(net, lines)
    save_net(tmp_path / "again.h5", net)
    for again, out in zip(E.clstmtools_outputs(load_net(tmp_path / "again.h5"), lines), outputs):
        np.testing.assert_array_equal(again, out)
    _, difference = E.export(model, tmp_path / f"{name}.onnx")
    assert difference <= E.TOLERANCE
    for got, out in zip(E.onnxruntime_outputs(E.session_of((tmp_path / f"{name}.onnx").read_bytes()), lines), outputs):
        np.testing.assert_allclose(got, out, rtol=0, atol=E.TOLERANCE)


def test_labels_name_the_layers_and_their_weights(trained):
    net = load_net(trained / "named.h5")
    names = [path for path, _ in net.walk()]
    assert names[:6] == [".vgsl", ".vgsl.0.conv", ".vgsl.1.pool", ".vgsl.2.blstm", ".vgsl.2.blstm.0.lstm",
                         ".vgsl.2.blstm.1.reversed"]
    assert ".vgsl.3.drop" in names and ".vgsl.4.out" in names  # the S reshape is no layer: nothing to do
    weights = {name for name, _, _ in net.weights()}
    assert ".vgsl.0.conv.W" in weights and ".vgsl.2.blstm.0.lstm.WGI" in weights and ".vgsl.4.out.W" in weights


def test_the_programs_recognize_colour_lines_and_export_a_labelled_model(trained):
    errs, export = run_all([Job("clstmctc", ["colour-test"], trained, dict(mode="errs", load="example6.h5")),
                            Job("clstmexport", ["named.h5", "named.onnx"], trained, {})])
    lines = succeeded(errs).stdout.splitlines()
    assert len(lines) == 3 and SUMMARY.match(lines[-1])
    assert "onnxruntime matches clstmtools" in succeeded(export).stdout and (trained / "named.onnx").stat().st_size
