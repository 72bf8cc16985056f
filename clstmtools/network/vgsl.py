"""VGSL network specs (tesseract's and kraken's notation) parsed into networks, with errors that name the token.

A spec is ``[input layer layer ... output]``, tokens separated by blanks; any layer token may carry a
label, ``{name}`` (letters, digits, _), after its letters (``C{conv1}r3,3,32``, ``Cr{conv1}3,3,32``),
which names the layer (and its weights in the model file). The grammar is kraken's:

- ``1,H,W,C`` (after the ``[``): batch, height, width, channels; a height of 0 takes the inputs'
  depth, the width must be 0 (lines of any width), the batch is free; the inputs' depth must be
  H x C. C = 1 is a grey line, 3 a colour one (RGB), and a height of 1 with more channels takes
  each column of a line image ``C`` pixels high as one position of C channels (``[1,1,0,48 ...]``);
- ``C{s,t,r,l,m,lr}h,w,n[,sy,sx]``: h x w convolution, n filters, stride sy, sx (1 unless given),
  padded so that stride 1 keeps the size ("same"; the output has ceil(H/sy) rows and each line
  ceil(T/sx) steps); sigmoid, tanh, relu, linear, softmax over the n channels, leaky relu;
- ``Mph,w[,sy,sx]``: max pooling of h x w windows at stride sy, sx (the window's size unless
  given), without padding: (H-h)//sy + 1 rows and (T-w)//sx + 1 steps;
- ``Do[rate][,2]``: dropout (rate 0.5 unless given; ``,2`` drops whole channels);
- ``Sd(axb)e,f``: kraken's reshape: dimension d (1 height, 3 channels) split into a x b (0: the
  rest), a going to dimension e and b to f, one of which is d; ``S1(1x12)1,3`` (or ``S1(1x0)1,3``)
  makes a column's 12 rows its features;
- ``L{f,r,b}{x,y}[s]n`` LSTMs and ``G{f,r,b}{x,y}[s]n`` GRUs of n units: forward, reversed or
  bidirectional; along x (a line's steps) or y (down each column, every column a sequence of its
  own); ``s`` summarizes along y to the last step (for each direction: the step after it has seen
  the whole column), which leaves one row. Along x on maps of several rows and channels each row is
  a sequence of its own; on a single channel (or one row) a column's values are one step's features;
- ``F{s,t,r,l,m}n``: full layers over a column's features; ``Gnk``: group norm in k groups;
- ``O1c``, ``O1s``, ``O1l`` (optionally with a class count, which the codec's replaces; kraken's
  documentation also writes it with a zero, ``01c59``): softmax, sigmoid or linear output over the
  classes; it must come last, and without it (as kraken's default spec is written) the spec ends in
  ``O1c``.

Additions in the same style: ``Bn`` batch normalization over the channels, ``Bn{s,t,r,k}`` batch
normalization followed by that activation, and ``k`` (leaky relu, kraken's ``lr``) among the
convolution's activations.
"""
import re

import numpy as np

from ..kernels import layers as K
from .composites import Parallel, Reversed, Stacked
from .conv import BatchNorm, Conv2D, Dropout, GroupNorm, MaxPool, Reshape, seed_dropout
from .directions import AlongX, AlongY
from .full import LinearLayer, ReluLayer, SigmoidLayer, SoftmaxLayer, TanhLayer
from .gru import GRU
from .lstm import LSTM
from .ports import NetworkError

#: Calamari's default network on lines of height 48
CNNBIDILSTM = "[1,48,0,1 Cr3,3,40 Mp2,2 Cr3,3,60 Mp2,2 S1(1x0)1,3 Lbx200 Do0.5 O1c]"
#: the CRNN of Shi et al. (2015) as the CNN_LSTM_CTC_Tensorflow project builds it: four convolution +
#: batch norm + leaky relu + max-pool blocks, then two stacked bidirectional LSTMs; the last two blocks
#: pool rows only, so that a text line keeps a quarter of its columns
CRNN = ("[1,48,0,1 Cl3,3,32 Bnk Mp2,2 Cl3,3,64 Bnk Mp2,2 Cl3,3,64 Bnk Mp2,1 Cl3,3,64 Bnk Mp2,1 "
        "S1(1x0)1,3 Lbx128 Lbx128 O1c]")

ACTIVATIONS = {"s": K.SIGMOID, "t": K.TANH, "r": K.RELU, "l": K.LINEAR, "k": K.LEAKY_RELU, "lr": K.LEAKY_RELU,
               "m": K.SOFTMAX}
