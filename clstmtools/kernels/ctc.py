"""CTC kernels: clstm's alignment, standard (Graves) CTC forward-backward, and the greedy and beam decoders.

Conventions: ``outputs`` is a ``(T, C)`` float32 matrix of per-step class posteriors (rows are time
steps, class 0 is the blank); target *states* are the rows of a ``(S, C)`` target matrix, and
``state_class[s]`` is the class of state ``s`` when that matrix is one-hot (for a transcript of
``L`` labels, ``S = 2L+1`` and the states are blank, c_1, blank, ..., c_L, blank). Log-space
tables are float64; what goes back to the network is float32.
"""
import numpy as np

from .config import kernel

NEG_INF = -np.inf


def _softplus_table(width, degree, upper):
    """Power-series coefficients of ``log(1 + exp(-z))`` about the middle of each interval of z.

    Chebyshev interpolation on intervals of ``width``; with width 1/8 and degree 6 the error is
    below 1e-14 absolute (float64 rounding level), and an evaluation costs a few multiply-adds
    instead of an exp and a log, which otherwise dominate the log-space recursions."""
    from numpy.polynomial import chebyshev, polynomial

    half = width / 2
    table = np.empty((int(round(upper / width)) + 1, degree + 1))
    for k in range(len(table)):
        middle = k * width + half
        fit = chebyshev.Chebyshev.interpolate(lambda u: np.log1p(np.exp(-(u + middle))), degree, domain=[-half, half])
        table[k] = fit.convert(kind=polynomial.Polynomial, domain=[-half, half], window=[-half, half]).coef
    return table


#: beyond this gap, log(1 + exp(-gap)) < 5e-18 and is dropped
SOFTPLUS_RANGE = 40.0
#: the table's intervals are 1/SOFTPLUS_STEPS wide
SOFTPLUS_STEPS = 8
SOFTPLUS_TABLE = _softplus_table(1.0 / SOFTPLUS_STEPS, 6, SOFTPLUS_RANGE)
#: clstm's log-add returns the larger term when the two are further apart than this
CLSTM_LOGADD_CUTOFF = 10.0
#: clstm's exponent clamp and the value it gives at the lower end
EXP_CLAMP = 30.0
EXP_AT_LOWER_CLAMP = float(np.exp(-EXP_CLAMP))
#: state posteriors below exp(-69) ~ 1e-30 of their step's most probable state are dropped (to 0):
#: far below float32 resolution of the result, and it spares most of the exponentials
POSTERIOR_CUTOFF = -69.0


# --- log-space helpers ------------------------------------------------------------------------


@kernel
def log1p_exp_neg(gap):
    """``log(1 + exp(-gap))`` for ``0 <= gap <= SOFTPLUS_RANGE``, from the piecewise polynomial (Estrin form)."""
    k = int(gap * SOFTPLUS_STEPS)
    u = gap - (k + 0.5) / SOFTPLUS_STEPS
    u2 = u * u
    c = SOFTPLUS_TABLE
    return (c[k, 0] + u * c[k, 1]) + u2 * ((c[k, 2] + u * c[k, 3]) + u2 * ((c[k, 4] + u * c[k, 5]) + u2 * c[k, 6]))


@kernel
def clstm_logadd(x, y):
    """clstm's ``log(exp(x) + exp(y))``: ``max(x, y)`` once the two are more than 10 apart.

    Branch-free so that row updates vectorize; two -inf give -inf (clstm's own version gives
    NaN there, which only a target row of zeros can produce)."""
    top = max(x, y)
    gap = abs(x - y)
    # a NaN gap (two -inf) must still index the table: compare rather than min()
    bonus = log1p_exp_neg(gap if gap < CLSTM_LOGADD_CUTOFF else CLSTM_LOGADD_CUTOFF)
    return top if gap > CLSTM_LOGADD_CUTOFF else top + bonus


@kernel
def logaddexp(x, y):
    """``log(exp(x) + exp(y))`` (to about 1e-14); -inf-safe and branch-free."""
    top = max(x, y)
    gap = abs(x - y)
    bonus = log1p_exp_neg(gap if gap < SOFTPLUS_RANGE else SOFTPLUS_RANGE)
    return top if gap >= SOFTPLUS_RANGE else top + bonus


# --- clstm's alignment (reference.md section 4) -----------------------------------------------


@kernel
def log_class_outputs(log_out, outputs, classes, floor):
    """``log_out[t, j] = log(max(outputs[t, classes[j]], floor))``: one log per class in use, not per state.

    A transcript's states share few classes (every other one is the blank, and letters repeat)."""
    T = outputs.shape[0]
    D = classes.shape[0]
    for t in range(T):
        for j in range(D):
            log_out[t, j] = np.log(max(np.float64(outputs[t, classes[j]]), floor))


