"""clstm's HDF5 model files: save atomically, load (old C++ clstm models included) with clear errors."""
import os
import shutil

import h5py
import numpy as np

from .atomic import atomic_write
from .kernels.config import FLOAT
from .network import NetworkError, build_net

#: the original writes attributes as fixed-length strings of this size
ATTRIBUTE_BYTES = 256


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not a usable clstm model."""


def _attribute_value(value):
    data = str(value).encode("utf-8")
    return np.array(data, dtype=f"S{max(ATTRIBUTE_BYTES, len(data))}")


def _codec_dataset(codec, n):
    codes = list(codec) if len(codec) else list(range(n))
    return np.asarray(codes, FLOAT).reshape(-1, 1)


def write_model(f, net):
    """Write ``net`` into an open h5py file in clstm's layout."""
    for name, value in net.attributes.items():
        f.attrs[name] = _attribute_value(value)
    f.attrs["clstm-version"] = _attribute_value("1")
    f.create_dataset("codec", data=_codec_dataset(net.codec, net.noutput()))
    f.create_dataset("icodec", data=_codec_dataset(net.icodec, net.ninput()))
    for name, w, _ in net.weights():
        f.create_dataset(name, data=np.asarray(w, FLOAT))
    for name, a in net.states():  # batch normalization's running statistics
        f.create_dataset(name, data=np.asarray(a, FLOAT))


def save_net(path, net, extra=None):
    """Save ``net`` to ``path`` atomically (``atomic.atomic_write``); an existing file is kept as ``path~``.

    A crash at any moment leaves a loadable model under ``path`` (the old one or the new one).
    ``extra`` optionally writes more into the open file (a callable taking the h5py File)."""
    path = os.fspath(path)
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w") as f:
            write_model(f, net)
            if extra is not None:
                extra(f)
        if os.path.exists(path):
            backup = path + "~"
            if os.path.lexists(backup):
                os.remove(backup)
            try:
                os.link(path, backup)
            except OSError:
                shutil.copy2(path, backup)
    return path


def _decode(value):
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", "replace").rstrip("\0")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _decode(value.reshape(()).item())
    return str(value)


def read_model(f, path="model"):
    """Rebuild a network from an open h5py file (see :func:`load_net`)."""
    attributes = {name: _decode(value) for name, value in f.attrs.items()}
    if "kind" not in attributes:
        raise ModelFileError(f"{path}: not a clstm model (no 'kind' attribute)")
    attributes.pop("clstm-version", None)
    try:
        net = build_net(attributes.pop("kind"), attributes)
    except NetworkError as e:
        raise ModelFileError(f"{path}: cannot rebuild the network: {e}") from None
    arrays = [(name, w, dw) for name, w, dw in net.weights()] + [(name, a, None) for name, a in net.states()]
    for name, w, dw in arrays:
        if name not in f:
            raise ModelFileError(f"{path}: weight {name} is missing")
        data = f[name]
        if tuple(data.shape) != w.shape:
            raise ModelFileError(f"{path}: weight {name} has shape {tuple(data.shape)}, expected {w.shape}")
        w[...] = data[...]
        if dw is not None:
            dw[...] = 0
        if not np.all(np.isfinite(w)):
            raise ModelFileError(f"{path}: weight {name} contains NaN or infinite values")
    for name, n in (("codec", net.noutput()), ("icodec", net.ninput())):
        if name in f:
            codes = [int(round(float(c))) for c in np.asarray(f[name]).ravel()]
            if len(codes) != n:
                raise ModelFileError(f"{path}: {name} has {len(codes)} entries, the network has {n}")
            setattr(net, name, codes)
    return net


def load_net(path):
    """Load a clstm model file (ours or the original's), raising ModelFileError naming the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ModelFileError(f"{path}: not an HDF5 model file ({e.__class__.__name__})") from None
    with f:
        return read_model(f, path)
