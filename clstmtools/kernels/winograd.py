"""Kernels of Winograd's F(2x2, 3x3) convolution: 3x3 stride-1 "same" convolutions in 16 products of a quarter the size.

Each 2 x 2 block of outputs (two steps, two rows: a *tile*) is computed from the 4 x 4 block of
inputs around it as ``A^T [(G g G^T) * (B^T d B)] A`` (Lavin and Gray, 2016): the filters ``g`` and
the input blocks ``d`` are transformed once, the 16 transformed positions ``xi = 4p + q`` (p along
the steps, q along the rows) are 16 independent products ``M[xi] = V[xi] @ U[xi]`` of (tiles x C)
by (C x n) matrices, and the output transform turns each tile's 16 values back into its 2 x 2
outputs: 2.25 times fewer multiplications than the im2col product, and no im2col buffer.

Feature maps are the convolution kernels' (``kernels/conv.py``): ``X[t, b, h * C + c]``, steps
``t >= lengths[b]`` padding (read as zeros). Tiles are numbered time-block major: tile ``k`` of the
time blocks ``tb0 <= tb < tb1`` is ``((tb - tb0) * B + b) * Hb + hb`` and covers the output steps
``2 tb, 2 tb + 1`` and rows ``2 hb, 2 hb + 1``. The output transform can max-pool its 2 x 2 outputs
over windows of 1 or 2 steps and rows (stride = window), which line up with the tiles, so that a
convolution followed by such pooling never writes its full-size output.
"""
import numpy as np

from .config import kernel


@kernel
def winograd_weights(U, W, C):
    """``U[4p + q, c, n] = (G g G^T)[p, q]`` for the 3 x 3 filter ``g[dx, dy] = W[n, (dy * 3 + dx) * C + c]``
    of input channel c and output channel n (W as a convolution layer keeps it: taps (dy, dx, c))."""
    n_out = W.shape[0]
    g = np.empty((3, 3), U.dtype)
    a = np.empty((4, 3), U.dtype)
    half = U.dtype.type(0.5)
    for n in range(n_out):
        for c in range(C):
            for dx in range(3):
                for dy in range(3):
                    g[dx, dy] = W[n, (dy * 3 + dx) * C + c]
            for v in range(3):  # G g along the steps
                a[0, v] = g[0, v]
                a[1, v] = half * (g[0, v] + g[1, v] + g[2, v])
                a[2, v] = half * (g[0, v] - g[1, v] + g[2, v])
                a[3, v] = g[2, v]
            for p in range(4):  # then (G g) G^T along the rows
                U[4 * p + 0, c, n] = a[p, 0]
                U[4 * p + 1, c, n] = half * (a[p, 0] + a[p, 1] + a[p, 2])
                U[4 * p + 2, c, n] = half * (a[p, 0] - a[p, 1] + a[p, 2])
                U[4 * p + 3, c, n] = a[p, 2]


@kernel
def winograd_input(V, X, lengths, H, C, Hb, tb0, tb1):
    """``V[4p + q, k, c] = (B^T d B)[p, q]`` for the 4 x 4 input block ``d[u, v] = X[2 tb - 1 + u, b,
    (2 hb - 1 + v) * C + c]`` of every tile k of the time blocks ``tb0 <= tb < tb1`` (zero outside the
    rows and the line's real steps)."""
    B = X.shape[1]
    d = np.empty((4, 4, C), V.dtype)
    a = np.empty((4, 4, C), V.dtype)
    for tb in range(tb0, tb1):
        for b in range(B):
            L = lengths[b]
            for hb in range(Hb):
                k = ((tb - tb0) * B + b) * Hb + hb
                for u in range(4):
                    t = 2 * tb - 1 + u
                    for v in range(4):
                        h = 2 * hb - 1 + v
                        if t < 0 or t >= L or h < 0 or h >= H:
                            for c in range(C):
                                d[u, v, c] = 0
                        else:
                            src = h * C
                            for c in range(C):
                                d[u, v, c] = X[t, b, src + c]
                for v in range(4):  # B^T d along the steps
                    for c in range(C):
                        a[0, v, c] = d[0, v, c] - d[2, v, c]
                        a[1, v, c] = d[1, v, c] + d[2, v, c]
                        a[2, v, c] = d[2, v, c] - d[1, v, c]
                        a[3, v, c] = d[1, v, c] - d[3, v, c]
                for p in range(4):  # then (B^T d) B along the rows
                    for c in range(C):
                        V[4 * p + 0, k, c] = a[p, 0, c] - a[p, 2, c]
                        V[4 * p + 1, k, c] = a[p, 1, c] + a[p, 2, c]
                        V[4 * p + 2, k, c] = a[p, 2, c] - a[p, 1, c]
                        V[4 * p + 3, k, c] = a[p, 1, c] - a[p, 3, c]


