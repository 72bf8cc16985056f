"""Tests of the convolutional front end: kernels against NumPy twins, float64 gradient checks of
every layer and of whole CNN+LSTM networks, training vs recognition, minibatch masking, VGSL specs."""
import numpy as np
import pytest

import clstmtools as clstm
import naive_conv as naive
from clstmtools.network import (CNNBIDILSTM, CRNN, GRU, LSTM, AlongX, AlongY, BatchNorm, Conv2D, Dropout, GroupNorm,
                                MaxPool, Parallel, Reshape, Reversed, SpecError, build_spec, dropout_layers, make_net,
                                seed_dropout)
from clstmtools.kernels import winograd as KW
from clstmtools.network import fused
from clstmtools.network import conv as conv_module
from clstmtools.network.vgsl import reshaped
from test_network import _gradient_check, assert_same_for_one_and_two_threads, float64_networks

ACTIVATIONS = [0, 1, 2, 3, 4, 5]  # linear, sigmoid, tanh, relu, leaky relu, softmax over the channels
KRAKEN = ("[1,120,0,1 Cr3,13,32 Do0.1,2 Mp2,2 Cr3,13,32 Do0.1,2 Mp2,2 Cr3,9,64 Do0.1,2 Mp2,2 "
          "Cr3,9,64 Do0.1,2 S1(1x0)1,3 Lbx200 Do0.1,2 Lbx200 Do0.1,2 Lbx200 Do]")


@pytest.fixture
def f64():
    """Layers and sequences in float64 for the whole test."""
    with float64_networks():
        yield


def lines_in(rng, lengths, H, C):
    return [rng.uniform(-1, 1, (T, H * C)) for T in lengths]


def run_batch(layer, lines, deltas=None):
    """Forward (and backward with ``deltas``) on a padded minibatch; per-line outputs and input deltas."""
    layer.inputs.aset_batch(lines)
    layer.forward()
    outs = [layer.outputs.column(b).copy() for b in range(len(lines))]
    if deltas is None:
        return outs, None
    layer.d_outputs.aset_batch(deltas)
    layer.backward()
    return outs, [layer.d_inputs.column(b).copy() for b in range(len(lines))]


