"""CTC for training and decoding: clstm's alignment, the standard CTC loss, decoders, and the trainer's mode switch.

Outputs are ``(T, nclasses)`` matrices of per-step class posteriors (softmax outputs), class 0
the blank; labels are lists of ints in ``1..nclasses-1``. Everything returned to the network is
float32; the alignments are the kernels of ``kernels/ctc.py``, the decoders those of ``kernels/decode.py``.
"""
import math
import threading

import numpy as np

from .kernels import decode as decode_kernels
from .kernels.config import FLOAT
from .kernels.layers import all_finite
from .sequence import Sequence


class _AlignmentKernels:
    """``kernels/ctc.py``, imported on first use: recognition by greedy decoding never needs it, and
    setting up its 34 kernels was about 20 ms of every program's start-up."""

    def __getattr__(self, name):
        from .kernels import ctc

        return getattr(ctc, name)


kernels = _AlignmentKernels()

#: the training modes: clstm's alignment, or standard (Graves) CTC
CTC_MODES = ("clstm", "standard")
#: clstm floors outputs at this before aligning
ALIGN_FLOOR = 1e-5
#: clstm's penalty for starting late or finishing early in its forward algorithm
ALIGN_SKIP = -5.0
#: probabilities are clamped at this before taking their log (clstm's alignment, the beam search)
LOG_FLOOR = 1e-30
#: standard CTC takes log-probabilities below this (a probability of 0 included) as this: far below any
#: path that matters, and finite, so that the float32 recursion never subtracts -inf from -inf
LOG_PROBABILITY_FLOOR = -1e4
#: clstm's floor on a row sum before dividing by it
ROW_FLOOR = 1e-9


class _Scratch(threading.local):
    """Per-thread work arrays, one per name, reused across calls.

    The (T, S) tables of one line are a few MB; fresh arrays for every line would cost more in
    page faults than the alignment itself. An array is valid until its name is requested again."""

    def __init__(self):
        self.buffers = {}

    def array(self, name, shape, dtype=np.float64):
        size = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self.buffers[name] = np.empty(size, dtype)
        return buffer[:size].reshape(shape)

    def flat(self, name, length, dtype):
        """The whole flat array ``name``, grown to at least ``length`` elements of ``dtype``."""
        buffer = self.buffers.get(name)
        if buffer is None or buffer.size < length or buffer.dtype != dtype:
            buffer = self.buffers[name] = np.empty(max(length, 1), dtype)
        return buffer


_scratch = _Scratch()

#: the named work buffers of the one-call alignments, in the kernels' order (see the table in kernels/ctc.py)
WORK_BUFFERS = (("match", FLOAT), ("paths", FLOAT), ("class_logs", FLOAT), ("rows", FLOAT), ("row_tops", FLOAT),
                ("skip_mask", FLOAT), ("offsets", np.float64), ("column_scale", np.float64),
                ("baseline", np.float64), ("classes", np.uint64), ("state_slot", np.uint64),
                ("slot_of_class", np.uint64), ("band_edges", np.int64), ("band", np.int32))


def check_ctc_mode(mode):
    """Raise ValueError unless ``mode`` is one of CTC_MODES."""
    if mode not in CTC_MODES:
        raise ValueError(f"unknown ctc mode {mode!r}: use clstm or standard")
    return mode


def _check_shape(shape, steps_needed=1):
    """Refuse what no kernel should see: not a matrix, no class, or fewer than ``steps_needed`` steps."""
    if len(shape) != 2:
        raise ValueError(f"CTC outputs must be a (T, nclasses) matrix, got shape {shape}")
    if shape[0] < steps_needed or shape[1] == 0:
        raise ValueError(f"CTC outputs must have at least one time step and one class, got shape {shape}")


def _outputs_matrix(outputs, steps_needed=1):
    matrix = np.ascontiguousarray(outputs, dtype=FLOAT)
    _check_shape(matrix.shape, steps_needed)
    return matrix


def _finite_for_alignment(matrix):
    """``matrix`` (the float32 outputs or their logs), or a ValueError if it holds NaN or infinity: the
    alignments' log-space tables are only defined for finite values (an infinite row made clstm's
    band of states run past its table)."""
    if not all_finite(matrix):
        raise ValueError("CTC outputs must be finite: they contain NaN or infinity")
    return matrix


