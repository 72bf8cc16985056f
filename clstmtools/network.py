"""clstm's network model: layers that own weights and buffers, composites, prefab networks, make_net.

Every network has the four sequence ports ``inputs``, ``outputs``, ``d_inputs``, ``d_outputs``
(:class:`~clstmtools.sequence.Sequence`, public shape ``(T, depth, batch)``); ``forward()`` fills
``outputs`` from ``inputs``, ``backward()`` fills ``d_inputs`` from ``d_outputs`` (deltas are
*target minus output*) and accumulates weight deltas, ``update()`` applies them.

A minibatch is a padded batch with per-column lengths (``inputs.aset_batch(list_of_arrays)``,
``outputs.column(b)``, ``d_outputs.aset_batch(list)``): padding never changes a result, and
``update()`` after one minibatch equals pseudo-batching its lines one at a time. Composites hand
buffers on without copying (``Sequence.share``); the two halves of a ``Parallel`` and the row
chunks of a full layer run on the threads of :mod:`clstmtools.parallel`.
"""
from functools import partial

import numpy as np

from . import parallel
from .kernels import layers as K
from .kernels import lstm as KL
from .kernels.config import FLOAT
from .sequence import Sequence

#: clstm's gate-delta clipping bound (applied to the weight-delta accumulation only)
GRADIENT_CLIP = 10.0
#: clstm's initial weight range: uniform in (-INIT_RANGE, INIT_RANGE)
INIT_RANGE = 0.01
#: full layers split their rows into this many chunks, run on separate threads
ROW_CHUNKS = 2
MIN_CHUNK_ROWS = 64
NORMALIZATIONS = ("none", "len", "batch")
OPTIMIZERS = ("sgd", "adam")
INITS = ("clstm", "scaled")


class NetworkError(ValueError):
    """A network was built, fed or loaded with something it cannot use."""


