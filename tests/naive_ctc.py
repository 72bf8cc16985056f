"""Plain NumPy twins and brute-force oracles for the CTC kernels (slow, float64, obviously correct)."""
import itertools

import numpy as np


# --- clstm's alignment, transcribed from reference.md section 4 ------------------------------


def naive_mktargets(labels, nclasses):
    targets = np.zeros((2 * len(labels) + 1, nclasses))
    for s in range(len(targets)):
        if s % 2 == 1:
            targets[s, labels[(s - 1) // 2]] = 1
        else:
            targets[s, 0] = 1
    return targets


def naive_clstm_logadd(x, y):
    if x == -np.inf:
        return y
    if y == -np.inf:
        return x
    if abs(x - y) > 10:
        return max(x, y)
    return np.log(np.exp(x - y) + 1) + y


def naive_clstm_logadd_pairs(x, y):
    """``naive_clstm_logadd`` elementwise over arrays (in their dtype), from np.logaddexp."""
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x - y) > 10, np.maximum(x, y), np.logaddexp(x, y))


def naive_forward_algorithm(lmatch, skip=-5.0, dtype=float):
    n, m = lmatch.shape
    lr = np.zeros((n, m), dtype)
    v = dtype(skip) * np.arange(m, dtype=dtype)
    for i in range(n):
        w = np.empty(m, dtype)
        w[1:] = v[:-1]
        w[0] = dtype(skip) * dtype(i)
        v = naive_clstm_logadd_pairs(v + lmatch[i], w + lmatch[i]).astype(dtype)
        lr[i] = v
    return lr


def naive_ctc_align_targets(outputs, targets, dtype=float):
    """clstm's alignment in ``dtype`` arithmetic throughout: float64 for the reference, float32 for what clstm
    itself (whose Float is float) computes."""
    outputs = np.asarray(outputs, dtype)
    targets = np.asarray(targets, dtype)
    out = np.maximum(outputs, dtype(1e-5))
    out /= out.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        lmatch = np.log(out @ targets.T)
    forward = naive_forward_algorithm(lmatch, dtype=dtype)
    backward = naive_forward_algorithm(lmatch[::-1, ::-1], dtype=dtype)[::-1, ::-1]
    both = forward + backward
    epath = np.exp(np.clip(both - both.max(), dtype(-30), dtype(30)))
    column_sums = epath.sum(axis=0)
    epath /= np.where(column_sums == 0, dtype(1e-9), column_sums)
    aligned = epath @ targets
    aligned /= np.maximum(aligned.sum(axis=1, keepdims=True), dtype(1e-9))
    return aligned


def naive_trivial_decode(outputs):
    codes = []
    best_value, best_class = 0.0, -1
    for row in outputs:
        index = int(np.argmax(row))
        if index == 0:
            if best_class not in (-1, 0):
                codes.append(best_class)
            best_value, best_class = 0.0, -1
        elif row[index] > best_value:
            best_value, best_class = row[index], index
    return codes


# --- standard CTC by enumerating every path ---------------------------------------------------


def collapse(path):
    """Remove repeats, then blanks."""
    out = []
    previous = None
    for c in path:
        if c != previous and c != 0:
            out.append(int(c))
        previous = c
    return tuple(out)


def brute_force_ctc(outputs, labels):
    """``(p(labels), (T, C) class posteriors)`` by summing over all C**T paths (tiny T only)."""
    outputs = np.asarray(outputs, float)
    T, C = outputs.shape
    labels = tuple(int(c) for c in labels)
    total = 0.0
    posteriors = np.zeros((T, C))
    for path in itertools.product(range(C), repeat=T):
        if collapse(path) != labels:
            continue
        p = np.prod(outputs[np.arange(T), path])
        total += p
        posteriors[np.arange(T), path] += p
    if total > 0:
        posteriors /= total
    return total, posteriors


def naive_ctc_nll(outputs, labels):
    """``-log p(labels | outputs)`` by a float64 forward pass over the blank-interleaved states (log space)."""
    outputs = np.asarray(outputs, float)
    states = np.zeros(2 * len(labels) + 1, int)
    states[1::2] = labels
    emit = np.log(np.maximum(outputs[:, states], 1e-30))
    skip = np.zeros(len(states), bool)
    skip[2:] = (states[2:] != 0) & (states[2:] != states[:-2])
    alpha = np.full(len(states), -np.inf)
    alpha[:2] = emit[0, :2]
    for t in range(1, len(outputs)):
        stay, advance, jump = alpha, np.r_[-np.inf, alpha[:-1]], np.r_[-np.inf, -np.inf, alpha[:-2]]
        alpha = np.logaddexp(np.logaddexp(stay, advance), np.where(skip, jump, -np.inf)) + emit[t]
    return -np.logaddexp(alpha[-1], alpha[-2]) if len(states) > 1 else -alpha[-1]


def brute_force_labelling_probabilities(outputs):
    """``{labelling: p(labelling)}`` over all labellings reachable in T steps."""
    outputs = np.asarray(outputs, float)
    T, C = outputs.shape
    probabilities = {}
    for path in itertools.product(range(C), repeat=T):
        key = collapse(path)
        probabilities[key] = probabilities.get(key, 0.0) + np.prod(outputs[np.arange(T), path])
    return probabilities


def naive_best_path_decode(outputs):
    return list(collapse(np.argmax(outputs, axis=1)))


def softmax(activations):
    z = np.exp(activations - activations.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def exact_ctc(log_probs, labels):
    """``(nll, (T, C) class posteriors)`` of standard CTC by a float64 forward-backward in log space, from
    float64 log-probabilities, nothing clamped: the reference for probabilities far below float32's range."""
    log_probs = np.asarray(log_probs, np.float64)
    T = len(log_probs)
    states = np.zeros(2 * len(labels) + 1, int)
    states[1::2] = labels
    S = len(states)
    emit = log_probs[:, states]
    skip = np.zeros(S, bool)
    skip[2:] = (states[2:] != 0) & (states[2:] != states[:-2])
    alpha, beta = np.full((T, S), -np.inf), np.full((T, S), -np.inf)
    alpha[0, :2] = emit[0, :2]
    for t in range(1, T):
        a = alpha[t - 1]
        jump = np.where(skip, np.r_[-np.inf, -np.inf, a[:-2]], -np.inf)
        alpha[t] = np.logaddexp(np.logaddexp(a, np.r_[-np.inf, a[:-1]]), jump) + emit[t]
    beta[T - 1, -2:] = emit[T - 1, -2:]
    for t in range(T - 2, -1, -1):
        b = beta[t + 1]
        jump = np.where(np.r_[skip[2:], False, False], np.r_[b[2:], -np.inf, -np.inf], -np.inf)
        beta[t] = np.logaddexp(np.logaddexp(b, np.r_[b[1:], -np.inf]), jump) + emit[t]
    log_likelihood = np.logaddexp(alpha[T - 1, -1], alpha[T - 1, -2]) if S > 1 else alpha[T - 1, -1]
    state_posteriors = np.exp(alpha + beta - emit - log_likelihood)
    posteriors = np.zeros(log_probs.shape)
    for s, c in enumerate(states):
        posteriors[:, c] += state_posteriors[:, s]
    return -log_likelihood, posteriors


def log_softmax(activations):
    shifted = activations - activations.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
