"""Decoding kernels: clstm's trivial decoder, best path, and the CTC prefix beam search with its float64 log-adds.

``outputs`` is a ``(T, C)`` float32 matrix of per-step class posteriors, class 0 the blank.
"""
import numpy as np

from .config import kernel
from .elementary import NEG_INF, log_float32, logaddexp
from .polyfit import FLOAT32_TINY


@kernel
def row_argmax(outputs, t):
    """The first class with the highest output at step ``t``."""
    best = 0
    for c in range(1, outputs.shape[1]):
        if outputs[t, c] > outputs[t, best]:
            best = c
    return best


@kernel
def trivial_decode_into(codes, steps, outputs):
    """clstm's decoder; returns the number of codes written.

    A step whose arg-max is the blank closes the current run and emits the best non-blank class
    seen in it (``steps`` gets the step where that class peaked); a run still open at the end is
    dropped, as in clstm."""
    count = 0
    best_value = np.float32(0.0)
    best_class = -1
    best_step = -1
    for t in range(outputs.shape[0]):
        index = row_argmax(outputs, t)
        if index == 0:
            if best_class > 0:
                codes[count] = best_class
                steps[count] = best_step
                count += 1
            best_value = np.float32(0.0)
            best_class = -1
            continue
        if outputs[t, index] > best_value:
            best_value = outputs[t, index]
            best_class = index
            best_step = t
    return count


@kernel
def best_path_decode_into(codes, steps, outputs):
    """Arg-max per step, repeats collapsed, blanks dropped; returns the number of codes written.

    ``steps[i]`` is the step within code i's run where its output is highest."""
    count = 0
    previous = -1
    for t in range(outputs.shape[0]):
        index = row_argmax(outputs, t)
        if index != previous:
            if index != 0:
                codes[count] = index
                steps[count] = t
                count += 1
        elif index != 0 and outputs[t, index] > outputs[steps[count - 1], index]:
            steps[count - 1] = t
        previous = index
    return count


@kernel
def same_prefix(a, b, node_parent, node_label, node_length):
    """Whether trie nodes ``a`` and ``b`` spell the same label sequence."""
    while a != b:
        if node_length[a] != node_length[b] or node_label[a] != node_label[b]:
            return False
        a = node_parent[a]
        b = node_parent[b]
    return True


@kernel
def beam_search_into(node_parent, node_label, node_length, outputs, beam_width, floor):
    """CTC prefix beam search; returns ``(node of the best prefix, its log-probability)``.

    Prefixes are nodes of a trie stored in ``node_parent``/``node_label``/``node_length`` (node 0
    is the empty prefix; each step adds at most ``beam_width`` nodes, so the arrays need
    ``T * beam_width + 1`` entries). Each beam entry carries the log-probabilities of its prefix
    ending in a blank (``blank``) and in its last label (``label``); candidates that spell the
    same prefix are merged before the best ``beam_width`` are kept."""
    T, C = outputs.shape
    K = beam_width
    node_parent[0] = 0
    node_label[0] = 0
    node_length[0] = 0
    nodes = 1

    beam_node = np.zeros(K, np.int64)
    beam_blank = np.full(K, NEG_INF)
    beam_label = np.full(K, NEG_INF)
    beam_blank[0] = 0.0
    size = 1

    log_out = np.empty(C)
    stay_blank = np.empty(K)
    stay_label = np.empty(K)
    extend = np.empty((K, C))
    # the kept candidates, best first: score, source beam, class (0 = the prefix stays)
    kept_score = np.empty(K)
    kept_beam = np.empty(K, np.int64)
    kept_class = np.empty(K, np.int64)
    next_node = np.empty(K, np.int64)
    next_blank = np.empty(K)
    next_label = np.empty(K)

    floor = max(floor, FLOAT32_TINY)
    log_floor = np.log(floor)
    for t in range(T):
        for c in range(C):
            log_out[c] = log_float32(outputs[t, c], floor, log_floor)
        for b in range(size):
            node = beam_node[b]
            total = logaddexp(beam_blank[b], beam_label[b])
            stay_blank[b] = total + log_out[0]
            stay_label[b] = beam_label[b] + log_out[node_label[node]] if node != 0 else NEG_INF
            extend[b, 0] = NEG_INF
            for c in range(1, C):
                if node != 0 and c == node_label[node]:
                    # a repeated label needs a blank in between to start a new character
                    extend[b, c] = beam_blank[b] + log_out[c]
                else:
                    extend[b, c] = total + log_out[c]
        # an extension that spells a prefix already in the beam joins that entry
        for b2 in range(size):
            node2 = beam_node[b2]
            if node2 == 0:
                continue
            parent = node_parent[node2]
            for b1 in range(size):
                if same_prefix(beam_node[b1], parent, node_parent, node_label, node_length):
                    c = node_label[node2]
                    stay_label[b2] = logaddexp(stay_label[b2], extend[b1, c])
                    extend[b1, c] = NEG_INF
                    break

        kept = 0
        for b in range(size):
            for c in range(C):
                score = logaddexp(stay_blank[b], stay_label[b]) if c == 0 else extend[b, c]
                if score == NEG_INF or (kept == K and score <= kept_score[K - 1]):
                    continue
                i = kept if kept < K else K - 1
                while i > 0 and kept_score[i - 1] < score:
                    kept_score[i] = kept_score[i - 1]
                    kept_beam[i] = kept_beam[i - 1]
                    kept_class[i] = kept_class[i - 1]
                    i -= 1
                kept_score[i] = score
                kept_beam[i] = b
                kept_class[i] = c
                if kept < K:
                    kept += 1
        if kept == 0:
            break

        for i in range(kept):
            b = kept_beam[i]
            c = kept_class[i]
            if c == 0:
                next_node[i] = beam_node[b]
                next_blank[i] = stay_blank[b]
                next_label[i] = stay_label[b]
            else:
                node_parent[nodes] = beam_node[b]
                node_label[nodes] = c
                node_length[nodes] = node_length[beam_node[b]] + 1
                next_node[i] = nodes
                next_blank[i] = NEG_INF
                next_label[i] = extend[b, c]
                nodes += 1
        size = kept
        for i in range(size):
            beam_node[i] = next_node[i]
            beam_blank[i] = next_blank[i]
            beam_label[i] = next_label[i]

    best = 0
    best_score = NEG_INF
    for b in range(size):
        score = logaddexp(beam_blank[b], beam_label[b])
        if score > best_score:
            best = b
            best_score = score
    return beam_node[best], best_score