def _log_outputs_matrix(outputs, log_probs):
    """The float32 log-probabilities of ``outputs`` (probabilities, or log-probabilities with ``log_probs``): the
    logs are taken in the input's own precision, so that float64 probabilities far below float32's range
    keep their exact logs; below LOG_PROBABILITY_FLOOR (and log 0) they count as that."""
    array = np.asarray(outputs)
    _check_shape(array.shape)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if not log_probs:
        with np.errstate(divide="ignore", invalid="ignore"):
            array = np.log(array)
    logs = np.ascontiguousarray(array, dtype=FLOAT)
    return np.maximum(logs, FLOAT(LOG_PROBABILITY_FLOOR), out=logs if logs is not array else None)


def _label_array(labels, nclasses):
    array = np.asarray(labels)
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"labels must be a list of integers, got {array.dtype} of shape {array.shape}")
    if array.min() < 1 or array.max() >= nclasses:
        i = int(np.flatnonzero((array < 1) | (array >= nclasses))[0])
        raise ValueError(f"label {int(array[i])} at position {i} is outside 1..{nclasses - 1} (0 is the blank)")
    return array.astype(np.int64)


def _state_classes(labels):
    """The class of each state of the blank-interleaved transcript: blank, c_1, blank, ..., c_L, blank (unsigned:
    numba checks a signed index for wraparound on every use)."""
    states = np.zeros(2 * len(labels) + 1, np.uint64)
    states[1::2] = labels
    return states


def min_ctc_steps(labels):
    """The fewest time steps that can emit ``labels`` under standard CTC: L plus one blank per adjacent repeat."""
    labels = np.asarray(labels)
    return int(len(labels) + np.count_nonzero(labels[1:] == labels[:-1]))


# --- clstm's alignment ------------------------------------------------------------------------


def mktargets(labels, nclasses):
    """clstm's ``(2L+1, nclasses)`` float32 target matrix: one-hot rows blank, c_1, blank, ..., c_L, blank."""
    states = _state_classes(_label_array(labels, nclasses))
    targets = np.zeros((len(states), nclasses), FLOAT)
    targets[np.arange(len(states)), states] = 1
    return targets


def _onehot_classes(targets):
    """The class of each row when every row of ``targets`` is one-hot, else None."""
    if np.all((targets == 0) | (targets == 1)) and np.all(targets.sum(axis=1) == 1):
        return np.argmax(targets, axis=1).astype(np.int64)
    return None


def _work_buffers(T, C, S):
    """The named work buffers (WORK_BUFFERS) of the one-call alignments (``kernels.clstm_align``,
    ``kernels.ctc_align``) for a (T, C) line with S states, from this thread's scratch memory."""
    lengths = kernels.work_lengths(T, C, S)
    return [_scratch.flat(name, length, dtype) for (name, dtype), length in zip(WORK_BUFFERS, lengths)]


def _path_weights(lmatch, nstates):
    """clstm's path weights for a (T, padded_width(nstates)) float32 ``lmatch``: ``(epath, band, column_scale)``,
    in scratch memory, as wide as ``lmatch``.

    Row t of clstm's column-normalized ``epath`` is ``epath[t, s] * column_scale[s]`` for the states
    in ``band[t, 0] <= s < band[t, 1]`` and ``exp(-30) * column_scale[s]`` for the others."""
    T, W = lmatch.shape
    epath, offsets, tops = (_scratch.array("epath", (T, W), FLOAT), _scratch.array("offsets", (T,)),
                            _scratch.array("tops", (T,), FLOAT))
    band, column_scale = _scratch.array("band", (T, 2), np.int32), _scratch.array("column_scale", (W,))
    kernels.clstm_epath(lmatch, nstates, ALIGN_SKIP, epath, offsets, tops, _scratch.array("rows", (2, W), FLOAT), band,
                        column_scale, _scratch.array("band_edges", (W + 1,), np.int64))
    return epath, band, column_scale


def _align_states(outputs, state_class):
    """clstm's alignment for one-hot targets given as the class of each state: ``(aligned, cross-entropy)``.

    O(T*C + T*S); the cross-entropy is ``-sum(aligned * log(max(outputs, 1e-30)))``."""
    aligned = np.empty_like(outputs)
    loss = kernels.clstm_align(aligned, outputs, np.asarray(state_class, np.uint64), ALIGN_FLOOR, LOG_FLOOR,
                               ALIGN_SKIP, *_work_buffers(*outputs.shape, len(state_class)))
    return aligned, loss


