"""The GRU layer (VGSL ``G``): PyTorch's gated recurrent unit, run by the recurrence kernels of :mod:`clstmtools.kernels.gru`."""
from functools import partial

import numpy as np

from .. import parallel
from ..kernels import gru as KG
from ..kernels import layers as K
from .full import ROW_CHUNKS, row_chunks
from .lstm import COLUMN_GROUPS, column_groups, input_products
from .ports import Layer


class GRU(Layer):
    """A GRU of ``noutput`` units: reset, update and candidate gates whose weights ``W`` (3 no, 1 + ni + no)
    are laid out like an LSTM's (bias, inputs, recurrent outputs) and the candidate's recurrent bias
    ``bhn`` (see :mod:`clstmtools.kernels.gru` for the equations). Minibatches, padding and threads as the
    LSTM's; its gate deltas are not clipped (``gradient_clip`` is clstm's LSTM's)."""

    kind, name = "GRU", "gru"
    GATES = ("WGR", "WGZ", "WGN")

    def __init__(self, ninput, noutput):
        super().__init__(ninput, noutput)
        self.nf = 1 + self.ni + self.no
        self.W = np.zeros((3 * self.no, self.nf), self.dtype)
        self.dW = np.zeros_like(self.W)
        self.bhn = np.zeros(self.no, self.dtype)
        self.dbhn = np.zeros_like(self.bhn)
        self._dW_parts = np.zeros((ROW_CHUNKS,) + self.W.shape, self.dtype)
        self._db_parts = np.zeros((ROW_CHUNKS, self.no), self.dtype)
        self._shape = None

    def storage(self):
        return [(self.W, self.dW), (self.bhn, self.dbhn)]

    def named_weights(self):
        no = self.no
        out = [(g, self.W[i * no:(i + 1) * no], self.dW[i * no:(i + 1) * no]) for i, g in enumerate(self.GATES)]
        return out + [("WHN", self.bhn.reshape(no, 1), self.dbhn.reshape(no, 1))]

    def init_weights(self, rng, init="clstm"):
        if init == "scaled":
            bound = 1.0 / np.sqrt(self.nf)
            self.W[...] = rng.uniform(-bound, bound, size=self.W.shape)
            self.W[:, 0] = 0
            self.bhn[...] = 0
        else:
            super().init_weights(rng, init)

    def _buffers(self, T, B):
        if self._shape != (T, B):
            self._shape = (T, B)
            self.S = np.empty((T, B, self.nf), self.dtype)
            self.G = np.empty((T, B, 3 * self.no), self.dtype)
            self.HN = np.empty((T, B, self.no), self.dtype)
            self.dGx = self.dGh = None  # made by the first backward pass: recognition never needs them

    def groups(self):
        """How many recurrence calls (threads) a minibatch's columns are dealt out to."""
        return 1 if parallel.alongside() else COLUMN_GROUPS

    def forward(self):
        self._check_inputs()
        T, B, ni = self.inputs.data.shape
        self._buffers(T, B)
        lengths = self.inputs.column_lengths()
        S = self.S
        input_products(S, self.G, self.W, self.inputs.data)
        Y = self.outputs.resize(T, self.no, B)
        self.outputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:  # the kernels leave padding alone
            for A in (S, self.G, self.HN, Y):
                K.zero_padding(A, lengths)
        parallel.run_all([partial(KG.gru_forward, self.G, self.HN, Y, S, self.W, self.bhn, group, ni)
                          for group in column_groups(lengths, self.groups())])

    def backward(self):
        self._check_d_outputs()
        T, B, ni = self.inputs.data.shape
        lengths = self.inputs.column_lengths()
        if self.dGx is None:
            self.dGx, self.dGh = np.empty_like(self.G), np.empty_like(self.G)
        if self.inputs.lengths is not None:
            K.zero_padding(self.dGx, lengths)
            K.zero_padding(self.dGh, lengths)
        parallel.run_all([partial(KG.gru_backward, self.dGx, self.dGh, self.d_outputs.data, self.G, self.HN, self.S,
                                  self.W, group, ni) for group in column_groups(lengths, self.groups())])
        off = 1 + ni
        dGx2, dGh2 = self.dGx.reshape(T * B, -1), self.dGh.reshape(T * B, -1)
        S2 = self.S.reshape(T * B, self.nf)
        dX2 = self.d_inputs.resize(T, ni, B).reshape(T * B, ni)
        self.d_inputs.lengths = self.inputs.lengths
        chunks = row_chunks(T * B)

        def rows(c, start, stop):
            np.matmul(dGx2[start:stop], self.W[:, 1:off], out=dX2[start:stop])
            np.matmul(dGx2[start:stop].T, S2[start:stop, :off], out=self._dW_parts[c][:, :off])
            np.matmul(dGh2[start:stop].T, S2[start:stop, off:], out=self._dW_parts[c][:, off:])
            self._db_parts[c] = 0
            K.add_column_sums(self._db_parts[c], dGh2[start:stop, 2 * self.no:])

        parallel.run_all([partial(rows, c, *chunk) for c, chunk in enumerate(chunks)])
        for c in range(len(chunks)):  # merged in a fixed order: the same sums for any thread count
            self.dW += self._dW_parts[c]
            self.dbhn += self._db_parts[c]
        self._count()
