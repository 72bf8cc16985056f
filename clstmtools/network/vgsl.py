"""VGSL network specs (tesseract's and kraken's notation) parsed into networks, with errors that name the token.

A spec is ``[input layer layer ... output]``, tokens separated by blanks:

- ``1,H,W,C`` (after the ``[``): batch, height, width, channels; a height of 0 takes the inputs'
  depth, width and batch are free; the inputs' depth must be H x C;
- ``C{s,t,r,l,k}h,w,n``: h x w convolution, n filters, "same" padding, stride 1
  (s sigmoid, t tanh, r relu, l linear, k leaky relu);
- ``Mph,w``: max pooling h x w, stride = size;
- ``Do[rate][,2]``: dropout (rate 0.5 unless given; ``,2`` drops whole channels);
- ``S1(1x0)1,3`` (or ``S1(1xH)1,3``): the rows of the maps become features of one column;
- ``Lfxn``, ``Lrxn``, ``Lbxn``: forward, reversed, bidirectional LSTM of n cells along x, on
  columns of height 1 (after an ``S``) or on single-channel inputs;
- ``Fsn``, ``Ftn``, ``Frn``, ``Fln``, ``Fmn``: full layers; ``Gnk``: group norm in k groups;
- ``O1c``, ``O1s``, ``O1l`` (optionally with a class count, which the codec's replaces): softmax,
  sigmoid or linear output over the classes; it must come last, and without it (as kraken's
  default spec is written) the spec ends in ``O1c``.

Additions for seed 001's blocks, in the same style: ``Bn`` batch normalization over the channels,
``Bn{s,t,r,k}`` batch normalization followed by that activation, and ``k`` (leaky relu) among the
convolution's activations.
"""
import re

from ..kernels import layers as K
from .composites import Parallel, Reversed, Stacked
from .conv import BatchNorm, Conv2D, Dropout, GroupNorm, MaxPool, seed_dropout
from .full import LinearLayer, ReluLayer, SigmoidLayer, SoftmaxLayer, TanhLayer
from .lstm import LSTM
from .ports import NetworkError

#: Calamari's default network on lines of height 48
CNNBIDILSTM = "[1,48,0,1 Cr3,3,40 Mp2,2 Cr3,3,60 Mp2,2 S1(1x0)1,3 Lbx200 Do0.5 O1c]"
#: seed 001's network: four convolution + batch norm + leaky relu + max-pool blocks, then two
#: stacked LSTMs, bidirectional as the seed suggests trying (its unidirectional ones barely learned
#: the generated expressions in 2000 lines); the last two blocks pool rows only, so that a text
#: line keeps a quarter of its columns
CRNN = ("[1,48,0,1 Cl3,3,32 Bnk Mp2,2 Cl3,3,64 Bnk Mp2,2 Cl3,3,64 Bnk Mp2,1 Cl3,3,64 Bnk Mp2,1 "
        "S1(1x0)1,3 Lbx128 Lbx128 O1c]")

ACTIVATIONS = {"s": K.SIGMOID, "t": K.TANH, "r": K.RELU, "l": K.LINEAR, "k": K.LEAKY_RELU}
FULL = {"s": SigmoidLayer, "t": TanhLayer, "r": ReluLayer, "l": LinearLayer, "m": SoftmaxLayer}
OUTPUTS = {"c": SoftmaxLayer, "s": SigmoidLayer, "l": LinearLayer}

_INPUT = re.compile(r"(\d+),(\d+),(\d+),(\d+)$")
_CONV = re.compile(r"C([a-z])(\d+),(\d+),(\d+)(?:,(\d+),(\d+))?$")
_POOL = re.compile(r"Mp(\d+),(\d+)(?:,(\d+),(\d+))?$")
_DROPOUT = re.compile(r"Do(\d+(?:\.\d*)?|\.\d+)?(?:,(\d+))?$")
_RESHAPE = re.compile(r"S(\d+)\((\d+)x(\d+)\)(\d+),(\d+)$")
_LSTM = re.compile(r"L([frb])([xy])(s?)(\d+)$")
_FULL = re.compile(r"F([a-z])(\d+)$")
_GROUP = re.compile(r"Gn(\d+)$")
_BATCH = re.compile(r"Bn([a-z]?)$")
_OUTPUT = re.compile(r"O(\d)([a-z])(\d*)$")


class SpecError(NetworkError):
    """A VGSL spec that cannot be built; the message names the token."""


def _tokens(spec):
    text = str(spec).strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise SpecError(f"VGSL spec {text!r}: must be enclosed in [ ]")
    tokens = text[1:-1].split()
    if not tokens:
        raise SpecError("VGSL spec []: empty")
    return tokens


def lstm_sizes(spec):
    """The cell counts of a spec's LSTM tokens, in order (``[200]`` for ``[... Lbx200 Do O1c]``)."""
    return [int(m.group(4)) for m in map(_LSTM.match, _tokens(spec)) if m]


def input_shape(spec):
    """``(batch, height, width, channels)`` of a spec's input token."""
    token = _tokens(spec)[0]
    m = _INPUT.match(token)
    if not m:
        raise SpecError(f"VGSL token {token!r}: the spec must start with the input batch,height,width,channels")
    shape = tuple(int(g) for g in m.groups())
    if shape[3] < 1:
        raise SpecError(f"VGSL token {token!r}: needs at least one channel")
    return shape


def _bad(token, why):
    return SpecError(f"VGSL token {token!r}: {why}")


