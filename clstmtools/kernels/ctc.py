"""CTC kernels: clstm's alignment and standard (Graves) CTC forward-backward, in float32 (decoders: ``decode.py``).

Conventions: ``outputs`` is a ``(T, C)`` float32 matrix of per-step class posteriors (rows are time
steps, class 0 is the blank); target *states* are the rows of a ``(S, C)`` target matrix, and
``state_class[s]`` is the class of state ``s`` when that matrix is one-hot (for a transcript of
``L`` labels, ``S = 2L+1`` and the states are blank, c_1, blank, ..., c_L, blank). Both
alignments work in float32, as clstm did, eight lanes to a vector, with each row of their
log-space tables stored relative to its largest value (the offsets in float64).
"""
import numpy as np

from .config import kernel
from .polyfit import FLOAT32_MAX, FLOAT32_TINY, LN2, atanh_ratio, monomial_fit

# --- float32 helpers for the alignments -------------------------------------------------------
# Every constant is a float32, so that no operation is promoted to double.

F32 = np.float32
#: ``exp(r)`` for ``|r| <= ln(2)/2`` to about 2e-9 relative (degree 6)
EXP32_COEFFICIENTS = tuple(F32(c) for c in monomial_fit(np.exp, 6, -LN2 / 2, LN2 / 2)[0])
#: ``atanh_ratio(z)`` for ``0 <= z <= 1/9`` to about 1e-9 relative (degree 4)
_ATANH32_FIT = monomial_fit(atanh_ratio, 4, 0.0, 1 / 9)
ATANH32_COEFFICIENTS, ATANH32_MIDDLE = tuple(F32(c) for c in _ATANH32_FIT[0]), F32(_ATANH32_FIT[1])
LN2_32, INV_LN2_32 = F32(LN2), F32(1 / LN2)
HALF_32, ONE_32, TWO_32, ZERO_32 = F32(0.5), F32(1.0), F32(2.0), F32(0.0)
#: for ``log_float32_32``: the bits of sqrt(1/2), and where a float32's exponent and mantissa sit
SQRT_HALF_BITS = np.int32(F32(np.sqrt(0.5)).view(np.int32))
EXPONENT_SHIFT, MANTISSA_BITS = np.int32(23), np.int32(0x7FFFFF)
#: clstm's log-add returns the larger term when the two are further apart than this
CLSTM_LOGADD_CUTOFF = F32(10.0)
#: float32 log-adds ignore a term this far below the other: log1p(exp(-17)) < 5e-8
LOGADD32_RANGE = F32(17.0)
#: state posteriors below exp(-69) ~ 1e-30 of their step's most probable state are dropped (to 0)
POSTERIOR_CUTOFF_32 = F32(-69.0)
#: clstm clamps path-weight exponents at +-30; the lower clamp and the weight it gives
EXP_CLAMP_32 = F32(-30.0)
EXP_AT_LOWER_CLAMP_32 = F32(np.exp(np.float32(-30.0)))
FLOAT32_TINY_32, FLOAT32_MAX_32 = F32(FLOAT32_TINY), F32(FLOAT32_MAX)
#: for ``ordered_key``: the int32 masks that make the keys, and -inf's key
SIGN_SHIFT, MAGNITUDE_BITS = np.int32(31), np.int32(0x7FFFFFFF)
NEG_INF_32 = F32(-np.inf)
ORDERED_NEG_INF = np.int32(np.int32(np.float32(-np.inf).view(np.int32)) ^ MAGNITUDE_BITS)
ONE_INT32 = np.int32(1)
#: path-weight column sums are taken in float32 over this many rows at a time, then in float64
COLUMN_SUM_BLOCK = 32
#: the tables' rows are padded so that every row loop runs a whole number of vectors of this many
#: floats: a scalar remainder of a few log-adds costs as much as several vectors
ROW_MULTIPLE = 8
#: padding columns hold this where -inf would do: sums and differences of it stay finite, so padding
#: never makes NaN, and a log-add with it returns the other term
PAD_32 = F32(-1e30)


@kernel
def exp_nonpositive32(x):
    """``exp(x)`` in float32 for ``-87 <= x <= 0`` (to about 2e-7 relative): ``2**n`` from exponent bits times a
    polynomial for ``exp(r)``, ``x = n ln2 + r``."""
    n = np.floor(x * INV_LN2_32 + HALF_32)
    r = x - n * LN2_32
    c = EXP32_COEFFICIENTS
    r2 = r * r
    low = (c[0] + c[1] * r) + r2 * (c[2] + c[3] * r)
    high = (c[4] + c[5] * r) + r2 * c[6]
    power = np.int32((np.int32(n) + 127) << 23).view(np.float32)
    return (low + (r2 * r2) * high) * power


