"""Tests of the ocropy front end: same results as the wrapped network, ocropy's helpers, and pylstmctc's loop learning."""
import Levenshtein
import numpy as np
import pytest

from clstmtools import ctc, generate, ocropy
from clstmtools.network import NetworkError, make_net, recurrent_sizes

from margins import SEED, at_most
from naive_ctc import naive_forward_algorithm, naive_mktargets, naive_trivial_decode, softmax


def random_outputs(rng, T, C, blank_bias=0.0):
    activations = 2.0 * rng.standard_normal((T, C))
    activations[:, 0] += blank_bias
    return softmax(activations).astype(np.float32)


# --- the network wrapper ----------------------------------------------------------------------


@pytest.mark.parametrize("constructor, kind", [(ocropy.LSTM1, "lstm1"), (ocropy.BIDILSTM, "bidi")])
def test_wrapper_computes_what_the_network_computes(constructor, kind):
    rng = np.random.default_rng(0)
    wrapped = constructor(5, 4, 3, rng=7)
    plain = make_net(kind, rng=7, ninput=5, nhidden=4, noutput=3)
    assert (wrapped.ninput(), wrapped.noutput()) == (wrapped.ninputs(), wrapped.noutputs()) == (5, 3)
    for T in (9, 4):
        xs = rng.random((T, 5))
        deltas = rng.standard_normal((T, 3))
        outputs = wrapped.forward(xs)
        plain.inputs.aset(xs)
        plain.forward()
        assert outputs.dtype == np.float32 and outputs.shape == (T, 3)
        np.testing.assert_array_equal(outputs, plain.outputs.array()[:, :, 0])
        np.testing.assert_array_equal(wrapped.predict(xs), outputs)
        d_inputs = wrapped.backward(deltas)
        plain.d_outputs.aset(deltas)
        plain.backward()
        assert d_inputs.dtype == np.float32 and d_inputs.shape == (T, 5)
        np.testing.assert_array_equal(d_inputs, plain.d_inputs.array()[:, :, 0])
        wrapped.setLearningRate(0.1, 0.5)
        plain.setLearningRate(0.1, 0.5)
        wrapped.update()
        plain.update()
    for (w, dw, name), (plain_name, plain_w, plain_dw) in zip(wrapped.weights(), plain.weights(), strict=True):
        assert name == plain_name
        np.testing.assert_array_equal(w, plain_w)
        np.testing.assert_array_equal(dw, plain_dw)


def test_train_is_forward_backward_update():
    rng = np.random.default_rng(1)
    xs, ys = rng.random((6, 3)), softmax(rng.standard_normal((6, 4)))
    wrapped, twin = ocropy.LSTM1(3, 5, 4, rng=2), ocropy.LSTM1(3, 5, 4, rng=2)
    pred = wrapped.train(xs, ys)
    expected = twin.forward(xs)
    twin.backward(ys - expected)
    twin.update()
    np.testing.assert_array_equal(pred, expected)
    np.testing.assert_array_equal(wrapped.forward(xs), twin.forward(xs))


def test_weights_are_the_network_storage():
    net = ocropy.BIDILSTM(4, 3, 5, rng=3)
    triples = list(net.weights())
    assert [name for _, _, name in triples] == [name for name, _, _ in net.net.weights()]
    assert triples[0][2] == ".bidilstm.0.parallel.0.lstm.WGI" and triples[-1][2] == ".bidilstm.1.softmax.w"
    for w, dw, name in triples:
        owners = [(layer_w, layer_dw) for layer in net.net.layers() for layer_w, layer_dw in layer.storage()
                  if np.shares_memory(w, layer_w)]
        assert len(owners) == 1 and np.shares_memory(dw, owners[0][1]), name
    xs = np.random.default_rng(4).random((7, 4))
    before = net.forward(xs)
    softmax_bias = triples[-1][0]
    softmax_bias[2] += 5.0  # written through the view: the network must see it
    after = net.forward(xs)
    assert np.all(after[:, 2] > before[:, 2])
    # update() moves the very arrays weights() handed out
    w, dw, _ = triples[0]
    dw[...] = 1.0
    old = w.copy()
    net.setLearningRate(0.5, 0.0)
    net.update()
    np.testing.assert_allclose(w, old + 0.5)