@kernel
def clstm_lmatch(lmatch, log_out, outputs, state_slot, floor):
    """clstm's ``lmatch`` for one-hot target states: the log of the state's class output, floored and renormalized.

    ``log_out[t, state_slot[s]]`` is the log of state ``s``'s class output (``log_class_outputs``
    with a floor below ``floor``); each step's outputs are floored at ``floor`` and divided by
    their sum, so ``lmatch[t, s] = max(log_out, log(floor)) - log(sum_c max(outputs[t, c], floor))``.
    O(T*C + T*S) instead of the O(T*S*C) of the general matrix product."""
    T, C = outputs.shape
    S = state_slot.shape[0]
    log_floor = np.log(floor)
    for t in range(T):
        total = 0.0
        for c in range(C):
            total += max(np.float64(outputs[t, c]), floor)
        log_total = np.log(total)
        for s in range(S):
            lmatch[t, s] = max(log_out[t, state_slot[s]], log_floor) - log_total


@kernel
def clstm_floor_rows(normed, outputs, floor):
    """``normed[t] = max(outputs[t], floor) / sum(max(outputs[t], floor))`` in float64 (general targets)."""
    T, C = outputs.shape
    for t in range(T):
        total = 0.0
        for c in range(C):
            value = max(np.float64(outputs[t, c]), floor)
            normed[t, c] = value
            total += value
        for c in range(C):
            normed[t, c] /= total


@kernel
def clstm_forward_algorithm(forward, lmatch, skip, initial):
    """clstm's ``forward_algorithm``: ``forward[t]`` is the row of log scores over states after step ``t``.

    Before step 0 the row is ``skip*s``; at step ``t`` each state log-adds staying (its own score)
    and advancing (the previous state's score; ``skip*t`` for state 0), plus ``lmatch[t, s]``. Only
    "stay" and "advance by one" transitions: no skip over blanks. ``initial`` is an (S,) work row."""
    T, S = lmatch.shape
    for s in range(S):
        initial[s] = skip * s
    for t in range(T):
        previous = initial if t == 0 else forward[t - 1]
        forward[t, 0] = clstm_logadd(previous[0], skip * t) + lmatch[t, 0]
        for s in range(1, S):
            forward[t, s] = clstm_logadd(previous[s], previous[s - 1]) + lmatch[t, s]


@kernel
def clstm_backward_algorithm(backward, lmatch, skip, initial):
    """clstm's backward pass: its forward algorithm on ``lmatch`` reversed in both axes, reversed back.

    Run here from the last step down in the original orientation: state ``s`` log-adds itself
    and state ``s + 1``, ``skip*(T-1-t)`` enters the last state, and the row before the last
    step is ``skip*(S-1-s)``. ``initial`` is an (S,) work row."""
    T, S = lmatch.shape
    for s in range(S):
        initial[s] = skip * (S - 1 - s)
    for t in range(T - 1, -1, -1):
        following = initial if t == T - 1 else backward[t + 1]
        backward[t, S - 1] = clstm_logadd(following[S - 1], skip * (T - 1 - t)) + lmatch[t, S - 1]
        for s in range(S - 1):
            backward[t, s] = clstm_logadd(following[s], following[s + 1]) + lmatch[t, s]


@kernel
def clstm_path_weights(epath, backward, column_sums):
    """The end of clstm's forward-backward: ``epath`` (the forward table on entry) becomes the path weights.

    ``both = forward + backward``; ``epath = exp(both - max(both))`` with the exponent clamped to
    [-30, 30], then each column divided by its sum (1e-9 for a zero column). ``column_sums`` is
    an (S,) float64 work vector."""
    T, S = epath.shape
    top = NEG_INF
    for t in range(T):
        for s in range(S):
            epath[t, s] += backward[t, s]
            top = max(top, epath[t, s])
    if not np.isfinite(top):
        top = 0.0
    for s in range(S):
        column_sums[s] = 0.0
    for t in range(T):
        for s in range(S):
            exponent = epath[t, s] - top
            if exponent <= -EXP_CLAMP:
                epath[t, s] = EXP_AT_LOWER_CLAMP
            else:
                epath[t, s] = np.exp(min(exponent, EXP_CLAMP))
            column_sums[s] += epath[t, s]
    for s in range(S):
        # a reciprocal per column: one multiply per cell instead of a division
        column_sums[s] = 1.0 / (column_sums[s] if column_sums[s] != 0.0 else 1e-9)
    for t in range(T):
        for s in range(S):
            epath[t, s] *= column_sums[s]


@kernel
def states_to_classes(aligned, weights, state_class, class_sums):
    """``aligned[t, c] = sum of weights[t, s] over states s of class c``, each row divided by max(its sum, 1e-9).

    ``class_sums`` is a (C,) float64 work vector, so that the many blank states are summed in
    double precision; it is all zeros between rows."""
    T, C = aligned.shape
    S = state_class.shape[0]
    for c in range(C):
        class_sums[c] = 0.0
    for t in range(T):
        total = 0.0
        # the blank in a register: half the states add to it, and a chain of read-modify-writes
        # on one memory slot would serialize them
        blank = 0.0
        for s in range(S):
            weight = weights[t, s]
            total += weight
            if state_class[s] == 0:
                blank += weight
            else:
                class_sums[state_class[s]] += weight
        class_sums[0] = blank
        total = max(total, 1e-9)
        for c in range(C):
            aligned[t, c] = np.float32(class_sums[c] / total)
            class_sums[c] = 0.0