@kernel
def log1p_moderate32(f):
    """``log(1 + f)`` in float32 for ``-1/2 <= f <= 1`` (to about 1e-7 absolute): ``2 atanh(s)``, ``s = f / (2 + f)``."""
    s = f / (TWO_32 + f)
    z = s * s - ATANH32_MIDDLE
    c = ATANH32_COEFFICIENTS
    z2 = z * z
    return s * ((c[0] + c[1] * z) + z2 * ((c[2] + c[3] * z) + z2 * c[4]))


@kernel
def logadd_within(x, y, cutoff):
    """``log(exp(x) + exp(y))`` in float32, taken as ``max(x, y)`` once the two are more than ``cutoff`` apart.

    Branch-free so that row updates vectorize; -inf-safe: one -inf gives the other value, two give
    -inf. The correction term is computed for every pair (a NaN or inf gap included) and then
    selected."""
    top = max(x, y)
    gap = abs(x - y)
    bonus = log1p_moderate32(exp_nonpositive32(-min(gap, cutoff)))
    return top + bonus if gap <= cutoff else top


@kernel
def clstm_logadd(x, y):
    """clstm's ``log(exp(x) + exp(y))``: ``max(x, y)`` once the two are more than 10 apart (clstm's own version
    gives NaN for two -infs, which only a target row of zeros can produce; this gives -inf)."""
    return logadd_within(x, y, CLSTM_LOGADD_CUTOFF)


@kernel
def logaddexp32(x, y):
    """``log(exp(x) + exp(y))`` in float32 (beyond a gap of 17 the smaller term adds under 5e-8)."""
    return logadd_within(x, y, LOGADD32_RANGE)


@kernel
def log_float32_32(x, floor, log_floor):
    """``log(max(x, floor))`` of a float32 ``x`` in float32 (to about 2e-7 relative), NaN and +inf kept.

    ``x = 2**k * m`` with ``m`` in [sqrt(1/2), sqrt(2)), both read from the bits in int32 arithmetic:
    subtracting the bits of sqrt(1/2) moves the exponent's boundary there."""
    # every integer step wrapped in int32: numba widens integer arithmetic to int64, and AVX2 has no
    # vector conversion from int64 to float
    shifted = np.int32(np.float32(x).view(np.int32) - SQRT_HALF_BITS)
    exponent = np.float32(np.int32(shifted >> EXPONENT_SHIFT))
    mantissa = np.int32(np.int32(shifted & MANTISSA_BITS) + SQRT_HALF_BITS).view(np.float32)
    value = exponent * LN2_32 + log1p_moderate32(mantissa - ONE_32)
    value = x if not x <= FLOAT32_MAX_32 else value
    return log_floor if x < floor else value


# --- clstm's alignment (reference.md section 4) -----------------------------------------------
# In float32, as clstm. Each forward (backward) row is stored relative to the previous row's
# maximum, with the running offsets in float64, so the values the recursion rounds stay small
# (within about 12 of 0 near the path) however long the line.


@kernel
def match_table(lmatch, class_logs, outputs, classes, state_slot, floor, log_floor):
    """The log-probability of each target state's class at each step, and the logs of the classes in use.

    ``class_logs[t, j] = log(max(outputs[t, classes[j]], log_floor))``; ``lmatch[t, s]`` is the log
    of state ``s``'s class output (``classes[state_slot[s]]``) floored at ``floor`` (>= ``log_floor``)
    and divided by the step's sum of floored outputs: clstm's ``lmatch`` for one-hot target states
    (floor 1e-5), in O(T*(C+S)) instead of the O(T*S*C) matrix product. ``lmatch`` may be wider than
    the ``S`` states: its padding columns get PAD_32. A ``log_floor`` below the smallest normal float32
    counts as that."""
    T, C = outputs.shape
    D = classes.shape[0]
    S = state_slot.shape[0]
    floor, log_floor = F32(floor), F32(max(log_floor, FLOAT32_TINY))
    log_of_floor, log_of_log_floor = F32(np.log(floor)), F32(np.log(log_floor))
    # gather, then take the logs in one pass over the whole table (vectorized; short rows would
    # leave a scalar remainder each)
    for t in range(T):
        for j in range(D):
            class_logs[t, j] = outputs[t, classes[j]]
    flat_logs = class_logs.ravel()
    for i in range(flat_logs.shape[0]):
        flat_logs[i] = log_float32_32(flat_logs[i], log_floor, log_of_log_floor)
    for t in range(T):
        total = ZERO_32
        for c in range(C):
            total += max(outputs[t, c], floor)
        log_total = F32(np.log(total))
        logs = class_logs[t]
        for s in range(S):
            lmatch[t, s] = max(logs[state_slot[s]], log_of_floor) - log_total
    fill_padding(lmatch, S)


