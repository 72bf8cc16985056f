"""Tests of the optimizers (clstm's momentum SGD, Adam with decoupled weight decay), initializations, schedules."""
import numpy as np
import pytest

import clstmtools as clstm
from clstmtools.params import read_params
from clstmtools.trainer import Trainer
from margins import SEED, at_least, at_most


def adam_twin(w, grads, lr, beta1, beta2, eps, decay):
    """Plain NumPy AdamW in float64, ascending along the deltas (clstm's sign convention)."""
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step, g in enumerate(grads, 1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        mhat = m / (1 - beta1 ** step)
        vhat = v / (1 - beta2 ** step)
        w = w * (1 - lr * decay) + lr * mhat / (np.sqrt(vhat) + eps)
    return w


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_adam_matches_numpy_twin(decay):
    layer = clstm.make_net("LinearLayer", ninput=3, noutput=2, rng=0)
    layer.set_optimizer("adam", beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=decay)
    layer.setLearningRate(0.05, 0.9)
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=layer.W.shape) for _ in range(4)]
    W0 = layer.W.copy()
    for g in grads:
        layer.dW[...] = g
        layer.update()
        assert not layer.dW.any()  # Adam consumes the accumulated deltas
    np.testing.assert_allclose(layer.W, adam_twin(W0, grads, 0.05, 0.8, 0.95, 1e-6, decay), rtol=1e-5, atol=1e-6)


def test_adam_learns_in_the_notebook_loop():
    net = clstm.make_net("lstm1", ninput=1, nhidden=8, noutput=2, rng=SEED - 1)
    net.set_optimizer("adam")
    net.setLearningRate(1e-2, 0.9)
    rng = np.random.default_rng(SEED - 1)
    errors = []
    for step in range(600):
        x = (rng.random(15) < 0.3).astype(np.float32)
        y = np.concatenate([[0], x[:-1]])
        target = np.stack([1 - y, y], 1)[:, :, None].astype(np.float32)
        net.inputs.aset(x.reshape(-1, 1, 1))
        net.forward()
        errors.append(np.mean((net.outputs.array()[:, 1, 0] > 0.5) != (y > 0.5)))
        net.d_outputs.aset(target - net.outputs.array())
        net.backward()
        net.update()
    at_least("adam delay error first 50", np.mean(errors[:50]), 0.1)
    at_most("adam delay error last 50", np.mean(errors[-50:]), 0.01)


def test_scaled_initialization_follows_the_fan_in():
    net = clstm.make_net("bidi", ninput=40, nhidden=30, noutput=20, init="scaled", rng=3)
    lstm = net.sub[0].sub[0]
    nf = 1 + 40 + 30
    gates = lstm.W[:, 1:]
    assert np.abs(gates).max() <= 1 / np.sqrt(nf) and np.abs(gates).max() > 0.9 / np.sqrt(nf)
    assert np.std(gates) == pytest.approx(1 / np.sqrt(3 * nf), rel=0.05)  # uniform(-b, b) has sd b/sqrt(3)
    assert not lstm.P.any()
    bias = lstm.W[:, 0].reshape(4, 30)
    assert np.array_equal(bias[1], np.ones(30)) and not bias[[0, 2, 3]].any()  # forget gates start open
    out = net.sub[1]
    assert np.abs(out.W).max() <= 1 / np.sqrt(60) and np.abs(out.W).max() > 0.9 / np.sqrt(60)
    assert not out.b.any()
    with pytest.raises(ValueError, match="init"):
        clstm.make_net("bidi", ninput=4, nhidden=3, noutput=2, init="bogus")


class _Task:
    name = staticmethod(lambda i: f"sample {i}")


def test_learning_rate_schedule_decay_and_warmup():
    settings = read_params("clstmctc", environ=dict(lrate="1e-3", lrate_decay="0.5", warmup="100", seed="1"))
    net = clstm.make_net("lstm1", ninput=2, nhidden=2, noutput=2, rng=0)
    trainer = Trainer(net, settings, _Task(), [0])
    for trial, expected in ((0, 1e-3 / 100), (49, 1e-3 * 0.5 ** 0.049 * 0.5), (1000, 0.5e-3), (3000, 1.25e-4)):
        trainer.trial = trial
        assert trainer.learning_rate() == pytest.approx(expected)
    plain = Trainer(net, read_params("clstmctc", environ=dict(seed="1")), _Task(), [0])
    plain.trial = 123456
    assert plain.learning_rate() == pytest.approx(1e-4)  # clstm's default: constant


@pytest.mark.parametrize("settings, name", [
    (dict(optimizer="adam", beta1=1.5), "beta1"), (dict(optimizer="adam", beta2=1.0), "beta2"),
    (dict(optimizer="adam", eps=0.0), "eps"), (dict(momentum=1.0), "momentum")])
def test_optimizer_bounds_are_refused_by_name(settings, name):
    net = clstm.make_net("bidi", ninput=3, noutput=4, nhidden=5)
    with pytest.raises(clstm.NetworkError, match=f"^{name} must be"):
        if "momentum" in settings:
            net.setLearningRate(1e-3, settings["momentum"])
        else:
            net.set_optimizer(**settings)
