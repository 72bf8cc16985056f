"""Recurrent layers over feature maps in kraken's two directions: along x over each row, along y down each column (optionally summarized).

A recurrent layer reads one step's features at a time; on maps of H rows of C channels (see
:mod:`.conv`) kraken runs it on every row as a sequence of its own along x, or down every column
along y, the other dimension becoming more sequences of the batch. These composites hand their one
child (an LSTM or GRU, reversed or bidirectional) those sequences and put its outputs back into maps.
"""
import numpy as np

from ..kernels import layers as K
from .composites import Parallel, Reversed
from .ports import Network


class AlongX(Network):
    """Its child runs along x over each of the maps' ``height`` rows, every row a sequence of C features:
    ``(T, B, H*C)`` is read as ``(T, B*H, C)`` without copying, and the child's ``(T, B*H, n)`` outputs as
    maps of H rows of n channels."""

    kind, name = "AlongX", "alongx"

    def __init__(self, height, child):
        super().__init__()
        self.H = int(height)
        self.add(child)

    def ninput(self):
        return self.H * self.sub[0].ninput()

    def noutput(self):
        return self.H * self.sub[0].noutput()

    def output_length(self, T):
        return T

    def _row_lengths(self):
        lengths = self.inputs.lengths
        return None if lengths is None else np.repeat(self.inputs.column_lengths(), self.H)

    def forward(self):
        self._check_inputs()
        s = self.sub[0]
        T, B, _ = self.inputs.data.shape
        s.inputs.borrow(self.inputs.data.reshape(T, B * self.H, -1), self._row_lengths())
        s.forward()
        self.outputs.borrow(s.outputs.data.reshape(T, B, -1), self.inputs.lengths)

    def backward(self):
        self._check_d_outputs()
        s = self.sub[0]
        T, B, _ = self.d_outputs.data.shape
        s.d_outputs.borrow(self.d_outputs.data.reshape(T, B * self.H, -1), self._row_lengths())
        s.backward()
        self.d_inputs.borrow(s.d_inputs.data.reshape(T, B, -1), self.inputs.lengths)


def final_steps(net, steps):
    """For each output of ``net`` (a recurrent layer, reversed, or the two side by side), the step at which
    its direction has seen the whole sequence of ``steps``: the last for a forward one, the first for a
    reversed one."""
    if isinstance(net, Parallel):
        return np.concatenate([final_steps(s, steps) for s in net.sub])
    return np.full(net.noutput(), 0 if isinstance(net, Reversed) else steps - 1, np.int64)


class AlongY(Network):
    """Its child runs along y down each column of the maps (every step of every line a sequence of
    ``height`` steps of C features; a copy puts the rows first), and its outputs go back into maps of H
    rows; with ``summarize``, only each direction's final step (:func:`final_steps`), one row. A padded
    step of a minibatch is a column of zeros whose outputs are set to zero."""

    kind, name = "AlongY", "alongy"

    def __init__(self, height, child, summarize=False):
        super().__init__()
        self.H = int(height)
        self.summarize = bool(summarize)
        self.add(child)
        self.final = final_steps(child, self.H)

    def ninput(self):
        return self.H * self.sub[0].ninput()

    def noutput(self):
        return self.sub[0].noutput() * (1 if self.summarize else self.H)

    def output_length(self, T):
        return T

    def forward(self):
        self._check_inputs()
        s = self.sub[0]
        T, B, _ = self.inputs.data.shape
        H, n = self.H, s.noutput()
        columns = self.inputs.data.reshape(T, B, H, -1).transpose(2, 0, 1, 3)
        s.inputs.resize(H, s.ninput(), T * B)[...] = columns.reshape(H, T * B, -1)
        s.forward()
        Y = self.outputs.resize(T, self.noutput(), B)
        if self.summarize:
            Y.reshape(T * B, n)[...] = s.outputs.data[self.final, np.arange(T * B)[:, None], np.arange(n)]
        else:
            Y.reshape(T, B, H, n)[...] = s.outputs.data.reshape(H, T, B, n).transpose(1, 2, 0, 3)
        self.outputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:
            K.zero_padding(Y, self.inputs.column_lengths())

    def backward(self):
        self._check_d_outputs()
        s = self.sub[0]
        T, B, _ = self.inputs.data.shape
        H, n = self.H, s.noutput()
        dY = self.d_outputs.data
        if self.inputs.lengths is not None:  # the padded steps' outputs are constants: no deltas there
            dY = dY.copy()
            K.zero_padding(dY, self.inputs.column_lengths())
        d = s.d_outputs.resize(H, n, T * B)
        if self.summarize:
            d[...] = 0
            d[self.final, np.arange(T * B)[:, None], np.arange(n)] = dY.reshape(T * B, n)
        else:
            d.reshape(H, T, B, n)[...] = dY.reshape(T, B, H, n).transpose(2, 0, 1, 3)
        s.backward()
        dX = self.d_inputs.resize(T, self.ninput(), B)
        dX.reshape(T, B, H, -1)[...] = s.d_inputs.data.reshape(H, T, B, -1).transpose(1, 2, 0, 3)
        self.d_inputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:
            K.zero_padding(dX, self.inputs.column_lengths())