@kernel
def ordered_key(value):
    """An int32 that orders as the float32 ``value`` does: its bits, with the magnitude bits flipped when negative.

    Integer maxima vectorize where float ones (with their NaN rules) do not; NaN sorts above +inf."""
    bits = np.float32(value).view(np.int32)
    return np.int32(bits ^ np.int32(np.int32(bits >> SIGN_SHIFT) & MAGNITUDE_BITS))


@kernel
def key_value(key):
    """The float32 whose ``ordered_key`` is ``key``."""
    return np.int32(key ^ np.int32(np.int32(key >> SIGN_SHIFT) & MAGNITUDE_BITS)).view(np.float32)


@kernel
def vector_length(n):
    """``n`` rounded up to a whole number of vectors (a multiple of ROW_MULTIPLE)."""
    return (n + ROW_MULTIPLE - 1) // ROW_MULTIPLE * ROW_MULTIPLE


@kernel
def padded_width(nstates):
    """The row length of the alignment tables for ``nstates`` states: whole vectors, and a vector more for
    the row loops that read past the last state."""
    return vector_length(nstates) + ROW_MULTIPLE


@kernel
def fill_padding(table, nstates):
    """Write PAD_32 into the columns of ``table`` from ``nstates`` on."""
    for t in range(table.shape[0]):
        for s in range(nstates, table.shape[1]):
            table[t, s] = PAD_32


@kernel
def clstm_forward_row(row, previous, match, enter, shift):
    """One step of clstm's forward algorithm: ``row[s] = logadd(previous[s], previous[s-1]) + match[s] - shift``.

    ``enter`` stands for ``previous[-1]``. Returns the row's maximum."""
    first = clstm_logadd(previous[0], enter) + (match[0] - shift)
    row[0] = first
    key = ordered_key(first)
    for s in range(1, row.shape[0]):
        value = clstm_logadd(previous[s], previous[s - 1]) + (match[s] - shift)
        row[s] = value
        key = max(key, ordered_key(value))
    return key_value(key)


@kernel
def clstm_backward_row(row, following, match, shift):
    """One step of clstm's backward pass: ``row[s] = logadd(following[s], following[s+1]) + match[s] - shift``
    for every state of ``row``; ``following`` is longer by one, its last value standing in for the
    step entering the last state. Returns the row's maximum."""
    key = ORDERED_NEG_INF
    for s in range(row.shape[0]):
        value = clstm_logadd(following[s], following[s + 1]) + (match[s] - shift)
        row[s] = value
        key = max(key, ordered_key(value))
    return key_value(key)


@kernel
def clstm_forward_algorithm(forward, offsets, lmatch, nstates, skip, initial):
    """clstm's ``forward_algorithm``: row ``t`` of its log scores over states is ``forward[t] + offsets[t]``.

    Before step 0 the row is ``skip*s``; at step ``t`` each state log-adds staying (its own score)
    and advancing (the previous state's score; ``skip*t`` for state 0), plus ``lmatch[t, s]``. Only
    "stay" and "advance by one" transitions: no skip over blanks. Each stored row is shifted by
    the previous one's maximum (``offsets`` is float64). The tables are padded beyond the
    ``nstates`` states (see ``padded_width``); ``initial`` is a work row as wide."""
    T = lmatch.shape[0]
    S = nstates
    fill_padding(forward, S)
    for s in range(initial.shape[0]):
        initial[s] = F32(skip * s) if s < S else PAD_32
    # a whole number of vectors after the first state (the padding's lmatch is PAD_32)
    n = 1 + vector_length(S - 1)
    offset, shift = 0.0, ZERO_32
    previous = initial
    for t in range(T):
        top = clstm_forward_row(forward[t, :n], previous[:n], lmatch[t, :n], F32(skip * t - offset), shift)
        offset += shift
        offsets[t] = offset
        shift = top if np.isfinite(top) else ZERO_32
        previous = forward[t]


@kernel
def add_into(total, row):
    """``total += row`` over two float32 rows; returns the largest value of the new ``total`` (as ``sum_max``)."""
    key = ORDERED_NEG_INF
    for s in range(total.shape[0]):
        value = total[s] + row[s]
        total[s] = value
        key = max(key, ordered_key(value))
    return key_value(key)


