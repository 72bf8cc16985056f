"""ocropy's ``ocrolib/lstm.py`` interface -- network wrapper and CTC helpers -- over clstmtools networks and CTC.

People coming from ocropy can keep their training scripts: sequences are 2-d ``(T, depth)``
arrays (rows are time steps), ``forward(xs)`` returns the ``(T, noutput)`` outputs,
``backward(deltas)`` takes output deltas (*target minus output*) and returns the input deltas,
``update()`` applies the accumulated weight deltas. The port of clstm's ``pylstmctc`` loop::

    from clstmtools import ocropy as lstm

    net = lstm.BIDILSTM(ninput, nhidden, noutput)
    net.setLearningRate(1e-4, 0.9)
    for xs, cs in lines:                       # xs: (width, height) image, cs: labels >= 1
        pred = net.forward(xs)
        targets = lstm.make_target(cs, noutput)
        aligned = lstm.ctc_align_targets(pred, targets)
        net.backward(aligned - pred)
        net.update()
        result = lstm.translate_back(pred)     # the recognized labels

Nothing here computes a layer or an alignment: :class:`Network` moves arrays in and out of a
clstmtools network's ports and calls its ``forward``/``backward``/``update`` (the same kernels
as every other front end), and the helpers delegate to :mod:`clstmtools.ctc`. Where the result
differs from ocropy's own functions, the function says so. Common to all of them: arrays come
back as float32 (ocropy works in float64). The update is clstm's momentum rule
(``W += lr * DW; DW *= momentum``, backward adding the new gradient to ``DW``); ocropy keeps a
separate buffer (``V = momentum * V + lr * DW; W += V``). With a constant learning rate the two
are the same recursion (``V = lr * DW``); they differ when the rate changes during training
(clstm's buffer holds unscaled gradients) and when several backward passes precede one update
(clstm sums them, ocropy keeps the last).

Convolutional networks (``VGSL(spec, ...)``, or a clstmctc model trained with ``spec=``,
``lstm=CNNBIDILSTM`` or ``lstm=CRNN`` and opened by :func:`load`) go through the same calls; two
things ocropy never had come with them. Their outputs are shorter than their inputs by the
network's horizontal pooling (``T // w`` steps; the CTC helpers work on the outputs, so the loop
above is unchanged, but frame-wise targets for ``train`` must have the outputs' length, and a line
narrower than ``w`` columns gives no output at all). And dropout and batch normalization behave as
at recognition time (no dropout, running statistics) until ``setTraining(True)``, which a
training loop should call first, as clstmctc's trainer does for its steps.
"""
import numpy as np

from . import ctc
from .kernels.config import FLOAT
from .modelfile import load_net
from .network import SPEC_PREFABS, NetworkError, make_net, spec_depth
from .recognize import too_short

#: ocropy's default blank threshold for ``translate_back``
TRANSLATE_THRESHOLD = 0.7


