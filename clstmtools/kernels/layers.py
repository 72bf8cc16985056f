"""Kernels of the full (feed-forward) layers and of the weight update.

Full layers work on 2-d views ``(N, n)`` of time-major sequences (N = T * batch). The matrix
products themselves are BLAS calls made by the layers; these kernels add the bias, apply the
nonlinearity, take its derivative and update weights in place.

Nonlinearity codes: 0 = linear, 1 = sigmoid, 2 = tanh, 3 = relu, 4 = leaky relu (slope LEAK below 0),
5 = softmax over each row (a convolution's channels at one place; exact, shifted by the row's maximum).
"""
import numpy as np

from .config import kernel
from .elementary import exp_bounded

LINEAR, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = 0, 1, 2, 3, 4, 5
#: the slope of the leaky relu below zero (TensorFlow's and PyTorch's default)
LEAK = 0.01


@kernel
def bias_activate(Z, bias, kind):
    """In place: ``Z[n] = f(Z[n] + bias)`` for every row ``n``."""
    N, no = Z.shape
    if kind == 5:
        softmax_rows(Z, bias)
        return
    for n in range(N):
        for i in range(no):
            x = Z[n, i] + bias[i]
            if kind == 1:
                if x > 30.0:
                    x = np.float32(30.0)
                elif x < -30.0:
                    x = np.float32(-30.0)
                x = np.float32(1.0) / (np.float32(1.0) + np.exp(-x))
            elif kind == 2:
                x = np.tanh(x)
            elif kind == 3:
                if x < 0:
                    x = np.float32(0.0)
            elif kind == 4:
                if x < 0:
                    x *= np.float32(LEAK)
            Z[n, i] = x


@kernel
def activation_delta(dZ, Y, dY, kind):
    """``dZ = dY * f'`` with ``f'`` written in terms of the outputs ``Y`` (for the softmax its Jacobian:
    ``dZ[n, i] = Y[n, i] * (dY[n, i] - sum_j Y[n, j] dY[n, j])``)."""
    N, no = Y.shape
    if kind == 5:
        for n in range(N):
            total = Y[n, 0] * dY[n, 0]
            for i in range(1, no):
                total += Y[n, i] * dY[n, i]
            for i in range(no):
                dZ[n, i] = Y[n, i] * (dY[n, i] - total)
        return
    for n in range(N):
        for i in range(no):
            y = Y[n, i]
            d = dY[n, i]
            if kind == 1:
                d *= y * (np.float32(1.0) - y)
            elif kind == 2:
                d *= np.float32(1.0) - y * y
            elif kind == 3:
                if y <= 0:
                    d = np.float32(0.0)
            elif kind == 4:
                if y <= 0:
                    d *= np.float32(LEAK)
            dZ[n, i] = d


@kernel
def softmax_rows(Z, bias):
    """In place: the exact softmax of every row of ``Z + bias`` (shifted by the row's maximum)."""
    N, no = Z.shape
    for n in range(N):
        row = Z[n]
        top = row[0] + bias[0]
        for i in range(1, no):
            top = max(top, row[i] + bias[i])
        total = top - top
        for i in range(no):
            e = np.exp(row[i] + bias[i] - top)
            row[i] = e
            total += e
        inv = np.float32(1.0) / total
        for i in range(no):
            row[i] *= inv


@kernel
def bias_softmax(Z, bias):
    """In place: clstm's softmax of ``Z[n] + bias``: each exp argument clamped to [-30, 30]
    (no max subtraction), rows divided by ``max(sum, 1e-9)``.

    The exponentials are float64 polynomials rounded to float32 (:func:`.elementary.exp_bounded`,
    which vectorizes; libm's ``expf`` is a call per value, 2.4x the time of the whole softmax)."""
    N, no = Z.shape
    for n in range(N):
        row = Z[n]
        for i in range(no):
            row[i] = exp_bounded(min(max(np.float64(row[i] + bias[i]), -30.0), 30.0))  # stored in Z's dtype
        total = np.float32(0.0)  # float64 where Z is
        for i in range(no):
            total += row[i]
        inv = np.float32(1.0) / max(total, np.float32(1e-9))
        for i in range(no):
            row[i] *= inv