@pytest.mark.parametrize("kind,sy,sx", [(k, 1, 1) for k in ACTIVATIONS] + [(3, 2, 2), (5, 1, 3), (0, 3, 2)])
def test_convolution_matches_numpy_twin_on_a_padded_minibatch(kind, sy, sx, f64):
    rng = np.random.default_rng(kind)
    H, C, kh, kw, n = 5, 2, 3, 4, 3
    Ho = -(-H // sy)
    layer = Conv2D(H, C, kh, kw, n, kind, sy, sx)
    layer.init_weights(rng)
    lengths = [7, 4, 6]
    lines = lines_in(rng, lengths, H, C)
    deltas = [rng.uniform(-1, 1, (-(-T // sx), Ho * n)) for T in lengths]
    outs, dxs = run_batch(layer, lines, deltas)
    assert [len(y) for y in outs] == [-(-T // sx) for T in lengths] and layer.output_length(7) == -(-7 // sx)
    W = layer.W.reshape(n, kh, kw, C).astype(np.float64)
    dW = np.zeros_like(W)
    db = np.zeros(n)
    for x, y, d, dx in zip(lines, outs, deltas, dxs):
        x3 = x.reshape(-1, H, C)
        want = naive.conv_forward(x3, W, layer.b, kind, sy, sx)
        np.testing.assert_allclose(y.reshape(-1, Ho, n), want, rtol=1e-10, atol=1e-12)
        gx, gW, gb = naive.conv_backward(x3, W, want, d.reshape(-1, Ho, n), kind, sy, sx)
        np.testing.assert_allclose(dx.reshape(-1, H, C), gx, rtol=1e-10, atol=1e-12)
        dW, db = dW + gW, db + gb
    np.testing.assert_allclose(layer.dW.reshape(W.shape), dW, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.db, db, rtol=1e-10, atol=1e-12)
    assert np.all(layer.outputs.data[-(-4 // sx):, 1] == 0)  # padding stays zero


def test_winograd_delta_kernels_are_the_adjoints_of_the_transforms(f64):
    """<output(M), dZ> = <M, output_deltas(dZ)> and <weights(W), dU> = <W, weight_deltas(dU)>: the weight
    deltas' kernels are the transposes of the forward transforms (odd steps and rows: the last tiles
    reach past the maps)."""
    rng = np.random.default_rng(6)
    T, B, H, C, n = 7, 2, 5, 3, 4
    Hb, tiles = 3, 4
    M = rng.uniform(-1, 1, (16, tiles * B * Hb, n))
    dZ = rng.uniform(-1, 1, (T, B, H * n))
    Y = np.zeros((T, B, H * n))
    KW.winograd_output(Y, M, np.full(B, T), 1, 1, Hb, 0, tiles)
    dM = np.zeros_like(M)
    KW.winograd_output_deltas(dM, dZ, Hb, 0, tiles)
    np.testing.assert_allclose((Y * dZ).sum(), (M * dM).sum(), rtol=1e-12)
    W = rng.uniform(-1, 1, (n, 9 * C))
    dU = rng.uniform(-1, 1, (16, C, n))
    U = np.zeros_like(dU)
    KW.winograd_weights(U, W, C)
    dW = np.zeros_like(W)
    KW.winograd_weight_deltas(dW, dU, C)
    np.testing.assert_allclose((U * dU).sum(), (W * dW).sum(), rtol=1e-12)


# (H, C, kh, kw, filters): how the forward and the input deltas are computed
STRIDE1 = {"winograd": (5, 4, 3, 3, 3), "winograd-to-direct": (6, 5, 3, 3, 2), "direct": (4, 2, 3, 3, 2),
           "direct-even": (3, 2, 3, 2, 4), "direct-5x5": (5, 1, 5, 5, 6), "grey": (5, 1, 3, 3, 7)}
METHODS = {"winograd": ("winograd", True), "winograd-to-direct": ("winograd", True), "direct": ("direct", True),
           "direct-even": ("direct", False), "direct-5x5": ("direct", False), "grey": ("direct", True)}


@pytest.mark.parametrize("kind", [0, 3, 5])
@pytest.mark.parametrize("name", list(STRIDE1))
def test_stride1_convolutions_match_numpy_twin_in_pieces(name, kind, f64, monkeypatch):
    """Winograd's and the direct forward pass, and their input deltas (the output deltas convolved with
    the flipped filters) or col2im's, against the twin, on a padded minibatch of two step ranges, the
    buffers cut into many pieces."""
    monkeypatch.setattr(conv_module, "PIECE_BYTES", 4096)
    rng = np.random.default_rng(kind)
    H, C, kh, kw, n = STRIDE1[name]
    layer = Conv2D(H, C, kh, kw, n, kind)
    assert (layer.method(), layer.transposable()) == METHODS[name]
    layer.init_weights(rng)
    lengths = [37, 4, 33, 1]
    lines = lines_in(rng, lengths, H, C)
    deltas = [rng.uniform(-1, 1, (T, H * n)) for T in lengths]
    outs, dxs = run_batch(layer, lines, deltas)
    W = layer.W.reshape(n, kh, kw, C).astype(np.float64)
    dW, db = np.zeros_like(W), np.zeros(n)
    for x, y, d, dx in zip(lines, outs, deltas, dxs):
        x3 = x.reshape(-1, H, C)
        want = naive.conv_forward(x3, W, layer.b, kind)
        np.testing.assert_allclose(y.reshape(-1, H, n), want, rtol=1e-10, atol=1e-12)
        gx, gW, gb = naive.conv_backward(x3, W, want, d.reshape(-1, H, n), kind)
        np.testing.assert_allclose(dx.reshape(-1, H, C), gx, rtol=1e-10, atol=1e-12)
        dW, db = dW + gW, db + gb
    np.testing.assert_allclose(layer.dW.reshape(W.shape), dW, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.db, db, rtol=1e-10, atol=1e-12)
    assert np.all(layer.outputs.data[4:, 1] == 0) and np.all(layer.d_inputs.data[1:, 3] == 0)


def test_winograd_twin_is_the_convolution_and_the_kernels_its_transforms(f64):
    rng = np.random.default_rng(5)
    T, H, C, n = 7, 5, 3, 2
    x = rng.uniform(-1, 1, (T, H, C))
    W = rng.uniform(-1, 1, (n, 3, 3, C))
    np.testing.assert_allclose(naive.winograd_conv(x, W), naive.conv_forward(x, W, np.zeros(n), 0), atol=1e-12)
    U = np.zeros((16, C, n))
    KW.winograd_weights(U, W.reshape(n, 9 * C), C)
    for j in range(n):
        for c in range(C):
            np.testing.assert_allclose(U[:, c, j].reshape(4, 4), naive.winograd_filter(W[j, :, :, c].T), atol=1e-15)
    Hb, tiles = 3, -(-T // 2)
    V = np.zeros((16, tiles * Hb, C))
    KW.winograd_input(V, x.reshape(T, 1, H * C), np.array([T]), H, C, Hb, 0, tiles)
    xp = np.zeros((T + 3, H + 3, C))
    xp[1:T + 1, 1:H + 1] = x
    for tb in range(tiles):
        for hb in range(Hb):
            for c in range(C):
                d = xp[2 * tb:2 * tb + 4, 2 * hb:2 * hb + 4, c]
                np.testing.assert_allclose(V[:, tb * Hb + hb, c].reshape(4, 4), naive.winograd_input(d), atol=1e-15)
    M = rng.uniform(-1, 1, (16, tiles * Hb, n))
    for ph, pw in [(1, 1), (2, 2), (2, 1), (1, 2)]:
        Y = np.full((T // pw, 1, (H // ph) * n), np.nan)
        KW.winograd_output(Y, M, np.array([T]), ph, pw, Hb, 0, tiles)
        full = np.zeros((2 * tiles, 2 * Hb, n))
        for tb in range(tiles):
            for hb in range(Hb):
                for j in range(n):
                    full[2 * tb:2 * tb + 2, 2 * hb:2 * hb + 2, j] = naive.winograd_output(M[:, tb * Hb + hb, j].reshape(4, 4))
        want = naive.maxpool_forward(full[:T, :H], ph, pw)[:Y.shape[0]]
        np.testing.assert_allclose(Y.reshape(len(Y), -1, n), want, atol=1e-14)


BLOCKS = ("[1,24,0,1 Cr3,3,8 Do0.1,2 Mp2,2 Cl3,3,8 Bnk Do0.2 Mp2,1 Cl3,3,6 Bnr Cs3,3,6 Mp1,2 Cr1,1,3 Mp3,3 "
          "Cm3,3,4 Mp2,2 S1(1x0)1,3 Lbx4 O1c]")


def run_layers(net, lines):
    """``net``'s layers one by one (as training runs them), in recognition mode: every layer's outputs."""
    net.inputs.aset_batch(lines)
    current, outputs = net.inputs, {}
    for layer in net.sub:
        layer.inputs.share(current)
        layer.forward()
        current = layer.outputs
        outputs[id(layer)] = (current.data.copy(), current.lengths)
    return outputs


@pytest.mark.parametrize("spec,height,blocks", [(CNNBIDILSTM, 48, 2), (CRNN, 48, 4), (BLOCKS, 24, 5), (KRAKEN, 120, 0)],
                         ids=["CNNBIDILSTM", "CRNN", "blocks", "kraken"])
def test_recognition_blocks_give_what_the_layers_give(spec, height, blocks):
    """In recognition a convolution, the batch normalization after it (folded into its weights) and the
    max pooling after that run as one block: the same maps and lengths as the layers one by one (the
    training path), up to float32 rounding, and the same outputs."""
    net = make_net("VGSL", rng=3, spec=spec, ninput=height, noutput=6)
    rng = np.random.default_rng(1)
    for _, node in net.walk():
        if isinstance(node, BatchNorm):
            node.running_mean[...] = rng.normal(0, 0.3, node.C)
            node.running_var[...] = rng.uniform(0.5, 2, node.C)
            node.gamma[...] = rng.normal(1, 0.5, node.C)
            node.beta[...] = rng.normal(0, 0.2, node.C)
    plan = fused.recognition_plan(net.sub)
    assert sum(isinstance(p, fused.ConvBlock) for p in plan) == blocks
    lines = [rng.uniform(0, 1, (T, height)).astype(np.float32) for T in (97, 50, 73)]
    want = run_layers(net, lines)
    net.inputs.aset_batch(lines)
    ran = []
    for block in plan:
        block.inputs.share(net.inputs if not ran else ran[-1].outputs)
        block.forward()
        ran.append(block)
        data, lengths = want[id(block.layers[-1] if isinstance(block, fused.ConvBlock) else block)]
        np.testing.assert_allclose(block.outputs.data, data, rtol=1e-5, atol=1e-5 * np.abs(data).max())
        assert np.array_equal(block.outputs.lengths, lengths)
    net.inputs.aset_batch(lines)
    net.forward()
    np.testing.assert_allclose(net.outputs.data, want[id(net.sub[-1])][0], rtol=1e-4, atol=1e-6)


def test_a_network_without_convolution_blocks_runs_its_layers_as_they_are():
    """Its own layer list, so that a backward pass after a recognition pass needs no second forward pass."""
    net = make_net("BIDILSTM", rng=0, ninput=4, nhidden=3, noutput=5)
    assert fused.recognition_plan(net.sub) is net.sub
    net.inputs.aset(np.zeros((6, 4, 1), np.float32))
    net.forward()
    assert net._layer_by_layer


def test_convolution_work_buffers_stay_small_on_a_wide_minibatch():
    """Training and recognizing 8 lines of 850 steps, no convolution keeps a buffer larger than its outputs
    or a piece of work (im2col's patches of a whole minibatch were 6 times its outputs)."""
    net = make_net("CNNBIDILSTM", rng=0, ninput=48, noutput=5)
    net.set_input_deltas(False)  # as the trainer does
    rng = np.random.default_rng(0)
    lines = [rng.uniform(0, 1, (850, 48)).astype(np.float32) for _ in range(8)]
    net.set_training(True)
    run_batch(net, lines, [rng.uniform(-1, 1, (212, 5)).astype(np.float32) for _ in lines])
    net.set_training(False)
    run_batch(net, lines)
    weights = {"W", "b", "dW", "db", "_dW_parts", "_db_parts"}
    for layer in net.sub:
        if isinstance(layer, Conv2D):
            bound = max(layer.outputs.data.nbytes, 2 * conv_module.PIECE_BYTES)
            sizes = {name: a.nbytes for name, a in vars(layer).items() if isinstance(a, np.ndarray) and name not in weights}
            assert sizes and max(sizes.values()) <= bound, (layer.C, sizes, bound)


@pytest.mark.parametrize("ph,pw,sy,sx", [(2, 3, 2, 3), (3, 3, 2, 2), (2, 2, 2, 1), (3, 2, 1, 3)],
                         ids=["size", "overlapping", "kraken-2,2,2,1", "gaps"])
def test_max_pooling_matches_numpy_twin_and_shortens_each_line(ph, pw, sy, sx, f64):
    rng = np.random.default_rng(1)
    H, C = 7, 3  # with a row (and steps) that no window covers
    layer = MaxPool(H, C, ph, pw, sy, sx)
    Ho = (H - ph) // sy + 1
    lengths = [100, 71, 2]  # two step ranges (threads), and a line narrower than some windows
    steps = [(T - pw) // sx + 1 if T >= pw else 0 for T in lengths]
    lines = lines_in(rng, lengths, H, C)
    deltas = [rng.uniform(-1, 1, (max(n, 1), Ho * C)) for n in steps]
    outs, dxs = run_batch(layer, lines, deltas)
    assert layer.outputs.lengths.tolist() == steps and layer.output_length(10) == (10 - pw) // sx + 1
    for x, y, d, dx, n in zip(lines, outs, deltas, dxs, steps):
        x3 = x.reshape(-1, H, C)
        np.testing.assert_array_equal(y.reshape(-1, Ho, C), naive.maxpool_forward(x3, ph, pw, sy, sx)[:n])
        np.testing.assert_allclose(dx.reshape(-1, H, C),
                                   naive.maxpool_backward(x3, ph, pw, d[:n].reshape(-1, Ho, C), sy, sx))


def test_group_norm_matches_numpy_twin_per_line(f64):
    rng = np.random.default_rng(2)
    H, C, G = 3, 4, 2
    layer = GroupNorm(H, C, G)
    layer.gamma[...] = rng.uniform(0.5, 1.5, C)
    layer.beta[...] = rng.uniform(-1, 1, C)
    lines = [x * 3 + 1 for x in lines_in(rng, [5, 8], H, C)]
    outs, _ = run_batch(layer, lines)
    want = naive.normalize([x.reshape(-1, H, C) for x in lines], G, layer.gamma, layer.beta)
    for y, w in zip(outs, want):
        np.testing.assert_allclose(y.reshape(w.shape), w, rtol=1e-9, atol=1e-12)


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_recognition(f64):
    rng = np.random.default_rng(3)
    H, C = 3, 2
    layer = BatchNorm(H, C)
    lines = [x * 2 + 5 for x in lines_in(rng, [6, 9], H, C)]
    layer.set_training(True)
    outs, _ = run_batch(layer, lines)
    want = naive.normalize([x.reshape(-1, H, C) for x in lines], C, layer.gamma, layer.beta, per_line=False)
    for y, w in zip(outs, want):
        np.testing.assert_allclose(y.reshape(w.shape), w, rtol=1e-9, atol=1e-12)
    flat = np.concatenate([x.reshape(-1, C) for x in lines])
    np.testing.assert_allclose(layer.running_mean, 0.9 * 0 + 0.1 * flat.mean(0), rtol=1e-9)
    np.testing.assert_allclose(layer.running_var, 0.9 * 1 + 0.1 * flat.var(0, ddof=1), rtol=1e-9)
    for _ in range(200):  # the running statistics converge to the data's
        run_batch(layer, lines)
    layer.set_training(False)
    outs, _ = run_batch(layer, [lines[0]])
    expect = (lines[0].reshape(-1, C) - flat.mean(0)) / np.sqrt(flat.var(0, ddof=1) + 1e-5)
    np.testing.assert_allclose(outs[0].reshape(-1, C), expect, rtol=1e-6, atol=1e-9)
    one, _ = run_batch(layer, [lines[0][:3]])  # recognition: each step on its own, whatever the batch
    np.testing.assert_allclose(one[0], outs[0][:3], rtol=1e-12)


def test_dropout_only_in_training_seeded_and_scaled(f64):
    layer = Dropout(4, 5, rate=0.25)
    layer.init_weights(np.random.default_rng(7))
    x = np.ones((400, 20))
    out, _ = run_batch(layer, [x])
    np.testing.assert_array_equal(out[0], x)  # recognition: the identity
    layer.set_training(True)
    out, dx = run_batch(layer, [x], [x])
    kept = out[0] != 0
    assert 0.72 < kept.mean() < 0.78 and np.allclose(out[0][kept], 1 / 0.75)
    np.testing.assert_array_equal(dx[0], out[0])  # the same mask backward
    again = Dropout(4, 5, rate=0.25)
    again.init_weights(np.random.default_rng(7))
    again.set_training(True)
    np.testing.assert_array_equal(run_batch(again, [x])[0][0], out[0])  # seeded
    channels = Dropout(4, 5, rate=0.5, per_channel=True)
    channels.set_training(True)
    y = run_batch(channels, [x])[0][0].reshape(400, 4, 5)
    assert np.all(y == y[:1, :1])  # whole channels: the same for every step and row


def test_every_dropout_layer_draws_its_own_masks_also_when_loaded_and_from_the_seed_it_is_given(tmp_path):
    """Same-shaped dropout layers must not draw the same masks: neither in a network built from a spec nor in
    one loaded from its file (which keeps no random state); ``seed_dropout`` makes them the seed's."""
    spec = "[1,4,0,2 Do0.5 Do0.5 Cr3,3,2 Do0.5 S1(1x0)1,3 Lfx3 O1c]"
    path = clstm.save_net(tmp_path / "d.h5", make_net("VGSL", rng=0, spec=spec, ninput=8, noutput=3))

    def masks(net):
        net.set_training(True)
        net.inputs.aset(np.ones((6, 8, 1), np.float32))
        net.forward()
        return [layer._U.copy() for _, layer in dropout_layers(net)]

    for net in (build_spec(spec, 8, 3), clstm.load_net(path)):
        first, second, _ = masks(net)
        assert not np.array_equal(first, second)
    seeded = []
    for _ in range(2):
        net = clstm.load_net(path)
        seed_dropout(net, np.random.SeedSequence(7, spawn_key=(4,)))
        seeded.append(masks(net))
    for a, b in zip(*seeded):
        np.testing.assert_array_equal(a, b)
    other = clstm.load_net(path)
    seed_dropout(other, 8)
    assert not np.array_equal(masks(other)[0], seeded[0][0])


def _check_gradients(net, T, B, reseed=()):
    """test_network's float64 central-difference check; dropout layers redraw the same mask each pass."""
    def same_masks():
        for layer in reseed:
            layer.rng = np.random.default_rng(5)
    softmax = bool(net.sub) and net.sub[-1].kind == "SoftmaxLayer"
    _gradient_check(net, T=T, B=B, softmax=softmax, before_forward=same_masks)


def _bidirectional(cls, ni, n):
    return Parallel().add(cls(ni, n)).add(Reversed().add(cls(ni, n)))


LAYER_SPECS = {
    "conv": lambda k: Conv2D(3, 2, 3, 2, 2, k),
    "conv-strided": lambda k: Conv2D(5, 2, 3, 2, 2, k, 2, 3),
    "conv-winograd": lambda k: Conv2D(*STRIDE1["winograd"], k),
    "conv-direct": lambda k: Conv2D(*STRIDE1["direct"], k),
    "conv-grey": lambda k: Conv2D(*STRIDE1["grey"], k),
    "maxpool": lambda k: MaxPool(4, 2, 2, 2),
    "maxpool16": lambda k: MaxPool(16, 2, 16, 16),  # windows of 256 cells: past what an int8 index holds
    "maxpool-overlapping": lambda k: MaxPool(5, 2, 3, 3, 2, 2),
    "reshape": lambda k: Reshape(4, 3, *reshaped(4, 3, 1, 2, 2, 3, 1)),  # half the rows into the channels
    "groupnorm": lambda k: GroupNorm(3, 4, 2, k),
    "batchnorm": lambda k: BatchNorm(3, 2, k),
    "along-x": lambda k: AlongX(3, _bidirectional(LSTM, 2, 2)),
    "along-y": lambda k: AlongY(4, GRU(2, 3)),
    "along-y-summarized": lambda k: AlongY(4, _bidirectional(LSTM, 2, 2), summarize=True),
    "along-y-summarized-reversed": lambda k: AlongY(3, Reversed().add(GRU(2, 2)), summarize=True),
}
GRADIENT_STEPS = {"maxpool16": 32, "maxpool-overlapping": 7}


@pytest.mark.parametrize("name,kind,training", [("conv", k, False) for k in ACTIVATIONS] + [
    ("conv-strided", 3, False), ("conv-strided", 5, False), ("conv-winograd", 2, False), ("conv-winograd", 5, False),
    ("conv-direct", 4, False), ("conv-grey", 1, False), ("maxpool", 0, False), ("maxpool16", 0, False),
    ("maxpool-overlapping", 0, False), ("reshape", 0, False), ("groupnorm", 0, False), ("groupnorm", 4, False),
    ("batchnorm", 0, True), ("batchnorm", 2, True), ("batchnorm", 0, False), ("along-x", 0, False),
    ("along-y", 0, False), ("along-y-summarized", 0, False), ("along-y-summarized-reversed", 0, False)])
def test_layer_gradients_float64(name, kind, training, f64):
    layer = LAYER_SPECS[name](kind)
    if name == "batchnorm" and not training:
        layer.running_mean[...] = [0.3, -0.2]
        layer.running_var[...] = [0.5, 2.0]
    layer.set_training(training)
    _check_gradients(layer, T=GRADIENT_STEPS.get(name, 5), B=2)


def test_dropout_gradients_float64(f64):
    layer = Dropout(2, 3, rate=0.4)
    layer.set_training(True)
    _check_gradients(layer, T=4, B=2, reseed=[layer])


@pytest.mark.parametrize("spec", [
    "[1,4,0,1 Ck3,3,2 Bnk Mp2,2 S1(1x0)1,3 Lbx2 Do0.3 O1c]",
    "[1,4,0,1 Cr3,3,2 Do0.2,2 Mp2,1 Gn1 S1(1x0)1,3 Lfx2 Lrx2 O1c]",
    "[1,3,0,1 Ct2,2,2 S1(1x3)1,3 Fs3 O1s]",
    "[1,6,0,1 Cm3,3,3,2,1 Mp2,2,1,2 Lbx2 Gfys2 O1c]",  # strides, a channel softmax, rows along x, y summarized
    "[1,4,0,2 S1(2x2)3,1 C{c}t3,3,2 Gbx2 S1(1x0)1,3 Grx3 O1s]",  # half the rows into the channels, GRUs
])
def test_whole_cnn_lstm_networks_gradients_float64(spec, f64):
    height, channels = (int(v) for v in spec[1:].split()[0].split(",")[1::2])
    net = make_net("VGSL", rng=0, spec=spec, ninput=height * channels, noutput=3)
    net.set_training(True)
    _check_gradients(net, T=6, B=1, reseed=[n for _, n in net.walk() if isinstance(n, Dropout)])


def test_minibatch_padding_never_changes_results():
    """In recognition (running statistics, no dropout) a padded minibatch gives each line's own
    outputs, and its weight deltas are the sum of the lines' deltas."""
    net = make_net("CRNN", rng=1, ninput=48, noutput=5)
    rng = np.random.default_rng(0)
    lines = [rng.uniform(0, 1, (T, 48)).astype(np.float32) for T in (70, 23, 47)]  # 70: two step chunks
    deltas = [rng.uniform(-1, 1, (net.output_length(len(x)), 5)).astype(np.float32) for x in lines]
    outs, dxs = run_batch(net, lines, deltas)
    batch_dw = [dw.copy() for _, _, dw in net.weights()]
    total = [np.zeros_like(d) for d in batch_dw]
    for b, x in enumerate(lines):
        for _, _, dw in net.weights():
            dw[...] = 0
        out, dx = run_batch(net, [x], [deltas[b]])
        np.testing.assert_allclose(out[0], outs[b], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dx[0], dxs[b], rtol=1e-4, atol=1e-6)
        total = [t + dw for t, (_, _, dw) in zip(total, net.weights())]
    for t, d in zip(total, batch_dw):
        np.testing.assert_allclose(d, t, rtol=1e-3, atol=1e-5)


def test_without_input_deltas_the_first_convolution_skips_them_and_nothing_else_changes():
    """``set_input_deltas(False)`` (what the trainer sets) leaves the outputs and weight deltas exactly
    as they were; the network's input deltas are then NaN, not stale values."""
    net = make_net("CNNBIDILSTM", rng=2, ninput=48, noutput=5)
    rng = np.random.default_rng(4)
    lines = [rng.uniform(0, 1, (T, 48)).astype(np.float32) for T in (90, 61)]
    deltas = [rng.uniform(-1, 1, (net.output_length(len(x)), 5)).astype(np.float32) for x in lines]
    outs, dxs = run_batch(net, lines, deltas)
    assert all(np.isfinite(dx).all() for dx in dxs)
    want = [dw.copy() for _, _, dw in net.weights()]
    for _, _, dw in net.weights():
        dw[...] = 0
    net.set_input_deltas(False)
    assert not net.sub[0].input_deltas and net.sub[2].input_deltas
    again, dxs = run_batch(net, lines, deltas)
    for a, b in zip(again, outs):
        np.testing.assert_array_equal(a, b)
    for (name, _, dw), w in zip(net.weights(), want):
        np.testing.assert_array_equal(dw, w, err_msg=name)
    assert all(np.isnan(dx).all() for dx in dxs)


def test_float32_in_float32_out():
    net = make_net("CNNBIDILSTM", rng=0, ninput=48, noutput=4)
    net.inputs.aset(np.zeros((16, 48, 1), np.float32))
    net.forward()
    assert net.outputs.data.dtype == np.float32 and net.outputs.T == 4
    assert all(w.dtype == np.float32 for _, w, _ in net.weights())


@pytest.mark.parametrize("spec,height", [(KRAKEN, 120), (CNNBIDILSTM, 48), (CRNN, 48)])
def test_specs_build_train_and_reload_with_identical_outputs(tmp_path, spec, height):
    net = make_net("VGSL", rng=0, spec=spec, ninput=height, noutput=6)
    net.setLearningRate(1e-3, 0.9)
    rng = np.random.default_rng(0)
    net.set_training(True)
    for _ in range(2):
        net.inputs.aset(rng.uniform(0, 1, (40, height, 1)).astype(np.float32))
        net.forward()
        net.d_outputs.aset(rng.uniform(-1, 1, net.outputs.shape).astype(np.float32))
        net.backward()
        net.update()
    net.set_training(False)
    x = rng.uniform(0, 1, (48, height, 1)).astype(np.float32)
    net.inputs.aset(x)
    net.forward()
    before = net.outputs.array().copy()
    path = clstm.save_net(tmp_path / "m.h5", net)
    loaded = clstm.load_net(path)
    assert loaded.attr("spec") == spec
    loaded.inputs.aset(x)
    loaded.forward()
    np.testing.assert_array_equal(loaded.outputs.array(), before)


def test_batch_norm_statistics_are_saved_as_datasets(tmp_path):
    import h5py
    net = make_net("CRNN", rng=0, ninput=48, noutput=4)
    net.sub[1].running_mean[...] = 0.25
    path = clstm.save_net(tmp_path / "crnn.h5", net)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f[".vgsl.1.batchnorm.mean"][...], 0.25)
        assert f.attrs["kind"].decode().rstrip("\0") == "CRNN"
    assert np.all(clstm.load_net(path).sub[1].running_mean == 0.25)


@pytest.mark.parametrize("spec,token", [
    ("[1,48,0,1 Cr3,3,16 Xx9 O1c]", "Xx9"),
    ("[1,48,0,1 Cq3,3,16 O1c]", "Cq3,3,16"),
    ("[1,48,0,1 Cr3,3,16 Lbx10 O1c]", "O1c"),
    ("[1,48,0,1 Cr3,3,16 Lby10]", "Lby10"),  # the last token, before the output added to it
    ("[1,48,0,1 Mp2,2 S2(1x0)1,3 Lbx10 O1c]", "S2(1x0)1,3"),
    ("[1,48,0,1 S1(5x5)1,3 Lbx10 O1c]", "S1(5x5)1,3"),
    ("[1,48,0,1 S1(1x0)3,3 O1c]", "S1(1x0)3,3"),
    ("[1,48,0,1 Lbxs10 O1c]", "Lbxs10"),
    ("[1,48,0,1 Lbxc10 O1c]", "Lbxc10"),
    ("[1,48,0,1 CTr3,3,16 O1c]", "CTr3,3,16"),
    ("[1,48,0,1 Cr3,3,16,1,1,2,2 O1c]", "Cr3,3,16,1,1,2,2"),
    ("[1,48,0,1 Cr3,3,16,2 O1c]", "Cr3,3,16,2"),
    ("[1,48,0,1 Cr3,3,16,0,1 O1c]", "Cr3,3,16,0,1"),
    ("[1,48,0,1 Mp2,2,0,1 O1c]", "Mp2,2,0,1"),
    ("[1,48,0,1 C{a}r{b}3,3,4 O1c]", "C{a}r{b}3,3,4"),
    ("[1,48,0,1 C{a.b}r3,3,4 O1c]", "C{a.b}r3,3,4"),
    ("[1,48,0,1 (Cr3,3,4 Cr3,3,4) O1c]", "(Cr3,3,4"),
    ("[1,48,0,1 I O1c]", "I"),
    ("[1,48,0,1 Lbx10 O1ca5]", "O1ca5"),
    ("[1,48,0,1 Lbx10 O2c]", "O2c"),
    ("[1,48,200,1 Lbx10 O1c]", "1,48,200,1"),
    ("[1,32,0,1 Lbx10 O1c]", "1,32,0,1"),
    ("[1,48,0,1 O1c Lbx10]", "O1c"),
    ("[1,48,0,1 Cr3,3,6 Gn4 S1(1x0)1,3 O1c]", "Gn4"),
    ("[1,48,0,1 Mp64,2 O1c]", "Mp64,2"),
    ("[1,48,0,1 Do1.5 O1c]", "Do1.5"),
])
def test_malformed_specs_get_one_line_errors_naming_the_token(spec, token):
    with pytest.raises(SpecError) as error:
        build_spec(spec, 48, 5)
    message = str(error.value)
    assert repr(token) in message and "\n" not in message


def test_spec_without_output_ends_in_softmax_and_needs_brackets():
    net = build_spec("[1,48,0,1 Lbx10]", 48, 5)
    assert net.sub[-1].kind == "SoftmaxLayer" and net.noutput() == 5
    with pytest.raises(SpecError, match=r"\[ \]"):
        build_spec("1,48,0,1 Lbx10 O1c", 48, 5)


@pytest.mark.parametrize("spec", ["[1,8,0,1 Cr3,3,4 Bn Do0.2 Mp2,2 S1(1x0)1,3 Lbx4 O1c]",
                                  "[1,8,0,1 Cr3,3,4,1,2 Mp2,1 Gbx3 Lbys4 Gbx4 O1c]"], ids=["lstm", "gru-rows-columns"])
def test_threads_give_identical_cnn_models(spec):
    """The convolutions split their steps over threads, and so do recurrent layers their columns; the weights
    after training do not depend on it."""
    def train(threads):
        clstm.set_threads(threads)
        net = make_net("VGSL", rng=9, spec=spec, ninput=8, noutput=3)
        net.set_training(True)
        rng = np.random.default_rng(1)
        for _ in range(3):
            net.inputs.aset_batch([rng.uniform(0, 1, (T, 8)).astype(np.float32) for T in (70, 51)])
            net.forward()
            net.d_outputs.aset_batch([rng.uniform(-1, 1, (net.output_length(T), 3)).astype(np.float32)
                                      for T in (70, 51)])
            net.backward()
            net.update()
        return [w.copy() for _, w, _ in net.weights()] + [a.copy() for _, a in net.states()]

    assert_same_for_one_and_two_threads(train)


# --- the programs ------------------------------------------------------------------------------------
SMALL_SPEC = "[1,24,0,1 Ck3,3,4 Bnk Mp2,2 Do0.1 S1(1x0)1,3 Lbx8 O1c]"


@pytest.fixture(scope="module")
def cnn_data(tmp_path_factory):
    from clstmtools import generate
    folder = tmp_path_factory.mktemp("cnn")
    assert generate.main(["-o", str(folder), "-q", "--seed", "3", "--tasks", "ocr,expr,text-upper", "--ocr-train",
                          "12", "--ocr-test", "4", "--height", "24", "--expr-train", "6", "--expr-test", "2",
                          "--text-train", "20", "--text-test", "4"]) == 0
    return folder


def test_programs_train_continue_and_apply_vgsl_networks(cnn_data):
    from test_drivers import SUMMARY, Job, assert_one_line_error, attributes, run, run_all, succeeded
    common = dict(report_every=0, seed=4)
    spec, crnn, text, bad = run_all([
        Job("clstmctc", ["ocr-train.h5"], cnn_data, dict(common, spec=SMALL_SPEC, minibatch=3, ntrain=12,
                                                         save_name="cnn", testset="ocr-test.h5", test_every=12,
                                                         display_every=6)),
        Job("clstmctc", ["expr-train"], cnn_data, dict(common, lstm="CRNN", ntrain=3, save_name="crnn")),
        Job("clstmtext", ["text-upper-train.txt"], cnn_data, dict(common, spec="[1,0,0,1 Lbx6 Do0.2 O1c]", ntrain=6,
                                                                   save_name="txt")),
        Job("clstmctc", ["ocr-train.h5"], cnn_data, dict(common, spec="[1,24,0,1 Cr3,3,4 Lbx10 O1c]", ntrain=2,
                                                         save_name="bad"))])
    for result in (spec, crnn, text):
        succeeded(result)
    assert_one_line_error(bad, "clstmctc", "'O1c'", "S1(1x0)1,3")
    assert "TESTERR" in spec.stdout and (cnn_data / "cnn-display.png").stat().st_size > 0
    saved = attributes(cnn_data / "cnn.h5")
    assert saved["spec"] == SMALL_SPEC and saved["kind"] == "VGSL" and saved["minibatch"] == "3"
    crnn_saved = attributes(cnn_data / "crnn.h5")
    assert crnn_saved["kind"] == "CRNN" and crnn_saved["target_height"] == "48" and crnn_saved["ninput"] == "48"
    assert attributes(cnn_data / "txt.h5")["spec"] == "[1,0,0,1 Lbx6 Do0.2 O1c]"
    more, errs = run_all([
        Job("clstmctc", ["ocr-train.h5"], cnn_data, dict(common, load="cnn.h5", ntrain=15, save_name="more")),
        Job("clstmctc", ["ocr-test.h5"], cnn_data, dict(mode="errs", load="cnn.h5"))])
    assert "more.h5" in succeeded(more).stdout and attributes(cnn_data / "more.h5")["trial"] == "15"
    assert SUMMARY.match(succeeded(errs).stdout.splitlines()[-1])
    folder = run("clstmctc", "expr-test", cwd=cnn_data, mode="text", load="crnn.h5")
    assert len(succeeded(folder).stdout.splitlines()) == 2
