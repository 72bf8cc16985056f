"""Composite networks: sub-networks run in order (``Stacked``), time-reversed (``Reversed``) or side by side (``Parallel``)."""
from functools import partial

from .. import parallel
from ..kernels import layers as K
from .fused import recognition_plan
from .lstm import LSTM
from .ports import Network, NetworkError


class Stacked(Network):
    """Runs its sub-networks in order (outputs of one are inputs of the next)."""

    kind, name = "Stacked", "stacked"

    def input_side(self):
        return self.sub[:1]

    def forward(self):
        """In recognition, blocks of convolutional layers run as one (:mod:`clstmtools.network.fused`)."""
        self._forward(self.sub if self.training else recognition_plan(self.sub))

    def _forward(self, parts):
        if not self.sub:
            raise NetworkError(f"{self.name}: no sub-networks")
        current = self.inputs
        for s in parts:
            s.inputs.share(current)
            s.forward()
            current = s.outputs
        self.outputs.share(current)
        self._layer_by_layer = parts is self.sub

    def backward(self):
        self._check_d_outputs()
        if not getattr(self, "_layer_by_layer", True):  # a recognition pass left no maps for the backward pass
            self._forward(self.sub)
        current = self.d_outputs
        trained = [not s.frozen for s in self.sub]
        for k in reversed(range(len(self.sub))):
            if not any(trained[:k + 1]):  # nothing from here down learns: the deltas stop (see set_frozen)
                return
            s = self.sub[k]
            s.d_outputs.share(current)
            s.backward()
            current = s.d_inputs
        self.d_inputs.share(current)


class Reversed(Network):
    """Runs its one sub-network on the time-reversed sequence (each column within its own length).

    An LSTM child over columns of one length runs its recurrence backwards in time on the shared
    buffers; any other child, and an LSTM over columns of different lengths, gets reversed copies:
    run backwards, such columns would be at different time steps at each step, and reading their
    rows from all over the buffers made the LSTM's steps 1.2-1.4x slower than the copies cost."""

    kind, name = "Reversed", "reversed"

    def in_place(self):
        """True when the child runs backwards in place on the shared buffers (an LSTM over columns
        of one length); the backward pass follows the forward pass's way, as the inputs are the same."""
        return isinstance(self.sub[0], LSTM) and self.inputs.lengths_equal()

    def forward(self):
        s = self.sub[0]
        if self.in_place():
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
        if self.in_place():
            s.d_outputs.share(self.d_outputs)
            s.backward()
            self.d_inputs.share(s.d_inputs)
            return
        _reverse_into(s.d_outputs, self.d_outputs)
        s.backward()
        _reverse_into(self.d_inputs, s.d_inputs)


def _forward_into(s, out, start):
    """Run ``s`` and copy its outputs into its columns of ``out`` (on its own thread, like its work)."""
    s.forward()
    out[:, :, start:start + s.noutput()] = s.outputs.data


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

    def output_length(self, T):
        return self.sub[0].output_length(T)

    def forward(self):
        for s in self.sub:
            s.inputs.share(self.inputs)
        out = self.outputs.resize(self.inputs.T, self.noutput(), self.inputs.batch)
        self.outputs.lengths = self.inputs.lengths
        parallel.run_side_by_side([partial(_forward_into, s, out, start) for s, start in self._starts()])

    def _starts(self):
        """Each sub-network with the first of its output columns."""
        start = 0
        for s in self.sub:
            yield s, start
            start += s.noutput()

    def backward(self):
        self._check_d_outputs()
        start = 0
        for s in self.sub:
            n = s.noutput()
            s.d_outputs.like(s.outputs)
            s.d_outputs.data[...] = self.d_outputs.data[:, :, start:start + n]
            start += n
        parallel.run_side_by_side([s.backward for s in self.sub])
        d = self.d_inputs.like(self.inputs)
        d[...] = self.sub[0].d_inputs.data
        for s in self.sub[1:]:
            d += s.d_inputs.data
