"""GRU recurrence kernels: the step-by-step part of the GRU layer's forward and backward passes.

Layout as the LSTM's (:mod:`.lstm`): ``S`` is the source matrix ``(T, B, nf)`` with rows
``[1, x_t, h_prev]`` and ``nf = 1 + ni + no``; ``W`` is ``(3 no, nf)`` with the gate blocks
``[R, Z, N]`` (reset, update, candidate), and so are the blocks of every ``(T, B, 3 no)`` array;
``bhn`` (no,) is the candidate's recurrent bias. The GRU is PyTorch's (and cuDNN's, and ONNX's
with ``linear_before_reset``), the reset gate applied to the candidate's recurrent product::

    r = sigmoid(Gx_r + W_r h)      z = sigmoid(Gx_z + W_z h)
    n = tanh(Gx_n + r * (W_n h + bhn))      h' = (1 - z) * n + z * h

where ``Gx = [1, x_t] @ W[:, :1+ni].T`` is the input part, one matrix product done by the caller
before the recurrence; these kernels add the recurrent part step by step, one BLAS product
(``np.dot``) of the running columns' previous outputs a step.

Column ``b`` of a batch holds ``lengths[b]`` real steps; the rest is padding, which these kernels
neither read nor write (the layer zeroes it). The float32 sigmoid and tanh are the LSTM kernels'
branch-free rational approximations; other dtypes use the exact functions, so float64 gradient
checks stay exact.
"""
import numpy as np

from .config import kernel
from .lstm import fast_sigmoid, fast_tanh


@kernel
def running_columns(active, lengths, t):
    """Fill ``active`` with the columns that have a real step ``t``; returns how many there are."""
    n = 0
    for b in range(lengths.size):
        if t < lengths[b]:
            active[n] = b
            n += 1
    return n


@kernel
def gru_forward(G, HN, Y, S, W, bhn, lengths, ni):
    """Run the recurrence over every column.

    On entry ``G`` (T, B, 3no) holds the input part of the gate pre-activations (bias included); on exit
    the gate activations ``[r, z, n]``. Fills ``HN`` (T, B, no) with the candidate's recurrent part
    ``W_n h_prev + bhn`` (the backward pass needs it), the outputs ``Y`` (T, B, no), and writes the previous
    output into the recurrent columns of ``S`` (zeros at each column's first step)."""
    T, B, n3 = G.shape
    no = n3 // 3
    off = 1 + ni
    Wt = np.ascontiguousarray(W[:, off:].T)  # (no, 3no): one product gives all three gates' recurrent parts
    H_prev = np.zeros((B, no), Y.dtype)
    R = np.zeros((B, n3), G.dtype)
    active = np.empty(B, np.int64)
    one = np.float32(1.0)
    steps = min(T, lengths.max()) if lengths.size else 0
    for t in range(steps):
        n = running_columns(active, lengths, t)
        for j in range(n):
            b = active[j]
            h_prev, s_prev = H_prev[j], S[t, b, off:]
            if t == 0:
                for k in range(no):
                    h_prev[k] = 0
                    s_prev[k] = 0
            else:
                y_prev = Y[t - 1, b]
                for k in range(no):
                    h_prev[k] = y_prev[k]
                    s_prev[k] = y_prev[k]
        if t > 0:  # at the first step the recurrent parts are R's zeros
            np.dot(H_prev[:n], Wt, R[:n])
        for j in range(n):
            b = active[j]
            g, hn, y, h_prev = G[t, b], HN[t, b], Y[t, b], H_prev[j]
            r = R[j]
            for k in range(no):
                rk = fast_sigmoid(g[k] + r[k])
                zk = fast_sigmoid(g[no + k] + r[no + k])
                hnk = r[2 * no + k] + bhn[k]
                nk = fast_tanh(g[2 * no + k] + rk * hnk)
                g[k] = rk
                g[no + k] = zk
                g[2 * no + k] = nk
                hn[k] = hnk
                y[k] = (one - zk) * nk + zk * h_prev[k]


@kernel
def gru_backward(dGx, dGh, dY, G, HN, S, W, lengths, ni):
    """Back-propagate through time: fill ``dGx`` (T, B, 3no), the deltas of the input part of the gate
    pre-activations ``[r, z, n]``, and ``dGh``, those of the recurrent products ``[W_r h, W_z h, W_n h +
    bhn]`` (they differ in the candidate, which the reset gate scales). ``dY`` holds the output deltas;
    padding is ignored there and left alone in ``dGx`` and ``dGh``."""
    T, B, n3 = G.shape
    no = n3 // 3
    off = 1 + ni
    Wr = np.ascontiguousarray(W[:, off:])  # (3no, no)
    carried = np.zeros((B, no), dY.dtype)  # the output deltas each column passes to its step before
    D = np.zeros((B, n3), dY.dtype)  # the running columns' recurrent deltas of one step
    back = np.zeros((B, no), dY.dtype)
    active = np.empty(B, np.int64)
    one = np.float32(1.0)
    steps = min(T, lengths.max()) if lengths.size else 0
    for t in range(steps - 1, -1, -1):
        n = running_columns(active, lengths, t)
        for j in range(n):
            b = active[j]
            g, hn, h_prev, dy, dh_next = G[t, b], HN[t, b], S[t, b, off:], dY[t, b], carried[b]
            dx, dh, d = dGx[t, b], dGh[t, b], D[j]
            for k in range(no):
                delta = dy[k] + dh_next[k]
                rk, zk, nk = g[k], g[no + k], g[2 * no + k]
                dn = delta * (one - zk) * (one - nk * nk)
                dz = delta * (h_prev[k] - nk) * zk * (one - zk)
                dr = dn * hn[k] * rk * (one - rk)
                dx[k] = dr
                dx[no + k] = dz
                dx[2 * no + k] = dn
                dh[k] = dr
                dh[no + k] = dz
                dh[2 * no + k] = dn * rk
                d[k] = dr
                d[no + k] = dz
                d[2 * no + k] = dn * rk
                dh_next[k] = delta * zk
        if t > 0:
            np.dot(D[:n], Wr, back[:n])
            for j in range(n):
                b = active[j]
                dh_next, source = carried[b], back[j]
                for k in range(no):
                    dh_next[k] += source[k]
