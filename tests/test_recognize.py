"""Tests of bulk recognition: lines run as padded minibatches sorted by width give what they give one
at a time, in the order asked for, and a line that cannot be read stops the run after every earlier one."""
import numpy as np
import pytest

import clstmtools as clstm
from clstmtools.codec import Codec
from clstmtools.recognize import network_outputs, width_batches
from clstmtools.tasks import CtcTask, edit_distance, evaluate_ctc, evaluate_lines

WIDTHS = (9, 30, 4, 13, 1, 30, 7, 22, 5, 17, 11)


def lines(depth, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (T, depth)).astype(np.float32) for T in WIDTHS]


def make(kind):
    net = clstm.make_net(kind, ninput=3, nhidden=5, nhidden2=4, noutput=4, rng=11)
    for _, w, _ in net.weights():  # larger weights exercise the nonlinearities and the recurrence
        w *= 60
    return net


def alone(net, x):
    net.inputs.aset(x[:, :, None])
    net.forward()
    return net.outputs.array()[:, :, 0].copy()


def test_width_batches_sort_widest_first_and_respect_both_limits():
    widths = [5, 9, 9, 2, 7, 100]
    batches = width_batches(widths, batch_lines=2, batch_steps=20)
    assert batches == [[5], [1, 2], [4, 0], [3]]
    assert sorted(k for b in batches for k in b) == list(range(len(widths)))
    assert width_batches([], 4, 10) == []


@pytest.mark.parametrize("kind", ["BIDILSTM", "LSTM1", "BIDILSTM2"])
def test_batched_outputs_equal_one_line_at_a_time_in_the_order_asked(kind):
    xs = lines(3)
    net = make(kind)
    expected = [alone(net, x) for x in xs]
    order = [3, 0, 10, 5, 1, 7, 2, 9, 4, 8, 6, 1]
    got = list(network_outputs(net, lambda i: xs[i], order, batch_lines=3, window=5))
    assert [i for i, _, _ in got] == order
    for i, x, y in got:
        assert x is xs[i]
        assert y.shape == (WIDTHS[i], 4) and y.dtype == np.float32
        np.testing.assert_allclose(y, expected[i], rtol=1e-5, atol=1e-6, err_msg=f"line {i}")
        assert (y.argmax(axis=1) == expected[i].argmax(axis=1)).all()
    assert got[1][2] is not got[-1][2] and not np.shares_memory(got[0][2], got[2][2])


def test_the_first_window_is_one_minibatch_and_the_rest_full_windows(monkeypatch):
    """The network waits only for the first FIRST_WINDOW lines; every line still comes out, in order,
    as it does alone."""
    import clstmtools.recognize as recognize
    monkeypatch.setattr(recognize, "FIRST_WINDOW", 3)
    xs = lines(3) * 2
    net = make("BIDILSTM")
    windows = []
    monkeypatch.setattr(recognize, "_load_window", lambda load, chunk: windows.append(list(chunk)) or
                        [(load(i), None) for i in chunk])
    got = list(network_outputs(net, lambda i: xs[i], range(len(xs)), batch_lines=2, window=8))
    assert windows == [[0, 1, 2], list(range(3, 11)), list(range(11, 19)), [19, 20, 21]]
    assert [i for i, _, _ in got] == list(range(len(xs)))
    for i, _, y in got:
        np.testing.assert_allclose(y, alone(net, xs[i]), rtol=1e-5, atol=1e-6, err_msg=f"line {i}")
    assert list(network_outputs(net, lambda i: xs[i], [])) == []


def test_a_caller_that_stops_early_stops_the_reading(monkeypatch):
    """The reader runs READ_AHEAD windows ahead, no further, and stops when the caller does."""
    import clstmtools.recognize as recognize
    monkeypatch.setattr(recognize, "FIRST_WINDOW", 2)
    xs = lines(3) * 4
    read = []
    net = make("BIDILSTM")
    got = network_outputs(net, lambda i: read.append(i) or xs[i], range(len(xs)), batch_lines=2, window=2)
    assert next(got)[0] == 0
    got.close()
    assert len(read) <= 2 * (recognize.READ_AHEAD + 1) < len(xs)
    assert read == sorted(read)


def test_an_unreadable_line_stops_the_run_after_every_earlier_line():
    xs = lines(3)
    net = make("BIDILSTM")

    def load(i):
        if i == 6:
            raise ValueError("line 6 is unreadable")
        return xs[i]

    seen = []
    with pytest.raises(ValueError, match="line 6"):
        for i, _, _ in network_outputs(net, load, range(len(xs)), batch_lines=2, window=4):
            seen.append(i)
    assert seen == [0, 1, 2, 3, 4, 5]