@kernel
def bias_log_softmax(Z, logs, bias):
    """The exact softmax of ``Z[n] + bias`` (no clamp: a probability below float's range is 0) in place, and its
    log into ``logs``: ``z - max(z) - log(sum(exp(z - max(z))))``, exact however far apart the values are."""
    N, no = Z.shape
    for n in range(N):
        top = Z[n, 0] + bias[0]
        for i in range(1, no):
            top = max(top, Z[n, i] + bias[i])
        total = top - top
        for i in range(no):
            x = (Z[n, i] + bias[i]) - top
            logs[n, i] = x
            total += np.exp(x)
        log_total = np.log(total)
        for i in range(no):
            value = logs[n, i] - log_total
            logs[n, i] = value
            Z[n, i] = np.exp(value)


@kernel
def zero_padding(A, lengths):
    """Zero every padded step ``t >= lengths[b]`` of the time-major ``(T, B, n)`` array ``A``."""
    T, B, n = A.shape
    for b in range(B):
        for t in range(lengths[b], T):
            for i in range(n):
                A[t, b, i] = 0


@kernel
def reverse_columns(out, A, lengths):
    """``out[t, b] = A[lengths[b] - 1 - t, b]`` for the real steps of every column, zero padding."""
    T, B, n = A.shape
    for b in range(B):
        L = lengths[b]
        for t in range(T):
            for i in range(n):
                out[t, b, i] = A[L - 1 - t, b, i] if t < L else 0


@kernel
def add_column_sums(out, A):
    """``out[i] += sum_n A[n, i]`` (bias deltas)."""
    N, no = A.shape
    for n in range(N):
        for i in range(no):
            out[i] += A[n, i]


@kernel
def momentum_update(W, dW, lr, momentum):
    """clstm's update: ``W += lr * dW`` then ``dW *= momentum`` (dW is the momentum buffer)."""
    w = W.ravel()
    d = dW.ravel()
    for i in range(w.size):
        w[i] += lr * d[i]
        d[i] *= momentum


@kernel
def adam_update(W, dW, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam with decoupled weight decay (AdamW), *ascending* along ``dW`` (clstm's deltas point
    towards improvement); ``dW`` is consumed (zeroed) and ``step`` counts from 1."""
    w = W.ravel()
    d = dW.ravel()
    mm = m.ravel()
    vv = v.ravel()
    c1 = np.float32(1.0) / (np.float32(1.0) - beta1 ** step)
    c2 = np.float32(1.0) / (np.float32(1.0) - beta2 ** step)
    decay = np.float32(1.0) - lr * weight_decay
    for i in range(w.size):
        g = d[i]
        mm[i] = beta1 * mm[i] + (np.float32(1.0) - beta1) * g
        vv[i] = beta2 * vv[i] + (np.float32(1.0) - beta2) * g * g
        mhat = mm[i] * c1
        vhat = vv[i] * c2
        w[i] = w[i] * decay + lr * mhat / (np.sqrt(vhat) + eps)
        d[i] = 0.0


@kernel
def all_finite(A):
    """True when no element of ``A`` is NaN or infinite: ``0 * x`` is 0 for a finite ``x`` and NaN
    otherwise, and their sum, taken without a branch, vectorizes (6x faster than stopping at the
    first bad value). Without ``nnan`` among the fast-math flags nothing folds ``0 * x`` away
    (``x - x`` would not do: reassociation cancels it against the sum)."""
    a = A.ravel()
    total = np.float32(0.0)
    for i in range(a.size):
        total += np.float32(0.0) * a[i]
    return total == 0
