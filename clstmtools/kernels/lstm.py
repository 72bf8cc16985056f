"""LSTM recurrence kernels: the step-by-step part of clstm's LSTM forward and backward passes.

Layout (time-major, batch inside): ``S`` is the source matrix ``(T, B, nf)`` with rows
``[1, x_t, y_prev]`` and ``nf = 1 + ni + no``; ``W`` is ``(4 no, nf)`` and the gate blocks of it
and of every ``(T, B, 4 no)`` array are stacked as ``[GI, GF, GO, CI]``; ``P`` is ``(3, no)``
holding the peepholes ``[WIP, WFP, WOP]``. The input part of every gate
(``S[:, :, :1+ni] @ W[:, :1+ni].T``) is one matrix product done by the caller before the
recurrence; these kernels add the recurrent part step by step: a BLAS product (``np.dot``, which
Numba hands to SciPy's BLAS) of the active columns' previous outputs with a contiguous copy of
``W[:, 1+ni:]``, or, where BLAS does worse (one column backwards, large products), dot products
over a zero-padded copy that streams through the cache once per step.

The hidden units can be cut into parts (``units``, their boundaries): a call runs every part one
after the other at each step, or one part while calls on other threads run the others at the
same time, each step waiting for all parts' previous step (:mod:`.sync`). A part computes the
same either way, so results do not depend on how many threads there are.

Column ``b`` of a batch holds ``lengths[b]`` real steps; the rest is padding, which these kernels
neither read nor write (the layer zeroes it). With ``reverse`` each column is processed from its
last real step back to its first (the ``Reversed`` network without copying): "previous" then
means the step after in time.

Nonlinearity codes: 0 = tanh, 1 = relu, 2 = identity (the gates always use the sigmoid). For
float32 the tanh and sigmoid are a branch-free rational approximation that vectorizes (libm's
``tanhf`` costs ~13 ns a call, which would dominate the recurrence); other dtypes use the exact
functions, so float64 gradient checks stay exact.
"""
import numpy as np
from numba import types
from numba.extending import overload

from . import sync
from .config import kernel

TANH, RELU, IDENTITY = 0, 1, 2

#: a step's recurrent product (rows x inner x columns) up to this size is one BLAS call, which
#: OpenBLAS then does on its small-matrix path; a larger one is split by gate (forward) or left to
#: the dot-product kernels (backward), because BLAS's packed path copies the whole weight block
#: at every call (measured: nhidden 200, minibatch 8: 0.5x as one call, 1.5x by gate)
SMALL_PRODUCT = 700_000

#: Eigen's ``generic_fast_tanh_float``: a 13/6 rational minimax fit of tanh on [-c, c], clamped at
#: ``c`` (where it reaches 1 to float32 precision); max abs error ~3e-7 against the exact tanh.
TANH_CLAMP = 7.90531110763549805
TANH_NUMERATOR = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
                  -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
TANH_DENOMINATOR = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
A1, A3, A5, A7, A9, A11, A13 = (np.float32(a) for a in TANH_NUMERATOR)
B0, B2, B4, B6 = (np.float32(b) for b in TANH_DENOMINATOR)


@kernel
def rational_tanh(x):
    """float32 tanh without branches or libm calls (min/max clamp, one division)."""
    x = min(max(x, np.float32(-TANH_CLAMP)), np.float32(TANH_CLAMP))
    x2 = x * x
    p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x
    q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0
    return p / q


def fast_tanh(x):
    """tanh: the rational approximation for float32, the exact function otherwise."""
    return np.tanh(x)