FULL = {"s": SigmoidLayer, "t": TanhLayer, "r": ReluLayer, "l": LinearLayer, "m": SoftmaxLayer}
OUTPUTS = {"c": SoftmaxLayer, "s": SigmoidLayer, "l": LinearLayer}
RECURRENT = {"L": LSTM, "G": GRU}
#: kraken's reshape dimensions this program can move: 1 (height) and 3 (channels); 0 is the batch, 2 the width
RESHAPE_DIMENSIONS = {1: "height", 3: "channels"}

_NAME = re.compile(r"\{([^{}]*)\}")
_INPUT = re.compile(r"(\d+),(\d+),(\d+),(\d+)$")
_CONV = re.compile(r"C(T?)(lr|[a-z])(\d+),(\d+),(\d+)((?:,\d+)*)$")
_POOL = re.compile(r"Mp(\d+),(\d+)(?:,(\d+),(\d+))?$")
_DROPOUT = re.compile(r"Do(\d+(?:\.\d*)?|\.\d+)?(?:,(\d+))?$")
_RESHAPE = re.compile(r"S(\d+)\((\d+)x(\d+)\)(\d+),(\d+)$")
_RECURRENT = re.compile(r"([LG])([frb])([xy])(s?)([co]?)(\d+)$")
_FULL = re.compile(r"F([a-z])(\d+)$")
_GROUP = re.compile(r"Gn(\d+)$")
_BATCH = re.compile(r"Bn([a-z]?)$")
_OUTPUT = re.compile(r"[O0](\d)([a-z])(a?)(\d*)$")


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


def _bad(token, why):
    return SpecError(f"VGSL token {token!r}: {why}")


def _unlabelled(token):
    """``(token without its {name}, name or None)``."""
    names = _NAME.findall(token)
    if not names:
        if "{" in token or "}" in token:
            raise _bad(token, "a label is written {name}")
        return token, None
    if len(names) > 1 or not re.fullmatch(r"[A-Za-z0-9_]+", names[0]):
        raise _bad(token, "a layer takes one label {name} of letters, digits and _")
    return _NAME.sub("", token, count=1), names[0]


def recurrent_sizes(spec):
    """The unit counts of a spec's recurrent (LSTM and GRU) tokens, in order (``[200]`` for ``[... Lbx200 Do O1c]``)."""
    sizes = []
    for token in _tokens(spec)[1:]:
        m = _RECURRENT.match(_NAME.sub("", token))
        if m:
            sizes.append(int(m[6]))
    return sizes


def input_shape(spec):
    """``(batch, height, width, channels)`` of a spec's input token."""
    token = _tokens(spec)[0]
    m = _INPUT.match(token)
    if not m:
        raise SpecError(f"VGSL token {token!r}: the spec must start with the input batch,height,width,channels")
    shape = tuple(int(g) for g in m.groups())
    if shape[3] < 1:
        raise SpecError(f"VGSL token {token!r}: needs at least one channel")
    if shape[2] != 0:
        raise SpecError(f"VGSL token {token!r}: a fixed width is not supported (lines keep their widths): "
                        f"write {shape[0]},{shape[1]},0,{shape[3]}")
    return shape


def line_format(spec):
    """``(height, channels)`` of the line images a spec reads: a grey (1 channel) or colour (3) line of the
    input's height (0: as the data has it), or a grey line as high as the channels when the height is 1
    (``[1,1,0,48 ...]``: each column is one position of 48 channels)."""
    _, height, _, channels = input_shape(spec)
    if height == 1 and channels > 3:
        return channels, 1
    if channels not in (1, 3):
        raise SpecError(f"VGSL token {_tokens(spec)[0]!r}: line images have 1 channel (grey) or 3 (colour, "
                        f"RGB), or height 1 and a column's pixels as channels ([1,1,0,48])")
    return height, channels


def _activation(token, letter, allowed):
    if letter not in allowed:
        raise _bad(token, f"unknown activation {letter!r}: use one of {', '.join(allowed)}")
    return ACTIVATIONS[letter]