class Network:
    """ocropy's ``Network`` interface around any clstmtools network (``self.net``).

    ``weights()`` hands out the network's own arrays, so that changes made through them (or by
    ``update()``) are changes to ``self.net``."""

    def __init__(self, net):
        for port in ("inputs", "outputs", "d_inputs", "d_outputs"):
            if not hasattr(net, port):
                raise NetworkError(f"ocropy.Network needs a clstmtools network, got {type(net).__name__}")
        self.net = net

    def ninput(self):
        return self.net.ninput()

    def noutput(self):
        return self.net.noutput()

    ninputs, noutputs = ninput, noutput  # ocropy's names

    def forward(self, xs):
        """The ``(T', noutput)`` float32 outputs for the ``(T, ninput)`` inputs ``xs`` (``T' = T``
        but for a convolutional network's horizontal pooling: ``self.net.output_length(T)``)."""
        xs = _matrix(xs, self.ninput(), "inputs")
        reason = too_short(self.net, xs)
        if reason:
            raise NetworkError(f"inputs: {reason}")
        self.net.inputs.aset(xs)
        self.net.forward()
        return self.net.outputs.data[:, 0, :].copy()

    def predict(self, xs):
        """ocropy's alias of ``forward``."""
        return self.forward(xs)

    def backward(self, deltas):
        """Back-propagate ``(T, noutput)`` output deltas (target - output) of the last ``forward``;
        accumulates the weight deltas and returns the ``(T, ninput)`` float32 input deltas."""
        deltas = _matrix(deltas, self.noutput(), "deltas")
        if self.net.outputs.T == 0:
            raise NetworkError("backward called before any forward pass")
        if len(deltas) != self.net.outputs.T:
            pooled = " outputs" if self.net.outputs.T != self.net.inputs.T else ""
            raise NetworkError(f"deltas have {len(deltas)} time steps, but the last forward pass had "
                               f"{self.net.outputs.T}{pooled}")
        self.net.d_outputs.aset(deltas)
        self.net.backward()
        return self.net.d_inputs.data[:, 0, :].copy()

    def update(self):
        self.net.update()

    def train(self, xs, ys):
        """ocropy's frame-wise training step: forward, deltas ``ys - outputs``, backward, update;
        returns the outputs."""
        pred = self.forward(xs)
        self.backward(np.asarray(ys, FLOAT) - pred)
        self.update()
        return pred

    def setTraining(self, training=True):
        """Dropout and batch statistics in the following passes (True), or recognition's behaviour
        (False, the default): only convolutional networks have layers that care."""
        self.net.set_training(training)

    def setLearningRate(self, r, momentum=0.9):
        """Learning rate and momentum of every layer (ocropy's default momentum 0.9)."""
        self.net.setLearningRate(r, momentum)

    def weights(self):
        """Yield ``(weights, deltas, name)`` for every weight array, in ocropy's order of the triple.

        The arrays are the network's own storage (views, never copies); the names are clstm's
        dotted paths (``.lstm1.0.lstm.WGI``) rather than ocropy's ``Stacked0/...`` names."""
        for name, w, dw in self.net.weights():
            yield w, dw, name


def _matrix(array, depth, what):
    """``array`` as a 2-d ``(T, depth)`` float32 matrix with T > 0, or a NetworkError."""
    matrix = np.asarray(array, FLOAT)
    if matrix.ndim != 2 or matrix.shape[1] != depth or matrix.shape[0] == 0:
        raise NetworkError(f"{what} must be a (T > 0, {depth}) matrix, got shape {matrix.shape}")
    return matrix


def LSTM1(ni, nh, no, rng=None):
    """ocropy's ``LSTM1``: an LSTM of ``nh`` cells followed by a softmax (clstmtools kind ``lstm1``).

    ``rng`` (int seed or numpy Generator) fixes the initial weights."""
    return Network(make_net("lstm1", rng=rng, ninput=ni, nhidden=nh, noutput=no))


def BIDILSTM(ni, nh, no, rng=None):
    """ocropy's ``BIDILSTM``: forward and reversed LSTMs of ``nh`` cells each, then a softmax over
    the ``2 nh`` concatenated outputs (clstmtools kind ``bidi``)."""
    return Network(make_net("bidi", rng=rng, ninput=ni, nhidden=nh, noutput=no))


def VGSL(spec, no, rng=None, init="clstm"):
    """A convolutional network from a VGSL ``spec`` (as clstmctc's ``spec=``; ``CNNBIDILSTM`` and
    ``CRNN`` name clstmctc's prefab ones) with ``no`` outputs; its inputs are the spec's height times
    its channels (the height must be given). ocropy had no such constructor."""
    kind, text = (spec, SPEC_PREFABS[spec]) if spec in SPEC_PREFABS else ("VGSL", spec)
    depth = spec_depth(text)
    if depth <= 0:
        raise NetworkError("VGSL: the spec's input height is 0; give the line height, e.g. [1,48,0,1 ...]")
    return Network(make_net(kind, rng=rng, init=init, spec=text, ninput=depth, noutput=no))