def ctc_align_targets(outputs, targets):
    """clstm's CTC alignment (reference.md section 4): the ``(T, C)`` float32 targets for ``outputs``.

    ``targets`` is an ``(S, C)`` matrix of target states, usually ``mktargets(labels, C)``; one-hot
    matrices take a fast path, any other non-negative matrix works through matrix products."""
    outputs = _finite_for_alignment(_outputs_matrix(outputs))
    targets = np.asarray(targets, np.float64)
    if targets.ndim != 2 or targets.shape[0] == 0 or targets.shape[1] != outputs.shape[1]:
        raise ValueError(f"CTC targets must be an (S >= 1, {outputs.shape[1]}) matrix, got shape {targets.shape}")
    if np.any(targets < 0) or not np.all(np.isfinite(targets)):
        raise ValueError("CTC targets must be finite and non-negative")
    state_class = _onehot_classes(targets)
    if state_class is not None:
        return _align_states(outputs, state_class)[0]
    normed = np.maximum(outputs, ALIGN_FLOOR, dtype=np.float64)
    normed /= normed.sum(axis=1, keepdims=True)
    S = len(targets)
    lmatch = np.empty((len(outputs), kernels.padded_width(S)), FLOAT)
    with np.errstate(divide="ignore"):
        lmatch[:, :S] = np.log(normed @ targets.T)
    kernels.fill_padding(lmatch, S)
    epath, band, column_scale = _path_weights(lmatch, S)
    kernels.fill_outside_bands(epath, band, kernels.EXP_AT_LOWER_CLAMP_32)
    aligned = (epath[:, :S] * column_scale[:S]) @ targets
    aligned /= np.maximum(aligned.sum(axis=1, keepdims=True), ROW_FLOOR)
    return aligned.astype(FLOAT)


def seq_ctc_align(aligned, outputs, targets):
    """clstm's ``ctc_align_targets`` on Sequences (batch 1): fills and returns ``aligned`` as (T, C, 1).

    ``outputs`` is a (T, C, 1) Sequence of network outputs, ``targets`` an (S, C, 1) Sequence of
    target states (e.g. ``Sequence(mktargets(labels, C))``)."""
    for name, sequence in (("aligned", aligned), ("outputs", outputs), ("targets", targets)):
        if not isinstance(sequence, Sequence):
            raise TypeError(f"seq_ctc_align: {name} must be a Sequence, got {type(sequence).__name__}")
    for name, sequence in (("outputs", outputs), ("targets", targets)):
        if sequence.batch != 1:
            raise ValueError(f"seq_ctc_align needs batch 1, but {name} has batch {sequence.batch}")
    result = ctc_align_targets(outputs.data[:, 0, :], targets.data[:, 0, :])
    aligned.resize(result.shape[0], result.shape[1], 1)
    aligned.data[:, 0, :] = result
    return aligned


# --- standard CTC -----------------------------------------------------------------------------


def ctc_loss(outputs, labels, log_probs=False):
    """Standard CTC: ``(nll, aligned)`` for ``(T, C)`` per-step class probabilities (softmax outputs) and a label
    list (blank 0); with ``log_probs``, ``outputs`` are log-probabilities (a log-softmax), as PyTorch's CTCLoss
    takes them.

    ``nll = -log p(labels | outputs)``; ``aligned`` is the ``(T, C)`` float32 class posterior, so that
    ``softmax - aligned`` is the gradient of ``nll`` with respect to the pre-softmax activations. The
    logs are taken in the input's precision (float64 probabilities of 1e-300 keep their logs) and the
    recursion runs on them in float32. When the labels cannot fit in T steps, ``nll`` is inf and
    ``aligned`` is the probabilities themselves, which makes training on it a no-op."""
    logs = _finite_for_alignment(_log_outputs_matrix(outputs, log_probs))  # log 0 is clamped, NaN and +inf stay
    labels = _label_array(labels, logs.shape[1])
    if logs.shape[0] < min_ctc_steps(labels):
        return float("inf"), (np.exp(logs) if log_probs else _outputs_matrix(outputs))
    aligned = np.empty(logs.shape, FLOAT)
    work = _work_buffers(*logs.shape, 2 * len(labels) + 1)
    log_likelihood = kernels.ctc_align(aligned, logs, _state_classes(labels), *work)
    return -float(log_likelihood), aligned