def fast_sigmoid(x):
    """clstm's sigmoid ``1 / (1 + exp(-x))`` (exponent clamped to ±30); for float32 computed as
    ``0.5 + 0.5 tanh(x / 2)`` with the rational tanh."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))


@overload(fast_tanh)
def _fast_tanh_for_type(x):
    if x == types.float32:
        return lambda x: rational_tanh(x)
    return lambda x: np.tanh(x)


@overload(fast_sigmoid)
def _fast_sigmoid_for_type(x):
    if x == types.float32:
        return lambda x: np.float32(0.5) + np.float32(0.5) * rational_tanh(np.float32(0.5) * x)

    def exact(x):
        return 1.0 / (1.0 + np.exp(-min(max(x, -30.0), 30.0)))
    return exact


@kernel
def activate(x, kind):
    """tanh, relu or identity by ``kind``, written with selects so that a loop over it vectorizes."""
    t = fast_tanh(x)
    r = max(x, np.float32(0.0))
    return t if kind == TANH else (r if kind == RELU else x)


@kernel
def activate_deriv(y, kind):
    """Derivative of the nonlinearity ``kind`` written in terms of its output ``y = f(x)``."""
    one = np.float32(1.0)
    tanh_deriv = one - y * y
    relu_deriv = one if y > 0 else np.float32(0.0)
    return tanh_deriv if kind == TANH else (relu_deriv if kind == RELU else one)


@kernel
def active_columns(act_b, act_t, act_p, lengths, s, reverse):
    """Fill the columns still running at processing step ``s``, their time index and the time
    index of their previous step (-1 at the first step); returns how many there are."""
    n = 0
    for b in range(lengths.size):
        L = lengths[b]
        if s < L:
            act_b[n] = b
            if reverse:
                act_t[n] = L - 1 - s
                act_p[n] = L - s if s > 0 else -1
            else:
                act_t[n] = s
                act_p[n] = s - 1
            n += 1
    return n


@kernel
def continuing_first(act_b, act_t, act_p, lengths, s, n):
    """Reorder the ``n`` active columns so that those that also ran at processing step ``s + 1``
    come first (backwards, they get a recurrent delta); returns how many there are."""
    m = 0
    for j in range(n):
        if s + 1 < lengths[act_b[j]]:
            act_b[m], act_b[j] = act_b[j], act_b[m]
            act_t[m], act_t[j] = act_t[j], act_t[m]
            act_p[m], act_p[j] = act_p[j], act_p[m]
            m += 1
    return m


@kernel
def padded(n, multiple):
    """``n`` rounded up to a multiple of ``multiple``."""
    return (n + multiple - 1) // multiple * multiple


@kernel
def row_products(out, A, Wt, n, backwards):
    """``out[j, r] = A[j] . Wt[r]`` for the rows ``j < n`` of ``A``: the recurrent matrix-vector
    products of all running columns of one step.

    ``Wt`` has a multiple of 4 rows and its row length is a multiple of 8 (zero padded), so the
    inner loops have no scalar remainder. Blocks of 4 rows of ``Wt`` times 2 rows of ``A`` keep 8
    accumulators in registers, and each block of ``Wt`` serves every column while it is in L1: the
    weights stream from L2 once per step, which bounds the batch-1 recurrence. (The odd column is
    a separate pass: sharing one loop nest with the pairs made LLVM's code for it 2x slower.)

    The caller alternates ``backwards`` from step to step: the rows used last are then used first
    and are still in cache when ``Wt`` is larger than L2 (nhidden 200: 10% faster). Every row's sum
    is the same either way."""
    if n >= 2:
        row_products_pairs(out, A, Wt, n, backwards)
    if n % 2 == 1:
        row_products_one(out, A, Wt, n - 1, backwards)


@kernel
def row_products_pairs(out, A, Wt, n, backwards):
    R, K = Wt.shape
    for ii in range(0, R, 4):
        i = R - 4 - ii if backwards else ii
        for j in range(0, n - 1, 2):
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            b0 = np.float32(0.0)
            b1 = np.float32(0.0)
            b2 = np.float32(0.0)
            b3 = np.float32(0.0)
            for k in range(K):
                u = A[j, k]
                v = A[j + 1, k]
                w0 = Wt[i, k]
                w1 = Wt[i + 1, k]
                w2 = Wt[i + 2, k]
                w3 = Wt[i + 3, k]
                a0 += w0 * u
                a1 += w1 * u
                a2 += w2 * u
                a3 += w3 * u
                b0 += w0 * v
                b1 += w1 * v
                b2 += w2 * v
                b3 += w3 * v
            out[j, i] = a0
            out[j, i + 1] = a1
            out[j, i + 2] = a2
            out[j, i + 3] = a3
            out[j + 1, i] = b0
            out[j + 1, i + 1] = b1
            out[j + 1, i + 2] = b2
            out[j + 1, i + 3] = b3


@kernel
def row_products_one(out, A, Wt, j, backwards):
    R, K = Wt.shape
    for ii in range(0, R, 4):
        i = R - 4 - ii if backwards else ii
        a0 = np.float32(0.0)
        a1 = np.float32(0.0)
        a2 = np.float32(0.0)
        a3 = np.float32(0.0)
        for k in range(K):
            u = A[j, k]
            a0 += Wt[i, k] * u
            a1 += Wt[i + 1, k] * u
            a2 += Wt[i + 2, k] * u
            a3 += Wt[i + 3, k] * u
        out[j, i] = a0
        out[j, i + 1] = a1
        out[j, i + 2] = a2
        out[j, i + 3] = a3


@kernel
def cell_forward(G, C, HC, Y, R, C_prev, t, b, j, p, P, go_peephole, g_kind, h_kind, k0, k1):
    """One step of the units ``k0 <= k < k1`` of column ``b`` at time ``t``: gate pre-activations
    ``G[t, b] + R[j]`` in (``R[j, g, k - k0]`` the recurrent part of gate ``g``), gate
    activations out (in ``G[t, b]``), and ``C``, ``HC``, ``Y`` at ``[t, b]``.

    ``C_prev[p, b]`` is the previous cell state, a zero row at the first step (which removes the
    forget term and the input/forget peepholes there exactly); ``go_peephole`` (0 or 1) switches
    the output-gate peephole. Separate loops keep each body small: the rational functions are
    latency-bound chains, and short independent iterations overlap better."""
    no = C.shape[2]
    # one-dimensional views indexed from 0: loops over them vectorize (no negative-index checks)
    gates = G[t, b]
    gi, gf, go, ci = gates[k0:k1], gates[no + k0:no + k1], gates[2 * no + k0:2 * no + k1], gates[3 * no + k0:3 * no + k1]
    r = R[j]
    c_prev, c, hc, y = C_prev[p, b, k0:k1], C[t, b, k0:k1], HC[t, b, k0:k1], Y[t, b, k0:k1]
    wip, wfp, wop = P[0, k0:k1], P[1, k0:k1], P[2, k0:k1]
    for u in range(k1 - k0):
        gi[u] = fast_sigmoid(gi[u] + r[0, u] + wip[u] * c_prev[u])
        gf[u] = fast_sigmoid(gf[u] + r[1, u] + wfp[u] * c_prev[u])
    for u in range(k1 - k0):
        ci[u] = activate(ci[u] + r[3, u], g_kind)
    for u in range(k1 - k0):
        c[u] = ci[u] * gi[u] + gf[u] * c_prev[u]
    for u in range(k1 - k0):
        go[u] = fast_sigmoid(go[u] + r[2, u] + go_peephole * wop[u] * c[u])
    for u in range(k1 - k0):
        hc[u] = activate(c[u], h_kind)
        y[u] = hc[u] * go[u]


@kernel
def pack_forward_weights(Wk, Wg, W, off, units, q):
    """Part ``q``'s recurrent weights (its units' rows of the four gates), transposed: ``Wk`` for one
    product for all four gates, ``Wg`` for one product per gate."""
    no = W.shape[1] - off
    k0, nu = units[q], units[q + 1] - units[q]
    Wk_q = Wk[q, :no * 4 * nu].reshape((no, 4 * nu))
    Wg_q = Wg[q, :4 * no * nu].reshape((4, no, nu))
    for g in range(4):
        for u in range(nu):
            for k in range(no):
                w = W[g * no + k0 + u, off + k]
                Wk_q[k, g * nu + u] = w
                Wg_q[g, k, u] = w


@kernel
def lstm_forward(G, C, HC, Y, S, W, P, lengths, ni, g_kind, h_kind, peephole, reverse, units, part, counters):
    """Run the recurrence over every column.

    On entry ``G`` (T, B, 4no) holds the input part of the gate pre-activations (bias included);
    on exit it holds the gate activations ``[gi, gf, go, ci]``. Fills the cell states ``C``, their
    squashed values ``HC = H(C)`` and the outputs ``Y`` (all (T, B, no)), and writes the previous
    output into the recurrent columns of ``S`` (zeros at each column's first step). ``W`` is the
    whole (4no, 1+ni+no) weight matrix; ``P`` must be zero when ``peephole`` is false.

    The boundaries ``units`` cut the hidden units into parts. With ``part = -1`` this call runs
    every part, one after the other at each step; otherwise part ``part``, while the others run
    in calls of their own on other threads at the same time, each step starting once every part
    has done the one before (through ``counters``, see :mod:`.sync`, which also lets a call take
    over a part whose thread lost its core). A part's arithmetic is the same either way.
    """
    T, B, n4 = G.shape
    no = n4 // 4
    nparts = units.size - 1
    widest = 0
    for q in range(nparts):
        widest = max(widest, units[q + 1] - units[q])
    mine = sync.own_parts(nparts, part)
    packed = np.zeros(nparts, np.bool_)  # whose weights are in Wk and Wg
    Wk = np.empty((nparts, no * 4 * widest), W.dtype)
    Wg = np.empty((nparts, 4 * no * widest), W.dtype)
    Y_prev = np.zeros((B, no), Y.dtype)
    R = np.zeros(B * 4 * widest, G.dtype)
    R_gates = np.zeros((4, B * widest), G.dtype)
    C_zero = np.zeros((1, B, no), C.dtype)
    act_b = np.empty(B, np.int64)
    act_t = np.empty(B, np.int64)
    act_p = np.empty(B, np.int64)
    go_peephole = np.float32(1.0) if peephole else np.float32(0.0)
    off = 1 + ni
    task_part = np.empty(2 * nparts, np.int64)
    task_step = np.empty(2 * nparts, np.int64)
    steps = min(T, lengths.max()) if lengths.size else 0
    n = 0
    for step in range(steps):
        tasks = sync.next_tasks(counters, part, step, mine, task_part, task_step)
        if tasks < 0:
            return  # another thread took this part over
        for task in range(tasks):
            q, s = task_part[task], task_step[task]
            if not packed[q]:
                pack_forward_weights(Wk, Wg, W, off, units, q)
                packed[q] = True
            same_step = task > 0 and task_step[task - 1] == s  # its columns and Y_prev are there already
            if not same_step:
                n = active_columns(act_b, act_t, act_p, lengths, s, reverse)
            k0, k1 = units[q], units[q + 1]
            nu = k1 - k0
            # R_q[j, g, u]: the recurrent part of gate g of unit k0 + u for active column j (zero at the first step)
            R_q = R[:n * 4 * nu].reshape((n, 4, nu))
            if s > 0:
                for j in range(n):
                    b = act_b[j]
                    p = act_p[j]
                    t = act_t[j]
                    # the first part also keeps every previous output in S (explicit loops: numba's
                    # slice assignment checks for overlap and may copy)
                    y_prev, s_prev, y = Y_prev[j], S[t, b, off:], Y[p, b]  # one-dimensional views: vectorized
                    if same_step:
                        if q == 0:
                            for k in range(no):
                                s_prev[k] = y_prev[k]
                    elif q == 0:
                        for k in range(no):
                            y_prev[k] = y[k]
                            s_prev[k] = y[k]
                    else:
                        for k in range(no):
                            y_prev[k] = y[k]
                if n * no * 4 * nu <= SMALL_PRODUCT:
                    np.dot(Y_prev[:n], Wk[q, :no * 4 * nu].reshape((no, 4 * nu)), R_q.reshape((n, 4 * nu)))
                else:
                    Wg_q = Wg[q, :4 * no * nu].reshape((4, no, nu))
                    for g in range(4):
                        np.dot(Y_prev[:n], Wg_q[g], R_gates[g, :n * nu].reshape((n, nu)))
                    for j in range(n):  # a contiguous R keeps the cell's loops vectorized
                        for g in range(4):
                            source, target = R_gates[g, j * nu:(j + 1) * nu], R_q[j, g]
                            for u in range(nu):
                                target[u] = source[u]
            # one call site with the first step's values as variables: one compiled cell_forward
            first = s == 0
            C_prev = C_zero if first else C
            peephole_here = np.float32(0.0) if first else go_peephole
            for j in range(n):
                b = act_b[j]
                t = act_t[j]
                if first and q == 0:
                    for k in range(no):
                        S[t, b, off + k] = 0
                cell_forward(G, C, HC, Y, R_q, C_prev, t, b, j, 0 if first else act_p[j], P, peephole_here, g_kind, h_kind,
                             k0, k1)
            if part >= 0:
                sync.publish(counters, q, s + 1)


@kernel
def cell_backward(dG, dC, G, C, HC, dY, R, C_prev, t, b, j, p, P, go_peephole, peephole, g_kind, h_kind, k0, k1):
    """One step of the units ``k0 <= k < k1`` of column ``b`` at time ``t`` backwards: gate
    pre-activation deltas into ``dG[t, b]``.

    ``R[j, k - k0]`` is the recurrent part of unit k's output delta, ``dC[b]`` the cell delta
    carried from the step processed before (in backward order), replaced by the one to carry on.
    ``C_prev[p, b]`` is a zero row at the column's first step, which gives the forget gate no
    delta there."""
    no = C.shape[2]
    one = np.float32(1.0)
    gates, deltas = G[t, b], dG[t, b]
    r, dc_carried, dy = R[j], dC[b, k0:k1], dY[t, b, k0:k1]
    c_prev, hc_now = C_prev[p, b, k0:k1], HC[t, b, k0:k1]
    wip, wfp, wop = P[0, k0:k1], P[1, k0:k1], P[2, k0:k1]
    gi, gf, go, ci = gates[k0:k1], gates[no + k0:no + k1], gates[2 * no + k0:2 * no + k1], gates[3 * no + k0:3 * no + k1]
    dgi, dgf, dgo, dci = (deltas[k0:k1], deltas[no + k0:no + k1], deltas[2 * no + k0:2 * no + k1],
                          deltas[3 * no + k0:3 * no + k1])
    for u in range(k1 - k0):
        dyk = dy[u] + r[u]
        hc = hc_now[u]
        dgo_u = dyk * hc * go[u] * (one - go[u])
        dc = dyk * go[u] * activate_deriv(hc, h_kind) + dc_carried[u] + go_peephole * dgo_u * wop[u]
        dgi_u = dc * ci[u] * gi[u] * (one - gi[u])
        dgf_u = dc * c_prev[u] * gf[u] * (one - gf[u])
        dgi[u] = dgi_u
        dgf[u] = dgf_u
        dgo[u] = dgo_u
        dci[u] = dc * gi[u] * activate_deriv(ci[u], g_kind)
        dc_carried[u] = dc * gf[u] + peephole * (dgi_u * wip[u] + dgf_u * wfp[u])


@kernel
def pack_backward_weights(Wt, Wr, W, off, units, q):
    """Part ``q``'s recurrent weights (the columns of its units): transposed and zero padded for
    the dot-product kernel (``Wt``), as they are for BLAS (``Wr``)."""
    n4 = W.shape[0]
    k0, nu = units[q], units[q + 1] - units[q]
    Wr_q = Wr[q, :n4 * nu].reshape((n4, nu))
    for i in range(n4):
        for u in range(nu):
            Wt[q, u, i] = W[i, off + k0 + u]
            Wr_q[i, u] = W[i, off + k0 + u]


@kernel
def lstm_backward(dG, dC, dY, G, C, HC, W, P, lengths, ni, g_kind, h_kind, peephole, reverse, units, part, counters):
    """Back-propagate through time: fill the gate pre-activation deltas ``dG`` (T, B, 4no).

    ``dY`` holds the output deltas (T, B, no); padding is ignored there and left alone in ``dG``.
    The forget gate at a column's first step gets no delta (it is unused there), and every
    peephole term only where the forward pass used it. ``dC`` (B, no), zeros on entry, carries the
    cell deltas from step to step. ``units``, ``part`` and ``counters`` share the work out by
    units as in :func:`lstm_forward`.
    """
    T, B, n4 = G.shape
    no = n4 // 4
    nparts = units.size - 1
    rows = 0
    widest = 0
    for q in range(nparts):
        rows = max(rows, padded(units[q + 1] - units[q], 4))
        widest = max(widest, units[q + 1] - units[q])
    mine = sync.own_parts(nparts, part)
    packed = np.zeros(nparts, np.bool_)  # whose weights are in Wt and Wr
    Wt = np.zeros((nparts, rows, padded(n4, 8)), W.dtype)
    Wr = np.empty((nparts, n4 * widest), W.dtype)
    dG_next = np.zeros((B, padded(n4, 8)), dG.dtype)  # the next step's deltas of the continuing columns
    dG_blas = np.zeros((B, n4), dG.dtype)  # the same, unpadded, for BLAS
    R = np.zeros((B, rows), dG.dtype)  # the recurrent part of the output deltas
    R_blas = np.zeros(B * widest, dG.dtype)
    C_zero = np.zeros((1, B, no), C.dtype)
    act_b = np.empty(B, np.int64)
    act_t = np.empty(B, np.int64)
    act_p = np.empty(B, np.int64)
    peep = np.float32(1.0) if peephole else np.float32(0.0)
    task_part = np.empty(2 * nparts, np.int64)
    task_step = np.empty(2 * nparts, np.int64)
    steps = min(T, lengths.max()) if lengths.size else 0
    n = m = 0
    for i in range(steps):  # i steps done: the next is s = steps - 1 - i
        tasks = sync.next_tasks(counters, part, i, mine, task_part, task_step)
        if tasks < 0:
            return  # another thread took this part over
        for task in range(tasks):
            q, done = task_part[task], task_step[task]
            s = steps - 1 - done
            if not packed[q]:
                pack_backward_weights(Wt, Wr, W, 1 + ni, units, q)
                packed[q] = True
            k0, k1 = units[q], units[q + 1]
            nu = k1 - k0
            same_step = task > 0 and task_step[task - 1] == done  # its columns and rows are there already
            if not same_step:
                n = active_columns(act_b, act_t, act_p, lengths, s, reverse)
                m = continuing_first(act_b, act_t, act_p, lengths, s, n)
            # one column (or a product past BLAS's small-matrix path): the dot-product kernel
            blas = m >= 2 and m * n4 * no <= SMALL_PRODUCT
            if not same_step:
                next_rows = dG_blas if blas else dG_next
                for j in range(m):  # through one-dimensional views, which vectorize (2-d indexing: 0.25 us a line step)
                    t_next = act_t[j] - 1 if reverse else act_t[j] + 1
                    source, target = dG[t_next, act_b[j]], next_rows[j]
                    for e in range(n4):
                        target[e] = source[e]
            if m > 0:
                if blas:
                    R_q = R_blas[:m * nu].reshape((m, nu))
                    np.dot(dG_blas[:m], Wr[q, :n4 * nu].reshape((n4, nu)), R_q)
                    for j in range(m):
                        source, target = R_q[j], R[j]
                        for u in range(nu):
                            target[u] = source[u]
                else:
                    row_products(R, dG_next, Wt[q], m, s % 2 == 1)
            for j in range(m, n):
                r, dc = R[j], dC[act_b[j], k0:k1]
                for u in range(nu):
                    r[u] = 0
                    dc[u] = 0
            first = s == 0
            C_prev = C_zero if first else C
            peephole_here = np.float32(0.0) if first else peep
            for j in range(n):
                cell_backward(dG, dC, G, C, HC, dY, R, C_prev, act_t[j], act_b[j], j, 0 if first else act_p[j], P,
                              peephole_here, peep, g_kind, h_kind, k0, k1)
            if part >= 0:
                sync.publish(counters, q, done + 1)


@kernel
def clip_accumulate_peepholes(dG, C, dP, lengths, clip, peephole, reverse):
    """Clip the gate deltas to [-clip, clip] in place (clip <= 0: no clipping), then add the
    peephole gradients to ``dP`` (3, no): WIP and WFP from the previous cell state, WOP from the
    current one, at every step but each column's first."""
    T, B, n4 = dG.shape
    no = n4 // 4
    if clip > 0:
        lo = -clip
        for t in range(T):
            for b in range(B):
                d = dG[t, b]
                for i in range(n4):
                    d[i] = min(max(d[i], lo), clip)
    if peephole:
        for b in range(B):
            for s in range(1, lengths[b]):
                t = lengths[b] - 1 - s if reverse else s
                p = t + 1 if reverse else t - 1
                d = dG[t, b]
                for k in range(no):
                    cp = C[p, b, k]
                    dP[0, k] += d[k] * cp
                    dP[1, k] += d[no + k] * cp
                    dP[2, k] += d[2 * no + k] * C[t, b, k]