def test_wrapper_rejects_bad_shapes():
    net = ocropy.LSTM1(3, 4, 2, rng=0)
    with pytest.raises(NetworkError, match="backward called before any forward pass"):
        net.backward(np.zeros((5, 2)))
    for bad in (np.zeros((5, 4)), np.zeros(5), np.zeros((0, 3)), np.zeros((2, 5, 3))):
        with pytest.raises(NetworkError, match=r"inputs must be a \(T > 0, 3\) matrix"):
            net.forward(bad)
    net.forward(np.zeros((5, 3)))
    with pytest.raises(NetworkError, match="4 time steps, but the last forward pass had 5"):
        net.backward(np.zeros((4, 2)))
    with pytest.raises(NetworkError, match=r"deltas must be a \(T > 0, 2\) matrix"):
        net.backward(np.zeros((5, 3)))
    with pytest.raises(NetworkError, match="needs a clstmtools network"):
        ocropy.Network(object())


CNN_SPEC = "[1,6,0,1 Cr3,3,3 Bnr Mp2,2 Do0.2 S1(1x0)1,3 Lbx4 O1c]"  # outputs T // 2 steps


def test_a_convolutional_network_computes_what_it_computes_unwrapped_in_both_modes():
    rng = np.random.default_rng(5)
    wrapped = ocropy.VGSL(CNN_SPEC, 3, rng=7)
    plain = make_net("VGSL", rng=7, spec=CNN_SPEC, ninput=6, noutput=3)
    assert (wrapped.ninput(), wrapped.noutput()) == (6, 3) and wrapped.net.attributes["spec"] == CNN_SPEC
    for T, training in ((9, False), (4, False), (11, True)):
        wrapped.setTraining(training)
        plain.set_training(training)
        if training:  # the same dropout masks
            wrapped.net.sub[3].rng = np.random.default_rng(1)
            plain.sub[3].rng = np.random.default_rng(1)
        xs = rng.random((T, 6))
        outputs = wrapped.forward(xs)
        plain.inputs.aset(xs)
        plain.forward()
        assert outputs.shape == (T // 2, 3)
        np.testing.assert_array_equal(outputs, plain.outputs.array()[:, :, 0])
        deltas = rng.standard_normal((T // 2, 3))
        d_inputs = wrapped.backward(deltas)
        plain.d_outputs.aset(deltas)
        plain.backward()
        assert d_inputs.shape == (T, 6)
        np.testing.assert_array_equal(d_inputs, plain.d_inputs.array()[:, :, 0])
    wrapped.setTraining(False)
    with pytest.raises(NetworkError, match="inputs: 1 input steps are too few for the network's horizontal pooling"):
        wrapped.forward(np.zeros((1, 6)))
    wrapped.forward(np.zeros((8, 6)))
    with pytest.raises(NetworkError, match="8 time steps, but the last forward pass had 4 outputs"):
        wrapped.backward(np.zeros((8, 3)))
    with pytest.raises(NetworkError, match="input height is 0"):
        ocropy.VGSL("[1,0,0,1 Lbx4 O1c]", 3)
    crnn = ocropy.VGSL("CRNN", 5, rng=1)
    assert crnn.net.attributes["kind"] == "CRNN" and crnn.ninput() == 48
    assert recurrent_sizes(crnn.net.attributes["spec"]) == [128, 128] and recurrent_sizes(CNN_SPEC) == [4]


# --- ocropy's helpers -------------------------------------------------------------------------


def test_make_target_is_ocropys_interleaved_one_hot():
    targets = ocropy.make_target(np.array([2, 1, 2], "i"), 4)
    assert targets.dtype == np.float32 and targets.shape == (7, 4)
    np.testing.assert_array_equal(targets, naive_mktargets([2, 1, 2], 4))
    with pytest.raises(ValueError, match="label 4 at position 0"):
        ocropy.make_target([4], 4)


def ocropy_alignment_twin(outputs, targets, lo=1e-5, floor_aligned=True):
    """ocropy's variant of the alignment: float32 forward-backward tables, no exponent clamp,
    and (``floor_aligned``) the aligned values floored at ``lo`` before the final row normalization."""
    floored = np.maximum(np.asarray(outputs, float), lo)
    floored /= floored.sum(axis=1, keepdims=True)
    lmatch = np.log(floored @ targets.T)
    both = (naive_forward_algorithm(lmatch).astype(np.float32)
            + naive_forward_algorithm(lmatch[::-1, ::-1]).astype(np.float32)[::-1, ::-1])
    epath = np.exp(both - both.max())
    epath /= np.where(epath.sum(axis=0) == 0, 1e-9, epath.sum(axis=0))
    aligned = epath @ targets
    if floor_aligned:
        aligned = np.maximum(aligned, lo)
    return aligned / aligned.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(3))
def test_ctc_align_targets_delegates_and_stays_close_to_ocropy(seed):
    rng = np.random.default_rng(seed)
    T, C = 25, 5
    outputs = random_outputs(rng, T, C, blank_bias=1.0)
    targets = ocropy.make_target(rng.integers(1, C, size=4), C)
    aligned = ocropy.ctc_align_targets(outputs, targets, threshold=3, verbose=1, debug=1)
    np.testing.assert_array_equal(aligned, ctc.ctc_align_targets(outputs, targets))
    targets = targets.astype(float)
    # without ocropy's floor on the aligned values, only float32 rounding separates the two
    np.testing.assert_allclose(aligned, ocropy_alignment_twin(outputs, targets, floor_aligned=False), atol=1e-5)
    # with it, a ruled-out class gets lo over the row's unnormalized sum instead of ~0: a few
    # hundredths at most, at steps the alignment hardly uses, and the same class on top everywhere
    floored = ocropy_alignment_twin(outputs, targets)
    np.testing.assert_allclose(aligned, floored, atol=0.05)
    np.testing.assert_array_equal(np.argmax(aligned, axis=1), np.argmax(floored, axis=1))
    with pytest.raises(ValueError, match="lo=0.001"):
        ocropy.ctc_align_targets(outputs, targets, lo=1e-3)


def translate_back_twin(outputs, threshold=0.7):
    """Step by step: (step, class) of the largest output, over all classes, in each run of steps
    whose blank output is below ``threshold``; the first of equal values wins."""
    found, best = [], None
    for t, row in enumerate(outputs):
        if row[0] >= threshold:
            if best is not None:
                found.append(best[1:])
            best = None
            continue
        c = int(np.argmax(row))
        if best is None or row[c] > best[0]:
            best = (row[c], t, c)
    if best is not None:
        found.append(best[1:])
    return found


@pytest.mark.parametrize("seed", range(4))
def test_translate_back_matches_twin_and_scipy(seed):
    rng = np.random.default_rng(seed)
    outputs = random_outputs(rng, 60, 4, blank_bias=[0.0, 1.0, 2.0, 3.0][seed])
    threshold = [0.7, 0.5, 0.9, 0.7][seed]
    maxima = ocropy.translate_back(outputs, threshold, pos=1)
    assert maxima == translate_back_twin(outputs, threshold)
    assert ocropy.translate_back(outputs, threshold) == [c for _, c in maxima]
    assert ocropy.translate_back(outputs, threshold, pos=2) == [(c, float(outputs[t, c])) for t, c in maxima]
    ndimage = pytest.importorskip("scipy.ndimage")
    regions, count = ndimage.label(outputs[:, 0] < threshold)
    mask = np.repeat(regions[:, None], outputs.shape[1], axis=1)
    expected = ndimage.maximum_position(outputs, mask, np.arange(1, count + 1)) if count else []
    assert maxima == [(int(t), int(c)) for t, c in expected]


def test_translate_back_differs_from_trivial_decode_as_documented():
    rows = [
        [0.9, 0.05, 0.05],  # blank: closes nothing yet
        [0.6, 0.35, 0.05],  # blank is the arg-max but below 0.7: inside a region here only
        [0.2, 0.7, 0.1],
        [0.9, 0.05, 0.05],
        [0.5, 0.2, 0.3],    # a region where the blank stays the largest output: class 0
        [0.95, 0.03, 0.02],
        [0.1, 0.1, 0.8],    # a run still open at the end: kept here, dropped by clstm
    ]
    outputs = np.array(rows, np.float32)
    assert ocropy.translate_back(outputs, pos=1) == [(2, 1), (4, 0), (6, 2)]
    assert ocropy.translate_back(outputs) == [1, 0, 2]
    assert ctc.trivial_decode(outputs) == naive_trivial_decode(outputs) == [1]
    assert ocropy.translate_back(outputs[:0]) == []
    with pytest.raises(ValueError, match="pos must be"):
        ocropy.translate_back(outputs, pos=3)
    with pytest.raises(ValueError, match=r"\(T, nclasses\) matrix"):
        ocropy.translate_back(outputs[0])


# --- clstm's pylstmctc loop on rendered lines -------------------------------------------------

ALPHABET = "abc"


def rendered_lines(count, rng):
    """``count`` lines of 2-4 letters from ALPHABET, 16 pixels high: (``(width, 16)`` images, labels)."""
    renderer = generate.LineRenderer(None, generate.LineStyle(height=16))
    lines = []
    for _ in range(count):
        text = "".join(rng.choice(list(ALPHABET), size=int(rng.integers(2, 5))))
        lines.append((renderer.render(text, rng), [ALPHABET.index(ch) + 1 for ch in text]))
    return lines


def character_error(net, lines):
    errors = sum(Levenshtein.distance(ocropy.translate_back(net.forward(xs)), cs) for xs, cs in lines)
    return errors / sum(len(cs) for _, cs in lines)


@pytest.mark.parametrize("make, lrate, trials", [
    (lambda noutput: ocropy.BIDILSTM(16, 20, noutput, rng=SEED + 2), 3e-3, 2500),
    # outputs half as long as the inputs; dropout and batch statistics while training, as clstmctc does
    (lambda noutput: ocropy.VGSL("[1,16,0,1 Cr3,3,8 Bnr Mp2,2 Do0.1 S1(1x0)1,3 Lbx20 O1c]", noutput, rng=SEED + 2), 3e-3,
     1800)], ids=["BIDILSTM", "VGSL"])
def test_pylstmctc_loop_learns_rendered_lines(make, lrate, trials, request):
    rng = np.random.default_rng(11)
    train, test = rendered_lines(50, rng), rendered_lines(20, rng)
    noutput = len(ALPHABET) + 1
    net = make(noutput)
    net.setLearningRate(lrate, 0.9)
    initial = character_error(net, test)
    net.setTraining(True)  # a BLSTM has nothing that cares
    for trial in range(trials):
        xs, cs = train[trial % len(train)]
        pred = net.forward(xs)
        aligned = ocropy.ctc_align_targets(pred, ocropy.make_target(cs, noutput))
        net.backward(aligned - pred)
        net.update()
        ocropy.translate_back(pred)
    net.setTraining(False)
    final = character_error(net, test)
    at_most(f"ocropy {request.node.callspec.id} final / initial error", final / initial, 0.5)
    at_most(f"ocropy {request.node.callspec.id} final error", final, 0.3)