def test_lines_too_short_for_the_pooling_are_skipped_and_told_or_an_error():
    net = clstm.make_net("VGSL", spec="[1,3,0,1 Cr3,3,2 Mp2,2 Mp1,3 S1(1x0)1,3 Lbx3 O1c]", ninput=3, noutput=4,
                         rng=11)  # horizontal pooling by 6
    xs = lines(3)  # widths 9, 30, 4, 13, 1, 30, 7, 22, 5, 17, 11: lines 2, 4 and 8 give no step
    assert [net.output_length(len(x)) for x in xs] == [len(x) // 6 for x in xs]
    told = []
    got = list(network_outputs(net, lambda i: xs[i], range(len(xs)), batch_lines=3, window=5,
                               skip=lambda i, reason: told.append((i, reason))))
    assert [i for i, _, _ in got] == [0, 1, 3, 5, 6, 7, 9, 10]
    assert [i for i, _ in told] == [2, 4, 8]
    assert told[1][1].startswith("1 input steps") and "needs 6 for one output step" in told[1][1]
    for i, _, y in got:  # the others give what they give alone
        np.testing.assert_allclose(y, alone(net, xs[i]), rtol=1e-5, atol=1e-6, err_msg=f"line {i}")
    seen = []
    with pytest.raises(clstm.NetworkError, match="line 2: 4 input steps"):
        for i, _, _ in network_outputs(net, lambda i: xs[i], range(len(xs)), batch_lines=3, window=5):
            seen.append(i)
    assert seen == [0, 1]
    codec = Codec([0, 65, 66, 67])
    task = CtcTask(lambda i: xs[i], lambda i: np.array([1]), codec)
    rows = list(evaluate_lines(net, task, range(len(xs)), skip=lambda i, reason: None))
    assert [row[0] for row in rows] == [i for i, _, _ in got]
    assert evaluate_ctc(net, task, range(len(xs)), lambda i, reason: None)[1] == len(got)


def test_evaluation_in_batches_equals_the_line_by_line_sums():
    xs = lines(3, seed=2)
    net = make("BIDILSTM")
    codec = Codec([0, 65, 66, 67])
    rng = np.random.default_rng(5)
    labels = [rng.integers(1, 4, size=max(1, len(x) // 4)) for x in xs]
    task = CtcTask(lambda i: xs[i], lambda i: labels[i], codec)
    rows = list(evaluate_lines(net, task, range(len(xs))))
    assert [row[0] for row in rows] == list(range(len(xs)))
    rows = [row[1:] for row in rows]
    for i, (errors, count, out, truth) in enumerate(rows):
        single = codec.decode(task.decode(alone(net, xs[i])))
        assert (out, truth) == (single, codec.decode(labels[i]))
        assert (errors, count) == (edit_distance(truth, single), len(truth))
    assert evaluate_ctc(net, task, range(len(xs))) == (sum(r[0] for r in rows), sum(r[1] for r in rows))
    assert task.evaluate(net, 3) == rows[3]


def labelled_lines():
    """Four lines of the WIDTHS with random labels over three classes, and the CTC task over them."""
    xs = lines(4, seed=3)
    rng = np.random.default_rng(1)
    labels = [np.array(rng.integers(1, 4, size=max(1, len(x) // 6)), np.int32) for x in xs]
    return xs, CtcTask(lambda i: xs[i], lambda i: labels[i], Codec([0, 65, 66, 67]))


def test_a_minibatch_cut_into_parts_by_width_gives_the_same_records_and_update(monkeypatch):
    import clstmtools.tasks as tasks
    xs, task = labelled_lines()
    results = []
    for budget in (10 ** 6, 40):  # one part; parts of at most 40 padded steps (the 30-step lines alone)
        monkeypatch.setattr(tasks, "BATCH_STEPS", budget)
        net = clstm.make_net("BIDILSTM", ninput=4, nhidden=6, noutput=4, rng=2)
        net.setLearningRate(1e-2, 0.9)
        records, skipped = task.step_batch(net, range(len(xs)))
        net.update()
        assert not skipped and [r["steps"] for r in records] == list(WIDTHS)
        results.append((records, [w.copy() for _, w, _ in net.weights()]))
    (one, w_one), (parts, w_parts) = results
    for a, b in zip(one, parts):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4) and a["output"] == b["output"]
        np.testing.assert_allclose(a["outputs"], b["outputs"], rtol=1e-5, atol=1e-6)
    for wa, wb in zip(w_one, w_parts):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)


def test_a_minibatch_of_a_network_with_batch_norm_is_never_cut_into_parts(monkeypatch):
    """Batch normalization's statistics are the minibatch's: cut into parts, each part would be normalized
    by its own and move the running statistics once per part. Whatever the step budget, the update and the
    running statistics are those of the whole minibatch in one part."""
    import clstmtools.tasks as tasks
    xs, task = labelled_lines()
    results = []
    for budget in (10 ** 6, 40):
        monkeypatch.setattr(tasks, "BATCH_STEPS", budget)
        net = clstm.make_net("VGSL", spec="[1,4,0,1 Cr3,3,3 Bnr S1(1x0)1,3 Lbx5 O1c]", ninput=4, noutput=4, rng=2)
        net.setLearningRate(1e-2, 0.9)
        net.set_training(True)
        records, skipped = task.step_batch(net, range(len(xs)))
        net.set_training(False)
        net.update()
        assert not skipped
        results.append((records, [w.copy() for _, w, _ in net.weights()] + [a.copy() for _, a in net.states()]))
    (one, w_one), (parts, w_parts) = results
    for a, b in zip(one, parts):
        np.testing.assert_array_equal(a["outputs"], b["outputs"])
    for wa, wb in zip(w_one, w_parts):
        np.testing.assert_array_equal(wa, wb)
