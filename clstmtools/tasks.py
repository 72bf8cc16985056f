"""What one training step does for each program: CTC on lines or strings, pre-aligned targets, sequence targets."""
import numpy as np

from . import ctc as ctcmod
from .kernels.layers import all_finite
from .network import MAX_STEPS, normalizes_by_batch
from .recognize import BATCH_STEPS, network_outputs, width_batches


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN or infinity appeared); the message says where."""


class SkipSample(Exception):
    """A training sample that cannot be used (e.g. too short for its transcript); it is skipped."""


def edit_distance(a, b):
    import Levenshtein  # here: recognition alone (mode=text) starts without it

    return Levenshtein.distance(a, b)


def finite(array):
    return bool(all_finite(np.ascontiguousarray(array)))


# --- CTC: clstmctc's image lines, clstmtext's one-hot strings -----------------------------------------
class CtcTask:
    """Sequence -> label string by CTC (clstmctc's image lines, clstmtext's one-hot strings).

    ``inputs(i)`` gives the (T, depth) input of sample i, ``labels(i)`` its label array (in the
    network's output codec), ``codec`` decodes labels; ``name(i)`` names the sample in errors.
    ``truth(i)``, when given, is the ground truth that evaluation compares with (it may hold
    characters outside the codec, which then count as errors); else the labels' text.
    ``readable(i)`` False marks a sample the network cannot take (a transducer's input with
    characters outside its input codec): evaluation counts it as recognized as nothing.
    ``augment`` (an :class:`~clstmtools.augment.Augmenter`) degrades each training line; a line it
    makes too short for its transcript is trained on undegraded."""

    def __init__(self, inputs, labels, codec, mode="clstm", name=None, input_text=None, beam=0, strict=False,
                 augment=None, truth=None, readable=None, width=None):
        self.inputs = inputs
        self.labels = labels
        self.truth = truth or (lambda i: codec.decode(labels(i)))
        self.readable = readable or (lambda i: True)
        self.width = width or (lambda i: None)
        self.codec = codec
        self.mode = ctcmod.check_ctc_mode(mode)
        self.name = name or (lambda i: f"sample {i}")
        self.input_text = input_text
        self.beam = beam
        self.strict = strict
        self.augment = augment

    def generators(self):
        """The random generators this task draws from while training (saved with a resumable run)."""
        return {"augment": self.augment.rng} if self.augment is not None else {}

    def training_input(self, i, labels):
        x = self.inputs(i)
        if self.augment is None:
            return x
        degraded = self.augment(x)
        return degraded if len(degraded) >= ctcmod.min_ctc_steps(labels) else x

    def decode(self, outputs):
        if self.beam > 0:
            labels, _ = ctcmod.beam_search_decode(outputs, beam_width=self.beam)
            return labels
        return ctcmod.decode(outputs, self.mode)

    def check(self, i, x, labels, net=None):
        need = ctcmod.min_ctc_steps(labels)
        steps = len(x) if net is None else net.output_length(len(x))  # shorter after horizontal pooling
        message = None
        if steps < need:
            message = (f"{self.name(i)}: the sequence has {steps} steps, too short for its "
                       f"{len(labels)}-character transcript (needs at least {need})")
        elif len(x) > MAX_STEPS:
            message = f"{self.name(i)}: the sequence has {len(x)} steps, more than the {MAX_STEPS} a line may have"
        if message:
            raise TrainingError(message) if self.strict else SkipSample(message)

    def forward(self, net, i):
        x = self.inputs(i)
        net.inputs.aset(x[:, :, None])
        net.forward()
        return x, net.outputs.array()[:, :, 0]

    def targets(self, i, outputs, labels, log_outputs=None):
        """``(aligned, loss)`` for sample i: what its outputs are trained towards (standard CTC from
        ``log_outputs``, the output layer's log-softmax, when given)."""
        return ctcmod.ctc_targets(outputs, labels, self.mode, log_outputs)

    def log_softmax_layer(self, net):
        """The output layer whose log-softmax standard CTC trains from (switched to the exact softmax), else None."""
        layer = net.layers()[-1]
        if self.mode != "standard" or layer.kind != "SoftmaxLayer":
            return None
        layer.keep_logs = True
        return layer

    def step(self, net, i):
        """Forward, targets and backward for sample i (no update); returns the report record."""
        records, skipped = self.step_batch(net, [i])
        if skipped:
            raise SkipSample(skipped[0][1])
        return records[0]

    def step_batch(self, net, indices):
        """Forward, targets and backward for several samples at once, as padded minibatches of
        lines of similar width (no update). Returns the report records and ``[(i, reason), ...]`` of the samples skipped."""
        xs, labels, kept, skipped = [], [], [], []
        for i in indices:
            y = self.labels(i)
            x = self.training_input(i, y)
            try:
                self.check(i, x, y, net)
            except SkipSample as skip:
                skipped.append((i, str(skip)))
                continue
            xs.append(x)
            labels.append(y)
            kept.append(i)
        if not kept:
            return [], skipped
        softmax = self.log_softmax_layer(net)
        records = {}
        # widest first, in parts of at most BATCH_STEPS padded steps: the weight deltas add up over
        # the parts as over one batch, and the buffers are sized by a part's widest line; batch
        # normalization's statistics are the whole minibatch's, so its networks take it in one part
        budget = float("inf") if normalizes_by_batch(net) else BATCH_STEPS
        for part in width_batches([len(x) for x in xs], len(xs), budget):
            net.inputs.aset_batch([xs[k] for k in part])
            net.forward()
            deltas = []
            for b, k in enumerate(part):
                i = kept[k]
                outputs = net.outputs.column(b)
                if not finite(outputs):
                    raise TrainingError(f"{self.name(i)}: the network's outputs contain NaN or infinity")
                log_outputs = softmax.log_outputs.column(b) if softmax is not None else None
                aligned, loss = self.targets(i, outputs, labels[k], log_outputs)
                deltas.append(aligned - outputs)
                if not finite(deltas[-1]):
                    raise TrainingError(f"{self.name(i)}: the training deltas contain NaN or infinity")
                records[k] = self.record(i, xs[k], labels[k], outputs.copy(), aligned, loss)
            net.d_outputs.aset_batch(deltas)
            net.backward()
        return [records[k] for k in range(len(kept))], skipped

    def record(self, i, x, labels, outputs, aligned, loss):
        truth = self.codec.decode(labels)
        out = self.codec.decode(self.decode(outputs))
        return dict(loss=loss, errors=edit_distance(truth, out), count=len(truth), truth=truth, output=out, input=x,
                    outputs=outputs, aligned=aligned, steps=len(x),
                    input_text=self.input_text(i) if self.input_text else None)

    def evaluate(self, net, i):
        """(errors, ground-truth length, output text, ground truth) for sample i."""
        return next(evaluate_lines(net, self, [i]))[1:]

    def report(self, record):
        lines = []
        if record.get("input_text") is not None:
            lines.append(f"INP: '{record['input_text']}'")
        aligned_text = self.codec.decode(ctcmod.trivial_decode(record["aligned"]))  # only when reported
        lines += [f"TRU: '{record['truth']}'", f"OUT: '{record['output']}'", f"ALN: '{aligned_text}'",
                  str(record["errors"])]
        return lines


class AlignedTask(CtcTask):
    """Training on pre-aligned targets stored in the file (target_name=NAME): deltas = targets - outputs."""

    def __init__(self, data, codec, mode):
        super().__init__(data.input, data.labels, codec, mode, name=data.name)
        self.data = data

    def check(self, i, x, labels, net=None):
        """Pre-aligned targets need no room for a CTC path."""

    def targets(self, i, outputs, labels, log_outputs=None):
        aligned = self.data.targets(i)
        if aligned.shape != outputs.shape:
            raise TrainingError(f"{self.name(i)}: targets have shape {aligned.shape}, outputs {outputs.shape}")
        return aligned, float(((aligned - outputs) ** 2).sum())


def evaluate_ctc(net, task, indices, skip=None):
    """Total edit distance and ground-truth length of ``task`` over ``indices`` (``skip``: see :func:`evaluate_lines`)."""
    errors = count = 0
    for _, e, n, _, _ in evaluate_lines(net, task, indices, skip):
        errors += e
        count += n
    return errors, count


def evaluate_lines(net, task, indices, skip=None):
    """``(i, errors, ground-truth length, output text, ground truth)`` for each ``i`` of ``indices``
    in order, the lines recognized in padded minibatches (:func:`clstmtools.recognize.network_outputs`);
    a line too short for any output step is left out of the results and the totals, and ``skip(i,
    reason)`` hears of it (without ``skip``, it is an error). A line the task cannot read counts as
    recognized as nothing."""
    indices = list(indices)
    recognized = network_outputs(net, task.inputs, [i for i in indices if task.readable(i)], skip=skip)
    pending = next(recognized, None)
    for i in indices:
        if pending is not None and pending[0] == i:
            out = task.codec.decode(task.decode(pending[2]))
            pending = next(recognized, None)
        elif not task.readable(i):
            out = ""
        else:
            continue  # too short: skipped
        truth = task.truth(i)
        yield i, edit_distance(truth, out), len(truth), out, truth


# --- sequence -> sequence: clstmseq ---------------------------------------------------------------------
def marks(values):
    """One character per step: '_' below 0.5, '+' above (clstm's report strings)."""
    return "".join("+" if v > 0.5 else "_" for v in values)


class SeqTask:
    """Sequence -> sequence training: deltas are targets minus outputs."""

    def __init__(self, data, net=None, debug_nets=False, debug_states=False):
        self.data = data
        self.name = data.name
        self.net = net
        self.debug_nets = debug_nets
        self.debug_states = debug_states

    def generators(self):
        return {}

    def forward(self, net, i):
        x = self.data.input(i)
        net.inputs.aset(x[:, :, None])
        net.forward()
        return x, net.outputs.array()[:, :, 0]

    def step(self, net, i):
        x, outputs = self.forward(net, i)
        if not finite(outputs):
            raise TrainingError(f"{self.name(i)}: the network's outputs contain NaN or infinity")
        target = self.data.output(i)
        deltas = target - outputs
        net.d_outputs.aset(deltas[:, :, None])
        net.backward()
        wrong = int(np.sum((outputs[:, -1] > 0.5) != (target[:, -1] > 0.5)))
        return dict(loss=float(np.mean(deltas ** 2)), errors=wrong, count=len(x), input=x, outputs=outputs,
                    target=target)

    def report(self, record):
        lines = [f"INP: {marks(record['input'].max(axis=1))}", f"OUT: {marks(record['outputs'][:, -1])}",
                 f"TRU: {marks(record['target'][:, -1])}"]
        if self.debug_nets:
            for name, w, _ in self.net.weights():
                lines.append(f"WEIGHTS {name} {w.shape[0]}x{w.shape[1]} min {w.min():.4g} max {w.max():.4g} "
                             f"mean|w| {np.abs(w).mean():.4g}")
        if self.debug_states:
            for path, node in self.net.walk():
                if not node.sub:  # a layer: its outputs for the reported sample, one row per step
                    states = np.array2string(node.outputs.array()[:, :, 0], precision=3, max_line_width=160,
                                             threshold=100000, suppress_small=True)
                    lines.append(f"STATES {path} outputs ({node.outputs.T} steps x {node.outputs.depth})")
                    lines += states.splitlines()
        return lines

    def test(self, net, indices, add_up=None):
        """(mse, mse of always predicting class 0, binary errors, errors of class 0, steps), each per step;
        ``add_up`` sums the sums over several processes (each testing its part of the lines)."""
        sums = np.zeros(6)
        for i, _, outputs in network_outputs(net, self.data.input, indices):
            target = self.data.output(i)
            zero = np.zeros_like(target)
            zero[:, 0] = 1
            truth = target[:, -1] > 0.5
            sums += (np.sum((target - outputs) ** 2), np.sum((target - zero) ** 2),
                     np.sum((outputs[:, -1] > 0.5) != truth), np.sum(truth), len(target), 1)
        mse, mse0, errs, errs0, steps, lines = add_up(sums) if add_up else sums
        return mse / steps, mse0 / steps, errs / steps, errs0 / steps, int(lines)