def _conv(token, m, H, C):
    if m[1]:
        raise _bad(token, "transposed convolutions (CT) are not supported: write C")
    act = _activation(token, m[2], ("s", "t", "r", "l", "m", "k", "lr"))
    kh, kw, n = int(m[3]), int(m[4]), int(m[5])
    extra = [int(v) for v in m[6].split(",")[1:]]
    if len(extra) == 4 and extra[2:] != [1, 1]:
        raise _bad(token, f"dilated convolutions are not supported: leave out the dilation "
                          f"(C{m[2]}{kh},{kw},{n},{extra[0]},{extra[1]})")
    if len(extra) not in (0, 2, 4):
        raise _bad(token, "a convolution is Ch,w,n or Ch,w,n,stride_y,stride_x")
    sy, sx = extra[:2] if extra else (1, 1)
    if min(kh, kw, n, sy, sx) < 1:
        raise _bad(token, "kernel sizes, filter count and strides must be positive")
    layer = Conv2D(H, C, kh, kw, n, act, sy, sx)
    return layer, layer.Ho, n


def _pool(token, m, H, C):
    ph, pw = int(m[1]), int(m[2])
    sy, sx = (int(m[3]), int(m[4])) if m[3] is not None else (ph, pw)
    if min(ph, pw, sy, sx) < 1 or H < ph:
        raise _bad(token, f"cannot pool {H} rows by {ph}x{pw} at stride {sy},{sx}")
    layer = MaxPool(H, C, ph, pw, sy, sx)
    return layer, layer.Ho, C


def reshaped(H, C, d, a, b, e, f):
    """``(rows, channels, permutation)`` after kraken's reshape ``Sd(axb)e,f`` of maps of H rows of C channels:
    the output's feature k (row-major, channels fastest) is the input's feature ``permutation[k]``. Worked out
    as kraken's layer does it on a (batch, channels, height, width) tensor, here one position of one line."""
    axes = {1: 2, 3: 1}  # kraken's height and channels as axes of (batch, channels, height, width)
    source, high, low = axes[d], axes[e], axes[f]
    maps = np.arange(H * C).reshape(H, C).T[None, :, :, None]
    size = maps.shape[source]
    a = a or size // max(b, 1)
    b = b or size // max(a, 1)
    if a * b != size:
        raise ValueError(f"the {RESHAPE_DIMENSIONS[d]} ({size}) does not split into {a}x{b}")
    maps = maps.reshape(maps.shape[:source] + (a, b) + maps.shape[source + 1:])
    target, moved = (high, source) if high != source else (low, source + 1)
    order = list(range(maps.ndim))
    step = 1 if target > moved else -1
    for x in range(moved, target, step):
        order[x], order[x + step] = order[x + step], order[x]
    maps = maps.transpose(order)
    maps = maps.reshape(maps.shape[:target] + (maps.shape[target] * maps.shape[target + 1],) + maps.shape[target + 2:])
    out = maps[0, :, :, 0].T  # (rows, channels)
    return out.shape[0], out.shape[1], out.ravel()


def _reshape(token, m, H, C):
    d, a, b, e, f = (int(g) for g in m.groups())
    if not {d, e, f} <= set(RESHAPE_DIMENSIONS):
        raise _bad(token, "a reshape moves the height (1) and the channels (3) only (the width is the line): "
                          "e.g. S1(1x0)1,3")
    if d not in (e, f) or e == f:
        raise _bad(token, f"one of the two target dimensions must be the source ({d}), the other {4 - d}")
    if a == 0 and b == 0:
        raise _bad(token, "at most one of the sizes may be 0 (the rest)")
    try:
        rows, channels, permutation = reshaped(H, C, d, a, b, e, f)
    except ValueError as error:
        raise _bad(token, str(error)) from None
    if np.array_equal(permutation, np.arange(H * C)):
        return None, rows, channels  # the same values in the same order: nothing to do
    return Reshape(H, C, rows, channels, permutation), rows, channels


def _directions(cls, direction, ni, n):
    """A recurrent layer of class ``cls`` run forward (f), reversed (r) or both side by side (b)."""
    if direction == "f":
        return cls(ni, n)
    if direction == "r":
        return Reversed().add(cls(ni, n))
    return Parallel().add(cls(ni, n)).add(Reversed().add(cls(ni, n)))


def _recurrent(token, m, H, C):
    kind, direction, axis, summarize, legacy, n = m[1], m[2], m[3], m[4] == "s", m[5], int(m[6])
    if legacy:
        raise _bad(token, f"kraken's legacy {'clstm' if legacy == 'c' else 'ocropy'} layers are for converted "
                          f"models: write {kind}{direction}{axis}{m[4]}{n}")
    if n < 1:
        raise _bad(token, "needs a positive size")
    out = n if direction != "b" else 2 * n
    if axis == "y":
        layer = AlongY(H, _directions(RECURRENT[kind], direction, C, n), summarize)
        return layer, 1 if summarize else H, out
    if summarize:
        raise _bad(token, f"summarizing along x leaves one step per line, nothing to recognize: summarize "
                          f"along y ({kind}{direction}ys{n})")
    if H > 1 and C > 1:  # each row a sequence of its own
        return AlongX(H, _directions(RECURRENT[kind], direction, C, n)), H, out
    return _directions(RECURRENT[kind], direction, H * C, n), 1, out


