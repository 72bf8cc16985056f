"""A run's state beyond its weights (optimizer, schedule, random states, selection), kept in a model file's ``resume`` group.

The group holds datasets and one JSON attribute that the original clstm never reads: it loads
attributes of the file's root and weight datasets by name, so such a file still loads there. A
model file without the group (one of the C++ clstm's, or an old one) simply resumes nothing.

Layout: ``resume/layerK/deltaJ`` is the delta (SGD momentum) buffer of the J-th weight array of
the K-th layer (``net.layers()`` order, ``storage()`` order); ``resume/layerK/adam_mJ`` and
``adam_vJ`` are Adam's moments; ``resume/arrays/NAME`` are the run's own arrays (the held-out
validation lines, the curve); ``resume.attrs['state']`` is JSON: the trainer's counters, random
states, best errors and each layer's Adam step and pending step/sequence counts."""
import hashlib
import json

import h5py
import numpy as np

GROUP = "resume"


class RunState:
    """What ``load=`` continues from: the trainer's ``scalars`` (JSON-able), named ``arrays`` and the
    per-layer optimizer arrays and counters."""

    def __init__(self, scalars, arrays=None, layers=None):
        self.scalars = scalars
        self.arrays = arrays or {}
        self.layers = layers or []

    def get(self, name, default=None):
        return self.scalars.get(name, default)

    def without_selection(self):
        """This state for a run on other data: the weights' optimizer state, the counters and random
        states go on; what chose models on the old data (its best errors, validation split, curve and
        the freeze of that run) does not."""
        scalars = {name: value for name, value in self.scalars.items() if name not in SELECTION}
        arrays = {name: value for name, value in self.arrays.items() if name not in ("validation", "curve")}
        return RunState(scalars, arrays, self.layers)


#: the run-state scalars that belong to the data a run trained on
SELECTION = ("best", "best_trial", "best_test", "stale", "freeze", "freeze_until", "data")


def data_key(texts):
    """A short digest of a data set's transcripts (in order): a run state records it, so that a run
    loading the model onto other data starts its model selection afresh."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return f"{len(texts)}:{digest.hexdigest()[:16]}"


def capture(net, scalars, arrays=None):
    """The state of ``net``'s optimizer plus the trainer's ``scalars`` and ``arrays`` (copied)."""
    layers = []
    for layer in net.layers():
        entry = dict(deltas=[dw.copy() for _, dw in layer.storage()], adam_step=layer.adam_step,
                     nsteps=layer.nsteps, nseq=layer.nseq,
                     adam=[(m.copy(), v.copy()) for _, (m, v) in sorted(layer.adam_state.items())])
        layers.append(entry)
    return RunState(dict(scalars), {k: np.asarray(v) for k, v in (arrays or {}).items()}, layers)


def write(f, state):
    """Write ``state`` into the open h5py file ``f`` (as ``save_net``'s ``extra``)."""
    group = f.create_group(GROUP)
    layers_info = []
    for k, entry in enumerate(state.layers):
        sub = group.create_group(f"layer{k}")
        for j, dw in enumerate(entry["deltas"]):
            sub.create_dataset(f"delta{j}", data=dw)
        for j, (m, v) in enumerate(entry["adam"]):
            sub.create_dataset(f"adam_m{j}", data=m)
            sub.create_dataset(f"adam_v{j}", data=v)
        layers_info.append(dict(adam_step=int(entry["adam_step"]), nsteps=int(entry["nsteps"]),
                                nseq=int(entry["nseq"]), adam=len(entry["adam"])))
    arrays = group.create_group("arrays")
    for name, value in state.arrays.items():
        arrays.create_dataset(name, data=value)
    group.attrs["state"] = json.dumps(dict(state.scalars, layers=layers_info))


def read(path):
    """The RunState stored in the model file at ``path``, or None when it has none."""
    with h5py.File(path, "r") as f:
        if GROUP not in f or "state" not in f[GROUP].attrs:
            return None
        group = f[GROUP]
        raw = group.attrs["state"]
        scalars = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        layers = []
        for k, info in enumerate(scalars.pop("layers")):
            sub = group[f"layer{k}"]
            deltas = [sub[f"delta{j}"][()] for j in range(len([n for n in sub if n.startswith("delta")]))]
            adam = [(sub[f"adam_m{j}"][()], sub[f"adam_v{j}"][()]) for j in range(info["adam"])]
            layers.append(dict(deltas=deltas, adam=adam, adam_step=info["adam_step"], nsteps=info["nsteps"],
                               nseq=info["nseq"]))
        arrays = {name: group["arrays"][name][()] for name in group.get("arrays", {})}
    return RunState(scalars, arrays, layers)


def restore(net, state):
    """Put the optimizer state of ``state`` back into ``net`` (which has the same shape)."""
    layers = net.layers()
    if len(layers) != len(state.layers):
        raise ValueError(f"the resume state has {len(state.layers)} layers, the network {len(layers)}")
    for layer, entry in zip(layers, state.layers):
        storage = layer.storage()
        if len(storage) != len(entry["deltas"]) or any(dw.shape != d.shape for (_, dw), d in
                                                      zip(storage, entry["deltas"])):
            raise ValueError(f"the resume state's delta buffers do not fit layer {layer.kind}")
        for (_, dw), saved in zip(storage, entry["deltas"]):
            dw[...] = saved
        layer.adam_state = {j: (m.astype(w.dtype), v.astype(w.dtype))
                            for j, ((w, _), (m, v)) in enumerate(zip(storage, entry["adam"]))}
        layer.adam_step = int(entry["adam_step"])
        layer.nsteps, layer.nseq = int(entry["nsteps"]), int(entry["nseq"])


def generator_state(rng):
    """A numpy Generator's state as JSON-able data."""
    return rng.bit_generator.state


def set_generator_state(rng, data):
    rng.bit_generator.state = data
