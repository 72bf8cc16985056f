"""Recognition's convolution blocks: a convolution, the batch normalization after it folded into its weights, and the max pooling after that, in one pass.

In recognition (no dropout, batch normalization on its running statistics) ``Conv2D [BatchNorm]
[MaxPool]`` is one affine map, a monotonic activation and a maximum: the normalization's scale and
shift fold into the filters and bias, and as the activation is monotonic the maximum can be taken
before it, in the pass that computes the convolution's outputs (:func:`clstmtools.network.conv.convolve`),
so that the full-size maps are never written. Training runs the layers one by one (they keep what
their backward passes need); so does a block whose convolution runs as im2col (strides, many taps),
a softmax over the channels, or pooling that does not fit.
"""
import numpy as np

from ..kernels import layers as K
from .conv import NORM_EPS, BatchNorm, Conv2D, Dropout, MaxPool, convolve
from .ports import NetworkError


class ConvBlock:
    """``conv``, then ``norm`` and ``pool`` (either may be None), run as one in recognition."""

    def __init__(self, conv, norm, pool, layers):
        self.conv, self.norm, self.pool = conv, norm, pool
        self.layers = layers  # every layer it stands for, in order (dropout in recognition included)

    @property
    def inputs(self):
        return self.layers[0].inputs

    @property
    def outputs(self):
        return self.layers[-1].outputs

    def folded(self):
        """``(W, b, activation)``: the convolution with the normalization folded in."""
        conv, norm = self.conv, self.norm
        if norm is None:
            return conv.W, conv.b, conv.activation
        scale = norm.gamma / np.sqrt(norm.running_var + NORM_EPS)
        W = (conv.W * scale[:, None]).astype(conv.dtype)
        b = ((conv.b - norm.running_mean) * scale + norm.beta).astype(conv.dtype)
        return W, b, norm.activation

    def forward(self):
        conv = self.conv
        conv._check_inputs()
        X = conv.inputs.data
        T, B, _ = X.shape
        lengths = conv.inputs.column_lengths()
        To, H = conv.output_length(T), conv.Ho
        ph = pw = 1
        if self.pool is not None:
            ph, pw = self.pool.ph, self.pool.pw
            To, H = self.pool.output_length(To), self.pool.Ho
            if To < 1:
                raise NetworkError(f"{self.pool.name}: {T} steps are fewer than the pooling width {pw}")
        W, b, activation = self.folded()
        Y = self.outputs.resize(To, H * conv.Co, B)
        convolve(conv, Y, X, lengths, W, b, activation, conv.H, conv.C, conv.kh, conv.kw, ph, pw)
        if conv.inputs.lengths is None:
            self.outputs.lengths = None
        else:
            self.outputs.lengths = lengths // pw
            K.zero_padding(Y, self.outputs.lengths)


def _fits_pool(conv, pool):
    """Whether ``pool`` can be taken in ``conv``'s output pass: windows at their own stride (of 1 or 2
    for Winograd's 2 x 2 tiles), after an activation other than the softmax."""
    if pool.sy != pool.ph or pool.sx != pool.pw:
        return False
    return conv.method() == "direct" or (pool.ph <= 2 and pool.pw <= 2)


def recognition_plan(layers):
    """``layers`` (a Stacked network's, in recognition) with every convolution block that can run in one
    pass replaced by a :class:`ConvBlock` (a list of its own), or ``layers`` itself when there is none."""
    plan, i = [], 0
    while i < len(layers):
        block = _block_at(layers, i)
        plan.append(layers[i] if block is None else block)
        i += 1 if block is None else len(block.layers)
    return plan if len(plan) < len(layers) else layers  # without blocks: ``layers`` itself


def _block_at(layers, i):
    """The :class:`ConvBlock` that starts at ``layers[i]``, or None."""
    conv = layers[i]
    if not isinstance(conv, Conv2D) or conv.method() == "im2col":
        return None
    norm = pool = None
    activation, end = conv.activation, i + 1
    j = _after_dropout(layers, end)
    if j < len(layers) and isinstance(layers[j], BatchNorm) and activation == K.LINEAR:
        norm, activation, end = layers[j], layers[j].activation, j + 1
        j = _after_dropout(layers, end)
    if j < len(layers) and isinstance(layers[j], MaxPool) and activation != K.SOFTMAX and _fits_pool(conv, layers[j]):
        pool, end = layers[j], j + 1
    if norm is None and pool is None:
        return None
    return ConvBlock(conv, norm, pool, layers[i:end])


def _after_dropout(layers, j):
    """The first position from ``j`` on that is not a dropout layer (the identity in recognition)."""
    while j < len(layers) and isinstance(layers[j], Dropout) and not layers[j].training:
        j += 1
    return j