def _layer(bare, token, H, C):
    """``(layer or None, H, C)`` after one token (a layer token other than the input and output; ``bare`` is
    the token without its label)."""
    if m := _CONV.match(bare):
        return _conv(token, m, H, C)
    if m := _POOL.match(bare):
        return _pool(token, m, H, C)
    if m := _DROPOUT.match(bare):
        rate = float(m[1]) if m[1] else 0.5
        dims = int(m[2]) if m[2] else 1
        if not 0 <= rate < 1 or dims not in (1, 2):
            raise _bad(token, "dropout needs a rate in [0, 1) and dimension 1 or 2")
        return Dropout(H, C, rate, per_channel=dims == 2), H, C
    if m := _RESHAPE.match(bare):
        return _reshape(token, m, H, C)
    if m := _RECURRENT.match(bare):
        return _recurrent(token, m, H, C)
    if m := _FULL.match(bare):
        if m[1] not in FULL or int(m[2]) < 1:
            raise _bad(token, f"a full layer is F{{{','.join(FULL)}}}n with n > 0")
        n = int(m[2])
        if m[1] == "m" and n < 2:
            raise _bad(token, "a softmax needs at least 2 outputs")
        return FULL[m[1]](H * C, n), 1, n
    if m := _GROUP.match(bare):
        groups = int(m[1])
        if groups < 1 or C % groups:
            raise _bad(token, f"{C} channels do not split into {groups} groups")
        return GroupNorm(H, C, groups), H, C
    if m := _BATCH.match(bare):
        return BatchNorm(H, C, _activation(token, m[1] or "l", ("s", "t", "r", "l", "k"))), H, C
    raise _bad(token, _unknown(bare))


def _unknown(token):
    """What to write instead of a token no layer matches."""
    if token[:1] in "[(" or token[-1:] in "])":
        return "nested [ ] and parallel ( ) blocks are not supported: write the layers in one series"
    if re.match(r"(I|A\d|W|RO)", token):
        return "kraken's identity, addition, wav2vec2 and reading-order layers are not supported"
    return "not a layer this program knows (C, Mp, Do, S, L, G, F, Gn, Bn, O1)"


def _output(token, m, H, C, noutput, last):
    if not last:
        raise _bad(token, "the output layer must come last")
    if m[1] != "1" or m[2] not in OUTPUTS:
        raise _bad(token, "the output is O1c (softmax for CTC), O1s (sigmoid) or O1l (linear)")
    if m[3]:
        raise _bad(token, f"the output layer has a bias of its own: write O1{m[2]}{m[4]}")
    if H > 1 and C > 1:
        raise _bad(token, _not_one_row(H, C))
    if m[2] == "c" and noutput < 2:
        raise _bad(token, f"a softmax needs at least 2 classes, the codec has {noutput}")
    return OUTPUTS[m[2]](H * C, noutput)


def _not_one_row(H, C):
    return (f"the maps have {H} rows of {C} channels, the output reads one row: put S1(1x0)1,3 before the layer "
            f"that is to read whole columns, or summarize along y (e.g. Lfys64)")


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
        bare, name = _unlabelled(token)
        try:
            if m := _OUTPUT.match(bare):
                layer = output = _output(token, m, H, C, noutput, i == len(tokens) - 1)
            else:
                layer, H, C = _layer(bare, token, H, C)
        except SpecError:
            raise
        except NetworkError as e:
            raise _bad(token, str(e)) from None
        if layer is not None:
            if name:
                layer.name = name
            net.add(layer)
    if output is None:  # as kraken's trainer does: the codec's softmax
        if H > 1 and C > 1:
            raise _bad(tokens[-1], _not_one_row(H, C))
        net.add(SoftmaxLayer(H * C, noutput))
    seed_dropout(net, 0)  # each layer its own masks, also in a network loaded from a file
    return net


def spec_depth(spec):
    """The input depth (height x channels) a spec's network takes, or 0 when its height is the data's."""
    _, height, _, channels = input_shape(spec)
    return height * channels