@kernel
def winograd_output(Y, M, lengths, ph, pw, Hb, tb0, tb1):
    """The outputs of the tiles of the time blocks ``tb0 <= tb < tb1`` from their products ``M[xi, k, n]``:
    ``y = A^T m A``, max-pooled over windows of ``pw`` steps and ``ph`` rows (1 or 2 each, stride = window;
    1 x 1 keeps every output), written to ``Y[to, b, ho * n + j]`` for the output steps and rows that
    ``Y`` has. Output steps past a line's windows (``to >= lengths[b] // pw``) are zero; no bias."""
    To, B, width = Y.shape
    n_out = M.shape[2]
    Ho = width // n_out
    s = np.empty((2, 4, n_out), Y.dtype)
    y = np.empty((2, 2, n_out), Y.dtype)
    for tb in range(tb0, tb1):
        for b in range(B):
            real_steps = lengths[b] // pw
            for hb in range(Hb):
                k = ((tb - tb0) * B + b) * Hb + hb
                for q in range(4):  # A^T m along the steps
                    for j in range(n_out):
                        m1 = M[4 + q, k, j]
                        m2 = M[8 + q, k, j]
                        s[0, q, j] = M[q, k, j] + m1 + m2
                        s[1, q, j] = m1 - m2 - M[12 + q, k, j]
                for i in range(2):  # then (A^T m) A along the rows
                    for j in range(n_out):
                        y[i, 0, j] = s[i, 0, j] + s[i, 1, j] + s[i, 2, j]
                        y[i, 1, j] = s[i, 1, j] - s[i, 2, j] - s[i, 3, j]
                for io in range(2 // pw):
                    to = tb * (2 // pw) + io
                    if to >= To:
                        continue
                    for jo in range(2 // ph):
                        ho = hb * (2 // ph) + jo
                        if ho >= Ho:
                            continue
                        dst = ho * n_out
                        if to >= real_steps:
                            for j in range(n_out):
                                Y[to, b, dst + j] = 0
                            continue
                        i0, j0 = io * pw, jo * ph
                        for j in range(n_out):
                            Y[to, b, dst + j] = y[i0, j0, j]
                        for di in range(pw):
                            for dj in range(ph):
                                for j in range(n_out):
                                    Y[to, b, dst + j] = max(Y[to, b, dst + j], y[i0 + di, j0 + dj, j])


@kernel
def winograd_output_deltas(dM, dZ, Hb, tb0, tb1):
    """The adjoint of the output transform (without pooling): ``dM[4p + q, k, j] = (A dz A^T)[p, q]`` for the
    2 x 2 output deltas ``dz[i, i2] = dZ[2 tb + i, b, (2 hb + i2) * n + j]`` of every tile k of the time
    blocks ``tb0 <= tb < tb1`` (zero past the steps and rows ``dZ`` has)."""
    T, B, width = dZ.shape
    n_out = dM.shape[2]
    H = width // n_out
    z = np.zeros((2, 2, n_out), dM.dtype)
    s = np.empty((4, 2, n_out), dM.dtype)
    for tb in range(tb0, tb1):
        for b in range(B):
            for hb in range(Hb):
                k = ((tb - tb0) * B + b) * Hb + hb
                for i in range(2):
                    t = 2 * tb + i
                    for i2 in range(2):
                        h = 2 * hb + i2
                        inside = t < T and h < H
                        src = h * n_out
                        for j in range(n_out):
                            z[i, i2, j] = dZ[t, b, src + j] if inside else 0
                for i2 in range(2):  # A dz along the steps
                    for j in range(n_out):
                        s[0, i2, j] = z[0, i2, j]
                        s[1, i2, j] = z[0, i2, j] + z[1, i2, j]
                        s[2, i2, j] = z[0, i2, j] - z[1, i2, j]
                        s[3, i2, j] = -z[1, i2, j]
                for p in range(4):  # then (A dz) A^T along the rows
                    for j in range(n_out):
                        dM[4 * p + 0, k, j] = s[p, 0, j]
                        dM[4 * p + 1, k, j] = s[p, 0, j] + s[p, 1, j]
                        dM[4 * p + 2, k, j] = s[p, 0, j] - s[p, 1, j]
                        dM[4 * p + 3, k, j] = -s[p, 1, j]


@kernel
def winograd_weight_deltas(dW, dU, C):
    """The adjoint of :func:`winograd_weights`: ``dW[n, (dy * 3 + dx) * C + c] = (G^T dU[:, c, n] G)[dx, dy]``
    (written, not added)."""
    n_out = dW.shape[0]
    e = np.empty((4, 4), dW.dtype)
    a = np.empty((3, 4), dW.dtype)
    half = dW.dtype.type(0.5)
    for n in range(n_out):
        for c in range(C):
            for xi in range(16):
                e[xi // 4, xi % 4] = dU[xi, c, n]
            for q in range(4):  # G^T e along the steps
                a[0, q] = e[0, q] + half * (e[1, q] + e[2, q])
                a[1, q] = half * (e[1, q] - e[2, q])
                a[2, q] = half * (e[1, q] + e[2, q]) + e[3, q]
            for dx in range(3):  # then (G^T e) G along the rows
                dW[n, dx * C + c] = a[dx, 0] + half * (a[dx, 1] + a[dx, 2])
                dW[n, (3 + dx) * C + c] = half * (a[dx, 1] - a[dx, 2])
                dW[n, (6 + dx) * C + c] = half * (a[dx, 1] + a[dx, 2]) + a[dx, 3]
