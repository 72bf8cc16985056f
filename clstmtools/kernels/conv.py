"""Kernels of the convolutional front end: im2col/col2im, direct convolutions, max pooling, batch and group normalization, dropout.

Feature maps travel as time-major sequences: a ``(T, B, H * C)`` array holds, for each of the T
columns of the B lines, H rows of C channels (row-major, channels fastest). Reading the same
array as ``(T, B, H * C)`` features per column is the columns reshape: it costs nothing. Steps
``t >= lengths[b]`` are padding: they read as zeros and are written as zeros.

A strided convolution, or one with many taps, is ``im2col`` (one row of kernel-sized patches per
output (t, b, h), taps ordered (dy, dx, c), at the layer's strides) followed by one BLAS product; its
backward pass is the transposed product followed by ``col2im``. Stride-1 convolutions with few taps
run directly (``conv_direct``, ``conv3x3_grey``), max pooling over windows at their own stride
optionally taken in the same pass; 3x3 ones over several channels by Winograd's algorithm
(``kernels/winograd.py``). All work on a range ``[t0, t1)`` of time steps (output steps for im2col and
the direct convolutions, input steps for the gathering col2im) so that the layers can split them over
threads; so do the max-pooling kernels.
"""
import numpy as np

from .config import kernel


@kernel
def im2col(P, X, lengths, H, C, kh, kw, sy, sx, Ho, t0, t1):
    """``P[((t-t0)*B + b)*Ho + h, (dy*kw + dx)*C + c] = X[t*sx + dx - pw, b, (h*sy + dy - ph)*C + c]`` for
    the output steps ``t0 <= t < t1`` (``P``'s first row is step t0's) and rows ``h < Ho`` (strides ``sy``, ``sx``; "same" padding: ``ph =
    (kh-1)//2``, ``pw = (kw-1)//2``); zero outside the image or its real steps, and whole rows of padded
    output steps (``t*sx >= lengths[b]``) zero."""
    B = X.shape[1]
    ph = (kh - 1) // 2
    pw = (kw - 1) // 2
    for t in range(t0, t1):
        for b in range(B):
            L = lengths[b]
            for h in range(Ho):
                r = ((t - t0) * B + b) * Ho + h
                for dy in range(kh):
                    hh = h * sy + dy - ph
                    for dx in range(kw):
                        tt = t * sx + dx - pw
                        base = (dy * kw + dx) * C
                        if t * sx >= L or tt < 0 or tt >= L or hh < 0 or hh >= H:
                            for c in range(C):
                                P[r, base + c] = 0
                        else:
                            src = hh * C
                            for c in range(C):
                                P[r, base + c] = X[tt, b, src + c]


@kernel
def col2im(dX, dP, lengths, H, C, kh, kw, sy, sx, Ho, t0, t1):
    """The adjoint of :func:`im2col`: ``dX[tt]`` for the input steps ``t0 <= tt < t1`` is the sum of the patch
    deltas that read it (a gather, so that threads given separate step ranges never write the same place)."""
    T, B, _ = dX.shape
    ph = (kh - 1) // 2
    pw = (kw - 1) // 2
    for tt in range(t0, t1):
        for b in range(B):
            L = lengths[b]
            for hh in range(H):
                for c in range(C):
                    dX[tt, b, hh * C + c] = 0
            if tt >= L:
                continue
            for dx in range(kw):
                shifted = tt - dx + pw
                if shifted < 0 or shifted % sx != 0:
                    continue
                t = shifted // sx
                if t * sx >= L:
                    continue
                for h in range(Ho):
                    r = (t * B + b) * Ho + h
                    for dy in range(kh):
                        hh = h * sy + dy - ph
                        if hh < 0 or hh >= H:
                            continue
                        base = (dy * kw + dx) * C
                        dst = hh * C
                        for c in range(C):
                            dX[tt, b, dst + c] += dP[r, base + c]


