"""Decoding kernels: clstm's trivial decoder, best path, and the CTC prefix beam search with its float64 log-adds.

``outputs`` is a ``(T, C)`` float32 matrix of per-step class posteriors, class 0 the blank.
"""
import numpy as np

from .config import kernel
from .polyfit import FLOAT32_MAX, FLOAT32_TINY, LN2, SQRT2, atanh_ratio, monomial_fit

#: ``exp(r)`` for ``|r| <= ln(2)/2`` to about 1.5e-15 relative, evaluated in float64 (degree 10)
EXP_COEFFICIENTS, _ = monomial_fit(np.exp, 10, -LN2 / 2, LN2 / 2)
#: ``atanh_ratio(z)`` for ``0 <= z <= 1/9`` (|s| <= 1/3, i.e. -1/2 <= f <= 1) to about 3e-15 relative (degree 8)
ATANH_COEFFICIENTS, ATANH_MIDDLE = monomial_fit(atanh_ratio, 8, 0.0, 1 / 9)
#: exp() arguments are clamped here (exp(-700) ~ 1e-304, still a normal double)
EXP_FLOOR = -700.0
#: beyond this gap, log(1 + exp(-gap)) < 5e-18 and is dropped
LOGADD_RANGE = 40.0
NEG_INF = -np.inf


# --- float64 log-space helpers (for the beam search) ------------------------------------------
# Branch-free arithmetic only (selects, no table lookups), so that loops calling them vectorize.


@kernel
def polynomial8(x, c):
    """``sum(c[k] * x**k)`` over the first nine coefficients, by Estrin's scheme (a shorter dependency chain
    than Horner's, which matters once the loop is vectorized)."""
    x2 = x * x
    x4 = x2 * x2
    low = (c[0] + c[1] * x) + x2 * (c[2] + c[3] * x)
    high = (c[4] + c[5] * x) + x2 * (c[6] + c[7] * x)
    return (low + x4 * high) + (x4 * x4) * c[8]


@kernel
def polynomial10(x, c):
    """``sum(c[k] * x**k)`` for eleven coefficients (the powers are shared with ``polynomial8`` once inlined)."""
    x4 = (x * x) * (x * x)
    return polynomial8(x, c) + ((x4 * x4) * x) * (c[9] + c[10] * x)


@kernel
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0``, to within ``2e-15 + 4e-17 * |x|`` relative (``x`` below -700 counts as -700).

    ``x = n ln2 + r`` with ``|r| <= ln2/2``: a polynomial for ``exp(r)`` times ``2**n`` built from
    its exponent bits. ``n * ln2`` is one rounded product, not the usual two-part one: the callers'
    arguments are above -70, where that costs under 3e-15, and the split would cost a fifth of the
    time (fast-math reassociation folds the two products back together unless kept apart by an
    extra conversion)."""
    x = max(x, EXP_FLOOR)
    n = np.floor(x * (1.0 / LN2) + 0.5)
    r = x - n * LN2
    # through int32: a vector conversion (AVX2 has none from double to int64)
    power = np.int64((np.int64(np.int32(n)) + 1023) << 52).view(np.float64)
    return polynomial10(r, EXP_COEFFICIENTS) * power


@kernel
def log1p_moderate(f):
    """``log(1 + f)`` for ``-1/2 <= f <= 1`` (to about 4e-16 absolute): ``2 atanh(s)``, ``s = f / (2 + f)``."""
    s = f / (2.0 + f)
    return s * polynomial8(s * s - ATANH_MIDDLE, ATANH_COEFFICIENTS)


@kernel
def log1p_exp_neg(gap):
    """``log(1 + exp(-gap))`` for ``gap >= 0`` (to about 1e-15 absolute)."""
    return log1p_moderate(exp_nonpositive(-gap))


@kernel
def logaddexp(x, y):
    """``log(exp(x) + exp(y))`` (to about 1e-15); -inf-safe and branch-free."""
    top = max(x, y)
    gap = abs(x - y)
    bonus = log1p_exp_neg(min(gap, LOGADD_RANGE))
    return top + bonus if gap < LOGADD_RANGE else top


@kernel
def log_float32(x, floor, log_floor):
    """``log(max(x, floor))`` of a float32 ``x`` in float64 (to about 5e-16 relative), NaN and +inf kept.

    Reads the exponent and mantissa from the bits: ``x = 2**k * m`` with ``m`` in [sqrt(1/2), sqrt(2))."""
    bits = np.float32(x).view(np.int32)
    mantissa = np.float64(bits & 0x7FFFFF) * (1.0 / 8388608.0) + 1.0
    exponent = np.float64((bits >> 23) - 127)
    high = mantissa > SQRT2
    mantissa = 0.5 * mantissa if high else mantissa
    exponent = exponent + 1.0 if high else exponent
    value = exponent * LN2 + log1p_moderate(mantissa - 1.0)
    value = np.float64(x) if not x <= FLOAT32_MAX else value
    return log_floor if x < floor else value


# --- greedy decoders and the beam search -----------------------------------------------------------------------------


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
