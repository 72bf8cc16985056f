"""Plain NumPy twins of the network kernels (float64, one step at a time): the tests' oracles."""
import numpy as np

VARIANTS = {  # name: (G, H, peepholes)
    "LSTM": ("tanh", "tanh", True),
    "NPLSTM": ("tanh", "tanh", False),
    "LINLSTM": ("tanh", "identity", True),
    "RELUTANHLSTM": ("relu", "tanh", True),
    "RELULSTM": ("relu", "identity", True),
    "RELU2LSTM": ("relu", "relu", True),
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def f(kind, x):
    return {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "identity": lambda v: v}[kind](x)


def fprime(kind, x):
    if kind == "tanh":
        return 1 - np.tanh(x) ** 2
    if kind == "relu":
        return (x > 0).astype(float)
    return np.ones_like(x)


def lstm_forward(x, w, variant):
    """x: (T, ni) for one sequence; w: dict of WGI WGF WGO WCI (no, nf) and WIP WFP WOP (no,)."""
    G, H, peep = VARIANTS[variant]
    T = len(x)
    no = w["WGI"].shape[0]
    st = {k: np.zeros((T, no)) for k in ("gi", "gf", "go", "ci", "ci_in", "c", "y")}
    st["s"] = []
    for t in range(T):
        yp = st["y"][t - 1] if t > 0 else np.zeros(no)
        cp = st["c"][t - 1] if t > 0 else np.zeros(no)
        s = np.concatenate([[1.0], x[t], yp])
        st["s"].append(s)
        use = t > 0 and peep
        gi = sigmoid(w["WGI"] @ s + (w["WIP"] * cp if use else 0))
        gf = sigmoid(w["WGF"] @ s + (w["WFP"] * cp if use else 0))
        ci_in = w["WCI"] @ s
        ci = f(G, ci_in)
        c = ci * gi + (gf * cp if t > 0 else 0)
        go = sigmoid(w["WGO"] @ s + (w["WOP"] * c if use else 0))
        y = f(H, c) * go
        for k, v in (("gi", gi), ("gf", gf), ("go", go), ("ci", ci), ("ci_in", ci_in), ("c", c), ("y", y)):
            st[k][t] = v
    return st


def lstm_backward(dy_ext, st, w, variant, clip=10.0):
    """Exact BPTT of :func:`lstm_forward`; returns (dx, weight gradients dict, unclipped gate deltas)."""
    G, H, peep = VARIANTS[variant]
    T, no = st["y"].shape
    ni = w["WGI"].shape[1] - 1 - no
    d = {k: np.zeros((T, no)) for k in ("gi", "gf", "go", "ci")}
    dx = np.zeros((T, ni))
    dy_rec = np.zeros(no)
    dc_next = np.zeros(no)
    for t in range(T - 1, -1, -1):
        gi, gf, go, ci, c = (st[k][t] for k in ("gi", "gf", "go", "ci", "c"))
        use = t > 0 and peep
        dy = dy_ext[t] + dy_rec
        dgo = dy * f(H, c) * go * (1 - go)
        dc = dy * go * fprime(H, c) + dc_next + (dgo * w["WOP"] if use else 0)
        dci = dc * gi * fprime(G, st["ci_in"][t])
        dgi = dc * ci * gi * (1 - gi)
        dgf = dc * st["c"][t - 1] * gf * (1 - gf) if t > 0 else np.zeros(no)
        dc_next = (dc * gf + (dgi * w["WIP"] + dgf * w["WFP"] if use else 0)) if t > 0 else np.zeros(no)
        for k, v in (("gi", dgi), ("gf", dgf), ("go", dgo), ("ci", dci)):
            d[k][t] = v
        ds = w["WGI"].T @ dgi + w["WGF"].T @ dgf + w["WGO"].T @ dgo + w["WCI"].T @ dci
        dx[t] = ds[1:1 + ni]
        dy_rec = ds[1 + ni:]
    grads = {}
    dcl = {k: np.clip(v, -clip, clip) if clip > 0 else v for k, v in d.items()}
    S = np.array(st["s"])
    for name, key in (("WGI", "gi"), ("WGF", "gf"), ("WGO", "go"), ("WCI", "ci")):
        grads[name] = dcl[key].T @ S
    if peep:
        cp = np.vstack([np.zeros((1, no)), st["c"][:-1]])
        grads["WIP"] = (dcl["gi"][1:] * cp[1:]).sum(0)
        grads["WFP"] = (dcl["gf"][1:] * cp[1:]).sum(0)
        grads["WOP"] = (dcl["go"][1:] * st["c"][1:]).sum(0)
    return dx, grads, d


FULL = {"LinearLayer": "identity", "SigmoidLayer": "sigmoid", "TanhLayer": "tanh", "ReluLayer": "relu"}


def full_forward(x, W, b, kind):
    z = x @ W.T + b
    if kind == "SoftmaxLayer":
        e = np.exp(np.clip(z, -30, 30))
        return e / np.maximum(e.sum(1, keepdims=True), 1e-9)
    act = FULL[kind]
    return sigmoid(z) if act == "sigmoid" else f(act, z)


def full_backward(dy, x, y, W, kind):
    """Returns (dx, dW, db) as clstm computes them (softmax: no Jacobian)."""
    act = "softmax" if kind == "SoftmaxLayer" else FULL[kind]
    if act == "sigmoid":
        dz = dy * y * (1 - y)
    elif act == "tanh":
        dz = dy * (1 - y * y)
    elif act == "relu":
        dz = dy * (y > 0)
    else:
        dz = dy
    return dz @ W, dz.T @ x, dz.sum(0)



def gru_forward(x, W, bhn):
    """PyTorch's GRU over one sequence x (T, ni); W (3no, 1+ni+no) blocks [R, Z, N] of rows [bias, inputs,
    recurrent]; bhn (no,) the candidate's recurrent bias. Returns the states of every step."""
    T = len(x)
    no = W.shape[0] // 3
    ni = x.shape[1]
    Wr, Wz, Wn = W[:no], W[no:2 * no], W[2 * no:]
    st = {k: np.zeros((T, no)) for k in ("r", "z", "n", "hn", "y", "hp")}
    h = np.zeros(no)
    for t in range(T):
        s = np.concatenate([[1.0], x[t]])
        r = sigmoid(Wr[:, :1 + ni] @ s + Wr[:, 1 + ni:] @ h)
        z = sigmoid(Wz[:, :1 + ni] @ s + Wz[:, 1 + ni:] @ h)
        hn = Wn[:, 1 + ni:] @ h + bhn
        n = np.tanh(Wn[:, :1 + ni] @ s + r * hn)
        for k, v in (("r", r), ("z", z), ("n", n), ("hn", hn), ("hp", h)):
            st[k][t] = v
        h = (1 - z) * n + z * h
        st["y"][t] = h
    return st


def gru_backward(dy_ext, x, st, W):
    """Exact BPTT of :func:`gru_forward`; returns (dx, dW, dbhn)."""
    T, no = st["y"].shape
    ni = x.shape[1]
    Wr, Wz, Wn = W[:no], W[no:2 * no], W[2 * no:]
    dx = np.zeros((T, ni))
    dW = np.zeros_like(W)
    dbhn = np.zeros(no)
    dh_next = np.zeros(no)
    for t in range(T - 1, -1, -1):
        r, z, n, hn, hp = (st[k][t] for k in ("r", "z", "n", "hn", "hp"))
        dh = dy_ext[t] + dh_next
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (hp - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        s = np.concatenate([[1.0], x[t]])
        dW[:no, :1 + ni] += np.outer(dr, s)
        dW[no:2 * no, :1 + ni] += np.outer(dz, s)
        dW[2 * no:, :1 + ni] += np.outer(dn, s)
        dW[:no, 1 + ni:] += np.outer(dr, hp)
        dW[no:2 * no, 1 + ni:] += np.outer(dz, hp)
        dW[2 * no:, 1 + ni:] += np.outer(dn * r, hp)
        dbhn += dn * r
        dx[t] = Wr[:, 1:1 + ni].T @ dr + Wz[:, 1:1 + ni].T @ dz + Wn[:, 1:1 + ni].T @ dn
        dh_next = dh * z + Wr[:, 1 + ni:].T @ dr + Wz[:, 1 + ni:].T @ dz + Wn[:, 1 + ni:].T @ (dn * r)
    return dx, dW, dbhn
