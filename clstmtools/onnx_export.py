"""ONNX export of a clstm network: the graph of every layer type, the model's codec and line normalization as
metadata, and a check that onnxruntime reproduces clstmtools' outputs before the file is written.

The exported graph takes ``lines`` (batch, time, ninput) float32 and ``lengths`` (batch,) int64, the real
steps of each line of a padded batch, and gives ``outputs`` (batch, steps, noutput), zero at the padding, as
clstmtools' forward pass does, and ``output_lengths`` (batch,) int64, each line's real output steps (fewer
than its input steps after horizontal pooling or strides). Inside, sequences are time-major (time, batch,
depth), and feature maps NCHW with the line's columns as width. An LSTM is a ``Scan`` over time of plain
MatMul/Sigmoid/Tanh/Relu nodes rather than ONNX's ``LSTM`` operator, which cannot leave out the output-gate
peephole at the first step as clstm does; a GRU is ONNX's ``GRU`` (``linear_before_reset``, as PyTorch's);
``Reversed`` is ``ReverseSequence`` within each line's length; recurrent layers along y run on the maps'
columns as a batch of sequences. Needs the ``onnx`` extra (``pip install 'clstmtools[onnx]'``); the trainers
never import it.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from . import network as N
from .atomic import write_or_raise
from .kernels import layers as K
from .modelfile import load_net

#: opset and IR version of the written files: onnxruntime 1.14 and later (2023) run them
OPSET = 17
IR_VERSION = 8
#: largest difference allowed between onnxruntime and clstmtools, relative to max(1, a line's largest |output|)
TOLERANCE = 1e-5
#: lengths of the random lines of the check: alone, then all together as one padded batch
CHECK_LENGTHS = (1, 2, 9, 31)
#: model attributes that say how line images (and clstmtext's inputs) are prepared and text is normalized
NORMALIZATION_ATTRIBUTES = ("line_normalization", "dewarp", "target_height", "norm_range", "norm_vscale",
                            "norm_smooth2d", "norm_smooth1d", "neps", "unicode")
#: the LSTM kernels' nonlinearity codes (tanh, relu, identity) as ONNX operators
LSTM_ACTIVATIONS = {0: "Tanh", 1: "Relu", 2: None}


class ExportError(ValueError):
    """The network cannot be exported, or onnxruntime does not reproduce it."""


class _Graph:
    """Nodes and initializers of one (sub)graph, with unique names."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.nodes = []
        self.initializers = []
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{self.prefix}{base}_{self.count}"

    def const(self, array, base, dtype=np.float32):
        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(array, dtype)), name))
        return name

    def op(self, op_type, inputs, outputs=1, **attributes):
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names


