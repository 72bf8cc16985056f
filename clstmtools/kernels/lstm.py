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
def cell_forward(G, C, HC, Y, R, C_prev, t, b, j, p, P, go_peephole, g_kind, h_kind):
    """One step of column ``b`` at time ``t``: gate pre-activations ``G[t, b] + R[j]`` in (``R[j, g]``
    the recurrent part of gate ``g``), gate
    activations out (in ``G[t, b]``), and ``C``, ``HC``, ``Y`` at ``[t, b]``.

    ``C_prev[p, b]`` is the previous cell state, a zero row at the first step (which removes the
    forget term and the input/forget peepholes there exactly); ``go_peephole`` (0 or 1) switches
    the output-gate peephole. Separate loops keep each body small: the rational functions are
    latency-bound chains, and short independent iterations overlap better."""
    no = C.shape[2]
    for k in range(no):
        cp = C_prev[p, b, k]
        G[t, b, k] = fast_sigmoid(G[t, b, k] + R[j, 0, k] + P[0, k] * cp)
        G[t, b, no + k] = fast_sigmoid(G[t, b, no + k] + R[j, 1, k] + P[1, k] * cp)
    for k in range(no):
        G[t, b, 3 * no + k] = activate(G[t, b, 3 * no + k] + R[j, 3, k], g_kind)
    for k in range(no):
        C[t, b, k] = G[t, b, 3 * no + k] * G[t, b, k] + G[t, b, no + k] * C_prev[p, b, k]
    for k in range(no):
        go_in = G[t, b, 2 * no + k] + R[j, 2, k] + go_peephole * P[2, k] * C[t, b, k]
        G[t, b, 2 * no + k] = fast_sigmoid(go_in)
    for k in range(no):
        hc = activate(C[t, b, k], h_kind)
        HC[t, b, k] = hc
        Y[t, b, k] = hc * G[t, b, 2 * no + k]


