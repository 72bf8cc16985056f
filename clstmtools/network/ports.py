"""The network's ports and the layer base: every node's sequences, tree walks and settings; every leaf's weights and updates."""
import sys
from functools import partial

import numpy as np

from .. import parallel
from ..kernels import layers as K
from ..sequence import Sequence

#: clstm's gate-delta clipping bound (applied to the weight-delta accumulation only)
GRADIENT_CLIP = 10.0
#: clstm's initial weight range: uniform in (-INIT_RANGE, INIT_RANGE)
INIT_RANGE = 0.01
NORMALIZATIONS = ("none", "len", "batch")
OPTIMIZERS = ("sgd", "adam")
INITS = ("clstm", "scaled")


#: the longest sequence a network runs (its buffers grow with T: a hostile 10^6-character line would take
#: gigabytes); real lines are a few thousand steps
MAX_STEPS = 1 << 15


class NetworkError(ValueError):
    """A network was built, fed or loaded with something it cannot use."""


def _check_fractions(**values):
    """Refuse decay rates outside [0, 1): at 1 or above an update never forgets and grows without bound."""
    for name, value in values.items():
        if not 0 <= value < 1:
            raise NetworkError(f"{name} must be at least 0 and below 1, got {value!r}")


class Network:
    """Base of every node: ports, sub-networks, attributes, learning settings, tree walks."""

    kind = "Network"
    name = "network"
    input_deltas = True  # backward computes d_inputs (see set_input_deltas)
    frozen = False  # trained or not (see set_frozen)

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
        self.training = False  # dropout and batch statistics only while true (see set_training)

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

    def states(self, prefix=""):
        """Yield ``(dotted_name, array)`` for the saved state that is not trained by gradients
        (batch normalization's running statistics); named like the weights."""
        for path, node in self.walk(prefix):
            if isinstance(node, Layer):
                for local, a in node.named_states():
                    yield f"{path}.{local}", a

    def output_length(self, T):
        """The output steps for T input steps (shorter after horizontal pooling)."""
        for s in self.sub:
            T = s.output_length(T)
        return T

    def set_training(self, training):
        """Training mode (dropout active, batch normalization on the batch's statistics, which it
        also folds into its running statistics) or recognition mode (the default: no dropout,
        running statistics). The trainer switches it on for its training steps only; frozen
        parts stay in recognition mode."""
        for _, node in self.walk():
            node.training = bool(training) and not node.frozen

    def set_frozen(self, frozen):
        """Freeze (or thaw) this node and everything below it: a frozen part is not trained (its backward
        pass does nothing, and a ``Stacked`` network stops before it when nothing below it trains),
        its weights are not updated, and it runs in recognition mode."""
        for _, node in self.walk():
            node.frozen = bool(frozen)
            if isinstance(node, Layer) and frozen:
                node.zero_deltas()
                node.nsteps = node.nseq = 0

    def set_input_deltas(self, wanted):
        """Whether ``backward`` computes ``d_inputs`` (the default). The trainer turns it off, as nothing
        reads a network's input deltas there; a layer that then skips them (a convolution: a product
        and a col2im) leaves ``d_inputs`` NaN, so that a read shows up."""
        self.input_deltas = bool(wanted)
        for s in self.input_side():
            s.set_input_deltas(wanted)

    def input_side(self):
        """The sub-networks that receive this network's inputs."""
        return self.sub

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

    # --- learning settings -------------------------------------------------------------
    def setLearningRate(self, lr, momentum):
        _check_fractions(momentum=momentum)
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
        _check_fractions(beta1=beta1, beta2=beta2)
        if not eps > 0:
            raise NetworkError(f"eps must be positive, got {eps!r}")
        for layer in self.layers():
            layer.optimizer = optimizer
            layer.adam = (float(beta1), float(beta2), float(eps), float(weight_decay))

    def set_gradient_clipping(self, bound):
        """Gate-delta clipping bound of every LSTM (0 disables it)."""
        for layer in self.layers():
            layer.clip = float(bound)

    def update(self):
        """Update every layer's weights: the layers dealt out, largest first, to as many groups as there are
        threads, each group updated on a thread of its own (layers are independent: the same result)."""
        layers, threads = [layer for layer in self.layers() if not layer.frozen], parallel.get_threads()
        key = (threads, tuple(map(id, layers)))
        if getattr(self, "_update_plan", (None,))[0] != key:  # dealt once, not at every step
            groups = [[] for _ in range(threads)]
            sizes = [0] * threads
            for layer in sorted(layers, key=lambda layer: -sum(w.size for w, _ in layer.storage())):
                k = sizes.index(min(sizes))
                groups[k].append(layer)
                sizes[k] += sum(w.size for w, _ in layer.storage())
            self._update_plan = key, [partial(_update_all, group) for group in groups if group]
        parallel.run_all(self._update_plan[1])

    # --- ports ---------------------------------------------------------------------------
    def _check_inputs(self):
        if self.inputs.depth != self.ninput() or self.inputs.T == 0:
            raise NetworkError(
                f"{self.name}: inputs have shape (T={self.inputs.T}, depth={self.inputs.depth}), "
                f"expected depth {self.ninput()} and T > 0")
        if self.inputs.T > MAX_STEPS:
            raise NetworkError(f"{self.name}: inputs have {self.inputs.T} steps, more than the {MAX_STEPS} a "
                               f"sequence may have")

    def _check_d_outputs(self):
        if self.d_outputs.shape != self.outputs.shape:
            raise NetworkError(
                f"{self.name}: d_outputs have shape {self.d_outputs.shape}, outputs {self.outputs.shape}")


def _update_all(layers):
    for layer in layers:
        layer.update()


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
        self.dtype = sys.modules[__package__].FLOAT  # the package's, read now: tests build float64 layers
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

    def named_states(self):
        return []

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
