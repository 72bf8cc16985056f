"""Fine-tuning operations on networks (the API under resize= and freeze=): outputs and inputs resized to new codecs
with their optimizer state, and a frozen backbone."""
import numpy as np
import pytest

import clstmtools as clstm
from clstmtools import resume
from clstmtools.codec import Codec, resized_codec
from clstmtools.datasets import encode_input
from clstmtools.network import NetworkError


def train_steps(net, inputs, noutput, steps=3, rng=None):
    rng = np.random.default_rng(0) if rng is None else rng
    for _ in range(steps):
        net.inputs.aset(inputs)
        net.forward()
        targets = np.zeros_like(net.outputs.array())
        targets[np.arange(len(targets)), rng.integers(0, noutput, len(targets))] = 1
        net.d_outputs.aset(targets - net.outputs.array())
        net.backward()
        net.update()


def test_resized_codecs_follow_krakens_meanings():
    old = Codec.from_texts(["abcd"])
    assert resized_codec(old, ["ab", "xc"], "union", "t").codepoints == old.codepoints + [ord("x")]
    assert resized_codec(old, ["ab", "xc"], "new", "t").codepoints == [0, 97, 98, 99, 120]  # d dropped, x added
    assert resized_codec(old, ["ab"], "fail", "t") is old
    with pytest.raises(ValueError, match=r"2 characters in t.txt are not in the model's codec: 'x' ×2; set resize"):
        resized_codec(old, ["xax"], "fail", "t.txt")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resize_outputs_keeps_old_rows_and_optimizer_state_and_draws_new_rows(optimizer):
    net = clstm.make_net("BIDILSTM", ninput=3, nhidden=4, noutput=5, rng=1)
    net.set_optimizer(optimizer)
    net.setLearningRate(1e-2, 0.9)
    inputs = np.random.default_rng(1).random((7, 3, 1)).astype(np.float32)
    train_steps(net, inputs, 5)
    old = net.layers()[-1]
    W, b = old.W.copy(), old.b.copy()
    dW = old.dW.copy()
    adam = {j: tuple(a.copy() for a in pair) for j, pair in old.adam_state.items()}
    state = resume.capture(net, {})
    keep = [0, 1, -1, 3, -1, 4]  # class 2 dropped; two new ones
    new = clstm.resize_outputs(net, keep, rng=np.random.default_rng(5), state=state)
    assert net.layers()[-1] is new and new.no == net.noutput() == 6 and new.learning_rate == old.learning_rate
    for k, source in enumerate(keep):
        if source >= 0:
            assert np.array_equal(new.W[k], W[source]) and new.b[k] == b[source]
            assert np.array_equal(new.dW[k], dW[source])
        else:
            assert not new.dW[k].any() and np.abs(new.W[k]).max() > 0
    fresh = type(old)(old.ni, 6)
    fresh.init_weights(np.random.default_rng(5))
    assert np.array_equal(new.W[2], fresh.W[2])  # drawn as a fresh output layer's
    if optimizer == "adam":
        for j, (m, v) in adam.items():
            axis_rows = [k for k, s in enumerate(keep) if s >= 0]
            assert np.array_equal(new.adam_state[j][0][axis_rows], m[[keep[k] for k in axis_rows]])
            assert not new.adam_state[j][1][2].any()
    entry = state.layers[-1]
    assert entry["deltas"][0].shape == new.W.shape and entry["deltas"][1].shape == new.b.shape
    train_steps(net, inputs, 6)  # trains on with the new classes
    assert np.isfinite(new.W).all()


def test_resize_inputs_reads_the_old_characters_as_before():
    old_codec = Codec.from_texts(["abc"])
    net = clstm.make_net("BIDILSTM", ninput=len(old_codec), nhidden=4, noutput=3, rng=2)
    text = "cab"
    net.inputs.aset(encode_input(text, old_codec, 2)[:, :, None])
    net.forward()
    before = net.outputs.array().copy()
    new_codec = resized_codec(old_codec, ["xb", "ya"], "new", "t")  # 'c' dropped: 'abxy'
    assert new_codec.codepoints == [0, 97, 98, 120, 121]
    clstm.resize_inputs(net, new_codec.translation_to(old_codec), rng=np.random.default_rng(0))
    assert net.ninput() == len(new_codec)
    net.inputs.aset(encode_input("ab", new_codec, 2)[:, :, None])
    net.forward()
    net2 = clstm.make_net("BIDILSTM", ninput=len(old_codec), nhidden=4, noutput=3, rng=2)
    net2.inputs.aset(encode_input("ab", old_codec, 2)[:, :, None])
    net2.forward()
    np.testing.assert_array_equal(net.outputs.array(), net2.outputs.array())  # the same weights for a and b
    assert before.shape[0] == len(encode_input(text, old_codec, 2))
    with pytest.raises(NetworkError, match="cannot be resized"):
        clstm.resize_inputs(clstm.make_net("CNNBIDILSTM", ninput=48, noutput=4, rng=0), [0, 1])


def test_a_frozen_backbone_keeps_its_weights_and_statistics_and_thaws():
    spec = "[1,8,0,1 Cr3,3,4 Bnr Mp2,2 Do0.3 S1(1x0)1,3 Lbx5 O1c]"
    net = clstm.make_net("VGSL", spec=spec, ninput=8, noutput=4, rng=3)
    net.set_optimizer("adam")
    inputs = np.random.default_rng(2).random((12, 8, 1)).astype(np.float32)
    before = {name: w.copy() for name, w, _ in net.weights()}
    statistics = {name: a.copy() for name, a in net.states()}
    clstm.freeze_backbone(net)
    output = net.layers()[-1]
    net.set_training(True)
    assert output.training and not any(layer.training for layer in net.layers()[:-1])
    train_steps(net, inputs, 4)
    net.set_training(False)
    changed = {name for name, w, _ in net.weights() if not np.array_equal(w, before[name])}
    assert changed == {name for name in before if name.startswith(".vgsl.5.")}, changed  # the output layer's
    assert all(np.array_equal(a, statistics[name]) for name, a in net.states())
    clstm.freeze_backbone(net, False)
    net.set_training(True)
    train_steps(net, inputs, 4)
    assert all(not np.array_equal(w, before[name]) for name, w, _ in net.weights())
    assert any(not np.array_equal(a, statistics[name]) for name, a in net.states())
    with pytest.raises(NetworkError, match="output layer"):
        clstm.freeze_backbone(clstm.make_net("Parallel"))
