"""Convolutional layers over line images: 2-D convolution, max pooling, reshapes, batch and group normalization, dropout.

Their sequences are feature maps: column t of line b holds H rows of C channels as ``H * C``
features (channels fastest), so the columns reshape before an LSTM is free and these layers sit
in a ``Stacked`` network like any other. Horizontal pooling and strides shorten the sequence (and
every column's length); padded steps of a minibatch read as zeros and stay zero.
"""
from functools import partial

import numpy as np

from .. import parallel
from ..kernels import conv as KC
from ..kernels import layers as K
from ..kernels import winograd as KW
from .full import ROW_CHUNKS
from .ports import Layer, NetworkError

#: convolutions split their time steps into ROW_CHUNKS ranges (threads) once there are this many
MIN_CHUNK_STEPS = 16
#: 3x3 stride-1 convolutions of at least this many input channels use Winograd's F(2x2, 3x3)
WINOGRAD_MIN_CHANNELS = 4
#: stride-1 convolutions with at most this many taps (rows x steps x channels) run directly, without im2col
DIRECT_MAX_TAPS = 27
#: bytes of work buffer a thread fills at a time (Winograd's transformed tiles and products, im2col's patches):
#: the buffers stay this size, and in cache, whatever the lines' number and width
PIECE_BYTES = 1 << 20
#: batch normalization: running statistics move this far towards each batch's
BN_MOMENTUM = 0.1
NORM_EPS = 1e-5


