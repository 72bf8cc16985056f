"""Fine-tuning a trained network: its output classes (and a transducer's input characters) changed to new codecs, its backbone frozen.

A network ends in its output layer: the last part of a ``Stacked`` root, a full layer with one
row of weights per class. Changing the codec (kraken's ``--resize``) keeps the rows of the classes
the old and the new codec share, bit for bit, together with their optimizer state (momentum
buffers, Adam's moments), and gives the new classes rows drawn as a fresh output layer's. For a
text transducer (clstmtext), the input characters are one-hot columns of the layers that read
the inputs, changed the same way.
"""
import numpy as np

from .composites import Parallel, Reversed, Stacked
from .full import FullLayer
from .lstm import LSTM
from .ports import NetworkError

#: the resize= choices (kraken's names): refuse a codec change, keep every class and add the new
#: ones, or keep only the classes the data has
RESIZE_MODES = ("fail", "union", "new")


def output_layer(net):
    """The output layer of ``net`` (the last part of its ``Stacked`` root), or a NetworkError."""
    if isinstance(net, Stacked) and net.sub and isinstance(net.sub[-1], FullLayer):
        return net.sub[-1]
    raise NetworkError(f"the network ({net.kind}) does not end in an output layer that can be resized or "
                       f"trained alone")


def _take(rows, keep, fresh, axis):
    """``fresh`` with the entries along ``axis`` whose ``keep`` is >= 0 taken from ``rows`` at ``keep``."""
    keep = np.asarray(keep)
    out = np.array(fresh, copy=True)
    kept = np.flatnonzero(keep >= 0)
    index = [slice(None)] * out.ndim
    index[axis] = kept
    source = [slice(None)] * out.ndim
    source[axis] = keep[kept]
    out[tuple(index)] = np.asarray(rows)[tuple(source)]
    return out


def _replace(parent, old, new):
    parent.sub[parent.sub.index(old)] = new
    for name in ("learning_rate", "momentum", "training", "normalization", "optimizer", "adam", "adam_step",
                 "clip", "nsteps", "nseq", "frozen"):
        setattr(new, name, getattr(old, name))


def _state_layer(state, net, layer):
    """The resume state's entry for ``layer`` (None without a state)."""
    if state is None:
        return None
    layers = net.layers()
    if len(state.layers) != len(layers):
        raise NetworkError(f"the resume state has {len(state.layers)} layers, the network {len(layers)}")
    return state.layers[layers.index(layer)]


def _carry(old, new, entry, index, axes):
    """Move ``old``'s optimizer state (and the resume state's ``entry``) over to ``new``: storage array ``j``
    changes along ``axes[j]`` by ``index`` (new entries start at 0), or keeps its shape where that is None."""
    def moved(a, like, axis):
        return np.array(a, copy=True) if axis is None else _take(a, index, np.zeros_like(like), axis)

    for j, ((_, dw), (new_w, new_dw)) in enumerate(zip(old.storage(), new.storage())):
        new_dw[...] = moved(dw, new_dw, axes[j])
        if j in old.adam_state:
            new.adam_state[j] = tuple(moved(a, new_w, axes[j]) for a in old.adam_state[j])
        if entry is not None:
            entry["deltas"][j] = moved(entry["deltas"][j], new_w, axes[j])
            if j < len(entry["adam"]):
                entry["adam"][j] = tuple(moved(a, new_w, axes[j]) for a in entry["adam"][j])


def resize_outputs(net, keep, rng=None, init="clstm", state=None):
    """Give ``net`` ``len(keep)`` output classes: class ``k`` takes the weights (and optimizer state) of
    old class ``keep[k]``, or, where that is -1, a row drawn by ``rng`` as a fresh output layer's
    (``init``: clstm or scaled). ``state`` (a :class:`clstmtools.resume.RunState`) is resized
    alike. Returns the new output layer; ``net.codec`` is the caller's to set."""
    old = output_layer(net)
    keep = np.asarray(keep, np.int64)
    if keep.ndim != 1 or len(keep) < 1 or keep.max() >= old.no or keep.min() < -1:
        raise NetworkError(f"resize: {len(keep)} classes taken from {old.no} with an index out of range")
    new = type(old)(old.ni, len(keep))
    new.init_weights(np.random.default_rng() if rng is None else rng, init)
    new.W[...] = _take(old.W, keep, new.W, 0)
    new.b[...] = _take(old.b, keep, new.b, 0)
    entry = _state_layer(state, net, old)
    _carry(old, new, entry, keep, (0, 0))
    new.attributes = dict(old.attributes, noutput=str(new.no))
    _replace(net, old, new)
    if "noutput" in net.attributes:
        net.attributes["noutput"] = str(new.no)
    return new


def _input_layers(node, parent=None):
    """``(parent, layer)`` for every layer that reads the network's inputs."""
    if isinstance(node, (Stacked, Reversed)):
        yield from _input_layers(node.sub[0], node)
    elif isinstance(node, Parallel):
        for sub in node.sub:
            yield from _input_layers(sub, node)
    elif isinstance(node, (LSTM, FullLayer)):
        yield parent, node
    else:
        raise NetworkError(f"the inputs of a {node.kind} cannot be resized (only LSTM and full layers read "
                           f"one-hot characters)")


def resize_inputs(net, keep, rng=None, init="clstm", state=None):
    """Give ``net`` ``len(keep)`` inputs (one-hot characters): input ``k`` takes the weights of old input
    ``keep[k]``, or fresh ones where that is -1 (drawn as a fresh layer's); ``state`` alike."""
    keep = np.asarray(keep, np.int64)
    rng = np.random.default_rng() if rng is None else rng
    for parent, old in list(_input_layers(net)):
        if keep.max() >= old.ni or keep.min() < -1:
            raise NetworkError(f"resize: {len(keep)} inputs taken from {old.ni} with an index out of range")
        new = type(old)(len(keep), old.no)
        new.init_weights(rng, init)
        if isinstance(old, LSTM):  # columns: bias, inputs, recurrent outputs
            index = np.concatenate([[0], np.where(keep >= 0, 1 + keep, -1), 1 + old.ni + np.arange(old.no)])
            new.P[...] = old.P
        else:
            index = keep
            new.b[...] = old.b
        new.W[...] = _take(old.W, index, new.W, 1)
        _carry(old, new, _state_layer(state, net, old), index, (1, None))
        new.attributes = dict(old.attributes, ninput=str(new.ni))
        _replace(parent, old, new)
    if "ninput" in net.attributes:
        net.attributes["ninput"] = str(len(keep))


def freeze_backbone(net, frozen=True):
    """Train only the output layer (kraken's ``--freeze-backbone``) while ``frozen``: every other part runs
    as in recognition (no dropout, batch normalization on its running statistics), gets no deltas
    and keeps its weights; ``frozen=False`` trains everything again."""
    output = output_layer(net)
    for part in net.sub:
        if part is not output:
            part.set_frozen(frozen)