def _activation(token, letter, allowed):
    if letter not in allowed:
        raise _bad(token, f"unknown activation {letter!r}: use one of {', '.join(allowed)}")
    return ACTIVATIONS[letter]


def _layer(token, H, C):
    """``(layer or None, H, C)`` after one token (a layer token other than the input and output)."""
    if m := _CONV.match(token):
        act = _activation(token, m[1], "strlk")
        kh, kw, n = int(m[2]), int(m[3]), int(m[4])
        if m[5] is not None and (int(m[5]), int(m[6])) != (1, 1):
            raise _bad(token, "only stride 1 convolutions are supported")
        if min(kh, kw, n) < 1:
            raise _bad(token, "kernel sizes and filter count must be positive")
        return Conv2D(H, C, kh, kw, n, act), H, n
    if m := _POOL.match(token):
        ph, pw = int(m[1]), int(m[2])
        if m[3] is not None and (int(m[3]), int(m[4])) != (ph, pw):
            raise _bad(token, "max pooling strides must equal the pool size")
        if ph < 1 or pw < 1 or H // ph < 1:
            raise _bad(token, f"cannot pool {H} rows by {ph}x{pw}")
        return MaxPool(H, C, ph, pw), H // ph, C
    if m := _DROPOUT.match(token):
        rate = float(m[1]) if m[1] else 0.5
        dims = int(m[2]) if m[2] else 1
        if not 0 <= rate < 1 or dims not in (1, 2):
            raise _bad(token, "dropout needs a rate in [0, 1) and dimension 1 or 2")
        return Dropout(H, C, rate, per_channel=dims == 2), H, C
    if m := _RESHAPE.match(token):
        d, a, b, e, f = (int(g) for g in m.groups())
        if (d, a, e, f) != (1, 1, 1, 3) or b not in (0, H):
            raise _bad(token, "the only reshape is S1(1x0)1,3 (the rows of the maps become one column's features)")
        return None, 1, H * C
    if m := _LSTM.match(token):
        if m[2] != "x" or m[3]:
            raise _bad(token, "only LSTMs along x that return every step (Lfx, Lrx, Lbx) are supported")
        if H > 1 and C > 1:
            raise _bad(token, f"the maps have {H} rows of {C} channels: put S1(1x0)1,3 before the LSTM")
        n = int(m[4])
        if n < 1:
            raise _bad(token, "needs a positive size")
        ni = H * C
        if m[1] == "f":
            return LSTM(ni, n), 1, n
        if m[1] == "r":
            return Reversed().add(LSTM(ni, n)), 1, n
        bidi = Parallel().add(LSTM(ni, n)).add(Reversed().add(LSTM(ni, n)))
        return bidi, 1, 2 * n
    if m := _FULL.match(token):
        if m[1] not in FULL or int(m[2]) < 1:
            raise _bad(token, f"a full layer is F{{{','.join(FULL)}}}n with n > 0")
        n = int(m[2])
        if m[1] == "m" and n < 2:
            raise _bad(token, "a softmax needs at least 2 outputs")
        return FULL[m[1]](H * C, n), 1, n
    if m := _GROUP.match(token):
        groups = int(m[1])
        if groups < 1 or C % groups:
            raise _bad(token, f"{C} channels do not split into {groups} groups")
        return GroupNorm(H, C, groups), H, C
    if m := _BATCH.match(token):
        return BatchNorm(H, C, _activation(token, m[1] or "l", "strlk")), H, C
    raise _bad(token, "not a layer this program knows (C, Mp, Do, S, Lfx/Lrx/Lbx, F, Gn, Bn, O1)")


def build_spec(spec, ninput, noutput):
    """The network a VGSL spec describes, for inputs of depth ``ninput`` and ``noutput`` classes."""
    tokens = _tokens(spec)
    _, H, _, C = input_shape(spec)
    if H == 0:
        H = ninput // C
    if H < 1 or H * C != ninput:
        raise _bad(tokens[0], f"expects inputs of {H or 'any'} rows x {C} channels, the inputs have depth {ninput}")
    net = Stacked()
    net.name = "vgsl"
    output = None
    for i, token in enumerate(tokens[1:], 1):
        if m := _OUTPUT.match(token):
            if i != len(tokens) - 1:
                raise _bad(token, "the output layer must come last")
            if m[1] != "1" or m[2] not in OUTPUTS:
                raise _bad(token, "the output is O1c (softmax for CTC), O1s (sigmoid) or O1l (linear)")
            if H > 1 and C > 1:
                raise _bad(token, f"the maps have {H} rows of {C} channels: put S1(1x0)1,3 before the output")
            if m[2] == "c" and noutput < 2:
                raise _bad(token, f"a softmax needs at least 2 classes, the codec has {noutput}")
            output = OUTPUTS[m[2]](H * C, noutput)
            net.add(output)
            continue
        try:
            layer, H, C = _layer(token, H, C)
        except SpecError:
            raise
        except NetworkError as e:
            raise _bad(token, str(e)) from None
        if layer is not None:
            net.add(layer)
    if output is None:  # as kraken's trainer does: the codec's softmax
        if H > 1 and C > 1:
            raise _bad(tokens[-1], f"the maps have {H} rows of {C} channels: put S1(1x0)1,3 before the output")
        net.add(SoftmaxLayer(H * C, noutput))
    seed_dropout(net, 0)  # each layer its own masks, also in a network loaded from a file
    return net