def step_chunks(T):
    """``(t0, t1)`` ranges of a convolution's steps: ROW_CHUNKS of them (a fixed number, so that
    the weight deltas are summed in the same order whatever the thread count)."""
    k = ROW_CHUNKS if T >= ROW_CHUNKS * MIN_CHUNK_STEPS else 1
    bounds = [T * i // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def stride1_method(kh, kw, C):
    """How a stride-1 ``kh x kw`` convolution over C channels is computed: ``"winograd"`` (3x3 over several
    channels), ``"direct"`` (few taps) or ``"im2col"``."""
    if kh == 3 and kw == 3 and C >= WINOGRAD_MIN_CHANNELS:
        return "winograd"
    return "direct" if kh * kw * C <= DIRECT_MAX_TAPS else "im2col"


def convolve(owner, Y, X, lengths, W, b, activation, H, C, kh, kw, ph=1, pw=1, tag=""):
    """``Y = f(conv(X, W) + b)`` for a stride-1 "same" convolution of ``H x C`` maps by ``W`` (taps (dy, dx,
    c) as Conv2D keeps them), Winograd or direct (:func:`stride1_method`), max-pooled over ``ph x pw``
    windows at their own stride before the bias and activation (the same as after them, as an
    activation other than the softmax is monotonic; Winograd: windows of 1 or 2). The output steps past
    a line's windows hold ``f(b)``. Work buffers are ``owner``'s (``tag`` tells them apart), one set per
    thread, each at most PIECE_BYTES."""
    T, B, _ = X.shape
    n_out = W.shape[0]
    To, Ho = Y.shape[0], Y.shape[2] // n_out
    rows = B * Ho

    def finish(t0, t1):
        K.bias_activate(Y[t0:t1].reshape((t1 - t0) * rows, n_out), b, activation)

    if stride1_method(kh, kw, C) == "direct":
        Wt = np.ascontiguousarray(W.T)

        def steps(t0, t1):
            if kh == kw == 3 and C == 1:
                KC.conv3x3_grey(Y, X, lengths, Wt, H, ph, pw, t0, t1)
            else:
                KC.conv_direct(Y, X, lengths, Wt, H, C, kh, kw, ph, pw, t0, t1)
            finish(t0, t1)

        parallel.run_all([partial(steps, *c) for c in step_chunks(To)])
        return
    U = owner._work(f"_U{tag}", (16, C, n_out))
    KW.winograd_weights(U, W, C)
    per_block = 2 // pw  # output steps of a block of tiles
    Hb = -(-Ho * ph // 2)
    tiles_per_block = B * Hb

    def tiles(i, tb0, tb1):
        for a, z, V, M in tile_pieces(owner, f"{tag}{i}", C, n_out, tiles_per_block, tb0, tb1):
            KW.winograd_input(V, X, lengths, H, C, Hb, a, z)
            np.matmul(V, U, out=M)
            KW.winograd_output(Y, M, lengths, ph, pw, Hb, a, z)
        finish(tb0 * per_block, min(tb1 * per_block, To))

    parallel.run_all([partial(tiles, i, *c) for i, c in enumerate(step_chunks(-(-To // per_block)))])



def tile_pieces(owner, tag, C, n_out, tiles_per_block, tb0, tb1):
    """``(a, z, V, M)`` for the pieces of the time blocks ``tb0 <= tb < tb1`` that Winograd's kernels work
    on at a time: blocks ``a <= tb < z`` and contiguous buffers for their transformed inputs ``V`` (16,
    tiles, C) and products ``M`` (16, tiles, n_out), ``owner``'s, at most PIECE_BYTES together."""
    cap = max(PIECE_BYTES // (64 * (C + n_out)), tiles_per_block)
    V_flat = owner._work(f"_V{tag}", (16 * cap * C,))
    M_flat = owner._work(f"_M{tag}", (16 * cap * n_out,))
    step = cap // tiles_per_block
    for a in range(tb0, tb1, step):
        z = min(a + step, tb1)
        n = (z - a) * tiles_per_block
        # contiguous, as BLAS wants the products' operands
        yield a, z, V_flat[:16 * n * C].reshape(16, n, C), M_flat[:16 * n * n_out].reshape(16, n, n_out)


class MapLayer(Layer):
    """A layer over ``height x channels`` feature maps."""

    def __init__(self, height, channels, out_height, out_channels):
        if min(height, channels, out_height, out_channels) < 1:
            raise NetworkError(f"{self.kind}: the feature maps would be {out_height} x {out_channels} "
                               f"(from {height} x {channels})")
        super().__init__(height * channels, out_height * out_channels)
        self.H, self.C, self.Ho, self.Co = int(height), int(channels), int(out_height), int(out_channels)
        self.attributes.update(height=str(self.H), channels=str(self.C))

    def _work(self, name, shape, dtype=None):
        """A work buffer kept between calls, reallocated only when its shape changes."""
        a = getattr(self, name, None)
        if a is None or a.shape != shape:
            a = np.empty(shape, dtype or self.dtype)
            setattr(self, name, a)
        return a


class Conv2D(MapLayer):
    """``kh x kw`` convolution with ``nfilters`` filters at stride ``sy``, ``sx``, padded so that stride 1
    keeps the size ("same"; an even kernel's extra row or column below and right), with bias and an
    activation (among them the softmax over the filters at each place). A line of T steps gives
    ceil(T/sx) steps, maps of H rows ceil(H/sy) rows. How it is computed (:meth:`method`): 3x3 stride-1
    convolutions over several channels by Winograd's F(2x2, 3x3) (``kernels/winograd.py``), stride-1
    ones with few taps directly, the others as im2col and one BLAS product (``kernels/conv.py``); the
    weight deltas in Winograd's domain or as im2col products, a piece of the steps at a time."""

    kind, name = "Conv2D", "conv"

    def __init__(self, height, channels, kh, kw, nfilters, activation=K.LINEAR, sy=1, sx=1):
        if kh < 1 or kw < 1 or sy < 1 or sx < 1:
            raise NetworkError(f"Conv2D: kernel size {kh}x{kw}, stride {sy}x{sx}")
        super().__init__(height, channels, -(-height // sy), nfilters)
        self.kh, self.kw, self.activation = int(kh), int(kw), int(activation)
        self.sy, self.sx = int(sy), int(sx)
        self.K = self.kh * self.kw * self.C
        self.W = np.zeros((self.Co, self.K), self.dtype)
        self.b = np.zeros(self.Co, self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._dW_parts = np.zeros((ROW_CHUNKS,) + self.W.shape, self.dtype)
        self._db_parts = np.zeros((ROW_CHUNKS,) + self.b.shape, self.dtype)

    def output_length(self, T):
        return -(-T // self.sx)

    def storage(self):
        return [(self.W, self.dW), (self.b, self.db)]

    def named_weights(self):
        return [("W", self.W, self.dW), ("w", self.b.reshape(-1, 1), self.db.reshape(-1, 1))]

    def init_weights(self, rng, init="clstm"):
        """Uniform in ±1/sqrt(fan-in), whatever ``init`` says: clstm's ±0.01 would starve a
        stack of convolutions of signal."""
        bound = 1.0 / np.sqrt(self.K)
        self.W[...] = rng.uniform(-bound, bound, size=self.W.shape)
        self.b[...] = rng.uniform(-bound, bound, size=self.b.shape)

    def method(self):
        """``"winograd"``, ``"direct"`` or ``"im2col"``: how the forward product is computed."""
        return "im2col" if self.sy != 1 or self.sx != 1 else stride1_method(self.kh, self.kw, self.C)

    def _output_lengths(self):
        return None if self.inputs.lengths is None else -(-self.inputs.column_lengths() // self.sx)

    def transposable(self):
        """Whether the input deltas are a stride-1 convolution of the output deltas by the flipped
        filters, computed without im2col (odd kernel sizes keep "same" padding when flipped)."""
        return (self.sy == self.sx == 1 and self.kh % 2 == 1 and self.kw % 2 == 1
                and stride1_method(self.kh, self.kw, self.Co) != "im2col")

    def forward(self):
        self._check_inputs()
        X = self.inputs.data
        T, B, _ = X.shape
        To = self.output_length(T)
        lengths = self.inputs.column_lengths()
        Y = self.outputs.resize(To, self.no, B)
        if self.method() != "im2col":
            convolve(self, Y, X, lengths, self.W, self.b, self.activation, self.H, self.C, self.kh, self.kw)
        else:
            N = To * B * self.Ho
            P = self._work("P", (N, self.K))
            Y2 = Y.reshape(N, self.Co)

            def steps(t0, t1):
                r0, r1 = t0 * B * self.Ho, t1 * B * self.Ho
                KC.im2col(P[r0:r1], X, lengths, self.H, self.C, self.kh, self.kw, self.sy, self.sx, self.Ho, t0, t1)
                np.matmul(P[r0:r1], self.W.T, out=Y2[r0:r1])
                K.bias_activate(Y2[r0:r1], self.b, self.activation)

            parallel.run_all([partial(steps, *c) for c in step_chunks(To)])
        self.outputs.lengths = self._output_lengths()
        if self.outputs.lengths is not None:
            K.zero_padding(Y, self.outputs.lengths)

    def _winograd_weight_deltas(self, i, dZ, X, lengths, tb0, tb1):
        """``_dW_parts[i]`` from the time blocks ``tb0 <= tb < tb1`` in Winograd's domain: the products'
        deltas ``dU[xi] = V[xi]^T dM[xi]`` summed over the tiles, then taken back to the filters."""
        Hb = -(-self.H // 2)
        dU = self._work(f"_dU{i}", (16, self.C, self.Co))
        piece = self._work(f"_dUp{i}", (16, self.C, self.Co))
        dU[...] = 0
        for a, z, V, dM in tile_pieces(self, str(i), self.C, self.Co, X.shape[1] * Hb, tb0, tb1):
            KW.winograd_input(V, X, lengths, self.H, self.C, Hb, a, z)
            KW.winograd_output_deltas(dM, dZ, Hb, a, z)
            np.matmul(V.transpose(0, 2, 1), dM, out=piece)
            dU += piece
        KW.winograd_weight_deltas(self._dW_parts[i], dU, self.C)

    def backward(self):
        self._check_d_outputs()
        X = self.inputs.data
        T, B, _ = X.shape
        To = self.outputs.T
        N = To * B * self.Ho
        rows = B * self.Ho
        lengths = self.inputs.column_lengths()
        out_lengths = self.outputs.column_lengths()
        dZ = self._work("dZ", (N, self.Co))
        Y2, dY2 = self.outputs.data.reshape(N, self.Co), self.d_outputs.data.reshape(N, self.Co)
        dX = self.d_inputs.resize(T, self.ni, B)
        self.d_inputs.lengths = self.inputs.lengths
        method = self.method()
        stored = method == "im2col"  # the forward pass left its patches in P
        transposed = self.input_deltas and self.transposable()
        dP = self._work("dP", (N, self.K)) if self.input_deltas and not transposed else None
        if method == "winograd":  # whole tiles (blocks of two steps) to each
            chunks = [(2 * b0, min(2 * b1, To)) for b0, b1 in step_chunks(-(-To // 2))]
        else:
            chunks = step_chunks(To)

        def products(i, t0, t1):
            r0, r1 = t0 * rows, t1 * rows
            K.activation_delta(dZ[r0:r1], Y2[r0:r1], dY2[r0:r1], self.activation)
            if self.inputs.lengths is not None:
                K.zero_padding(dZ[r0:r1].reshape(t1 - t0, B, self.no), np.clip(out_lengths - t0, 0, t1 - t0))
            if stored:
                np.matmul(dZ[r0:r1].T, self.P[r0:r1], out=self._dW_parts[i])
            elif method == "winograd":
                self._winograd_weight_deltas(i, dZ.reshape(To, B, self.no), X, lengths, t0 // 2, -(-t1 // 2))
            else:  # patches again, a piece at a time
                step = max(PIECE_BYTES // (4 * self.K * rows), 1)
                P = self._work(f"_P{i}", (step * rows, self.K))
                self._dW_parts[i] = 0
                for a in range(t0, t1, step):
                    z = min(a + step, t1)
                    n = (z - a) * rows
                    KC.im2col(P[:n], X, lengths, self.H, self.C, self.kh, self.kw, self.sy, self.sx, self.Ho, a, z)
                    self._dW_parts[i] += dZ[a * rows:z * rows].T @ P[:n]
            self._db_parts[i] = 0
            K.add_column_sums(self._db_parts[i], dZ[r0:r1])
            if dP is not None:
                np.matmul(dZ[r0:r1], self.W, out=dP[r0:r1])

        def gather(t0, t1):  # needs the patch deltas of neighbouring steps: after all products
            KC.col2im(dX, dP, lengths, self.H, self.C, self.kh, self.kw, self.sy, self.sx, self.Ho, t0, t1)

        parallel.run_all([partial(products, i, *c) for i, c in enumerate(chunks)])
        if transposed:  # the output deltas convolved with the flipped filters
            flipped = self.W.reshape(self.Co, self.kh, self.kw, self.C)[:, ::-1, ::-1, :].transpose(3, 1, 2, 0)
            convolve(self, dX, dZ.reshape(To, B, self.no), lengths, flipped.reshape(self.C, -1),
                     np.zeros(self.C, self.dtype), K.LINEAR, self.H, self.Co, self.kh, self.kw, tag="T")
        elif dP is not None:
            parallel.run_all([partial(gather, *c) for c in step_chunks(T)])
        else:
            dX.fill(np.nan)
        for i in range(len(chunks)):  # merged in a fixed order: the same sums for any thread count
            self.dW += self._dW_parts[i]
            self.db += self._db_parts[i]
        self._count()


class MaxPool(MapLayer):
    """``ph x pw`` max pooling at stride ``sy``, ``sx`` (the window's size unless given), without padding:
    maps of H rows give (H - ph) // sy + 1 rows, a line of T steps (T - pw) // sx + 1 steps (none when
    it is narrower than a window); backward sends each delta to where its maximum came from."""

    kind, name = "MaxPool", "maxpool"

    def __init__(self, height, channels, ph, pw, sy=None, sx=None):
        sy, sx = ph if sy is None else sy, pw if sx is None else sx
        if min(ph, pw, sy, sx) < 1 or height < ph:
            raise NetworkError(f"MaxPool: size {ph}x{pw}, stride {sy}x{sx} over {height} rows")
        super().__init__(height, channels, (height - ph) // sy + 1, channels)
        self.ph, self.pw, self.sy, self.sx = int(ph), int(pw), int(sy), int(sx)

    def storage(self):
        return []

    def named_weights(self):
        return []

    def output_length(self, T):
        return (T - self.pw) // self.sx + 1 if T >= self.pw else 0

    def forward(self):
        self._check_inputs()
        T, B, _ = self.inputs.data.shape
        To = self.output_length(T)
        if To < 1:
            raise NetworkError(f"{self.name}: {T} steps are fewer than the pooling width {self.pw}")
        Y = self.outputs.resize(To, self.no, B)
        self._where = self._work("_where", Y.shape, np.int32)
        X, lengths = self.inputs.data, self.inputs.column_lengths()
        parallel.run_all([partial(KC.maxpool_forward, Y, self._where, X, lengths, self.H, self.C, self.ph, self.pw,
                                  self.sy, self.sx, *c) for c in step_chunks(To)])
        if self.inputs.lengths is not None:
            self.outputs.lengths = np.array([self.output_length(L) for L in lengths], np.int64)

    def backward(self):
        self._check_d_outputs()
        dX = self.d_inputs.like(self.inputs)
        dY, lengths = self.d_outputs.data, self.inputs.column_lengths()
        parallel.run_all([partial(KC.maxpool_backward, dX, dY, self._where, lengths, self.H, self.C, self.ph, self.pw,
                                  self.sy, self.sx, *c) for c in step_chunks(dX.shape[0])])


class Reshape(MapLayer):
    """kraken's reshape ``S`` of the height and channels: every step's features in another order and
    another number of rows and channels (``permutation[k]``: the input feature of output feature k)."""

    kind, name = "Reshape", "reshape"

    def __init__(self, height, channels, out_height, out_channels, permutation):
        super().__init__(height, channels, out_height, out_channels)
        self.permutation = np.asarray(permutation, np.int64)
        self.inverse = np.argsort(self.permutation)

    def storage(self):
        return []

    def named_weights(self):
        return []

    def forward(self):
        self._check_inputs()
        np.take(self.inputs.data, self.permutation, axis=2, out=self.outputs.like(self.inputs))

    def backward(self):
        self._check_d_outputs()
        np.take(self.d_outputs.data, self.inverse, axis=2, out=self.d_inputs.like(self.d_outputs))


class GroupNorm(MapLayer):
    """Group normalization (VGSL ``Gn``): each line's channels in ``groups`` groups, normalized over
    the line's rows and real steps (the same in training and recognition), then a per-channel
    scale ``gamma`` and shift ``beta`` and optionally an activation."""

    kind, name = "GroupNorm", "groupnorm"

    def __init__(self, height, channels, groups, activation=K.LINEAR):
        super().__init__(height, channels, height, channels)
        if groups < 1 or channels % groups:
            raise NetworkError(f"{self.kind}: {channels} channels do not split into {groups} groups")
        self.G, self.activation = int(groups), int(activation)
        self.gamma = np.ones(self.C, self.dtype)
        self.beta = np.zeros(self.C, self.dtype)
        self.dgamma = np.zeros_like(self.gamma)
        self.dbeta = np.zeros_like(self.beta)
        self._zero_bias = np.zeros(self.no, self.dtype)

    def storage(self):
        return [(self.gamma, self.dgamma), (self.beta, self.dbeta)]

    def named_weights(self):
        return [("gamma", self.gamma.reshape(-1, 1), self.dgamma.reshape(-1, 1)),
                ("beta", self.beta.reshape(-1, 1), self.dbeta.reshape(-1, 1))]

    def init_weights(self, rng, init="clstm"):
        self.gamma[...] = 1
        self.beta[...] = 0

    def statistics(self, lengths):
        """``(mean, inv, from_inputs)``: the statistics to normalize with, and whether they were
        computed from these inputs (then backward passes deltas through them too)."""
        B = self.inputs.batch
        mean = self._work("_gmean", (B, self.G))
        inv = self._work("_ginv", (B, self.G))
        KC.group_stats(mean, inv, self.inputs.data, lengths, self.H, self.C, self.G, NORM_EPS, True)
        return mean, inv, True

    def forward(self):
        self._check_inputs()
        X = self.inputs.data
        T, B, _ = X.shape
        lengths = self.inputs.column_lengths()
        self._mean, self._inv, self._from_inputs = self.statistics(lengths)
        Y = self.outputs.resize(T, self.no, B)
        self._xhat = self._work("_xhat", X.shape)
        KC.group_normalize(Y, self._xhat, X, self.gamma, self.beta, self._mean, self._inv, lengths, self.H, self.C,
                           self.G)
        if self.activation != K.LINEAR:
            K.bias_activate(Y.reshape(T * B, self.no), self._zero_bias, self.activation)
            if self.inputs.lengths is not None:
                K.zero_padding(Y, lengths)
        self.outputs.lengths = self.inputs.lengths

    def backward(self):
        self._check_d_outputs()
        T, B, _ = self.inputs.data.shape
        dY = self.d_outputs.data
        if self.activation != K.LINEAR:
            dZ = self._work("_dZ", dY.shape)
            K.activation_delta(dZ.reshape(T * B, self.no), self.outputs.data.reshape(T * B, self.no),
                               dY.reshape(T * B, self.no), self.activation)
            dY = dZ
        dX = self.d_inputs.like(self.inputs)
        KC.group_norm_backward(dX, self.dgamma, self.dbeta, dY, self._xhat, self.gamma, self._inv,
                               self.inputs.column_lengths(), self.H, self.C, self.G, self._from_inputs)
        self._count()


class BatchNorm(GroupNorm):
    """Batch normalization of every channel: over the batch's real positions (all rows and steps of
    all lines; one line at batch 1) in training, which also moves the running statistics; over the
    running statistics in recognition and tests."""

    kind, name = "BatchNorm", "batchnorm"

    def __init__(self, height, channels, activation=K.LINEAR):
        super().__init__(height, channels, channels, activation)
        self.running_mean = np.zeros(self.C, self.dtype)
        self.running_var = np.ones(self.C, self.dtype)

    def named_states(self):
        return [("mean", self.running_mean.reshape(-1, 1)), ("var", self.running_var.reshape(-1, 1))]

    def statistics(self, lengths):
        mean = self._work("_bmean", (1, self.C))
        inv = self._work("_binv", (1, self.C))
        if not self.training:
            mean[0] = self.running_mean
            inv[0] = 1.0 / np.sqrt(self.running_var + NORM_EPS)
            return mean, inv, False
        KC.group_stats(mean, inv, self.inputs.data, lengths, self.H, self.C, self.C, NORM_EPS, False)
        n = max(int(np.minimum(lengths, self.inputs.T).sum()) * self.H, 2)
        var = (1.0 / inv[0].astype(np.float64) ** 2 - NORM_EPS) * n / (n - 1)  # unbiased, as PyTorch keeps it
        self.running_mean += (BN_MOMENTUM * (mean[0] - self.running_mean)).astype(self.dtype)
        self.running_var += (BN_MOMENTUM * (var - self.running_var)).astype(self.dtype)
        return mean, inv, True


def normalizes_by_batch(net):
    """Whether ``net`` has batch normalization, whose training step depends on the whole minibatch (its
    statistics): such a minibatch must go through the network in one piece."""
    return any(isinstance(node, BatchNorm) for _, node in net.walk())


class Dropout(MapLayer):
    """Dropout at ``rate`` in training (the kept values scaled by 1/(1-rate)), of single values or,
    with ``per_channel``, of whole channels of a line; the identity in recognition and tests.
    Seeded: its generator is drawn from the network's at initialization, and a training run gives
    every dropout layer one of its own from the run's seed (:func:`seed_dropout`)."""

    kind, name = "Dropout", "dropout"

    def __init__(self, height, channels, rate=0.5, per_channel=False):
        super().__init__(height, channels, height, channels)
        if not 0 <= rate < 1:
            raise NetworkError(f"Dropout: rate {rate} is not in [0, 1)")
        self.rate, self.per_channel = float(rate), bool(per_channel)
        self.rng = np.random.default_rng(0)
        self._active = False

    def storage(self):
        return []

    def named_weights(self):
        return []

    def init_weights(self, rng, init="clstm"):
        self.rng = np.random.default_rng(rng.integers(2 ** 63))

    def forward(self):
        self._check_inputs()
        self._active = self.training and self.rate > 0
        if not self._active:
            self.outputs.share(self.inputs)
            return
        X = self.inputs.data
        T, B, _ = X.shape
        shape = (1, B, self.C) if self.per_channel else X.shape
        self._U = self.rng.random(shape, dtype=np.float32)
        Y = self.outputs.like(self.inputs)
        KC.dropout(Y, X, self._U, np.float32(self.rate), self.C, self.per_channel)

    def backward(self):
        self._check_d_outputs()
        if not self._active:
            self.d_inputs.share(self.d_outputs)
            return
        dX = self.d_inputs.like(self.d_outputs)
        KC.dropout(dX, self.d_outputs.data, self._U, np.float32(self.rate), self.C, self.per_channel)


def dropout_layers(net):
    """``(path, layer)`` of every dropout layer of ``net``, in network order."""
    return [(path, node) for path, node in net.walk() if isinstance(node, Dropout)]


def seed_dropout(net, seed):
    """Give every dropout layer of ``net`` a generator of its own: the k-th's is seeded by ``seed`` (an int
    or a ``numpy.random.SeedSequence``) and k, so that no two layers draw the same masks and a network
    rebuilt from its file (which keeps no random state) draws from the seed it is given."""
    seed = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    for k, (_, layer) in enumerate(dropout_layers(net)):
        layer.rng = np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (k,)))


def describe_maps(net):
    """The feature maps a network computes, as text (``conv 48x40, maxpool 24x40 1/2, ...``: rows x
    channels, and about what fraction of the columns is left), or "" for a network without them."""
    parts, factor = [], 1
    for _, node in net.walk():
        if isinstance(node, MapLayer) and not isinstance(node, Dropout):
            factor *= getattr(node, "sx", 1)
            parts.append(f"{node.name} {node.Ho}x{node.Co}" + (f" 1/{factor}" if factor > 1 else ""))
    return ", ".join(parts)
