"""Plain NumPy twins of the convolutional kernels (float64, one line as a (T, H, C) array): the tests' oracles."""
import numpy as np

LEAK = float(np.float32(0.01))  # the kernels' slope, a float32 constant


def softmax(z):
    """Over the last axis (a convolution's channels at one place)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def act(kind, z):
    return {0: lambda v: v, 1: lambda v: 1 / (1 + np.exp(-np.clip(v, -30, 30))), 2: np.tanh,
            3: lambda v: np.maximum(v, 0), 4: lambda v: np.where(v > 0, v, LEAK * v), 5: softmax}[kind](z)


def act_delta(kind, y, dy):
    """The deltas of the pre-activations from those of the outputs ``y`` (the softmax's through its Jacobian)."""
    if kind == 5:
        return y * (dy - (y * dy).sum(axis=-1, keepdims=True))
    return dy * {0: lambda v: np.ones_like(v), 1: lambda v: v * (1 - v), 2: lambda v: 1 - v * v,
                 3: lambda v: (v > 0).astype(float), 4: lambda v: np.where(v > 0, 1.0, LEAK)}[kind](y)


def _padded(x, kh, kw):
    T, H, C = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.zeros((T + kw - 1, H + kh - 1, C))
    xp[pw:pw + T, ph:ph + H] = x
    return xp


def conv_forward(x, W, b, kind, sy=1, sx=1):
    """x (T, H, C); W (n, kh, kw, C); "same" padding at stride 1, then every sy-th row and sx-th step:
    y[t, h, n] = f(b + sum W[n, dy, dx, c] x[t*sx+dx-pw, h*sy+dy-ph, c])."""
    T, H, C = x.shape
    n, kh, kw, _ = W.shape
    xp = _padded(x, kh, kw)
    z = np.zeros((T, H, n)) + b
    for dy in range(kh):
        for dx in range(kw):
            z += np.einsum("thc,nc->thn", xp[dx:dx + T, dy:dy + H], W[:, dy, dx])
    return act(kind, z[::sx, ::sy])


def conv_backward(x, W, y, dy_out, kind, sy=1, sx=1):
    """``(dx, dW, db)`` for output deltas ``dy_out`` (ceil(T/sx), ceil(H/sy), n)."""
    T, H, C = x.shape
    n, kh, kw, _ = W.shape
    dz = np.zeros((T, H, n))
    dz[::sx, ::sy] = act_delta(kind, y, dy_out)
    xp = _padded(x, kh, kw)
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for dy in range(kh):
        for dx in range(kw):
            dW[:, dy, dx] = np.einsum("thn,thc->nc", dz, xp[dx:dx + T, dy:dy + H])
            dxp[dx:dx + T, dy:dy + H] += np.einsum("thn,nc->thc", dz, W[:, dy, dx])
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    return dxp[pw:pw + T, ph:ph + H], dW, dz.sum((0, 1))


def maxpool_forward(x, ph, pw, sy=None, sx=None):
    sy, sx = sy or ph, sx or pw
    T, H, C = x.shape
    To, Ho = (T - pw) // sx + 1, (H - ph) // sy + 1
    y = np.zeros((To, Ho, C))
    for t in range(To):
        for h in range(Ho):
            y[t, h] = x[t * sx:t * sx + pw, h * sy:h * sy + ph].max(axis=(0, 1))
    return y


def maxpool_backward(x, ph, pw, dy, sy=None, sx=None):
    sy, sx = sy or ph, sx or pw
    T, H, C = x.shape
    dx = np.zeros_like(x)
    for t in range(dy.shape[0]):
        for h in range(dy.shape[1]):
            for c in range(C):
                w = x[t * sx:t * sx + pw, h * sy:h * sy + ph, c]
                j, i = np.unravel_index(np.argmax(w), w.shape)  # the first maximum, steps outermost
                dx[t * sx + j, h * sy + i, c] += dy[t, h, c]
    return dx


def normalize(lines, groups, gamma, beta, eps=1e-5, per_line=True):
    """Group norm (per line) or batch norm (``per_line`` false, groups = channels, over all lines)."""
    C = lines[0].shape[2]
    cg = C // groups

    def stats(xs):
        flat = np.concatenate([x.reshape(-1, C) for x in xs])
        g = flat.reshape(-1, groups, cg).transpose(1, 0, 2).reshape(groups, -1)
        return g.mean(1), g.var(1)

    out = []
    for x in lines:
        mean, var = stats([x] if per_line else lines)
        m = np.repeat(mean, cg)
        v = np.repeat(var, cg)
        out.append(gamma * (x - m) / np.sqrt(v + eps) + beta)
    return out


# Winograd's F(2x2, 3x3) (Lavin and Gray, 2016): y = A^T [(G g G^T) * (B^T d B)] A for a 4x4 input block d
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float)
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)


def winograd_filter(g):
    """``G g G^T`` of a 3x3 filter."""
    return WINOGRAD_G @ g @ WINOGRAD_G.T


def winograd_input(d):
    """``B^T d B`` of a 4x4 block."""
    return WINOGRAD_BT @ d @ WINOGRAD_BT.T


def winograd_output(m):
    """``A^T m A``: a tile's 2x2 outputs from its 16 products."""
    return WINOGRAD_AT @ m @ WINOGRAD_AT.T


def winograd_conv(x, W):
    """The convolution of :func:`conv_forward` (3x3, stride 1, no bias, no activation) tile by tile."""
    T, H, C = x.shape
    n = W.shape[0]
    xp = np.zeros((T + 3, H + 3, C))  # one before, two after: the last tile may reach past the end
    xp[1:T + 1, 1:H + 1] = x
    z = np.zeros((T + 1, H + 1, n))
    for tb in range(-(-T // 2)):
        for hb in range(-(-H // 2)):
            for j in range(n):
                m = sum(winograd_filter(W[j, :, :, c].T) * winograd_input(xp[2 * tb:2 * tb + 4, 2 * hb:2 * hb + 4, c])
                        for c in range(C))
                z[2 * tb:2 * tb + 2, 2 * hb:2 * hb + 2, j] = winograd_output(m)
    return z[:T, :H]