# --- decoders ---------------------------------------------------------------------------------


def _greedy_decode(decode_into, outputs):
    if len(outputs) == 0:  # nothing to decode: the kernels never see an empty matrix
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes = np.empty(outputs.shape[0], np.int64)
    steps = np.empty(outputs.shape[0], np.int64)
    count = decode_into(codes, steps, outputs)
    return codes[:count], steps[:count]


def trivial_decode(outputs):
    """clstm's decoder: the best class of each run of non-blank steps closed by a blank step."""
    codes, _ = _greedy_decode(decode_kernels.trivial_decode_into, _outputs_matrix(outputs, steps_needed=0))
    return codes.tolist()


def best_path_decode(outputs):
    """Arg-max class per step, repeats collapsed, blanks dropped."""
    codes, _ = _greedy_decode(decode_kernels.best_path_decode_into, _outputs_matrix(outputs, steps_needed=0))
    return codes.tolist()


def beam_search_decode(outputs, beam_width=10):
    """CTC prefix beam search: ``(labels, log-probability)`` of the most probable labelling found."""
    outputs = _outputs_matrix(outputs)
    if int(beam_width) != beam_width or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    beam_width = int(beam_width)
    size = outputs.shape[0] * beam_width + 1
    parent, label, length = (np.empty(size, np.int64) for _ in range(3))
    node, log_probability = decode_kernels.beam_search_into(parent, label, length, outputs, beam_width, LOG_FLOOR)
    labels = []
    while node != 0:
        labels.append(int(label[node]))
        node = parent[node]
    return labels[::-1], float(log_probability)


def char_confidences(outputs, labels=None):
    """Per decoded character, ``(time step, posterior)``: where it sits and how sure the network is.

    Without ``labels``, the characters are the best-path decoding and each one's step is where its
    output peaks within its run. With ``labels`` (e.g. a beam-search result), each label's step is
    where the standard CTC alignment most probably emits it. The posterior is the network's output
    for that character at that step."""
    outputs = _outputs_matrix(outputs)
    if labels is None:
        codes, steps = _greedy_decode(decode_kernels.best_path_decode_into, outputs)
    else:
        codes = _label_array(labels, outputs.shape[1])
        if outputs.shape[0] < min_ctc_steps(codes):
            raise ValueError(f"{len(codes)} labels cannot be aligned to {outputs.shape[0]} time steps")
        if len(codes) == 0:
            return []
        posteriors = kernels.ctc_state_posteriors(_log_outputs_matrix(outputs, False), _state_classes(codes),
                                                  *_work_buffers(*outputs.shape, 2 * len(codes) + 1))[1]
        steps = np.argmax(posteriors[:, 1:2 * len(codes):2], axis=0)
    return [(int(t), float(outputs[t, c])) for t, c in zip(steps, codes)]


# --- the trainer's interface ------------------------------------------------------------------


def ctc_targets(outputs, labels, mode, log_outputs=None):
    """``(aligned, loss)`` for one line: the targets to train ``outputs`` towards, and the loss reported.

    ``mode`` "clstm": clstm's alignment, loss = ``-sum(aligned * log(max(outputs, 1e-30)))``;
    "standard": ``ctc_loss`` (loss = negative log-likelihood, inf when the labels do not fit), from
    ``log_outputs`` (the log-softmax of the output layer's pre-activations, exact where the softmax
    underflows) when given. The network's deltas are ``aligned - outputs``."""
    check_ctc_mode(mode)
    if mode == "standard":
        if log_outputs is not None:
            loss, aligned = ctc_loss(log_outputs, labels, log_probs=True)
        else:
            loss, aligned = ctc_loss(outputs, labels)
        return aligned, loss
    outputs = _finite_for_alignment(_outputs_matrix(outputs))
    aligned, loss = _align_states(outputs, _state_classes(_label_array(labels, outputs.shape[1])))
    return aligned, float(loss)


def decode(outputs, mode):
    """The decoder that goes with a training mode: clstm -> trivial_decode, standard -> best_path_decode."""
    if check_ctc_mode(mode) == "clstm":
        return trivial_decode(outputs)
    return best_path_decode(outputs)