@kernel
def pooled_steps(L, pw, sx):
    """How many windows of width ``pw`` at stride ``sx`` fit in ``L`` steps (none when ``L < pw``)."""
    return (L - pw) // sx + 1 if L >= pw else 0


@kernel
def maxpool_forward(Y, I, X, lengths, H, C, ph, pw, sy, sx, t0, t1):
    """``Y[t, b, h*C + c]`` = max of the ``ph x pw`` window at step ``t*sx`` and row ``h*sy`` (the first maximum,
    steps outermost) for the output steps ``t0 <= t < t1``; ``I`` (int32, as a window may hold any number of
    cells) remembers where in its window it came from: ``dx * ph + dy``. Output steps past the windows that fit
    in a line's real steps are zero. The loops over channels are branch-free, so they vectorize."""
    _, B, n = Y.shape
    Ho = n // C
    for t in range(t0, t1):
        s = t * sx
        for b in range(B):
            if t >= pooled_steps(lengths[b], pw, sx):
                for o in range(n):
                    Y[t, b, o] = 0
                    I[t, b, o] = 0
                continue
            for h in range(Ho):
                o0 = h * C
                top = h * sy * C
                for c in range(C):
                    Y[t, b, o0 + c] = X[s, b, top + c]
                    I[t, b, o0 + c] = 0
                for dx in range(pw):
                    for dy in range(ph):
                        k = dx * ph + dy
                        if k == 0:
                            continue
                        src = top + dy * C
                        for c in range(C):
                            v = X[s + dx, b, src + c]
                            better = v > Y[t, b, o0 + c]
                            Y[t, b, o0 + c] = v if better else Y[t, b, o0 + c]
                            I[t, b, o0 + c] = k if better else I[t, b, o0 + c]