@kernel
def clstm_backward_algorithm(lmatch, nstates, skip, rows, both, both_offsets, both_tops):
    """clstm's backward pass, added into the forward pass's table row by row: returns clstm's ``max(both)``.

    The backward pass is clstm's forward algorithm on ``lmatch`` reversed in both axes, reversed
    back. Run here from the last step down in the original orientation: state ``s`` log-adds itself
    and state ``s + 1``, ``skip*(T-1-t)`` enters the last state (through the padding column just
    after it), and the row before the last step is ``skip*(S-1-s)``; rows are shifted as in
    ``clstm_forward_algorithm``. Only two rows are kept (``rows``, two padded rows): each is added
    to its step's forward row at once. On entry ``both[t] + both_offsets[t]`` is the forward
    algorithm's row t; on return it is row t of clstm's ``both = forward + backward``,
    ``both_tops[t]`` (float32) is the largest value of ``both[t]``, and the result is the largest
    value of ``both`` (-inf for an empty table)."""
    T = lmatch.shape[0]
    S = nstates
    n = vector_length(S)
    rows[:, :] = PAD_32
    following = rows[0]
    for s in range(S):
        following[s] = F32(skip * (S - 1 - s))
    offset, shift = 0.0, ZERO_32
    top = -np.inf
    for t in range(T - 1, -1, -1):
        row = rows[(T - t) % 2]
        following[S] = F32(skip * (T - 1 - t) - offset)
        row_top = clstm_backward_row(row[:n], following, lmatch[t, :n], shift)
        offset += shift
        shift = row_top if np.isfinite(row_top) else ZERO_32
        both_tops[t] = add_into(both[t, :n], row[:n])
        both_offsets[t] += offset
        top = max(top, np.float64(both_tops[t]) + both_offsets[t])
        following = row
    return top


@kernel
def band_above(values, threshold):
    """``(lo, hi)``: the smallest range of indices holding every value above ``threshold`` (``lo == hi`` when
    none is), by vectorized int32 minimum and maximum reductions."""
    S = values.shape[0]
    lo, hi = np.int32(S), np.int32(0)
    for s in range(S):
        index = np.int32(s)
        above = values[s] > threshold
        lo = min(lo, index if above else np.int32(S))
        hi = max(hi, np.int32(index + ONE_INT32) if above else np.int32(0))
    return (lo, hi) if lo < hi else (np.int32(0), np.int32(0))


@kernel
def clstm_path_weights(epath, nstates, both_offsets, both_tops, top, band, column_scale, exponents, block_sums,
                       band_edges):
    """The end of clstm's forward-backward: ``epath`` (clstm's ``both``, as ``clstm_backward_algorithm`` leaves
    it) becomes the path weights.

    ``epath = exp(both - top)`` with the exponent clamped to [-30, 30], where ``top`` is
    ``max(both)``. Every cell whose exponent is at the lower clamp weighs exactly exp(-30), so only
    the states ``band[t, 0] <= s < band[t, 1]`` of row t (the smallest range holding the others)
    are computed and written, and a row whose largest value is at the clamp is skipped; the rest of
    the row weighs exp(-30). Each column is to be divided by its sum (1e-9 for a zero column):
    ``column_scale`` (float64) gets those reciprocals, and ``states_to_classes`` applies them.
    ``epath`` is padded beyond the ``nstates`` states; ``column_scale`` and the work arrays
    ``exponents``, ``block_sums`` (float32) and ``band_edges`` (int64, one more) are as wide."""
    T = epath.shape[0]
    S = vector_length(nstates)
    if not np.isfinite(top):
        top = 0.0
    for s in range(S):
        column_scale[s] = 0.0
    for s in range(S + 1):
        band_edges[s] = 0
    # column sums in float32 over blocks of rows, added up in float64
    for start in range(0, T, COLUMN_SUM_BLOCK):
        for s in range(S):
            block_sums[s] = ZERO_32
        for t in range(start, min(start + COLUMN_SUM_BLOCK, T)):
            # top is the maximum, so the upper clamp (30) never applies
            base = F32(both_offsets[t] - top)
            if both_tops[t] + base <= EXP_CLAMP_32:
                band[t, 0], band[t, 1] = 0, 0
                continue
            row, row_exponents = epath[t, :S], exponents[:S]
            for s in range(S):
                row_exponents[s] = row[s] + base
            lo, hi = band_above(row_exponents, EXP_CLAMP_32)
            band[t, 0], band[t, 1] = lo, hi
            band_edges[lo] += 1
            band_edges[hi] -= 1
            # slices, so that the loop index starts at 0: numba checks an index that might be negative
            # for wraparound, and that keeps a loop from vectorizing
            band_exponents, band_weights, band_sums = exponents[lo:hi], epath[t, lo:hi], block_sums[lo:hi]
            for i in range(band_exponents.shape[0]):
                exponent = band_exponents[i]
                weight = exp_nonpositive32(max(exponent, EXP_CLAMP_32))
                weight = EXP_AT_LOWER_CLAMP_32 if exponent <= EXP_CLAMP_32 else weight
                band_weights[i] = weight
                band_sums[i] += weight
        for s in range(S):
            column_scale[s] += np.float64(block_sums[s])
    inside = 0
    for s in range(S):
        # the rows whose band leaves column s out add exp(-30) each
        inside += band_edges[s]
        column_scale[s] += np.float64(EXP_AT_LOWER_CLAMP_32) * (T - inside)
        column_scale[s] = 1.0 / (column_scale[s] if column_scale[s] != 0.0 else 1e-9)


