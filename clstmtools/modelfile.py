"""clstm's HDF5 model files: save atomically, load (old C++ clstm models included) with clear errors."""
import os
import shutil

import h5py
import numpy as np

from .atomic import atomic_write
from .kernels.config import FLOAT
from .network import LAYER_TYPES, PREFABS, NetworkError, build_net, canonical_kind

#: the original writes attributes as fixed-length strings of this size
ATTRIBUTE_BYTES = 256


def save_stem(save_name):
    """``save_name`` without a trailing ``.h5``: what a run's files are named from (its best model is the
    stem plus ``.h5``, a periodic save the stem plus ``-N.h5``)."""
    return save_name.removesuffix(".h5")


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
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "SUa":
        return _decode(value.reshape(()).item())
    return None


def _attributes(f, path):
    """The file's attributes as strings; anything but a string (or a one-element string array) is refused."""
    attributes = {}
    for name in f.attrs:
        value = _decode(f.attrs[name])
        if value is None:
            raise ModelFileError(f"{path}: attribute {name!r} is not a string")
        attributes[name] = value
    return attributes


def _stored_values(f):
    """How many float32 values the file's datasets really hold (their storage, not their declared shapes)."""
    total = 0
    for name in f:
        item = f.get(name, getlink=False)
        if isinstance(item, h5py.Dataset):
            total += item.id.get_storage_size() // 4
    return total


def _check_sizes(kind, attributes, stored, path):
    """Refuse sizes whose weights could not be in the file (a crafted ``nhidden=10**9`` would allocate gigabytes
    before any weight is read): every weight matrix they imply must fit in what the file stores."""
    sizes = {}
    for name in ("ninput", "nhidden", "nhidden2", "noutput"):
        try:
            sizes[name] = max(0, int(float(attributes.get(name, 0))))
        except (ValueError, OverflowError):
            continue  # build_net names the bad value
    n, h, h2, o = (sizes.get(name, 0) for name in ("ninput", "nhidden", "nhidden2", "noutput"))
    if kind in LAYER_TYPES:
        products = [n * o, o * o if "LSTM" in kind or kind == "GRU" else 0]
    elif kind in PREFABS:
        products = [h * n, h * h, h * o, h2 * h, h2 * h2, h2 * o]
    else:
        products = []
    limit = 2 * stored + 4096
    if max(products + list(sizes.values()) + [0]) > limit:
        raise ModelFileError(f"{path}: the sizes {sizes} need more weights than the file holds ({stored} values)")


def read_model(f, path="model"):
    """Rebuild a network from an open h5py file (see :func:`load_net`): its string attributes and float arrays only."""
    attributes = _attributes(f, path)
    if "kind" not in attributes:
        raise ModelFileError(f"{path}: not a clstm model (no 'kind' attribute)")
    attributes.pop("clstm-version", None)
    try:
        kind = canonical_kind(attributes.pop("kind"))
        _check_sizes(kind, attributes, _stored_values(f), path)
        net = build_net(kind, attributes)
    except NetworkError as e:
        raise ModelFileError(f"{path}: cannot rebuild the network: {e}") from None
    arrays = [(name, w, dw) for name, w, dw in net.weights()] + [(name, a, None) for name, a in net.states()]
    for name, w, dw in arrays:
        data = f.get(name, getlink=False)
        if data is None:
            raise ModelFileError(f"{path}: weight {name} is missing")
        if not isinstance(data, h5py.Dataset) or data.dtype.kind not in "fiu":
            raise ModelFileError(f"{path}: weight {name} is not an array of numbers")
        if tuple(data.shape) != w.shape:
            raise ModelFileError(f"{path}: weight {name} has shape {tuple(data.shape)}, expected {w.shape}")
        w[...] = data[...]
        if dw is not None:
            dw[...] = 0
        if not np.all(np.isfinite(w)):
            raise ModelFileError(f"{path}: weight {name} contains NaN or infinite values")
    for name, n in (("codec", net.noutput()), ("icodec", net.ninput())):
        data = f.get(name, getlink=False)
        if data is None:
            continue
        if not isinstance(data, h5py.Dataset) or data.dtype.kind not in "fiu":
            raise ModelFileError(f"{path}: {name} is not an array of numbers")
        if data.size != n:  # checked before reading: the shape is declared, the data may be a bomb
            raise ModelFileError(f"{path}: {name} has {data.size} entries, the network has {n}")
        values = np.asarray(data[()], np.float64).ravel()
        if not np.all(np.isfinite(values)) or np.any(np.abs(values) > 0x10FFFF):
            raise ModelFileError(f"{path}: {name} holds values that are not code points")
        setattr(net, name, [int(round(c)) for c in values])
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
        try:
            return read_model(f, path)
        except ModelFileError:
            raise
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:  # h5py's errors on a corrupt file
            raise ModelFileError(f"{path}: damaged HDF5 file ({_first_line(e)})") from None


def _first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