class _Exporter:
    """Emits the nodes of a network tree on time-major values; ``lengths`` names the (batch,) int64 real steps
    of the lines at the current point of the network."""

    def __init__(self, graph, lengths):
        self.g = graph
        self.lengths = lengths

    def emit(self, net, x):
        """The name of ``net``'s output for the input named ``x`` (time, batch, ninput)."""
        if isinstance(net, N.Stacked):
            for s in net.sub:
                x = self.emit(s, x)
            return x
        if isinstance(net, N.Parallel):
            return self.g.op("Concat", [self.emit(s, x) for s in net.sub], axis=2)
        if isinstance(net, N.Reversed):
            return self.reverse(self.emit(net.sub[0], self.reverse(x)))
        if isinstance(net, N.AlongX):
            return self.along_x(net, x)
        if isinstance(net, N.AlongY):
            return self.along_y(net, x)
        if isinstance(net, N.LSTM):
            return self.lstm(net, x)
        if isinstance(net, N.GRU):
            return self.gru(net, x)
        if isinstance(net, N.SoftmaxLayer):
            return self.softmax(net, x)
        if isinstance(net, N.FullLayer):
            return self.activate(self.affine(net, x), net.activation)
        if isinstance(net, N.Conv2D):
            return self.conv(net, x)
        if isinstance(net, N.MaxPool):
            return self.maxpool(net, x)
        if isinstance(net, N.BatchNorm):  # before GroupNorm, its base class
            return self.batchnorm(net, x)
        if isinstance(net, N.GroupNorm):
            return self.groupnorm(net, x)
        if isinstance(net, N.Dropout):  # the identity outside training
            return x
        if isinstance(net, N.Reshape):
            return self.g.op("Gather", [x, self.g.const(net.permutation, "features", np.int64)], axis=2)
        raise ExportError(f"cannot export a {net.kind} layer ({type(net).__name__})")

    def reverse(self, x):
        return self.g.op("ReverseSequence", [x, self.lengths], batch_axis=1, time_axis=0)

    def affine(self, net, x):
        g = self.g
        return g.op("Add", [g.op("MatMul", [x, g.const(net.W.T, "W")]), g.const(net.b, "b")])

    def activate(self, z, code, channels=None):
        """The full layers' nonlinearity ``code`` (kernels/layers.py) applied to ``z``; the softmax is over each
        group of ``channels`` values (a place of a feature map)."""
        if code == K.SIGMOID:  # clstm clamps the exponent to +-30
            return self.g.op("Sigmoid", [self.clip(z, 30.0)])
        if code == K.LINEAR:
            return z
        if code == K.SOFTMAX:
            g = self.g
            places = g.op("Reshape", [z, g.const([0, 0, -1, channels], "shape", np.int64)])
            return g.op("Reshape", [g.op("Softmax", [places], axis=3), g.const([0, 0, -1], "shape", np.int64)])
        if code == K.LEAKY_RELU:
            return self.g.op("LeakyRelu", [z], alpha=float(K.LEAK))
        return self.g.op({K.TANH: "Tanh", K.RELU: "Relu"}[code], [z])

    def clip(self, x, bound):
        return self.g.op("Clip", [x, self.g.const(-bound, "lo"), self.g.const(bound, "hi")])

    def softmax(self, net, x):
        """clstm's softmax: exp of the clamped (not max-shifted) values over max(sum, 1e-9)."""
        g = self.g
        e = g.op("Exp", [self.clip(self.affine(net, x), 30.0)])
        total = g.op("ReduceSum", [e, g.const([2], "axis", np.int64)], keepdims=1)
        return g.op("Div", [e, g.op("Max", [total, g.const(1e-9, "tiny")])])

    # --- feature maps: a step of a sequence holds H rows of C channels, channels fastest --------------------
    def mask(self, x):
        """``x`` (time, batch, ...) with every step past its line's length set to zero."""
        g = self.g
        time = g.op("Gather", [g.op("Shape", [x]), g.const(0, "t", np.int64)])
        steps = g.op("Range", [g.const(0, "zero", np.int64), time, g.const(1, "one", np.int64)])
        real = g.op("Less", [g.op("Unsqueeze", [steps, g.const([1], "ax", np.int64)]), self.lengths])
        return g.op("Where", [g.op("Unsqueeze", [real, g.const([2], "ax", np.int64)]), x, g.const(0.0, "zero")])

    def to_image(self, x, H, C):
        """(time, batch, H*C) -> (batch, C, H, time), ONNX's NCHW with the line's columns as width."""
        g = self.g
        maps = g.op("Reshape", [x, g.const([0, 0, H, C], "shape", np.int64)])
        return g.op("Transpose", [maps], perm=[1, 3, 2, 0])

    def to_sequence(self, image):
        """(batch, C, H, time) -> (time, batch, H*C)."""
        g = self.g
        maps = g.op("Transpose", [image], perm=[3, 0, 2, 1])
        return g.op("Reshape", [maps, g.const([0, 0, -1], "shape", np.int64)])

    def conv(self, net, x):
        """"Same" convolution (the extra row or column of an even kernel below and right) at the layer's
        strides, zero outside the line's real steps, then bias and nonlinearity; a line of T steps keeps
        ceil(T / sx)."""
        g, kh, kw = self.g, net.kh, net.kw
        weights = net.W.reshape(net.Co, kh, kw, net.C).transpose(0, 3, 1, 2)
        pads = [(kh - 1) // 2, (kw - 1) // 2, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2]
        image = g.op("Conv", [self.to_image(self.mask(x), net.H, net.C), g.const(weights, "filters"),
                              g.const(net.b, "b")], kernel_shape=[kh, kw], pads=pads, strides=[net.sy, net.sx])
        if net.sx > 1:
            self.lengths = g.op("Div", [g.op("Add", [self.lengths, g.const(net.sx - 1, "round", np.int64)]),
                                        g.const(net.sx, "sx", np.int64)])
        return self.mask(self.activate(self.to_sequence(image), net.activation, net.Co))

    def maxpool(self, net, x):
        """Max pooling without padding; each line keeps the ``(length - pw) // sx + 1`` windows that fit in it
        (none when it is narrower than one)."""
        g = self.g
        image = g.op("MaxPool", [self.to_image(x, net.H, net.C)], kernel_shape=[net.ph, net.pw],
                     strides=[net.sy, net.sx])
        room = g.op("Add", [self.lengths, g.const(net.sx - net.pw, "room", np.int64)])
        self.lengths = g.op("Div", [g.op("Max", [room, g.const(0, "zero", np.int64)]), g.const(net.sx, "sx", np.int64)])
        return self.mask(self.to_sequence(image))

    def along_x(self, net, x):
        """Each of the maps' rows a sequence of its own: (time, batch, H*C) read as (time, batch*H, C), each
        row with its line's length."""
        g, lengths = self.g, self.lengths
        rows = g.op("Reshape", [x, g.const([0, -1, net.sub[0].ninput()], "shape", np.int64)])
        per_row = g.op("Expand", [g.op("Unsqueeze", [lengths, g.const([1], "ax", np.int64)]),
                                  g.const([1, net.H], "rows", np.int64)])
        self.lengths = g.op("Reshape", [per_row, g.const([-1], "flat", np.int64)])
        y = self.emit(net.sub[0], rows)
        self.lengths = lengths
        return g.op("Reshape", [y, g.const([0, -1, net.noutput()], "shape", np.int64)])

    def along_y(self, net, x):
        """Each column of the maps a sequence of its own, rows first: (time, batch, H*C) to (H, time*batch, C),
        every sequence H steps long; back into maps, or each direction's final step when summarized."""
        g, lengths, H = self.g, self.lengths, net.H
        child = net.sub[0]
        maps = g.op("Reshape", [x, g.const([0, 0, H, child.ninput()], "shape", np.int64)])
        columns = g.op("Reshape", [g.op("Transpose", [maps], perm=[2, 0, 1, 3]),
                                   g.const([H, -1, child.ninput()], "shape", np.int64)])
        count = g.op("Slice", [g.op("Shape", [columns]), g.const([1], "start", np.int64), g.const([2], "stop", np.int64)])
        self.lengths = g.op("ConstantOfShape", [count], value=numpy_helper.from_array(np.array([H], np.int64)))
        y = self.emit(child, columns)  # (H, time*batch, n)
        self.lengths = lengths
        n = child.noutput()
        if net.summarize:
            picked = [g.op("Gather", [g.op("Slice", [y, g.const([start], "start", np.int64),
                                                     g.const([stop], "stop", np.int64), g.const([2], "ax", np.int64)]),
                                      g.const(step, "step", np.int64)], axis=0)
                      for start, stop, step in _runs(net.final)]
            y = picked[0] if len(picked) == 1 else g.op("Concat", picked, axis=2)  # (1, time*batch, n)
            shape = g.op("Concat", [g.op("Slice", [g.op("Shape", [x]), g.const([0], "start", np.int64),
                                                   g.const([2], "stop", np.int64)]), g.const([n], "n", np.int64)],
                         axis=0)
            return self.mask(g.op("Reshape", [y, shape]))
        shape = g.op("Concat", [g.const([H], "H", np.int64),
                                g.op("Slice", [g.op("Shape", [x]), g.const([0], "start", np.int64),
                                               g.const([2], "stop", np.int64)]), g.const([n], "n", np.int64)], axis=0)
        maps = g.op("Transpose", [g.op("Reshape", [y, shape])], perm=[1, 2, 0, 3])
        return self.mask(g.op("Reshape", [maps, g.const([0, 0, H * n], "shape", np.int64)]))

    def gru(self, net, x):
        """ONNX's GRU with ``linear_before_reset`` (PyTorch's), forward over each line's real steps; its gates
        in ONNX's order (update, reset, candidate)."""
        g, ni, no = self.g, net.ni, net.no
        order = [1, 0, 2]  # ONNX's z, r, h from clstmtools' r, z, n
        blocks = [net.W[k * no:(k + 1) * no] for k in order]
        W = np.concatenate([b[:, 1:1 + ni] for b in blocks])[None]
        R = np.concatenate([b[:, 1 + ni:] for b in blocks])[None]
        recurrent_bias = [np.zeros(no, np.float32), np.zeros(no, np.float32), net.bhn]
        B = np.concatenate([b[:, 0] for b in blocks] + recurrent_bias)[None]
        lengths = g.op("Cast", [self.lengths], to=TensorProto.INT32)
        y = g.op("GRU", [x, g.const(W, "W"), g.const(R, "R"), g.const(B, "B"), lengths], hidden_size=no,
                 linear_before_reset=1, outputs=1)
        return self.mask(g.op("Squeeze", [y, g.const([1], "ax", np.int64)]))

    def batchnorm(self, net, x):
        """Normalization by the running statistics (as in recognition), per channel, then the nonlinearity."""
        g = self.g
        inv = (1.0 / np.sqrt(net.running_var + np.float32(N.conv.NORM_EPS))).astype(np.float32)
        maps = g.op("Reshape", [x, g.const([0, 0, net.H, net.C], "shape", np.int64)])
        xhat = g.op("Mul", [g.op("Sub", [maps, g.const(net.running_mean, "mean")]), g.const(inv, "inv")])
        y = g.op("Add", [g.op("Mul", [xhat, g.const(net.gamma, "gamma")]), g.const(net.beta, "beta")])
        y = g.op("Reshape", [y, g.const([0, 0, -1], "shape", np.int64)])
        return self.mask(self.activate(y, net.activation))

    def groupnorm(self, net, x):
        """Each line's groups of channels normalized over its real steps and all rows (statistics summed in
        float64, as clstmtools does), then scale, shift and the nonlinearity."""
        g, H, C, G = self.g, net.H, net.C, net.G
        shape5 = g.const([0, 0, H, G, C // G], "shape", np.int64)
        maps = g.op("Cast", [g.op("Reshape", [self.mask(x), shape5])], to=TensorProto.DOUBLE)
        axes = g.const([0, 2, 4], "axes", np.int64)
        total = g.op("ReduceSum", [maps, axes], keepdims=1)  # (1, batch, 1, G, 1)
        squares = g.op("ReduceSum", [g.op("Mul", [maps, maps]), axes], keepdims=1)
        count = g.op("Cast", [g.op("Mul", [self.lengths, g.const(H * (C // G), "rows", np.int64)])],
                     to=TensorProto.DOUBLE)
        count = g.op("Reshape", [g.op("Max", [count, g.const(1.0, "one", np.float64)]),
                                 g.const([1, -1, 1, 1, 1], "shape", np.int64)])
        mean = g.op("Div", [total, count])
        var = g.op("Max", [g.op("Sub", [g.op("Div", [squares, count]), g.op("Mul", [mean, mean])]),
                           g.const(0.0, "zero", np.float64)])
        inv = g.op("Div", [g.const(1.0, "one", np.float64),
                           g.op("Sqrt", [g.op("Add", [var, g.const(N.conv.NORM_EPS, "eps", np.float64)])])])
        mean, inv = (g.op("Cast", [v], to=TensorProto.FLOAT) for v in (mean, inv))
        maps = g.op("Reshape", [x, shape5])
        xhat = g.op("Mul", [g.op("Sub", [maps, mean]), inv])
        scale = g.const(net.gamma.reshape(G, C // G), "gamma")
        y = g.op("Add", [g.op("Mul", [xhat, scale]), g.const(net.beta.reshape(G, C // G), "beta")])
        y = g.op("Reshape", [y, g.const([0, 0, -1], "shape", np.int64)])
        return self.mask(self.activate(y, net.activation))

    def lstm(self, net, x):
        """clstm's LSTM forward in time: the input part of every gate in one MatMul, the recurrence in a Scan."""
        g, ni, no = self.g, net.ni, net.no
        gates_in = g.op("Add", [g.op("MatMul", [x, g.const(net.W[:, 1:1 + ni].T, "Wx")]), g.const(net.W[:, 0], "bias")])
        batch = g.op("Slice", [g.op("Shape", [x]), g.const([1], "start", np.int64), g.const([2], "stop", np.int64)])
        state_shape = g.op("Concat", [batch, g.const([no], "no", np.int64)], axis=0)
        zeros = g.op("ConstantOfShape", [state_shape], value=numpy_helper.from_array(np.zeros(1, np.float32)))
        body = self.lstm_step(net, g.const(net.W[:, 1 + ni:].T, "Wh"))
        outputs = g.op("Scan", [zeros, zeros, g.const([0.0], "first"), gates_in], outputs=4, body=body,
                       num_scan_inputs=1)
        return outputs[3]

    def lstm_step(self, net, recurrent):
        """The Scan body of one step: states (y, c, seen) and the step's gate inputs in; y, c, 1 and y out."""
        b = _Graph(self.g.name("step") + "_")
        no = net.no
        y_prev, c_prev, seen, gates_in = (b.name(n) for n in ("y_prev", "c_prev", "seen", "gates_in"))
        gi, gf, go, ci = b.op("Split", [b.op("Add", [gates_in, b.op("MatMul", [y_prev, recurrent])]),
                                        b.const([no] * 4, "sizes", np.int64)], outputs=4, axis=1)
        if net.peephole:  # c_prev is zero at the first step, which drops the input and forget peepholes there
            wip, wfp, wop = (self.g.const(net.P[i], name) for i, name in enumerate(("WIP", "WFP", "WOP")))
            gi = b.op("Add", [gi, b.op("Mul", [c_prev, wip])])
            gf = b.op("Add", [gf, b.op("Mul", [c_prev, wfp])])
        gi, gf = b.op("Sigmoid", [gi]), b.op("Sigmoid", [gf])
        activation = LSTM_ACTIVATIONS[net.g_kind]
        ci = b.op(activation, [ci]) if activation else ci
        c = b.op("Add", [b.op("Mul", [ci, gi]), b.op("Mul", [gf, c_prev])])
        if net.peephole:  # clstm has no output-gate peephole at the first step: seen is 0 there, 1 after
            go = b.op("Add", [go, b.op("Mul", [c, b.op("Mul", [wop, seen])])])
        go = b.op("Sigmoid", [go])
        activation = LSTM_ACTIVATIONS[net.h_kind]
        y = b.op("Mul", [b.op(activation, [c]) if activation else c, go])
        y_out, c_out, seen_out, y_scan = (b.name(n) for n in ("y", "c", "seen_out", "y_scan"))
        b.nodes += [helper.make_node("Identity", [y], [y_out]), helper.make_node("Identity", [c], [c_out]),
                    helper.make_node("Identity", [y], [y_scan]),
                    helper.make_node("Identity", [b.const([1.0], "one")], [seen_out])]
        state = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", no]) for n in (y_prev, c_prev)]
        inputs = [*state, helper.make_tensor_value_info(seen, TensorProto.FLOAT, [1]),
                  helper.make_tensor_value_info(gates_in, TensorProto.FLOAT, ["batch", 4 * no])]
        outputs = [helper.make_tensor_value_info(y_out, TensorProto.FLOAT, ["batch", no]),
                   helper.make_tensor_value_info(c_out, TensorProto.FLOAT, ["batch", no]),
                   helper.make_tensor_value_info(seen_out, TensorProto.FLOAT, [1]),
                   helper.make_tensor_value_info(y_scan, TensorProto.FLOAT, ["batch", no])]
        return helper.make_graph(b.nodes, b.prefix + "body", inputs, outputs, initializer=b.initializers)


def _runs(values):
    """``(start, stop, value)`` of every run of equal values."""
    runs, start = [], 0
    for k in range(1, len(values) + 1):
        if k == len(values) or values[k] != values[start]:
            runs.append((start, k, int(values[start])))
            start = k
    return runs


def metadata(net):
    """The metadata stored with the graph (all strings): the codecs, the line normalization and every attribute."""
    attributes = dict(net.attributes)
    meta = {"codec": json.dumps(list(net.codec) or list(range(net.noutput()))),
            "normalization": json.dumps({k: attributes[k] for k in NORMALIZATION_ATTRIBUTES if k in attributes}),
            "attributes": json.dumps(attributes),
            "pooling_width": str(pooling_width(net)),
            "layout": "lines: (batch, time, ninput) float32, column t of a normalized line image (ink 1, "
                      "ground 0; a colour line's rows of red, green and blue) at time t; lengths: (batch,) int64 "
                      "real steps of each line; outputs: (batch, steps, noutput) posteriors, zero past each "
                      "line's output_lengths: (batch,) int64 (about time / pooling_width); codec[k] is the code "
                      "point of class k, 0 the blank"}
    if net.icodec:
        meta["icodec"] = json.dumps(list(net.icodec))
    return meta


def build_model(net):
    """The ONNX model of ``net`` (an onnx.ModelProto), with dynamic batch size and line length."""
    g = _Graph("")
    lines = helper.make_tensor_value_info("lines", TensorProto.FLOAT, ["batch", "time", net.ninput()])
    lengths = helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])
    outputs = helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["batch", "steps", net.noutput()])
    output_lengths = helper.make_tensor_value_info("output_lengths", TensorProto.INT64, ["batch"])
    x = g.op("Transpose", ["lines"], perm=[1, 0, 2])
    exporter = _Exporter(g, "lengths")
    y = exporter.emit(net, x)
    y = exporter.mask(y)  # padding to zero (Where, not Mul: garbage in the padding may be infinite)
    g.nodes.append(helper.make_node("Transpose", [y], ["outputs"], perm=[1, 0, 2]))
    g.nodes.append(helper.make_node("Identity", [exporter.lengths], ["output_lengths"]))
    graph = helper.make_graph(g.nodes, f"clstm_{net.attributes.get('kind', net.kind)}", [lines, lengths],
                              [outputs, output_lengths], initializer=g.initializers)
    model = helper.make_model(graph, producer_name="clstmtools", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata(net))
    onnx.checker.check_model(model)
    return model


def clstmtools_outputs(net, lines):
    """clstmtools' outputs for each (time, ninput) line, run one at a time."""
    outputs = []
    for line in lines:
        net.inputs.aset(line[:, :, None])
        net.forward()
        outputs.append(net.outputs.array()[:, :, 0].copy())
    return outputs


def onnxruntime_outputs(session, lines):
    """onnxruntime's outputs for the lines as one padded batch, each cut back to its ``output_lengths``."""
    lengths = np.array([len(line) for line in lines], np.int64)
    batch = np.zeros((len(lines), lengths.max(), lines[0].shape[1]), np.float32)
    for i, line in enumerate(lines):
        batch[i, :len(line)] = line
    out, steps = session.run(["outputs", "output_lengths"], {"lines": batch, "lengths": lengths})
    padding = np.concatenate([out[i, n:].ravel() for i, n in enumerate(steps)])
    if np.any(padding != 0):
        raise ExportError("onnxruntime's outputs are not zero at the padding of a batch")
    return [out[i, :n] for i, n in enumerate(steps)]


def largest_difference(session, net, lines):
    """The largest difference between onnxruntime and clstmtools over the lines, alone and as one batch,
    relative to max(1, the line's largest |output|) (infinite where the lines' output steps differ)."""
    expected = clstmtools_outputs(net, lines)
    worst = 0.0
    for group in [[i] for i in range(len(lines))] + [list(range(len(lines)))]:
        got = onnxruntime_outputs(session, [lines[i] for i in group])
        for i, out in zip(group, got):
            if out.shape != expected[i].shape or not np.all(np.isfinite(out)):
                return np.inf
            scale = max(1.0, float(np.abs(expected[i]).max()))  # float32 rounding grows with the values
            worst = max(worst, float(np.abs(out - expected[i]).max()) / scale)
    return worst


def pooling_width(net):
    """About how many input steps make one output step: the product of the horizontal strides of the
    convolutions and max-poolings (1 without them)."""
    width = 1
    for _, node in net.walk():
        width *= getattr(node, "sx", 1) if isinstance(node, (N.MaxPool, N.Conv2D)) else 1
    return width


def shortest_line(net, steps):
    """The fewest input steps that give ``net`` at least ``steps`` output steps."""
    length = steps
    while net.output_length(length) < steps:
        length += 1
    return length


def check_lines(net, seed=0):
    """Random lines of CHECK_LENGTHS output steps (some with a remainder the pooling drops), values in [0, 1]
    as normalized line images have them."""
    rng = np.random.default_rng(seed)
    width = pooling_width(net)
    return [rng.random((shortest_line(net, n) + (width - 1) * (n % 2), net.ninput()), np.float32)
            for n in CHECK_LENGTHS]


def session_of(model_bytes):
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def export(model_path, out_path):
    """Export the clstm model file ``model_path`` to ``out_path`` after checking onnxruntime against
    clstmtools; returns ``(net, largest difference)``. Raises ExportError or ModelFileError."""
    model_path, out_path = os.fspath(model_path), os.fspath(out_path)
    if os.path.isdir(out_path):
        raise ExportError(f"{out_path}: is a folder, not an output file name")
    if os.path.exists(out_path) and os.path.exists(model_path) and os.path.samefile(out_path, model_path):
        raise ExportError(f"{out_path}: is the model file itself")
    net = load_net(model_path)
    data = build_model(net).SerializeToString()
    difference = largest_difference(session_of(data), net, check_lines(net))
    if not difference <= TOLERANCE:
        raise ExportError(f"{model_path}: onnxruntime's outputs differ from clstmtools' by {difference:.3g} "
                          f"(more than {TOLERANCE:g}); nothing written")
    write_or_raise(out_path, data, ExportError)
    return net, difference