@kernel
def clstm_epath(lmatch, nstates, skip, epath, offsets, tops, rows, band, column_scale, band_edges):
    """clstm's forward-backward from ``lmatch`` to the path weights: ``epath``, ``band`` and ``column_scale``
    as ``clstm_path_weights`` leaves them. All tables are padded (``padded_width(nstates)`` wide);
    ``offsets`` (T,) float64, ``tops`` (T,) float32, ``rows`` two padded rows and ``band_edges`` are
    work arrays."""
    clstm_forward_algorithm(epath, offsets, lmatch, nstates, skip, rows[0])
    top = clstm_backward_algorithm(lmatch, nstates, skip, rows, epath, offsets, tops)
    clstm_path_weights(epath, nstates, offsets, tops, top, band, column_scale, rows[0], rows[1], band_edges)


@kernel
def fill_outside_bands(epath, band, outside_weight):
    """Write ``outside_weight`` into every cell of ``epath`` outside its row's band (for whole-table use)."""
    T, S = epath.shape
    for t in range(T):
        for s in range(band[t, 0]):
            epath[t, s] = outside_weight
        for s in range(band[t, 1], S):
            epath[t, s] = outside_weight


@kernel
def states_to_classes(aligned, weights, band, outside_weight, column_scale, state_class, baseline, classes,
                      class_logs):
    """``aligned[t, c] = sum of weights[t, s] * column_scale[s] over states s of class c``, rows summing to 1;
    returns the cross-entropy ``-sum(aligned[t, classes[j]] * class_logs[t, j])`` in float64.

    Row t's weights are ``weights[t, s]`` inside its band ``band[t, 0] <= s < band[t, 1]`` and
    ``outside_weight`` elsewhere. Every state is counted at ``outside_weight`` first (the same
    ``baseline`` (C,) float64 work vector for every row), and the band adds its cells' excess over
    that: a row costs its band and one pass over C, not all S states. Each row is divided by
    max(its sum, 1e-9); the blank's sum is kept in double precision, the other classes get their
    few states added in float32. ``classes`` must hold every class of ``state_class`` (the others
    get 0, and add nothing to the cross-entropy). ``weights`` may be padded beyond the states."""
    T, C = aligned.shape
    S = state_class.shape[0]
    D = classes.shape[0]
    for c in range(C):
        baseline[c] = 0.0
    for s in range(S):
        baseline[state_class[s]] += outside_weight * column_scale[s]
    baseline_total = 0.0
    for c in range(C):
        baseline_total += baseline[c]
    cross_entropy = 0.0
    for t in range(T):
        lo, hi = band[t, 0], band[t, 1]
        # slices, so that loop indices start at 0 and the loops vectorize (see clstm_path_weights)
        band_weights, band_scale, band_class = weights[t, lo:hi], column_scale[lo:hi], state_class[lo:hi]
        total, blank = baseline_total, baseline[0]
        for i in range(band_weights.shape[0]):
            excess = (np.float64(band_weights[i]) - outside_weight) * band_scale[i]
            total += excess
            blank += excess if band_class[i] == 0 else 0.0
        inverse = 1.0 / max(total, 1e-9)
        row = aligned[t]
        for c in range(C):
            row[c] = np.float32(baseline[c] * inverse)
        row[0] = np.float32(blank * inverse)
        for i in range(band_weights.shape[0]):
            c = band_class[i]
            if c != 0:
                row[c] += np.float32((np.float64(band_weights[i]) - outside_weight) * band_scale[i] * inverse)
        logs = class_logs[t]
        for j in range(D):
            cross_entropy -= np.float64(row[classes[j]]) * np.float64(logs[j])
    return cross_entropy


# --- standard CTC (Graves et al. 2006) --------------------------------------------------------
# In float32 with shifted rows, as clstm's alignment above. The states are a blank-interleaved
# transcript; a path stays, advances by one, or skips the blank between two different labels.
# ``skip_mask[s]`` is 0 where a skip may enter state s (a label other than the one two states
# back) and -inf elsewhere, so that every state log-adds three terms and the loops stay branch-free.