@kernel
def class_cross_entropy(aligned, log_out, classes):
    """``-sum(aligned[t, classes[j]] * log_out[t, j])`` in float64: the cross-entropy over the classes in use.

    Equal to ``-sum(aligned * log(max(outputs, floor)))`` when ``aligned`` is zero outside ``classes``
    (as ``states_to_classes`` leaves it) and ``log_out`` comes from ``log_class_outputs``."""
    T = aligned.shape[0]
    D = classes.shape[0]
    total = 0.0
    for t in range(T):
        for j in range(D):
            total -= np.float64(aligned[t, classes[j]]) * log_out[t, j]
    return total


# --- standard CTC (Graves et al. 2006) --------------------------------------------------------


@kernel
def ctc_forward(log_alpha, log_emit, state_class):
    """Fill the CTC forward table; return ``log p(labels)`` (-inf: the labels cannot be emitted in T steps).

    The states are a blank-interleaved transcript (``S = 2L+1``, even states blank). A path stays,
    advances by one, or skips the blank between two different labels. ``log_alpha[t, s]``
    includes the emission at step ``t`` (as in warp-ctc). Work goes by (label, blank) pairs: a
    blank state log-adds two terms, a label state two or three."""
    T, S = log_emit.shape
    L = (S - 1) // 2
    log_alpha[:, :] = NEG_INF
    if T == 0:
        return 0.0 if S == 1 else NEG_INF
    log_alpha[0, 0] = log_emit[0, 0]
    if S > 1:
        log_alpha[0, 1] = log_emit[0, 1]
    for t in range(1, T):
        previous = log_alpha[t - 1]
        log_alpha[t, 0] = previous[0] + log_emit[t, 0]
        for label in range(L):
            s = 2 * label + 1
            total = logaddexp(previous[s], previous[s - 1])
            if label > 0 and state_class[s] != state_class[s - 2]:
                total = logaddexp(total, previous[s - 2])
            log_alpha[t, s] = total + log_emit[t, s]
            log_alpha[t, s + 1] = logaddexp(previous[s + 1], previous[s]) + log_emit[t, s + 1]
    return log_alpha[T - 1, S - 1] if S == 1 else logaddexp(log_alpha[T - 1, S - 1], log_alpha[T - 1, S - 2])


@kernel
def ctc_backward(log_beta, log_emit, state_class):
    """Fill the CTC backward table (``ctc_forward`` run from the end); return ``log p(labels)`` again.

    ``log_beta[t, s]`` includes the emission at step ``t``, so the state posterior is
    ``alpha + beta - log_emit - log p``; the two likelihoods agree up to rounding."""
    T, S = log_emit.shape
    L = (S - 1) // 2
    log_beta[:, :] = NEG_INF
    if T == 0:
        return 0.0 if S == 1 else NEG_INF
    log_beta[T - 1, S - 1] = log_emit[T - 1, S - 1]
    if S > 1:
        log_beta[T - 1, S - 2] = log_emit[T - 1, S - 2]
    for t in range(T - 2, -1, -1):
        following = log_beta[t + 1]
        log_beta[t, S - 1] = following[S - 1] + log_emit[t, S - 1]
        for label in range(L - 1, -1, -1):
            s = 2 * label + 1
            total = logaddexp(following[s], following[s + 1])
            if label < L - 1 and state_class[s] != state_class[s + 2]:
                total = logaddexp(total, following[s + 2])
            log_beta[t, s] = total + log_emit[t, s]
            log_beta[t, s - 1] = logaddexp(following[s - 1], following[s]) + log_emit[t, s - 1]
    return log_beta[0, 0] if S == 1 else logaddexp(log_beta[0, 0], log_beta[0, 1])


@kernel
def ctc_state_posteriors(posteriors, log_alpha, log_beta, log_emit):
    """``posteriors[t, s] = p(path in state s at step t | labels)``, each row normalized to sum 1.

    Normalizing each row by its own total (rather than dividing by the global likelihood) keeps
    the rows exact probability vectors however much precision the long sums lost. ``posteriors``
    may be the same array as ``log_alpha``."""
    T, S = log_emit.shape
    for t in range(T):
        top = NEG_INF
        for s in range(S):
            value = log_alpha[t, s] + log_beta[t, s] - log_emit[t, s]
            posteriors[t, s] = value
            top = max(top, value)
        total = 0.0
        for s in range(S):
            gap = posteriors[t, s] - top
            posteriors[t, s] = np.exp(gap) if gap > POSTERIOR_CUTOFF else 0.0
            total += posteriors[t, s]
        for s in range(S):
            posteriors[t, s] /= total


# --- decoders ---------------------------------------------------------------------------------


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

    for t in range(T):
        for c in range(C):
            log_out[c] = np.log(max(np.float64(outputs[t, c]), floor))
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
