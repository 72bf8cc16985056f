"""clstm's LSTM layers: the peephole LSTM and its variants, run by the recurrence kernels of :mod:`clstmtools.kernels.lstm`."""
from functools import partial

import numpy as np

from .. import parallel
from ..kernels import layers as K
from ..kernels import lstm as KL
from ..kernels import sync as KS
from .full import ROW_CHUNKS, row_chunks
from .ports import Layer

#: a minibatch's columns are dealt out to this many recurrence calls, run on separate threads
#: (a fixed number, whatever the thread count, so that results do not depend on it), unless the
#: layer runs alongside another (a direction of a bidirectional layer): then one call takes them
#: all, and its recurrent products are larger and faster
COLUMN_GROUPS = 2

#: a recurrence that runs on its own over one column (one line, not beside another direction)
#: is shared out by hidden units to this many calls that run on separate threads at the same
#: time and wait for each other at every step; again a fixed number, whatever the thread count
UNIT_PARTS = 2
#: ... when the layer has at least this many units: below, a part's step is too short for the
#: wait between steps to pay (measured, LSTM1 batch 1 on two cores: 48 units 0.9x, 64 units 1.0x,
#: 100 units 1.1-1.16x, 200 units 1.5x)
UNIT_PARTS_FROM = 96
#: after a call whose part one thread had to take over (the other lost its core: the machine is
#: busy), this many calls run their parts on one thread before two are tried again
ALONE_AFTER_TAKEOVER = 8


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
        self.W = np.zeros((4 * self.no, self.nf), self.dtype)
        self.dW = np.zeros_like(self.W)
        self.P = np.zeros((3, self.no), self.dtype)  # stays zero without peepholes: the kernels rely on it
        self.dP = np.zeros_like(self.P)
        self._dW_parts = np.zeros((ROW_CHUNKS,) + self.W.shape, self.dtype)
        self._shape = None
        self._reverse = False
        self._alone_calls = 0  # calls left to run a lone line's unit parts on one thread (see ALONE_AFTER_TAKEOVER)

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
            self.S = np.empty((T, B, self.nf), self.dtype)
            self.G = np.empty((T, B, 4 * self.no), self.dtype)
            self.dG = None  # made by the first backward pass: recognition never needs it
            self.C = np.empty((T, B, self.no), self.dtype)
            self.HC = np.empty((T, B, self.no), self.dtype)

    def groups(self):
        """How many recurrence calls a minibatch's columns are dealt out to."""
        return 1 if parallel.alongside() else COLUMN_GROUPS

    def unit_parts(self, groups):
        """The boundaries of the hidden units' parts (see ``UNIT_PARTS``) for ``groups`` column groups."""
        if len(groups) == 1 and not parallel.alongside() and self.no >= UNIT_PARTS_FROM:
            bounds = np.arange(UNIT_PARTS + 1) * self.no // UNIT_PARTS // 4 * 4  # whole vectors of 4
            bounds[-1] = self.no
            return bounds.astype(np.int64)
        return np.array([0, self.no], np.int64)

    def _run_recurrence(self, recurrence, lengths, ni):
        """Run ``recurrence(lengths, ni, ...)`` (a partial of the forward or backward kernel) on each
        column group; a lone group's units in parts on separate threads when there are threads enough
        (and no part was taken over lately), else all parts in one call (the same arithmetic)."""
        groups = column_groups(lengths, self.groups())
        units = self.unit_parts(groups)
        settings = (ni, self.g_kind, self.h_kind, self.peephole, self._reverse, units)
        nparts = len(units) - 1
        counters = KS.counters(nparts)
        if nparts > 1 and parallel.concurrent(nparts) and self._alone_calls == 0:
            parallel.run_all([partial(recurrence, groups[0], *settings, part, counters) for part in range(nparts)])
            if (counters[::KS.STRIDE] == KS.TAKEN).any():
                self._alone_calls = ALONE_AFTER_TAKEOVER
        else:
            self._alone_calls = max(0, self._alone_calls - 1)
            parallel.run_all([partial(recurrence, group, *settings, -1, counters) for group in groups])

    def forward(self, reverse=False):
        """Run the LSTM; with ``reverse`` every column runs from its last real step back to its
        first (what ``Reversed`` asks for, without copying). ``backward`` follows the same order."""
        self._check_inputs()
        T, B, ni = self.inputs.data.shape
        self._buffers(T, B)
        self._reverse = bool(reverse)
        lengths = self.inputs.column_lengths()
        S = self.S
        input_products(S, self.G, self.W, self.inputs.data)
        Y = self.outputs.resize(T, self.no, B)
        self.outputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:  # the kernels leave padding alone
            for A in (S, self.G, self.C, self.HC, Y):
                K.zero_padding(A, lengths)
        self._run_recurrence(partial(KL.lstm_forward, self.G, self.C, self.HC, Y, S, self.W, self.P), lengths, ni)

    def backward(self):
        self._check_d_outputs()
        T, B, ni = self.inputs.data.shape
        lengths = self.inputs.column_lengths()
        if self.dG is None:
            self.dG = np.empty_like(self.G)
        if self.inputs.lengths is not None:
            K.zero_padding(self.dG, lengths)
        dC = np.zeros((B, self.no), self.dtype)  # the cell deltas carried from step to step
        self._run_recurrence(partial(KL.lstm_backward, self.dG, dC, self.d_outputs.data, self.G, self.C, self.HC,
                                     self.W, self.P), lengths, ni)
        dG2 = self.dG.reshape(T * B, -1)
        dX2 = self.d_inputs.resize(T, ni, B).reshape(T * B, ni)
        chunks = row_chunks(T * B)
        parallel.run_all([partial(np.matmul, dG2[start:stop], self.W[:, 1:1 + ni], out=dX2[start:stop])
                          for start, stop in chunks])
        self.d_inputs.lengths = self.inputs.lengths
        KL.clip_accumulate_peepholes(self.dG, self.C, self.dP, lengths, np.float32(self.clip), self.peephole,
                                     self._reverse)  # after dX: the clipping applies to the weight deltas only
        S2 = self.S.reshape(T * B, self.nf)
        parallel.run_all([partial(np.matmul, dG2[start:stop].T, S2[start:stop], out=self._dW_parts[c])
                          for c, (start, stop) in enumerate(chunks)])
        for c in range(len(chunks)):  # merged in a fixed order: the same sums for any thread count
            self.dW += self._dW_parts[c]
        self._count()


def input_products(S, G, W, inputs):
    """Fill the rows ``S`` (T, B, 1 + ni + no) of a recurrent layer with a 1 and the inputs, and its gate
    pre-activations ``G`` with their part from these: one matrix product over every step, in row chunks on
    the threads (the recurrence adds the part from the previous outputs)."""
    T, B, ni = inputs.shape
    S[:, :, 0] = 1
    S[:, :, 1:1 + ni] = inputs
    S2, G2 = S.reshape(T * B, -1), G.reshape(T * B, -1)
    parallel.run_all([partial(np.matmul, S2[start:stop, :1 + ni], W[:, :1 + ni].T, out=G2[start:stop])
                      for start, stop in row_chunks(T * B)])


def column_groups(lengths, groups=COLUMN_GROUPS):
    """The column lengths each recurrence call runs on: a minibatch's columns dealt out in turn to
    ``groups`` calls, each seeing length 0 (a column it skips) for the others' columns. Lines
    sorted by width then give every call about the same work; one line is one call."""
    if len(lengths) < 2 or groups == 1:
        return [lengths]
    owner = np.arange(len(lengths)) % groups
    return [np.where(owner == g, lengths, 0) for g in range(groups)]


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