class Network:
    """Base of every node: ports, sub-networks, attributes, learning settings, tree walks."""

    kind = "Network"
    name = "network"

    def __init__(self):
        self.inputs = Sequence()
        self.outputs = Sequence()
        self.d_inputs = Sequence()
        self.d_outputs = Sequence()
        self.sub = []
        self.attributes = {}
        self.codec = []
        self.icodec = []
        self.learning_rate = 1e-4
        self.momentum = 0.9

    # --- structure --------------------------------------------------------------------
    def add(self, net):
        self.sub.append(net)
        return self

    def walk(self, prefix=""):
        """Yield ``(path, node)`` for this node and every node below it, depth first.

        A node at path ``P`` with name ``N`` has path ``P.N``; its i-th child gets prefix ``P.N.i``."""
        path = f"{prefix}.{self.name}"
        yield path, self
        for i, s in enumerate(self.sub):
            yield from s.walk(f"{path}.{i}")

    def layers(self):
        """Every leaf node (a node that owns weights)."""
        return [node for _, node in self.walk() if isinstance(node, Layer)]

    def weights(self, prefix=""):
        """Yield ``(dotted_name, weights, deltas)``; both arrays are the network's own storage."""
        for path, node in self.walk(prefix):
            if isinstance(node, Layer):
                for local, w, dw in node.named_weights():
                    yield f"{path}.{local}", w, dw

    def ninput(self):
        return self.sub[0].ninput() if self.sub else 0

    def noutput(self):
        return self.sub[-1].noutput() if self.sub else 0

    # --- attributes (strings, as clstm stores them) ------------------------------------
    def attr(self, name, default=None):
        return self.attributes.get(name, default)

    def attr_int(self, name, default=None):
        value = self.attributes.get(name)
        return default if value is None else int(float(value))

    def attr_float(self, name, default=None):
        value = self.attributes.get(name)
        return default if value is None else float(value)

    # --- learning settings -------------------------------------------------------------
    def setLearningRate(self, lr, momentum):
        for _, node in self.walk():
            node.learning_rate = float(lr)
            node.momentum = float(momentum)

    def set_normalization(self, normalization):
        """Learning-rate normalization: ``none``, ``len`` (divide by time steps accumulated since
        the last update) or ``batch`` (divide by sequences accumulated since the last update)."""
        if normalization not in NORMALIZATIONS:
            raise NetworkError(f"unknown learning-rate normalization {normalization!r}: use none, len or batch")
        for layer in self.layers():
            layer.normalization = normalization

    def set_optimizer(self, optimizer, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        """``sgd`` (clstm's momentum update) or ``adam`` (Adam with decoupled weight decay)."""
        if optimizer not in OPTIMIZERS:
            raise NetworkError(f"unknown optimizer {optimizer!r}: use sgd or adam")
        for layer in self.layers():
            layer.optimizer = optimizer
            layer.adam = (float(beta1), float(beta2), float(eps), float(weight_decay))

    def set_gradient_clipping(self, bound):
        """Gate-delta clipping bound of every LSTM (0 disables it)."""
        for layer in self.layers():
            layer.clip = float(bound)

    def update(self):
        for layer in self.layers():
            layer.update()

    # --- ports ---------------------------------------------------------------------------
    def _check_inputs(self):
        if self.inputs.depth != self.ninput() or self.inputs.T == 0:
            raise NetworkError(
                f"{self.name}: inputs have shape (T={self.inputs.T}, depth={self.inputs.depth}), "
                f"expected depth {self.ninput()} and T > 0")

    def _check_d_outputs(self):
        if self.d_outputs.shape != self.outputs.shape:
            raise NetworkError(
                f"{self.name}: d_outputs have shape {self.d_outputs.shape}, outputs {self.outputs.shape}")


class Layer(Network):
    """A leaf node: owns weight arrays, their delta (momentum) buffers and the work buffers.

    Subclasses provide ``storage()`` -> ``[(weights, deltas), ...]`` (the arrays the update works
    on) and ``named_weights()`` -> ``[(name, weights, deltas), ...]`` (2-d views into them)."""

    def __init__(self, ninput, noutput):
        super().__init__()
        if int(ninput) < 1 or int(noutput) < 1:
            raise NetworkError(f"{self.kind}: ninput and noutput must be positive, got {ninput}, {noutput}")
        self.ni = int(ninput)
        self.no = int(noutput)
        self.attributes.update(ninput=str(self.ni), noutput=str(self.no))
        self.normalization = "none"
        self.optimizer = "sgd"
        self.adam = (0.9, 0.999, 1e-8, 0.0)
        self.adam_state = {}
        self.adam_step = 0
        self.clip = GRADIENT_CLIP
        self.nsteps = 0
        self.nseq = 0

    def ninput(self):
        return self.ni

    def noutput(self):
        return self.no

    def init_weights(self, rng, init="clstm"):
        """clstm: uniform in (-0.01, 0.01); scaled: uniform in ±1/sqrt(fan-in), biases at 0."""
        for w, _ in self.storage():
            w[...] = rng.uniform(-INIT_RANGE, INIT_RANGE, size=w.shape)

    def zero_deltas(self):
        for _, dw in self.storage():
            dw[...] = 0

    def _count(self):
        """Count the real steps and sequences of the last backward pass (for lr normalization)."""
        self.nsteps += self.inputs.nsteps()
        self.nseq += self.inputs.batch

    def effective_lr(self):
        if self.normalization == "len":
            return self.learning_rate / max(self.nsteps, 1)
        if self.normalization == "batch":
            return self.learning_rate / max(self.nseq, 1)
        return self.learning_rate

    def update(self):
        lr = np.float32(self.effective_lr())
        self.nsteps = self.nseq = 0
        if self.optimizer == "sgd":
            m = np.float32(self.momentum)
            for w, dw in self.storage():
                K.momentum_update(w, dw, lr, m)
            return
        beta1, beta2, eps, decay = (np.float32(v) for v in self.adam)
        self.adam_step += 1
        for i, (w, dw) in enumerate(self.storage()):
            if i not in self.adam_state:
                self.adam_state[i] = (np.zeros_like(w), np.zeros_like(w))
            m, v = self.adam_state[i]
            K.adam_update(w, dw, m, v, lr, beta1, beta2, eps, decay, self.adam_step)


class FullLayer(Layer):
    """``y_t = f(W x_t + w)``; ``W`` (no, ni), bias ``w`` (no,)."""

    activation = K.LINEAR

    def __init__(self, ninput, noutput):
        super().__init__(ninput, noutput)
        self.W = np.zeros((self.no, self.ni), FLOAT)
        self.b = np.zeros(self.no, FLOAT)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._dW_parts = np.zeros((ROW_CHUNKS,) + self.W.shape, FLOAT)
        self._db_parts = np.zeros((ROW_CHUNKS,) + self.b.shape, FLOAT)
        self._dZ = np.zeros((0, self.no), FLOAT)

    def storage(self):
        return [(self.W, self.dW), (self.b, self.db)]

    def named_weights(self):
        return [("W", self.W, self.dW), ("w", self.b.reshape(-1, 1), self.db.reshape(-1, 1))]

    def init_weights(self, rng, init="clstm"):
        if init == "scaled":
            bound = 1.0 / np.sqrt(self.ni)
            self.W[...] = rng.uniform(-bound, bound, size=self.W.shape)
            self.b[...] = 0
        else:
            super().init_weights(rng, init)

    def _nonlinearity(self, Y2):
        K.bias_activate(Y2, self.b, self.activation)

    def forward(self):
        self._check_inputs()
        T, B, _ = self.inputs.data.shape
        X2 = self.inputs.data.reshape(T * B, self.ni)
        Y = self.outputs.resize(T, self.no, B)
        Y2 = Y.reshape(T * B, self.no)

        def rows(start, stop):
            np.matmul(X2[start:stop], self.W.T, out=Y2[start:stop])
            self._nonlinearity(Y2[start:stop])

        parallel.run_all([partial(rows, *chunk) for chunk in row_chunks(T * B)])
        self.outputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:
            K.zero_padding(Y, self.inputs.column_lengths())

    def _work(self, shape):
        if self._dZ.shape != shape:
            self._dZ = np.empty(shape, FLOAT)
        return self._dZ

    def _output_delta(self, dY2, Y2):
        dZ = self._work(dY2.shape)
        K.activation_delta(dZ, Y2, dY2, self.activation)
        return dZ

    def backward(self):
        self._check_d_outputs()
        T, B, _ = self.inputs.data.shape
        X2 = self.inputs.data.reshape(T * B, self.ni)
        Y2 = self.outputs.data.reshape(T * B, self.no)
        dZ = self._output_delta(self.d_outputs.data.reshape(T * B, self.no), Y2)
        if self.inputs.lengths is not None:  # deltas given for padding must not count
            if dZ is not self._dZ:  # the softmax passes d_outputs through: mask a copy
                np.copyto(self._work(dZ.shape), dZ)
                dZ = self._dZ
            K.zero_padding(dZ.reshape(T, B, self.no), self.inputs.column_lengths())
        dX2 = self.d_inputs.resize(T, self.ni, B).reshape(T * B, self.ni)
        self.d_inputs.lengths = self.inputs.lengths

        def rows(chunk, start, stop):
            np.matmul(dZ[start:stop], self.W, out=dX2[start:stop])
            np.matmul(dZ[start:stop].T, X2[start:stop], out=self._dW_parts[chunk])
            self._db_parts[chunk] = 0
            K.add_column_sums(self._db_parts[chunk], dZ[start:stop])

        chunks = row_chunks(T * B)
        parallel.run_all([partial(rows, i, *chunk) for i, chunk in enumerate(chunks)])
        for i in range(len(chunks)):  # merged in a fixed order: the same sums for any thread count
            self.dW += self._dW_parts[i]
            self.db += self._db_parts[i]
        self._count()


def row_chunks(n):
    """``(start, stop)`` of the row ranges a full layer splits ``n`` rows into: ROW_CHUNKS of them
    (a fixed number, whatever the thread count, so that results do not depend on it) unless a
    chunk would have fewer than MIN_CHUNK_ROWS rows."""
    k = ROW_CHUNKS if n >= ROW_CHUNKS * MIN_CHUNK_ROWS else 1
    bounds = [n * i // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


class LinearLayer(FullLayer):
    kind, name, activation = "LinearLayer", "full_linear", K.LINEAR


class SigmoidLayer(FullLayer):
    kind, name, activation = "SigmoidLayer", "full_sigmoid", K.SIGMOID


class TanhLayer(FullLayer):
    kind, name, activation = "TanhLayer", "full_tanh", K.TANH


class ReluLayer(FullLayer):
    kind, name, activation = "ReluLayer", "full_relu", K.RELU


class SoftmaxLayer(FullLayer):
    """Softmax output; backward passes ``d_outputs`` straight through (no Jacobian), which is
    exact for deltas of the form ``target - softmax_output``."""

    kind, name = "SoftmaxLayer", "softmax"

    def __init__(self, ninput, noutput):
        if int(noutput) < 2:
            raise NetworkError(f"SoftmaxLayer needs noutput >= 2, got {noutput}")
        super().__init__(ninput, noutput)

    def _nonlinearity(self, Y2):
        K.bias_softmax(Y2, self.b)

    def _output_delta(self, dY2, Y2):
        return dY2


class LSTM(Layer):
    """clstm's LSTM with peepholes; the variants change the cell-input (G) and output (H)
    nonlinearities and drop the peepholes (see the reference, §2)."""

    kind, name = "LSTM", "lstm"
    g_kind, h_kind, peephole = KL.TANH, KL.TANH, True
    GATES = ("WGI", "WGF", "WGO", "WCI")
    PEEPHOLES = ("WIP", "WFP", "WOP")

    def __init__(self, ninput, noutput):
        super().__init__(ninput, noutput)
        self.nf = 1 + self.ni + self.no
        self.W = np.zeros((4 * self.no, self.nf), FLOAT)
        self.dW = np.zeros_like(self.W)
        self.P = np.zeros((3, self.no), FLOAT)  # stays zero without peepholes: the kernels rely on it
        self.dP = np.zeros_like(self.P)
        self._dW_tmp = np.zeros_like(self.W)
        self._shape = None
        self._reverse = False

    def storage(self):
        return [(self.W, self.dW), (self.P, self.dP)] if self.peephole else [(self.W, self.dW)]

    def named_weights(self):
        no = self.no
        out = [(g, self.W[i * no:(i + 1) * no], self.dW[i * no:(i + 1) * no]) for i, g in enumerate(self.GATES)]
        if self.peephole:
            out += [(p, self.P[i].reshape(no, 1), self.dP[i].reshape(no, 1)) for i, p in enumerate(self.PEEPHOLES)]
        return out

    def init_weights(self, rng, init="clstm"):
        if init == "scaled":
            bound = 1.0 / np.sqrt(self.nf)
            self.W[...] = rng.uniform(-bound, bound, size=self.W.shape)
            self.W[:, 0] = 0
            self.W[self.no:2 * self.no, 0] = 1.0  # forget-gate bias 1: remember by default
            self.P[...] = 0
        else:
            super().init_weights(rng, init)

    def _buffers(self, T, B):
        if self._shape != (T, B):
            self._shape = (T, B)
            self.S = np.empty((T, B, self.nf), FLOAT)
            self.G = np.empty((T, B, 4 * self.no), FLOAT)
            self.dG = None  # made by the first backward pass: recognition never needs it
            self.C = np.empty((T, B, self.no), FLOAT)
            self.HC = np.empty((T, B, self.no), FLOAT)

    def forward(self, reverse=False):
        """Run the LSTM; with ``reverse`` every column runs from its last real step back to its
        first (what ``Reversed`` asks for, without copying). ``backward`` follows the same order."""
        self._check_inputs()
        T, B, ni = self.inputs.data.shape
        self._buffers(T, B)
        self._reverse = bool(reverse)
        lengths = self.inputs.column_lengths()
        S = self.S
        S[:, :, 0] = 1
        S[:, :, 1:1 + ni] = self.inputs.data
        np.matmul(S.reshape(T * B, self.nf)[:, :1 + ni], self.W[:, :1 + ni].T, out=self.G.reshape(T * B, -1))
        Y = self.outputs.resize(T, self.no, B)
        self.outputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:  # the kernels leave padding alone
            for A in (S, self.G, self.C, self.HC, Y):
                K.zero_padding(A, lengths)
        KL.lstm_forward(self.G, self.C, self.HC, Y, S, self.W, self.P, lengths, ni, self.g_kind, self.h_kind,
                        self.peephole, self._reverse)

    def backward(self):
        self._check_d_outputs()
        T, B, ni = self.inputs.data.shape
        lengths = self.inputs.column_lengths()
        if self.dG is None:
            self.dG = np.empty_like(self.G)
        if self.inputs.lengths is not None:
            K.zero_padding(self.dG, lengths)
        KL.lstm_backward(self.dG, self.d_outputs.data, self.G, self.C, self.HC, self.W, self.P, lengths, ni,
                         self.g_kind, self.h_kind, self.peephole, self._reverse)
        dG2 = self.dG.reshape(T * B, -1)
        dX = self.d_inputs.resize(T, ni, B)
        np.matmul(dG2, self.W[:, 1:1 + ni], out=dX.reshape(T * B, ni))
        self.d_inputs.lengths = self.inputs.lengths
        KL.clip_accumulate_peepholes(self.dG, self.C, self.dP, lengths, np.float32(self.clip), self.peephole,
                                     self._reverse)
        np.matmul(dG2.T, self.S.reshape(T * B, self.nf), out=self._dW_tmp)
        self.dW += self._dW_tmp
        self._count()


class NPLSTM(LSTM):
    kind, peephole = "NPLSTM", False


class LINLSTM(LSTM):
    kind, h_kind = "LINLSTM", KL.IDENTITY


class RELUTANHLSTM(LSTM):
    kind, g_kind = "RELUTANHLSTM", KL.RELU


class RELULSTM(LSTM):
    kind, g_kind, h_kind = "RELULSTM", KL.RELU, KL.IDENTITY


class RELU2LSTM(LSTM):
    kind, g_kind, h_kind = "RELU2LSTM", KL.RELU, KL.RELU


class Stacked(Network):
    """Runs its sub-networks in order (outputs of one are inputs of the next)."""

    kind, name = "Stacked", "stacked"

    def forward(self):
        if not self.sub:
            raise NetworkError(f"{self.name}: no sub-networks")
        current = self.inputs
        for s in self.sub:
            s.inputs.share(current)
            s.forward()
            current = s.outputs
        self.outputs.share(current)

    def backward(self):
        self._check_d_outputs()
        current = self.d_outputs
        for s in reversed(self.sub):
            s.d_outputs.share(current)
            s.backward()
            current = s.d_inputs
        self.d_inputs.share(current)


class Reversed(Network):
    """Runs its one sub-network on the time-reversed sequence (each column within its own length).

    An LSTM child runs its recurrence backwards in time on the shared buffers; any other child
    gets reversed copies."""

    kind, name = "Reversed", "reversed"

    def forward(self):
        s = self.sub[0]
        if isinstance(s, LSTM):
            s.inputs.share(self.inputs)
            s.forward(reverse=True)
            self.outputs.share(s.outputs)
            return
        _reverse_into(s.inputs, self.inputs)
        s.forward()
        _reverse_into(self.outputs, s.outputs)

    def backward(self):
        self._check_d_outputs()
        s = self.sub[0]
        if isinstance(s, LSTM):
            s.d_outputs.share(self.d_outputs)
            s.backward()
            self.d_inputs.share(s.d_inputs)
            return
        _reverse_into(s.d_outputs, self.d_outputs)
        s.backward()
        _reverse_into(self.d_inputs, s.d_inputs)


def _reverse_into(out, seq):
    """``out`` = ``seq`` with every column reversed in time within its own length."""
    out.like(seq)
    K.reverse_columns(out.data, seq.data, seq.column_lengths())


class Parallel(Network):
    """Two sub-networks on the same inputs, outputs concatenated along depth; they run on
    separate threads (see :mod:`clstmtools.parallel`)."""

    kind, name = "Parallel", "parallel"

    def noutput(self):
        return sum(s.noutput() for s in self.sub)

    def forward(self):
        for s in self.sub:
            s.inputs.share(self.inputs)
        parallel.run_all([s.forward for s in self.sub])
        T, B = self.inputs.T, self.inputs.batch
        out = self.outputs.resize(T, self.noutput(), B)
        self.outputs.lengths = self.inputs.lengths
        start = 0
        for s in self.sub:
            n = s.noutput()
            out[:, :, start:start + n] = s.outputs.data
            start += n

    def backward(self):
        self._check_d_outputs()
        start = 0
        for s in self.sub:
            n = s.noutput()
            s.d_outputs.like(s.outputs)
            s.d_outputs.data[...] = self.d_outputs.data[:, :, start:start + n]
            start += n
        parallel.run_all([s.backward for s in self.sub])
        d = self.d_inputs.like(self.inputs)
        d[...] = self.sub[0].d_inputs.data
        for s in self.sub[1:]:
            d += s.d_inputs.data


LAYER_TYPES = {cls.kind: cls for cls in (
    LinearLayer, SigmoidLayer, TanhLayer, ReluLayer, SoftmaxLayer,
    LSTM, NPLSTM, LINLSTM, RELUTANHLSTM, RELULSTM, RELU2LSTM)}
LSTM_TYPES = ("LSTM", "NPLSTM", "LINLSTM", "RELUTANHLSTM", "RELULSTM", "RELU2LSTM")
OUTPUT_TYPES = ("SoftmaxLayer", "SigmoidLayer", "LinearLayer", "TanhLayer", "ReluLayer")
COMPOSITES = {"Stacked": Stacked, "Reversed": Reversed, "Parallel": Parallel}


def _named(net, name):
    net.name = name
    return net


def _bidi(lstm_type, ni, nh, name="parallel"):
    cls = LAYER_TYPES[lstm_type]
    return _named(Parallel().add(cls(ni, nh)).add(Reversed().add(cls(ni, nh))), name)


def _lstm1(a):
    return _named(Stacked().add(LSTM(a["ninput"], a["nhidden"])).add(SoftmaxLayer(a["nhidden"], a["noutput"])), "lstm1")


def _revlstm1(a):
    return _named(Stacked().add(Reversed().add(LSTM(a["ninput"], a["nhidden"])))
                  .add(SoftmaxLayer(a["nhidden"], a["noutput"])), "revlstm1")


def _bidilstm(a):
    bidi = _bidi(a["lstm_type"], a["ninput"], a["nhidden"])
    out = LAYER_TYPES[a["output_type"]](2 * a["nhidden"], a["noutput"])
    return _named(Stacked().add(bidi).add(out), "bidilstm")


def _bidilstm2(a):
    nh2 = a["nhidden2"] if a["nhidden2"] > 0 else a["nhidden"]
    return _named(Stacked().add(_bidi("LSTM", a["ninput"], a["nhidden"], "bidilayer"))
                  .add(_bidi("LSTM", 2 * a["nhidden"], nh2, "bidilayer"))
                  .add(SoftmaxLayer(2 * nh2, a["noutput"])), "bidilstm2")


#: prefab kinds: canonical name -> (builder, output_type override)
PREFABS = {
    "LSTM1": (_lstm1, None),
    "REVLSTM1": (_revlstm1, None),
    "BIDILSTM": (_bidilstm, None),
    "LRBIDILSTM": (_bidilstm, "SigmoidLayer"),
    "LINBIDILSTM": (_bidilstm, "LinearLayer"),
    "BIDILSTM2": (_bidilstm2, None),
}
ALIASES = {"lstm1": "LSTM1", "uni": "LSTM1", "revlstm1": "REVLSTM1", "bidi": "BIDILSTM",
           "lrbidi": "LRBIDILSTM", "bidi2": "BIDILSTM2", "linbidi": "LINBIDILSTM"}
KINDS = tuple(PREFABS) + tuple(ALIASES) + tuple(LAYER_TYPES) + tuple(COMPOSITES)


def canonical_kind(kind):
    """The canonical kind name for a kind or alias, or a NetworkError listing the choices."""
    kind = ALIASES.get(kind, kind)
    if kind not in PREFABS and kind not in LAYER_TYPES and kind not in COMPOSITES:
        raise NetworkError(f"unknown network kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def _size(attributes, name, default=None):
    value = attributes.get(name, default)
    if value is None:
        raise NetworkError(f"network attribute {name} is required")
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise NetworkError(f"network attribute {name}={value!r} is not a number") from None


def build_net(kind, attributes):
    """Build an uninitialized network of ``kind`` from string-valued ``attributes``."""
    kind = canonical_kind(kind)
    attributes = {k: str(v) for k, v in attributes.items()}
    if kind in COMPOSITES:
        net = COMPOSITES[kind]()
    elif kind in LAYER_TYPES:
        net = LAYER_TYPES[kind](_size(attributes, "ninput"), _size(attributes, "noutput"))
    else:
        builder, forced_output = PREFABS[kind]
        a = {n: _size(attributes, n, d) for n, d in
             (("ninput", None), ("nhidden", 100), ("nhidden2", -1), ("noutput", None))}
        for n in ("ninput", "nhidden", "noutput"):
            if a[n] < 1:
                raise NetworkError(f"network attribute {n} must be positive, got {a[n]}")
        a["lstm_type"] = attributes.get("lstm_type", "LSTM")
        a["output_type"] = forced_output or attributes.get("output_type", "SoftmaxLayer")
        if a["lstm_type"] not in LSTM_TYPES:
            raise NetworkError(f"unknown lstm_type {a['lstm_type']!r}: use one of {', '.join(LSTM_TYPES)}")
        if a["output_type"] not in OUTPUT_TYPES:
            raise NetworkError(f"unknown output_type {a['output_type']!r}: use one of {', '.join(OUTPUT_TYPES)}")
        net = builder(a)
        attributes.setdefault("nhidden", str(a["nhidden"]))
        attributes.setdefault("nhidden2", str(a["nhidden2"]))
        attributes.setdefault("lstm_type", a["lstm_type"])
        attributes.setdefault("output_type", a["output_type"])
    net.attributes.update(attributes)
    net.attributes["kind"] = kind
    return net


def initialize(net, rng=None, init="clstm"):
    """Draw every weight of ``net`` (clstm: uniform ±0.01) and zero the deltas."""
    if init not in INITS:
        raise NetworkError(f"unknown init {init!r}: use clstm or scaled")
    rng = np.random.default_rng() if rng is None else rng
    for layer in net.layers():
        layer.init_weights(rng, init)
        layer.zero_deltas()
    return net


def make_net(kind, rng=None, init="clstm", **attributes):
    """Return an initialized network, e.g. ``make_net("bidi", ninput=48, nhidden=100, noutput=83)``.

    ``rng`` (a numpy Generator or an int seed) governs the initial weights."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return initialize(build_net(kind, attributes), rng, init)


def make_net_init(kind, params, rng=None):
    """clstm's colon-separated form: ``make_net_init("bidi", "ninput=48:nhidden=100:noutput=83")``."""
    attributes = {}
    for item in filter(None, params.split(":")):
        name, sep, value = item.partition("=")
        if not sep:
            raise NetworkError(f"network parameter {item!r} is not of the form name=value")
        attributes[name.strip()] = value.strip()
    return make_net(kind, rng=rng, **attributes)


def network_info(net):
    """One line per node: path, learning rate, momentum, ninput, noutput."""
    return "\n".join(f"{path} {node.learning_rate:g} {node.momentum:g} {node.ninput()} {node.noutput()}"
                     for path, node in net.walk())
