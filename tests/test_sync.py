"""Tests of the step counters that let kernel calls on two threads share one recurrence (kernels/sync.py)."""
import threading

import numpy as np
import pytest

import clstmtools as clstm
from clstmtools.kernels import sync
from clstmtools.kernels.config import kernel
from test_network import assert_same_for_one_and_two_threads, three_training_steps

T, N = 60, 8
UNITS = np.array([0, 4, N], np.int64)
BEFORE_CLAIM, INSIDE_STEP = 0, 1
#: pause rounds of a deliberate stall: about 20 ms, far past a waiting thread's patience (0.1 ms)
#: and a lost time slice
DELAY = 800_000


@kernel
def toy_recurrence(X, units, part, counters, delay_step, delay_where):
    """``X[s, k] = mean(X[s - 1]) / 2 + k / 100 + s`` for the units of each part, with the steps
    shared out as the LSTM kernels share theirs; part 1's call stalls at ``delay_step`` (before
    claiming it or inside it). Returns how many parts this call ran in the end (0: it stopped)."""
    nparts = units.size - 1
    mine = np.zeros(nparts, np.bool_)
    for q in range(nparts):
        mine[q] = part < 0 or q == part
    task_part = np.empty(2 * nparts, np.int64)
    task_step = np.empty(2 * nparts, np.int64)
    for step in range(X.shape[0]):
        if part == 1 and step == delay_step and delay_where == BEFORE_CLAIM:
            for _ in range(DELAY):
                sync._pause()
        tasks = sync.next_tasks(counters, part, step, mine, task_part, task_step)
        if tasks < 0:
            return 0
        for task in range(tasks):
            q, s = task_part[task], task_step[task]
            if part == 1 and q == 1 and s == delay_step and delay_where == INSIDE_STEP:
                for _ in range(DELAY):
                    sync._pause()
            previous = 0.0
            if s > 0:
                for k in range(X.shape[1]):
                    previous += X[s - 1, k]
            for k in range(units[q], units[q + 1]):
                X[s, k] = 0.5 * previous / X.shape[1] + k / 100 + s
            if part >= 0:
                sync.publish(counters, q, s + 1)
    owned = 0
    for q in range(nparts):
        owned += mine[q]
    return owned


def serial():
    X = np.zeros((T, N))
    assert toy_recurrence(X, UNITS, -1, sync.counters(2), -1, -1) == 2
    return X


def on_two_threads(delay_step=-1, delay_where=-1, start_second=True):
    """Run parts 0 (here) and 1 (on a thread, unless ``start_second`` is false: then after part 0
    returned); returns X and the parts each call ran in the end."""
    X, counters, owned = np.zeros((T, N)), sync.counters(2), [None, None]

    def run(part):
        owned[part] = toy_recurrence(X, UNITS, part, counters, delay_step, delay_where)
    second = threading.Thread(target=run, args=(1,))
    if start_second:
        second.start()
    run(0)
    if not start_second:
        second.start()
    second.join()
    return X, owned


def test_two_threads_compute_what_one_computes():
    for _ in range(20):
        X, owned = on_two_threads()
        assert np.array_equal(X, serial())
        assert sorted(owned) in ([1, 1], [0, 2])  # a lost time slice may hand a part over, never lose one


def test_a_part_whose_thread_never_starts_is_taken_over_and_its_call_then_stops():
    X, owned = on_two_threads(start_second=False)
    assert np.array_equal(X, serial())
    assert owned == [2, 0]


@pytest.mark.parametrize("where", [BEFORE_CLAIM, INSIDE_STEP])
def test_a_stalled_part_is_taken_over_where_it_stalled(where):
    """Part 1 stalls before claiming step 20, or inside it: part 0 takes it over (or, if the main
    thread lost its core earlier, part 1 took part 0 over before the stall); the results are the
    same."""
    X, owned = on_two_threads(delay_step=20, delay_where=where)
    assert np.array_equal(X, serial())
    assert sorted(owned) == [0, 2]


def test_a_lone_line_shares_its_lstm_units_between_two_threads_with_one_threads_results():
    """LSTM1 over one line: its recurrence runs in two unit parts (on two threads when there are
    two), and training gives identical weights either way."""
    from clstmtools.network.lstm import UNIT_PARTS_FROM
    lstm = clstm.make_net("LSTM1", ninput=4, nhidden=UNIT_PARTS_FROM, noutput=3).sub[0]
    assert len(lstm.unit_parts([np.array([11])])) == 3
    assert_same_for_one_and_two_threads(lambda threads: three_training_steps("LSTM1", UNIT_PARTS_FROM, threads))


def test_a_layer_whose_part_was_taken_over_runs_its_next_lines_on_one_thread():
    """The pool's thread busy with something else: the line's second part cannot start, the first
    call takes it over, and the layer's next lines run their parts on one thread (the same results)."""
    import time

    from clstmtools import parallel
    from clstmtools.network.lstm import ALONE_AFTER_TAKEOVER, UNIT_PARTS_FROM
    try:
        clstm.set_threads(2)
        net = clstm.make_net("LSTM1", ninput=4, nhidden=UNIT_PARTS_FROM, noutput=3, rng=9)
        lstm = net.sub[0]
        net.inputs.aset(np.random.default_rng(1).uniform(0, 1, (30, 4, 1)).astype(np.float32))
        busy = parallel._state["pool"].submit(time.sleep, 0.05)
        net.forward()
        busy.result()
        assert lstm._alone_calls == ALONE_AFTER_TAKEOVER
        taken_over = net.outputs.array().copy()
        net.forward()
        assert lstm._alone_calls == ALONE_AFTER_TAKEOVER - 1
        assert np.array_equal(net.outputs.array(), taken_over)
    finally:
        clstm.set_threads(0)


def test_a_lone_reversed_line_in_unit_parts_is_the_forward_run_on_the_reversed_line():
    """A Reversed LSTM of UNIT_PARTS_FROM units over one line (its parts run backwards in time on two
    threads) gives, step for step, what the same LSTM gives on the time-reversed line, deltas and
    weight gradients included."""
    from clstmtools.network.lstm import UNIT_PARTS_FROM
    rng = np.random.default_rng(5)
    forward = clstm.make_net("LSTM", ninput=3, noutput=UNIT_PARTS_FROM, rng=4)
    reversed_net = clstm.make_net("Reversed").add(clstm.make_net("LSTM", ninput=3, noutput=UNIT_PARTS_FROM, rng=4))
    for (_, a, _), (_, b, _) in zip(forward.weights(), reversed_net.weights()):
        b[...] = a[...] = rng.uniform(-0.5, 0.5, a.shape)
    x = rng.uniform(-1, 1, (40, 3, 1)).astype(np.float32)
    dy = rng.uniform(-1, 1, (40, UNIT_PARTS_FROM, 1)).astype(np.float32)
    try:
        clstm.set_threads(2)
        forward.inputs.aset(x[::-1].copy())
        forward.forward()
        forward.d_outputs.aset(dy[::-1].copy())
        forward.backward()
        reversed_net.inputs.aset(x)
        reversed_net.forward()
        reversed_net.d_outputs.aset(dy)
        reversed_net.backward()
    finally:
        clstm.set_threads(0)
    assert np.array_equal(reversed_net.outputs.array(), forward.outputs.array()[::-1])
    assert np.array_equal(reversed_net.d_inputs.array(), forward.d_inputs.array()[::-1])
    for (_, _, a), (_, _, b) in zip(forward.weights(), reversed_net.weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)  # the same terms, summed in another order
