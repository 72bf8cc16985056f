"""LSTM recurrence kernels: the step-by-step part of clstm's LSTM forward and backward passes.

Layout (time-major, batch inside): ``S`` is the source matrix ``(T, B, nf)`` with rows
``[1, x_t, y_{t-1}]`` and ``nf = 1 + ni + no``; ``W`` is ``(4 no, nf)`` with the gate blocks
stacked as ``[GI, GF, GO, CI]``; ``P`` is ``(3, no)`` holding the peepholes ``[WIP, WFP, WOP]``.
The input part of every gate (``S[:, :, :1+ni] @ W[:, :1+ni].T``) is one matrix product done by
the caller before the recurrence; these kernels add the recurrent part step by step.

Nonlinearity codes: 0 = tanh, 1 = relu, 2 = identity (the gates always use the sigmoid).
"""
import numpy as np

from .config import kernel

TANH, RELU, IDENTITY = 0, 1, 2


@kernel
def sigmoid(x):
    if x > 30.0:
        x = np.float32(30.0)
    elif x < -30.0:
        x = np.float32(-30.0)
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


@kernel
def activate(x, kind):
    if kind == 0:
        return np.tanh(x)
    elif kind == 1:
        return x if x > 0 else np.float32(0.0)
    return x


@kernel
def activate_deriv(y, x, kind):
    """Derivative of the nonlinearity ``kind`` at ``x`` where ``y = f(x)``."""
    if kind == 0:
        return np.float32(1.0) - y * y
    elif kind == 1:
        return np.float32(1.0) if x > 0 else np.float32(0.0)
    return np.float32(1.0)


@kernel
def lstm_forward(G, C, HC, Y, S, W, P, ni, g_kind, h_kind, peephole):
    """Run the recurrence.

    On entry ``G`` (T, B, 4no) holds the input part of the gate pre-activations (bias included);
    on exit it holds the gate activations ``[gi, gf, go, ci]``. Fills the cell states ``C``, their
    squashed values ``HC = H(C)`` and the outputs ``Y`` (all (T, B, no)), and writes ``y_{t-1}``
    into the recurrent columns of ``S`` for t >= 1 (row 0 gets zeros).
    """
    T, B, n4 = G.shape
    no = n4 // 4
    off = 1 + ni
    for b in range(B):
        for k in range(no):
            S[0, b, off + k] = 0.0
    for t in range(T):
        for b in range(B):
            g = G[t, b]
            if t > 0:
                yp = Y[t - 1, b]
                for i in range(n4):
                    # a row slice keeps the index arithmetic simple enough to vectorize
                    w = W[i, off:off + no]
                    acc = np.float32(0.0)
                    for k in range(no):
                        acc += w[k] * yp[k]
                    g[i] += acc
            for k in range(no):
                gi_in = g[k]
                gf_in = g[no + k]
                ci = activate(g[3 * no + k], g_kind)
                if t > 0 and peephole:
                    cp = C[t - 1, b, k]
                    gi_in += P[0, k] * cp
                    gf_in += P[1, k] * cp
                gi = sigmoid(gi_in)
                gf = sigmoid(gf_in)
                c = ci * gi
                if t > 0:
                    c += gf * C[t - 1, b, k]
                go_in = g[2 * no + k]
                if t > 0 and peephole:
                    go_in += P[2, k] * c
                go = sigmoid(go_in)
                hc = activate(c, h_kind)
                g[k] = gi
                g[no + k] = gf
                g[2 * no + k] = go
                g[3 * no + k] = ci
                C[t, b, k] = c
                HC[t, b, k] = hc
                Y[t, b, k] = hc * go
            if t + 1 < T:
                for k in range(no):
                    S[t + 1, b, off + k] = Y[t, b, k]


@kernel
def lstm_backward(dG, dY, G, C, HC, W, P, ni, g_kind, h_kind, peephole):
    """Back-propagate through time: fill the gate pre-activation deltas ``dG`` (T, B, 4no).

    ``dY`` holds the output deltas (T, B, no). The forget gate at t = 0 gets no delta (it is
    unused there), and every peephole term only where the forward pass used it (t > 0).
    """
    T, B, n4 = G.shape
    no = n4 // 4
    off = 1 + ni
    dy = np.empty_like(C[0, 0])
    dc_next = np.empty_like(C[0, 0])
    for b in range(B):
        for k in range(no):
            dy[k] = 0.0
            dc_next[k] = 0.0
        for t in range(T - 1, -1, -1):
            g = G[t, b]
            d = dG[t, b]
            if t + 1 < T:
                # recurrent part of the output delta: W_h^T dG_{t+1}
                dn = dG[t + 1, b]
                for k in range(no):
                    dy[k] = 0.0
                for i in range(n4):
                    di = dn[i]
                    w = W[i, off:off + no]
                    for k in range(no):
                        dy[k] += w[k] * di
            for k in range(no):
                gi = g[k]
                gf = g[no + k]
                go = g[2 * no + k]
                ci = g[3 * no + k]
                c = C[t, b, k]
                hc = HC[t, b, k]
                dyk = dY[t, b, k] + dy[k]
                dgo = dyk * hc * go * (np.float32(1.0) - go)
                dc = dyk * go * activate_deriv(hc, c, h_kind) + dc_next[k]
                if t > 0 and peephole:
                    dc += dgo * P[2, k]
                dci = dc * gi * activate_deriv(ci, ci, g_kind)
                dgi = dc * ci * gi * (np.float32(1.0) - gi)
                if t > 0:
                    dgf = dc * C[t - 1, b, k] * gf * (np.float32(1.0) - gf)
                    carry = dc * gf
                    if peephole:
                        carry += dgi * P[0, k] + dgf * P[1, k]
                else:
                    dgf = np.float32(0.0)
                    carry = np.float32(0.0)
                d[k] = dgi
                d[no + k] = dgf
                d[2 * no + k] = dgo
                d[3 * no + k] = dci
                dc_next[k] = carry


@kernel
def clip_accumulate_peepholes(dG, C, dP, clip, peephole):
    """Clip the gate deltas to [-clip, clip] in place (clip <= 0: no clipping), then add the
    peephole gradients to ``dP`` (3, no): WIP and WFP from c_{t-1}, WOP from c_t, all t > 0."""
    T, B, n4 = dG.shape
    no = n4 // 4
    if clip > 0:
        lo = -clip
        for t in range(T):
            for b in range(B):
                for i in range(n4):
                    v = dG[t, b, i]
                    if v > clip:
                        dG[t, b, i] = clip
                    elif v < lo:
                        dG[t, b, i] = lo
    if peephole:
        for t in range(1, T):
            for b in range(B):
                for k in range(no):
                    cp = C[t - 1, b, k]
                    dP[0, k] += dG[t, b, k] * cp
                    dP[1, k] += dG[t, b, no + k] * cp
                    dP[2, k] += dG[t, b, 2 * no + k] * C[t, b, k]