@kernel
def ctc_forward_row(row, previous, emit, skip_mask, shift):
    """One step of the CTC forward pass: ``row[s] = logadd(previous[s], previous[s-1], previous[s-2] +
    skip_mask[s]) + emit[s] - shift`` (the terms that exist); returns the row's maximum."""
    S = row.shape[0]
    row[0] = previous[0] + (emit[0] - shift)
    key = ordered_key(row[0])
    if S > 1:
        row[1] = logaddexp32(previous[1], previous[0]) + (emit[1] - shift)
        key = max(key, ordered_key(row[1]))
    # indexed from the skipped state, so that no index is a difference (numba checks those for
    # wraparound, which keeps the loop scalar)
    for s in range(S - 2):
        skipped = previous[s] + skip_mask[s + 2]
        value = logaddexp32(logaddexp32(previous[s + 2], previous[s + 1]), skipped) + (emit[s + 2] - shift)
        row[s + 2] = value
        key = max(key, ordered_key(value))
    return key_value(key)


@kernel
def ctc_backward_row(row, following, emit, skip_mask, shift):
    """One step of the CTC backward pass, ``ctc_forward_row`` with the states in reverse order, for every
    state of ``row``: ``following`` and ``skip_mask`` are longer by two, with -inf or PAD_32 after
    the last state. Returns the row's maximum."""
    key = ORDERED_NEG_INF
    for s in range(row.shape[0]):
        skipped = following[s + 2] + skip_mask[s + 2]
        value = logaddexp32(logaddexp32(following[s], following[s + 1]), skipped) + (emit[s] - shift)
        row[s] = value
        key = max(key, ordered_key(value))
    return key_value(key)


@kernel
def ctc_forward_algorithm(alpha, offsets, emit, nstates, skip_mask):
    """Fill the CTC forward table; return ``log p(labels)`` in float64 (-inf: the labels cannot be emitted).

    Row t of the log forward scores, emission at step t included (as in warp-ctc), is
    ``alpha[t] + offsets[t]``: each row is stored shifted by the previous one's maximum. The tables
    are padded beyond the ``nstates`` states (see ``padded_width``; ``emit``'s padding is PAD_32,
    ``skip_mask``'s -inf)."""
    T = emit.shape[0]
    S = nstates
    if T == 0:
        return 0.0 if S == 1 else -np.inf
    fill_padding(alpha, S)
    first = alpha[0]
    for s in range(S):
        first[s] = NEG_INF_32
    first[0] = emit[0, 0]
    if S > 1:
        first[1] = emit[0, 1]
    # a whole number of vectors after the first two states
    n = 2 + vector_length(S - 2) if S > 2 else S
    offsets[0] = 0.0
    offset, shift = 0.0, first[0] if S == 1 else max(first[0], first[1])
    for t in range(1, T):
        top = ctc_forward_row(alpha[t, :n], alpha[t - 1, :n], emit[t, :n], skip_mask[:n], shift)
        offset += shift
        offsets[t] = offset
        shift = top if np.isfinite(top) else ZERO_32
    last = alpha[T - 1]
    return np.float64(last[S - 1] if S == 1 else logaddexp32(last[S - 1], last[S - 2])) + offsets[T - 1]


@kernel
def posterior_row(alpha_row, beta_row, emit):
    """``alpha_row`` becomes the step's state posteriors ``exp(alpha + beta - emit)``, normalized to sum 1;
    returns ``(lo, hi)``, the range of states outside which they are 0.

    Normalizing each row by its own total (rather than by the likelihood) keeps the rows exact
    probability vectors however much precision the long sums lost; posteriors below exp(-69) of
    the row's largest are dropped (to 0), and the exponentials are taken only between the first
    and the last state above that."""
    S = alpha_row.shape[0]
    key = ORDERED_NEG_INF
    for s in range(S):
        value = (alpha_row[s] + beta_row[s]) - emit[s]
        alpha_row[s] = value
        key = max(key, ordered_key(value))
    top = key_value(key)
    top = top if np.isfinite(top) else ZERO_32
    lo, hi = band_above(alpha_row, top + POSTERIOR_CUTOFF_32)
    # a slice, so that the loop index starts at 0 (see clstm_path_weights)
    band = alpha_row[lo:hi]
    total = ZERO_32
    for i in range(band.shape[0]):
        gap = band[i] - top
        weight = exp_nonpositive32(max(gap, POSTERIOR_CUTOFF_32))
        weight = weight if gap > POSTERIOR_CUTOFF_32 else ZERO_32
        band[i] = weight
        total += weight
    inverse = ONE_32 / max(total, FLOAT32_TINY_32)
    for i in range(band.shape[0]):
        band[i] *= inverse
    alpha_row[:lo] = ZERO_32
    alpha_row[hi:] = ZERO_32
    return lo, hi


