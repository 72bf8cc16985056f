"""Full layers: ``y_t = f(W x_t + w)`` over every time step as one matrix product, split in row chunks run on threads."""
from functools import partial

import numpy as np

from .. import parallel
from ..kernels import layers as K
from ..sequence import Sequence
from .ports import Layer, NetworkError

#: full layers split their rows into this many chunks, run on separate threads
ROW_CHUNKS = 2
MIN_CHUNK_ROWS = 64


class FullLayer(Layer):
    """``y_t = f(W x_t + w)``; ``W`` (no, ni), bias ``w`` (no,)."""

    activation = K.LINEAR

    def __init__(self, ninput, noutput):
        super().__init__(ninput, noutput)
        self.W = np.zeros((self.no, self.ni), self.dtype)
        self.b = np.zeros(self.no, self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._dW_parts = np.zeros((ROW_CHUNKS,) + self.W.shape, self.dtype)
        self._db_parts = np.zeros((ROW_CHUNKS,) + self.b.shape, self.dtype)
        self._dZ = np.zeros((0, self.no), self.dtype)

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

    def _nonlinearity(self, Y2, start, stop):
        K.bias_activate(Y2[start:stop], self.b, self.activation)

    def forward(self):
        self._check_inputs()
        T, B, _ = self.inputs.data.shape
        X2 = self.inputs.data.reshape(T * B, self.ni)
        Y = self.outputs.resize(T, self.no, B)
        Y2 = Y.reshape(T * B, self.no)

        def rows(start, stop):
            np.matmul(X2[start:stop], self.W.T, out=Y2[start:stop])
            self._nonlinearity(Y2, start, stop)

        parallel.run_all([partial(rows, *chunk) for chunk in row_chunks(T * B)])
        self.outputs.lengths = self.inputs.lengths
        if self.inputs.lengths is not None:
            K.zero_padding(Y, self.inputs.column_lengths())

    def _work(self, shape):
        if self._dZ.shape != shape:
            self._dZ = np.empty(shape, self.dtype)
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
    exact for deltas of the form ``target - softmax_output``.

    By default the softmax is clstm's (exponents clamped to [-30, 30]); with ``keep_logs`` it is the
    exact softmax, and ``log_outputs`` holds its log, exact where the softmax underflows (standard
    CTC trains from it)."""

    kind, name = "SoftmaxLayer", "softmax"

    def __init__(self, ninput, noutput):
        if int(noutput) < 2:
            raise NetworkError(f"SoftmaxLayer needs noutput >= 2, got {noutput}")
        super().__init__(ninput, noutput)
        self.keep_logs = False
        self.log_outputs = Sequence()

    def forward(self):
        if self.keep_logs:
            self._check_inputs()
            T, B, _ = self.inputs.data.shape
            self._logs = self.log_outputs.resize(T, self.no, B).reshape(T * B, self.no)
            self.log_outputs.lengths = self.inputs.lengths
        super().forward()

    def _nonlinearity(self, Y2, start, stop):
        if self.keep_logs:
            K.bias_log_softmax(Y2[start:stop], self._logs[start:stop], self.b)
        else:
            K.bias_softmax(Y2[start:stop], self.b)

    def _output_delta(self, dY2, Y2):
        return dY2
