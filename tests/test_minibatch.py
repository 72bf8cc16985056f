"""Tests of padded minibatches: a batch of sequences of different lengths gives exactly what the
sequences give one at a time (outputs, input deltas, and the update after pseudo-batching)."""
import numpy as np
import pytest

import clstmtools as clstm
from clstmtools.sequence import Sequence

LENGTHS = (9, 4, 13, 1, 7)  # unsorted, with a single-step line


def lines(depth, seed=0, lengths=LENGTHS):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (T, depth)).astype(np.float32) for T in lengths]


def deltas_for(outputs, seed):
    """Deterministic output deltas of the form target - output (what CTC training gives)."""
    rng = np.random.default_rng(seed)
    target = rng.dirichlet(np.ones(outputs.shape[1]), outputs.shape[0]).astype(np.float32)
    return target - outputs


def make(kind, **extra):
    net = clstm.make_net(kind, ninput=3, nhidden=5, nhidden2=4, noutput=4, rng=11, **extra)
    net.setLearningRate(0.1, 0.9)
    for _, w, _ in net.weights():  # larger weights exercise the nonlinearities and the recurrence
        w *= 60
    return net


def one_at_a_time(net, xs):
    """Pseudo-batching: one forward/backward per line, one update; returns outputs and d_inputs."""
    outs, dins = [], []
    for i, x in enumerate(xs):
        net.inputs.aset(x)
        net.forward()
        y = net.outputs.array()[:, :, 0].copy()
        net.d_outputs.aset(deltas_for(y, i))
        net.backward()
        outs.append(y)
        dins.append(net.d_inputs.array()[:, :, 0].copy())
    net.update()
    return outs, dins


def minibatch(net, xs):
    net.inputs.aset_batch(xs)
    net.forward()
    outs = [net.outputs.column(b).copy() for b in range(len(xs))]
    net.d_outputs.aset_batch([deltas_for(y, i) for i, y in enumerate(outs)])
    net.backward()
    dins = [net.d_inputs.column(b).copy() for b in range(len(xs))]
    net.update()
    return outs, dins


@pytest.mark.parametrize("kind", ["BIDILSTM", "LSTM1", "REVLSTM1", "BIDILSTM2"])
@pytest.mark.parametrize("normalization", ["batch", "len"])
def test_minibatch_equals_pseudo_batching(kind, normalization):
    xs = lines(3)
    single, batched = make(kind), make(kind)
    for net in (single, batched):
        net.set_normalization(normalization)
    outs1, dins1 = one_at_a_time(single, xs)
    outs2, dins2 = minibatch(batched, xs)
    for b, (y1, y2, d1, d2) in enumerate(zip(outs1, outs2, dins1, dins2)):
        assert y2.shape == y1.shape == (LENGTHS[b], 4)
        np.testing.assert_allclose(y2, y1, rtol=1e-5, atol=1e-6, err_msg=f"outputs of column {b}")
        np.testing.assert_allclose(d2, d1, rtol=1e-4, atol=1e-6, err_msg=f"d_inputs of column {b}")
    for (name, w1, dw1), (_, w2, dw2) in zip(single.weights(), batched.weights()):
        scale = np.abs(w1).max()
        np.testing.assert_allclose(w2, w1, rtol=1e-5, atol=1e-6 * scale, err_msg=name)
        np.testing.assert_allclose(dw2, dw1, rtol=1e-4, atol=1e-5 * np.abs(dw1).max(), err_msg=name)
    assert any(not np.allclose(w, w0) for (_, w, _), (_, w0, _) in zip(batched.weights(), make(kind).weights()))


def test_padding_never_changes_results():
    xs = lines(3, seed=4)
    net = make("BIDILSTM")
    net.inputs.aset_batch(xs)
    net.forward()
    clean_out = net.outputs.array().copy()
    deltas = [deltas_for(net.outputs.column(b), b) for b in range(len(xs))]
    net.d_outputs.aset_batch(deltas)
    net.backward()
    clean = [dw.copy() for _, _, dw in net.weights()]
    clean_din = net.d_inputs.array().copy()
    assert not net.outputs.data[LENGTHS[1]:, 1].any()  # outputs in padding are zero
    assert not clean_din[LENGTHS[1]:, :, 1].any()

    dirty = make("BIDILSTM")
    dirty.inputs.aset_batch(xs)
    for b, T in enumerate(LENGTHS):  # garbage in the padding of inputs and deltas
        dirty.inputs.data[T:, b] = 1e3
    dirty.forward()
    d = dirty.outputs.array().copy()
    d[:, :, :] = 77.0
    for b, T in enumerate(LENGTHS):
        d[:T, :, b] = deltas[b]
    dirty.d_outputs.aset(d)
    dirty.backward()
    np.testing.assert_array_equal(dirty.d_inputs.array(), clean_din)
    for b, T in enumerate(LENGTHS):
        np.testing.assert_array_equal(dirty.outputs.column(b), clean_out[:T, :, b])
    for (name, _, dw), ref in zip(dirty.weights(), clean):
        np.testing.assert_array_equal(dw, ref, err_msg=name)


def test_reversed_runs_each_column_within_its_length():
    """The LSTM's in-kernel reversal and the generic copying reversal agree with reversing by hand."""
    xs = lines(3, seed=2)
    lstm = clstm.make_net("LSTM", ninput=3, noutput=5, rng=3)
    fast = clstm.make_net("Reversed").add(lstm)
    generic = clstm.make_net("Reversed").add(clstm.make_net("Stacked").add(lstm))  # a non-LSTM child copies
    expected = []
    for x in xs:
        lstm.inputs.aset(x[::-1])
        lstm.forward()
        expected.append(lstm.outputs.array()[::-1, :, 0].copy())
    for net in (fast, generic):
        net.inputs.aset_batch(xs)
        net.forward()
        for b, y in enumerate(expected):
            np.testing.assert_allclose(net.outputs.column(b), y, rtol=1e-6, atol=1e-7)