def load(path):
    """The model file at ``path`` (clstmtools' or the C++ clstm's, convolutional ones included)
    wrapped, in recognition mode; ``load(path).net.codec`` maps its output classes to code points."""
    return Network(load_net(path))


def make_target(classes, nclasses):
    """ocropy's ``make_target``: the ``(2L+1, nclasses)`` one-hot matrix blank, c_1, blank, ..., c_L, blank.

    Delegates to :func:`clstmtools.ctc.mktargets`: float32 instead of float64, and a class
    outside ``1..nclasses-1`` is a ValueError (ocropy would silently write it)."""
    return ctc.mktargets(classes, nclasses)


def ctc_align_targets(outputs, targets, threshold=100, verbose=0, debug=0, lo=1e-5):
    """ocropy's ``ctc_align_targets``: the ``(T, C)`` posterior over classes that ``outputs`` should move to.

    Delegates to :func:`clstmtools.ctc.ctc_align_targets` (clstm's alignment, the one ocropy's
    was ported from). Differences from ocropy: ``threshold`` is accepted and unused (as in
    ocropy); ``verbose`` and ``debug`` draw nothing (ocropy plots with matplotlib); the
    output floor ``lo`` must be clstm's 1e-5; the forward-backward tables are float64 (ocropy:
    float32) and the path-weight exponent is clamped at -30 as in clstm, which changes results
    by float32 rounding only. The one visible difference: ocropy floors the aligned values at
    ``lo`` *before* normalizing the rows, so a class the alignment rules out gets ``lo``
    divided by the row's unnormalized sum instead of ~0 -- usually ~1e-5, but up to a few
    hundredths at steps the alignment hardly uses; the most likely class of every step is
    the same."""
    if not np.isclose(lo, ctc.ALIGN_FLOOR, rtol=1e-6, atol=0):
        raise ValueError(f"ctc_align_targets: lo={lo!r}, but clstm's alignment floors outputs at "
                         f"{ctc.ALIGN_FLOOR:g}")
    return ctc.ctc_align_targets(outputs, targets)


def translate_back(outputs, threshold=TRANSLATE_THRESHOLD, pos=0):
    """ocropy's decoder: the labels read from ``(T, C)`` network outputs (class 0 the blank).

    A *region* is a maximal run of steps whose blank output is below ``threshold``; each region
    yields the (step, class) of the largest output inside it, over all classes including the
    blank (so a region where the blank is everywhere the largest output yields class 0, as in
    ocropy; its callers filter those). Returns the classes (``pos=0``), the ``(step, class)``
    pairs (``pos=1``) or ``(class, output)`` pairs (``pos=2``). A tie inside a region goes to
    the earliest step, then the lowest class (scipy, which ocropy uses, leaves ties unspecified).

    How it differs from clstm's decoder (:func:`clstmtools.ctc.trivial_decode`): there, a run
    is the steps whose *arg-max* is not the blank, so a step where the blank is the most likely
    class but below ``threshold`` closes a run there and belongs to one here; there, each run
    yields its best *non-blank* class, never 0; and there, a run still open at the last step is
    dropped, while here it is kept."""
    outputs = np.asarray(outputs)
    if outputs.ndim != 2 or outputs.shape[1] == 0:
        raise ValueError(f"translate_back: outputs must be a (T, nclasses) matrix, got shape {outputs.shape}")
    if pos not in (0, 1, 2):
        raise ValueError(f"translate_back: pos must be 0 (classes), 1 (step, class) or 2 (class, output), got {pos!r}")
    inside = np.concatenate(([False], outputs[:, 0] < threshold, [False]))
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    maxima = []
    for start, stop in zip(edges[0::2], edges[1::2]):
        step, cls = np.unravel_index(np.argmax(outputs[start:stop]), (stop - start, outputs.shape[1]))
        maxima.append((int(start + step), int(cls)))
    if pos == 1:
        return maxima
    if pos == 2:
        return [(c, float(outputs[t, c])) for t, c in maxima]
    return [c for _, c in maxima]
