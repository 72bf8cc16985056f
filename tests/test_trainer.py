"""Tests of the training loop's pieces: CTC minibatches against pseudo-batching, skipped lines, periodic events."""
import os
import signal
import time

import numpy as np
import pytest

import clstmtools as clstm
from clstmtools.codec import Codec
from clstmtools.params import read_params
from clstmtools.tasks import CtcTask, SkipSample, TrainingError
from clstmtools.trainer import Trainer, hits

CODEC = Codec([0, ord("a"), ord("b"), ord("c")])


def tiny_task(mode, strict=False):
    rng = np.random.default_rng(5)
    lengths = [14, 9, 20, 11, 3]
    inputs = [rng.uniform(0, 1, (T, 4)).astype(np.float32) for T in lengths]
    labels = [np.array(rng.integers(1, 4, size=max(1, T // 5)), np.int32) for T in lengths]
    labels[4] = np.array([1, 1, 2, 3], np.int32)  # 3 steps cannot hold 4 labels with a repeat
    return CtcTask(inputs.__getitem__, labels.__getitem__, CODEC, mode, strict=strict)


@pytest.mark.parametrize("mode", ["clstm", "standard"])
@pytest.mark.parametrize("kind", ["bidi", "lstm1"])
def test_a_minibatch_gives_the_update_of_pseudo_batching(mode, kind):
    task = tiny_task(mode)
    nets = []
    for _ in range(2):
        net = clstm.make_net(kind, ninput=4, nhidden=6, noutput=4, rng=2)
        net.setLearningRate(1e-2, 0.9)
        net.set_normalization("batch")
        nets.append(net)
    one_by_one = [task.step(nets[0], i) for i in range(4)]
    nets[0].update()
    together, skipped = task.step_batch(nets[1], range(4))
    nets[1].update()
    assert not skipped
    for a, b in zip(one_by_one, together):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4) and a["truth"] == b["truth"]
        np.testing.assert_allclose(a["outputs"], b["outputs"], rtol=1e-5, atol=1e-6)
    for (name, wa, _), (_, wb, _) in zip(nets[0].weights(), nets[1].weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_line_too_short_for_its_transcript_is_skipped_or_an_error():
    net = clstm.make_net("bidi", ninput=4, nhidden=3, noutput=4, rng=2)
    with pytest.raises(SkipSample, match="3 steps, too short for its 4-character transcript"):
        tiny_task("clstm").step(net, 4)
    records, skipped = tiny_task("clstm").step_batch(net, [0, 4, 1])
    assert len(records) == 2 and [i for i, _ in skipped] == [4]
    with pytest.raises(TrainingError, match="too short"):
        tiny_task("clstm", strict=True).step(net, 4)


def test_minibatch_training_runs_every_periodic_event(capsys):
    settings = read_params("clstmctc", environ=dict(seed="3", minibatch="3", ntrain="10", report_every="4",
                                                    test_every="5", lrate="1e-2"))
    net = clstm.make_net("bidi", ninput=4, nhidden=3, noutput=4, rng=2)
    tests = []

    def test(net, trainer):
        tests.append(trainer.trial)
        return 0.5, f"TESTERR {trainer.trial}"

    trainer = Trainer(net, settings, tiny_task("clstm"), range(4), test=test)
    assert trainer.train(0, 10) == 0
    out = capsys.readouterr().out
    assert tests == [6, 10]  # the first minibatch boundaries at or past 5 and 10
    assert trainer.total["lines"] == 10 and trainer.updates == 4  # minibatches of 3, 3, 3, 1
    assert out.count("TRU:") == 3  # reports in the minibatches holding lines 0, 4 and 8


def test_hits_finds_multiples_in_a_range():
    assert hits(1, 0, 1) and hits(10, 0, 1) and hits(10, 1, 11) and hits(10, 5, 15)
    assert not hits(10, 1, 10) and not hits(0, 0, 5) and not hits(-1, 0, 5) and not hits(10, 11, 20)


def interrupt_run(tmp_path, signal_at=None, signals=(signal.SIGINT,), pause=0.0):
    """Train 6 lines of the tiny task, with ``signals`` sent to this process (``pause`` seconds apart) in the
    middle of the update after line ``signal_at`` (between the update of the first layer and the others);
    returns (exit status, trainer)."""
    settings = read_params("clstmctc", environ=dict(seed="3", ntrain="6", report_every="100", test_every="-1",
                                                    lrate="1e-2", save_name=str(tmp_path / "m")))
    net = clstm.make_net("bidi", ninput=4, nhidden=3, noutput=4, rng=2)
    first = net.layers()[0]
    original, updates = first.update, []

    def update_then_signal():
        original()
        updates.append(1)
        if len(updates) == signal_at:
            for k, signum in enumerate(signals):
                time.sleep(pause if k else 0.0)
                os.kill(os.getpid(), signum)

    first.update = update_then_signal
    trainer = Trainer(net, settings, tiny_task("clstm"), range(4))
    return trainer.train(0, 6), trainer


def test_a_signal_in_the_middle_of_an_update_saves_the_state_after_the_whole_step(tmp_path):
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    status, interrupted = interrupt_run(tmp_path, signal_at=3)
    assert status == 128 + signal.SIGINT and interrupted.trial == 3
    saved = clstm.load_net(tmp_path / "m-interrupted.h5")
    # the same run stopped after three whole steps
    settings = read_params("clstmctc", environ=dict(seed="3", ntrain="3", report_every="100", test_every="-1",
                                                    lrate="1e-2"))
    net = clstm.make_net("bidi", ninput=4, nhidden=3, noutput=4, rng=2)
    assert Trainer(net, settings, tiny_task("clstm"), range(4)).train(0, 3) == 0
    for (name, expected, _), (_, got, _) in zip(net.weights(), saved.weights()):
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert signal.getsignal(signal.SIGINT) is handler_before


@pytest.mark.parametrize("signals, pause, saved", [
    ((signal.SIGTERM, signal.SIGTERM, signal.SIGTERM), 0.0, True),  # one request, delivered once per thread
    ((signal.SIGTERM, signal.SIGINT), 0.0, False),  # a second request: stop at once
    ((signal.SIGINT, signal.SIGINT), 1.2, False),  # Ctrl-C pressed again after a moment
])
def test_a_second_signal_stops_without_saving_but_a_repeated_delivery_does_not(tmp_path, signals, pause, saved):
    handlers_before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    status, interrupted = interrupt_run(tmp_path, signal_at=2, signals=signals, pause=pause)
    assert status == 128 + signals[-1 if not saved else 0]
    assert (tmp_path / "m-interrupted.h5").exists() == saved
    assert {s: signal.getsignal(s) for s in handlers_before} == handlers_before