def assert_independent_of_threads(compute):
    """``compute()`` returns a list of arrays: they must be identical with 1 and 2 threads."""
    results = []
    try:
        for threads in (1, 2):
            clstm.set_threads(threads)
            results.append(compute())
    finally:
        clstm.set_threads(0)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_threads_give_identical_minibatch_models():
    def train():
        net = make("BIDILSTM")
        for seed in range(3):
            minibatch(net, lines(3, seed=seed))
        return [w.copy() for _, w, _ in net.weights()]

    assert_independent_of_threads(train)


def test_sequence_batch_api():
    seq = Sequence()
    xs = lines(2, lengths=(3, 5))
    seq.aset_batch(xs)
    assert seq.shape == (5, 2, 2) and seq.lengths.tolist() == [3, 5] and seq.nsteps() == 8
    np.testing.assert_array_equal(seq.column(0), xs[0])
    np.testing.assert_array_equal(seq.column(1), xs[1])
    assert not seq.data[3:, 0].any()
    assert "lengths=[3, 5]" in repr(seq)
    seq.aset_batch(lines(2, lengths=(4, 4)))
    assert seq.lengths is None and seq.nsteps() == 8 and seq.column_lengths().tolist() == [4, 4]
    copy = Sequence()
    copy.copy_from(Sequence().aset_batch(xs))
    assert copy.lengths.tolist() == [3, 5]
    seq.aset(np.zeros((2, 2, 3), np.float32))
    assert seq.lengths is None and seq.column(2).shape == (2, 2)
    with pytest.raises(ValueError, match="sequence 1 has shape"):
        seq.aset_batch([np.zeros((3, 2)), np.zeros((3, 4))])
    with pytest.raises(ValueError, match="sequence 0 has shape"):
        seq.aset_batch([np.zeros((0, 2))])
    with pytest.raises(ValueError, match="at least one"):
        seq.aset_batch([])
    with pytest.raises(IndexError, match="column 3"):
        seq.column(3)


def test_nested_parallel_work_runs_and_does_not_depend_on_threads():
    """Full layers split their rows over the threads; inside a Parallel they run serially."""
    def outputs_and_deltas():
        branch = clstm.make_net("Stacked").add(clstm.make_net("LSTM", ninput=3, noutput=4, rng=1))
        branch.add(clstm.make_net("SoftmaxLayer", ninput=4, noutput=3, rng=2))
        net = clstm.make_net("Parallel").add(branch).add(clstm.make_net("TanhLayer", ninput=3, noutput=2, rng=3))
        net.inputs.aset_batch(lines(3, lengths=(90, 70)))  # enough rows to split
        net.forward()
        net.d_outputs.aset(np.ones(net.outputs.shape, np.float32))
        net.backward()
        return [net.outputs.array().copy()] + [dw.copy() for _, _, dw in net.weights()]

    assert_independent_of_threads(outputs_and_deltas)


def test_setting_a_shared_port_never_writes_into_the_owner():
    """Composites pass buffers on without copying; writing to a port that borrows storage must
    give it storage of its own instead of changing the network it was borrowed from."""
    net = make("LSTM1")
    x = lines(3, lengths=(6,))[0]
    net.inputs.aset(x)
    net.forward()
    lstm = net.sub[0]
    assert lstm.inputs.data is net.inputs.data  # shared, not copied
    lstm.inputs.aset(np.zeros_like(x))
    lstm.inputs.zero()
    np.testing.assert_array_equal(net.inputs.array()[:, :, 0], x)
    outputs = net.outputs.array().copy()
    net.outputs.aset(np.zeros((6, 4, 1)))
    np.testing.assert_array_equal(net.sub[-1].outputs.array(), outputs)


def test_reversed_lstm_over_columns_of_different_lengths_is_the_lstm_on_reversed_lines():
    """Columns of different lengths reach a Reversed LSTM as reversed copies (run backwards in
    place, their rows would be scattered over the buffers): outputs and input deltas are those of
    the same LSTM run forwards on each line reversed by hand."""
    xs = lines(3)
    backwards, forwards = make("REVLSTM1"), make("LSTM1")
    for (_, w, _), (_, w_forwards, _) in zip(backwards.weights(), forwards.weights()):
        w_forwards[...] = w
    backwards.inputs.aset_batch(xs)
    backwards.forward()
    assert not backwards.sub[0].in_place()  # the copies, not the in-place recurrence
    forwards.inputs.aset_batch([x[::-1] for x in xs])
    forwards.forward()
    outs = [backwards.outputs.column(b) for b in range(len(xs))]
    for b, y in enumerate(outs):
        np.testing.assert_allclose(y, forwards.outputs.column(b)[::-1], rtol=1e-6, atol=1e-7)
    backwards.d_outputs.aset_batch([deltas_for(y, b) for b, y in enumerate(outs)])
    forwards.d_outputs.aset_batch([deltas_for(y, b)[::-1] for b, y in enumerate(outs)])
    backwards.backward()
    forwards.backward()
    for b in range(len(xs)):
        np.testing.assert_allclose(backwards.d_inputs.column(b), forwards.d_inputs.column(b)[::-1], rtol=1e-5, atol=1e-6)
    equal = lines(3, lengths=(6, 6))
    backwards.inputs.aset_batch(equal)
    backwards.forward()
    assert backwards.sub[0].in_place()  # one length: the recurrence runs backwards in place