@kernel
def lstm_forward(G, C, HC, Y, S, W, P, lengths, ni, g_kind, h_kind, peephole, reverse):
    """Run the recurrence over every column.

    On entry ``G`` (T, B, 4no) holds the input part of the gate pre-activations (bias included);
    on exit it holds the gate activations ``[gi, gf, go, ci]``. Fills the cell states ``C``, their
    squashed values ``HC = H(C)`` and the outputs ``Y`` (all (T, B, no)), and writes the previous
    output into the recurrent columns of ``S`` (zeros at each column's first step). ``W`` is the
    whole (4no, 1+ni+no) weight matrix; ``P`` must be zero when ``peephole`` is false.
    """
    T, B, n4 = G.shape
    no = n4 // 4
    off = 1 + ni
    Wk = np.empty((no, n4), W.dtype)  # the recurrent weights transposed: one product for all gates
    Wg = np.empty((4, no, no), W.dtype)  # the same by gate: four products
    for i in range(n4):
        for k in range(no):
            w = W[i, off + k]
            Wk[k, i] = w
            Wg[i // no, k, i % no] = w
    Y_prev = np.zeros((B, no), Y.dtype)
    R = np.zeros((B, n4), G.dtype)
    R_gates = np.zeros((4, B, no), G.dtype)
    C_zero = np.zeros((1, B, no), C.dtype)
    act_b = np.empty(B, np.int64)
    act_t = np.empty(B, np.int64)
    act_p = np.empty(B, np.int64)
    go_peephole = np.float32(1.0) if peephole else np.float32(0.0)
    for s in range(T):
        n = active_columns(act_b, act_t, act_p, lengths, s, reverse)
        if n == 0:
            break
        whole = n * no * n4 <= SMALL_PRODUCT
        if s > 0:
            for j in range(n):
                b = act_b[j]
                p = act_p[j]
                t = act_t[j]
                for k in range(no):  # explicit loops: numba's slice assignment checks for overlap and may copy
                    y = Y[p, b, k]
                    Y_prev[j, k] = y
                    S[t, b, off + k] = y
            if whole:
                np.dot(Y_prev[:n], Wk, R[:n])
            else:
                for g in range(4):
                    np.dot(Y_prev[:n], Wg[g], R_gates[g, :n])
                for j in range(n):  # a contiguous R keeps the cell's loops vectorized
                    for g in range(4):
                        for k in range(no):
                            R[j, g * no + k] = R_gates[g, j, k]
        # R_step[j, g]: the recurrent part of gate g for active column j (zero at the first step)
        R_step = R.reshape((B, 4, no))
        # one call site with the first step's values as variables: one compiled cell_forward
        first = s == 0
        C_prev = C_zero if first else C
        peephole_here = np.float32(0.0) if first else go_peephole
        for j in range(n):
            b = act_b[j]
            t = act_t[j]
            if first:
                for k in range(no):
                    S[t, b, off + k] = 0
            cell_forward(G, C, HC, Y, R_step, C_prev, t, b, j, 0 if first else act_p[j], P, peephole_here,
                         g_kind, h_kind)


@kernel
def cell_backward(dG, dC, G, C, HC, dY, R, C_prev, t, b, j, p, P, go_peephole, peephole, g_kind, h_kind):
    """One step of column ``b`` at time ``t`` backwards: gate pre-activation deltas into ``dG[t, b]``.

    ``R[j]`` is the recurrent part of the output delta, ``dC[b]`` the cell delta carried from the
    step processed before (in backward order), replaced by the one to carry on. ``C_prev[p, b]``
    is a zero row at the column's first step, which gives the forget gate no delta there."""
    no = C.shape[2]
    one = np.float32(1.0)
    for k in range(no):
        gi = G[t, b, k]
        gf = G[t, b, no + k]
        go = G[t, b, 2 * no + k]
        ci = G[t, b, 3 * no + k]
        hc = HC[t, b, k]
        dyk = dY[t, b, k] + R[j, k]
        dgo = dyk * hc * go * (one - go)
        dc = dyk * go * activate_deriv(hc, h_kind) + dC[b, k] + go_peephole * dgo * P[2, k]
        dgi = dc * ci * gi * (one - gi)
        dgf = dc * C_prev[p, b, k] * gf * (one - gf)
        dG[t, b, k] = dgi
        dG[t, b, no + k] = dgf
        dG[t, b, 2 * no + k] = dgo
        dG[t, b, 3 * no + k] = dc * gi * activate_deriv(ci, g_kind)
        dC[b, k] = dc * gf + peephole * (dgi * P[0, k] + dgf * P[1, k])


@kernel
def lstm_backward(dG, dY, G, C, HC, W, P, lengths, ni, g_kind, h_kind, peephole, reverse):
    """Back-propagate through time: fill the gate pre-activation deltas ``dG`` (T, B, 4no).

    ``dY`` holds the output deltas (T, B, no); padding is ignored there and left alone in ``dG``.
    The forget gate at a column's first step gets no delta (it is unused there), and every
    peephole term only where the forward pass used it.
    """
    T, B, n4 = G.shape
    no = n4 // 4
    off = 1 + ni
    K = padded(n4, 8)
    Wt = np.zeros((padded(no, 4), K), W.dtype)  # the recurrent weights transposed, zero padded
    Wr = np.empty((n4, no), W.dtype)  # the same as they are, for BLAS
    for i in range(n4):
        for k in range(no):
            Wt[k, i] = W[i, off + k]
            Wr[i, k] = W[i, off + k]
    dG_next = np.zeros((B, K), dG.dtype)  # the next step's deltas of the continuing columns
    dG_blas = np.zeros((B, n4), dG.dtype)  # the same, unpadded, for BLAS
    R = np.zeros((B, Wt.shape[0]), dG.dtype)  # the recurrent part of the output deltas
    R_blas = np.zeros((B, no), dG.dtype)
    dC = np.zeros((B, no), C.dtype)
    C_zero = np.zeros((1, B, no), C.dtype)
    act_b = np.empty(B, np.int64)
    act_t = np.empty(B, np.int64)
    act_p = np.empty(B, np.int64)
    peep = np.float32(1.0) if peephole else np.float32(0.0)
    for s in range(T - 1, -1, -1):
        n = active_columns(act_b, act_t, act_p, lengths, s, reverse)
        if n == 0:
            continue
        m = continuing_first(act_b, act_t, act_p, lengths, s, n)
        # one column (or a product past BLAS's small-matrix path): the dot-product kernel
        blas = m >= 2 and m * n4 * no <= SMALL_PRODUCT
        rows = dG_blas if blas else dG_next
        for j in range(m):
            t_next = act_t[j] - 1 if reverse else act_t[j] + 1
            for i in range(n4):
                rows[j, i] = dG[t_next, act_b[j], i]
        if blas:
            np.dot(dG_blas[:m], Wr, R_blas[:m])
            for j in range(m):
                for k in range(no):
                    R[j, k] = R_blas[j, k]
        else:
            row_products(R, dG_next, Wt, m, s % 2 == 1)
        for j in range(m, n):
            for k in range(no):
                R[j, k] = 0
                dC[act_b[j], k] = 0
        first = s == 0
        C_prev = C_zero if first else C
        peephole_here = np.float32(0.0) if first else peep
        for j in range(n):
            cell_backward(dG, dC, G, C, HC, dY, R, C_prev, act_t[j], act_b[j], j, 0 if first else act_p[j], P,
                          peephole_here, peep, g_kind, h_kind)


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