@kernel
def ctc_backward_posteriors(emit, nstates, skip_mask, rows, alpha, band):
    """The CTC backward pass, turning ``alpha`` (``ctc_forward_algorithm``'s table) into the state posteriors
    row by row; returns ``log p(labels)`` again, from the backward pass (float64).

    Only two backward rows are kept (``rows``, two padded rows), shifted as the forward rows are;
    each step's posteriors replace its forward row as soon as its backward row is known (the
    shifts cancel in the per-row normalization; the padding gets posterior 0), and ``band[t]``
    gets the range of states outside which row t's posteriors are 0."""
    T = emit.shape[0]
    S = nstates
    if T == 0:
        return 0.0 if S == 1 else -np.inf
    n = vector_length(S)
    rows[:, :] = PAD_32
    following = rows[1]
    for s in range(S):
        following[s] = NEG_INF_32
    following[S - 1] = emit[T - 1, S - 1]
    if S > 1:
        following[S - 2] = emit[T - 1, S - 2]
    band[T - 1, 0], band[T - 1, 1] = posterior_row(alpha[T - 1, :n], following[:n], emit[T - 1, :n])
    offset, shift = 0.0, following[S - 1] if S == 1 else max(following[S - 1], following[S - 2])
    for t in range(T - 2, -1, -1):
        row = rows[(T - t) % 2]
        top = ctc_backward_row(row[:n], following, emit[t, :n], skip_mask, shift)
        band[t, 0], band[t, 1] = posterior_row(alpha[t, :n], row[:n], emit[t, :n])
        offset += shift
        shift = top if np.isfinite(top) else ZERO_32
        following = row
    return np.float64(following[0] if S == 1 else logaddexp32(following[0], following[1])) + offset


# --- whole alignments in one call -------------------------------------------------------------
# The steps above, chained inside one kernel over named work buffers, so that a line costs one call
# from Python: the NumPy calls that would glue the steps together cost a quarter of the work in a
# training loop, where their memory is never in cache. Every buffer is flat, owned by the caller and
# at least as long as ``work_lengths`` says; the kernels view its start with the shape they need.
#
#   match         float32 (T, W)   clstm's lmatch, or standard CTC's emission logs
#   paths         float32 (T, W)   clstm's forward+backward then path weights, or CTC's alpha then posteriors
#   class_logs    float32 (T, D)   logs of the D <= min(C, S) classes in use
#   rows          float32 (2, W)   two rows of the backward pass
#   row_tops      float32 (T,)     the largest value of each row of clstm's forward+backward
#   skip_mask     float32 (W,)     0 where standard CTC may skip into a state, -inf elsewhere
#   offsets       float64 (T,)     the rows' shifts
#   column_scale  float64 (W,)     each state's weight in the class sums
#   baseline      float64 (C,)     per-class sums of the weights outside the band
#   classes       uint64  (C,)     the classes in use, ascending
#   state_slot    uint64  (S,)     each state's index among them
#   slot_of_class uint64  (C,)     work vector for ``class_slots``
#   band_edges    int64   (W + 1,) where the bands of the rows start and end
#   band          int32   (T, 2)   each row's band of states that matter
#
# with W = padded_width(S).


@kernel
def work_lengths(T, C, S):
    """The length of each named work buffer for a (T, C) line with S states, in the order of the table above."""
    W = padded_width(S)
    return (T * W, T * W, T * min(C, S), 2 * W, T, W, T, W, C, C, S, C, W + 1, 2 * T)


@kernel
def class_slots(state_class, slot_of_class, classes, state_slot):
    """The distinct classes of the states, ascending, into ``classes`` (returns how many, D) and each state's
    index among them into ``state_slot``; ``slot_of_class`` is a (C,) work vector."""
    C = slot_of_class.shape[0]
    for c in range(C):
        slot_of_class[c] = 0
    for s in range(state_class.shape[0]):
        slot_of_class[state_class[s]] = 1
    D = 0
    for c in range(C):
        if slot_of_class[c] != 0:
            classes[D] = c
            slot_of_class[c] = D
            D += 1
    for s in range(state_class.shape[0]):
        state_slot[s] = slot_of_class[state_class[s]]
    return D


@kernel
def state_tables(outputs, state_class, match, paths, class_logs, rows, classes, state_slot, slot_of_class, band):
    """The named buffers both alignments use, viewed with their shapes, and the classes in use: ``(classes,
    state_slot, match, paths, class_logs, rows, band)``."""
    T, C = outputs.shape
    S = state_class.shape[0]
    W = padded_width(S)
    D = class_slots(state_class, slot_of_class[:C], classes[:C], state_slot[:S])
    return (classes[:D], state_slot[:S], match[:T * W].reshape((T, W)), paths[:T * W].reshape((T, W)),
            class_logs[:T * D].reshape((T, D)), rows[:2 * W].reshape((2, W)), band[:2 * T].reshape((T, 2)))