@kernel
def maxpool_backward(dX, dY, I, lengths, H, C, ph, pw, sy, sx, t0, t1):
    """``dX`` for the input steps ``t0 <= tt < t1``: the sum of the output deltas of the windows whose
    maximum came from that place (windows overlap when a stride is smaller than the window), zero elsewhere
    (a gather: threads given separate step ranges never write the same place). Windows at their own
    stride (the usual case) write every place once, without zeroing it first."""
    T, B, _ = dX.shape
    Ho = dY.shape[2] // C
    zero = np.zeros(1, dX.dtype)[0]
    tiled = sx == pw and sy == ph
    for tt in range(t0, t1):
        for b in range(B):
            L = lengths[b]
            first = max(0, (tt - pw + sx) // sx)  # the first window that reaches tt
            last = min(tt // sx, pooled_steps(L, pw, sx) - 1)
            if tiled and tt < L and first <= last:
                t = first
                dx = tt - t * sx
                for h in range(Ho):
                    o0 = h * C
                    for dy in range(ph):
                        k = dx * ph + dy
                        dst = (h * sy + dy) * C
                        for c in range(C):
                            d = dY[t, b, o0 + c]
                            dX[tt, b, dst + c] = d if I[t, b, o0 + c] == k else zero
                for i in range(Ho * ph * C, H * C):  # rows below the last window
                    dX[tt, b, i] = 0
                continue
            for i in range(H * C):
                dX[tt, b, i] = 0
            if tt >= L:
                continue
            for t in range(first, last + 1):
                dx = tt - t * sx
                for h in range(Ho):
                    o0 = h * C
                    for dy in range(ph):
                        k = dx * ph + dy
                        dst = (h * sy + dy) * C
                        for c in range(C):
                            hit = I[t, b, o0 + c] == k
                            dX[tt, b, dst + c] += dY[t, b, o0 + c] if hit else zero


@kernel
def group_stats(mean, inv, X, lengths, H, C, G, eps, per_line):
    """Mean and ``1/sqrt(var + eps)`` (biased variance) of every group of ``C // G`` channels over the
    real steps and all rows: per line (``mean``, ``inv`` of shape (B, G)) or over the whole batch
    (``per_line`` false: shape (1, G)). Sums in float64."""
    T, B, _ = X.shape
    cg = C // G
    nb = mean.shape[0]
    s = np.zeros((nb, G))
    ss = np.zeros((nb, G))
    count = np.zeros(nb)
    for b in range(B):
        k = b if per_line else 0
        L = min(lengths[b], T)
        count[k] += L * H * cg
        for t in range(L):
            for h in range(H):
                for c in range(C):
                    v = np.float64(X[t, b, h * C + c])
                    s[k, c // cg] += v
                    ss[k, c // cg] += v * v
    for k in range(nb):
        for g in range(G):
            n = max(count[k], 1.0)
            m = s[k, g] / n
            var = max(ss[k, g] / n - m * m, 0.0)
            mean[k, g] = m
            inv[k, g] = 1.0 / np.sqrt(var + eps)


@kernel
def group_normalize(Y, Xhat, X, gamma, beta, mean, inv, lengths, H, C, G):
    """``Xhat = (X - mean) * inv`` of each channel's group (per line when ``mean`` has B rows),
    ``Y = gamma[c] * Xhat + beta[c]``; padded steps zero."""
    T, B, _ = X.shape
    cg = C // G
    for t in range(T):
        for b in range(B):
            k = b if mean.shape[0] > 1 else 0
            real = t < lengths[b]
            for h in range(H):
                for c in range(C):
                    i = h * C + c
                    if real:
                        g = c // cg
                        xh = (X[t, b, i] - mean[k, g]) * inv[k, g]
                        Xhat[t, b, i] = xh
                        Y[t, b, i] = gamma[c] * xh + beta[c]
                    else:
                        Xhat[t, b, i] = 0
                        Y[t, b, i] = 0


@kernel
def group_norm_backward(dX, dgamma, dbeta, dY, Xhat, gamma, inv, lengths, H, C, G, with_stats):
    """Deltas of :func:`group_normalize`: ``dgamma``/``dbeta`` accumulate; ``dX`` through the
    statistics too when they came from these inputs (``with_stats``), else through the affine map only."""
    T, B, _ = dY.shape
    cg = C // G
    nb = inv.shape[0]
    s1 = np.zeros((nb, G))
    s2 = np.zeros((nb, G))
    count = np.zeros(nb)
    for b in range(B):
        k = b if nb > 1 else 0
        L = min(lengths[b], T)
        count[k] += L * H * cg
        for t in range(L):
            for h in range(H):
                for c in range(C):
                    i = h * C + c
                    d = dY[t, b, i]
                    dgamma[c] += d * Xhat[t, b, i]
                    dbeta[c] += d
                    dxh = np.float64(d * gamma[c])
                    s1[k, c // cg] += dxh
                    s2[k, c // cg] += dxh * Xhat[t, b, i]
    for t in range(T):
        for b in range(B):
            k = b if nb > 1 else 0
            real = t < lengths[b]
            for h in range(H):
                for c in range(C):
                    i = h * C + c
                    if not real:
                        dX[t, b, i] = 0
                        continue
                    g = c // cg
                    dxh = dY[t, b, i] * gamma[c]
                    if with_stats:
                        n = max(count[k], 1.0)
                        dX[t, b, i] = inv[k, g] * (dxh - s1[k, g] / n - Xhat[t, b, i] * s2[k, g] / n)
                    else:
                        dX[t, b, i] = inv[k, g] * dxh


@kernel
def dropout(Y, X, U, rate, C, per_channel):
    """``Y = X * (U >= rate) / (1 - rate)``: ``U`` holds one uniform draw per element (the shape of
    ``X``) or, with ``per_channel``, one per line and channel (shape (1, B, C)) for every row and step."""
    T, B, n = X.shape
    scale = np.float32(1.0) / (np.float32(1.0) - rate)
    for t in range(T):
        for b in range(B):
            for i in range(n):
                u = U[0, b, i % C] if per_channel else U[t, b, i]
                Y[t, b, i] = X[t, b, i] * scale if u >= rate else 0


@kernel
def conv_direct(Y, X, lengths, Wt, H, C, kh, kw, ph, pw, t0, t1):
    """A stride-1 "same" convolution without bias, ``z[t, h, n] = sum Wt[(dy*kw + dx)*C + c, n] X[t + dx - pw',
    b, (h + dy - ph')*C + c]`` (``ph' = (kh-1)//2``, ``pw' = (kw-1)//2``, zero outside), max-pooled over
    windows of ``pw`` steps and ``ph`` rows at the window's stride (1 x 1: every output), for the output
    steps ``t0 <= t < t1``: ``Y[t, b, h*n + j]``, zero past a line's windows (``t >= lengths[b] // pw``).
    One pass and no im2col buffer, for convolutions with few taps (a grey image's first layer)."""
    B = X.shape[1]
    n_out = Wt.shape[1]
    Ho = Y.shape[2] // n_out
    pad_h = (kh - 1) // 2
    pad_w = (kw - 1) // 2
    acc = np.empty(n_out, Y.dtype)
    for t in range(t0, t1):
        for b in range(B):
            L = lengths[b]
            real = t < L // pw
            for ho in range(Ho):
                dst = ho * n_out
                if not real:
                    for j in range(n_out):
                        Y[t, b, dst + j] = 0
                    continue
                for i in range(pw):
                    for i2 in range(ph):
                        tc = t * pw + i
                        hc = ho * ph + i2
                        for j in range(n_out):
                            acc[j] = 0
                        for dy in range(kh):
                            hh = hc + dy - pad_h
                            if hh < 0 or hh >= H:
                                continue
                            for dx in range(kw):
                                tt = tc + dx - pad_w
                                if tt < 0 or tt >= L:
                                    continue
                                src = hh * C
                                k0 = (dy * kw + dx) * C
                                for c in range(C):
                                    xv = X[tt, b, src + c]
                                    for j in range(n_out):
                                        acc[j] += xv * Wt[k0 + c, j]
                        if i == 0 and i2 == 0:
                            for j in range(n_out):
                                Y[t, b, dst + j] = acc[j]
                        else:
                            for j in range(n_out):
                                Y[t, b, dst + j] = max(Y[t, b, dst + j], acc[j])


@kernel
def conv3x3_grey(Y, X, lengths, Wt, H, ph, pw, t0, t1):
    """:func:`conv_direct` for a 3 x 3 convolution of one channel (a grey line's first layer), the nine
    taps held in registers: the same sums, added in the same order."""
    B = X.shape[1]
    n_out = Wt.shape[1]
    Ho = Y.shape[2] // n_out
    p = np.zeros(9, Y.dtype)
    for t in range(t0, t1):
        for b in range(B):
            L = lengths[b]
            real = t < L // pw
            for ho in range(Ho):
                dst = ho * n_out
                if not real:
                    for j in range(n_out):
                        Y[t, b, dst + j] = 0
                    continue
                for i in range(pw):
                    for i2 in range(ph):
                        tc = t * pw + i
                        hc = ho * ph + i2
                        for dy in range(3):
                            hh = hc + dy - 1
                            for dx in range(3):
                                tt = tc + dx - 1
                                inside = hh >= 0 and hh < H and tt >= 0 and tt < L
                                p[dy * 3 + dx] = X[tt, b, hh] if inside else 0
                        p0, p1, p2, p3, p4, p5, p6, p7, p8 = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]
                        first = i == 0 and i2 == 0
                        for j in range(n_out):
                            z = p0 * Wt[0, j]
                            z += p1 * Wt[1, j]
                            z += p2 * Wt[2, j]
                            z += p3 * Wt[3, j]
                            z += p4 * Wt[4, j]
                            z += p5 * Wt[5, j]
                            z += p6 * Wt[6, j]
                            z += p7 * Wt[7, j]
                            z += p8 * Wt[8, j]
                            Y[t, b, dst + j] = z if first else max(Y[t, b, dst + j], z)