@kernel
def clstm_align(aligned, outputs, state_class, floor, log_floor, skip, match, paths, class_logs, rows, row_tops,
                skip_mask, offsets, column_scale, baseline, classes, state_slot, slot_of_class, band_edges, band):
    """clstm's alignment of ``outputs`` (T, C) to one-hot target states (``state_class``, uint64), start to end:
    fills ``aligned`` (T, C) and returns the cross-entropy ``-sum(aligned * log(max(outputs, log_floor)))``.

    ``floor`` and ``skip`` are clstm's 1e-5 and -5; the work buffers are the named ones above
    (``skip_mask`` unused)."""
    T, C = outputs.shape
    S = state_class.shape[0]
    W = padded_width(S)
    classes, state_slot, lmatch, epath, class_logs, rows, band = state_tables(
        outputs, state_class, match, paths, class_logs, rows, classes, state_slot, slot_of_class, band)
    match_table(lmatch, class_logs, outputs, classes, state_slot, floor, log_floor)
    column_scale = column_scale[:W]
    clstm_epath(lmatch, S, skip, epath, offsets[:T], row_tops[:T], rows, band, column_scale, band_edges[:W + 1])
    return states_to_classes(aligned, epath, band, EXP_AT_LOWER_CLAMP_32, column_scale, state_class, baseline[:C],
                             classes, class_logs)


@kernel
def log_emission_table(emit, class_logs, log_outputs, classes, state_slot):
    """Standard CTC's emission table from log-probabilities: ``class_logs[t, j] = log_outputs[t, classes[j]]``
    and ``emit[t, s] = class_logs[t, state_slot[s]]``; ``emit``'s padding columns get PAD_32."""
    T = log_outputs.shape[0]
    D = classes.shape[0]
    S = state_slot.shape[0]
    for t in range(T):
        for j in range(D):
            class_logs[t, j] = log_outputs[t, classes[j]]
        logs = class_logs[t]
        for s in range(S):
            emit[t, s] = logs[state_slot[s]]
    fill_padding(emit, S)


@kernel
def ctc_state_posteriors(log_outputs, state_class, match, paths, class_logs, rows, row_tops, skip_mask, offsets,
                         column_scale, baseline, classes, state_slot, slot_of_class, band_edges, band):
    """Standard CTC's forward-backward for ``log_outputs`` (T, C, the per-step log-probabilities, finite) and a
    blank-interleaved transcript's states (``state_class``, uint64): ``(log p(labels), posteriors, class_logs,
    classes, band)``.

    ``posteriors`` is a (T, padded_width(S)) view of ``paths``, 0 outside ``band[t]`` in row t;
    ``classes`` are the D classes in use, and ``class_logs`` (T, D) their logs. The work buffers are
    the named ones above (``row_tops``, ``column_scale``, ``baseline`` and ``band_edges`` unused)."""
    T = log_outputs.shape[0]
    S = state_class.shape[0]
    W = padded_width(S)
    classes, state_slot, emit, alpha, class_logs, rows, band = state_tables(
        log_outputs, state_class, match, paths, class_logs, rows, classes, state_slot, slot_of_class, band)
    skip_mask = skip_mask[:W]
    for s in range(W):
        skip_mask[s] = NEG_INF_32
    for s in range(2, S):
        if state_class[s] != 0 and state_class[s] != state_class[s - 2]:
            skip_mask[s] = ZERO_32
    log_emission_table(emit, class_logs, log_outputs, classes, state_slot)
    log_likelihood = ctc_forward_algorithm(alpha, offsets[:T], emit, S, skip_mask)
    ctc_backward_posteriors(emit, S, skip_mask, rows, alpha, band)
    return log_likelihood, alpha, class_logs, classes, band


@kernel
def ctc_align(aligned, log_outputs, state_class, match, paths, class_logs, rows, row_tops, skip_mask, offsets,
              column_scale, baseline, classes, state_slot, slot_of_class, band_edges, band):
    """Standard CTC for ``log_outputs`` (T, C, finite per-step log-probabilities) and a blank-interleaved
    transcript's states (``state_class``, uint64): fills ``aligned`` (T, C) with the class posteriors and
    returns ``log p(labels)``. The work buffers are the named ones above."""
    C = log_outputs.shape[1]
    S = state_class.shape[0]
    log_likelihood, posteriors, class_logs, classes, band = ctc_state_posteriors(
        log_outputs, state_class, match, paths, class_logs, rows, row_tops, skip_mask, offsets, column_scale,
        baseline, classes, state_slot, slot_of_class, band_edges, band)
    ones = column_scale[:S]
    for s in range(S):
        ones[s] = 1.0
    states_to_classes(aligned, posteriors, band, 0.0, ones, state_class, baseline[:C], classes, class_logs)
    return log_likelihood
