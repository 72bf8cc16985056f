"""The one registry of network kinds (layers, composites, prefab networks and their aliases) and the builders over it."""
import numpy as np

from .composites import Parallel, Reversed, Stacked
from .full import LinearLayer, ReluLayer, SigmoidLayer, SoftmaxLayer, TanhLayer
from .gru import GRU
from .lstm import LINLSTM, LSTM, NPLSTM, RELU2LSTM, RELULSTM, RELUTANHLSTM
from .ports import INITS, NetworkError
from .vgsl import CNNBIDILSTM, CRNN, build_spec


LAYER_TYPES = {cls.kind: cls for cls in (
    LinearLayer, SigmoidLayer, TanhLayer, ReluLayer, SoftmaxLayer,
    LSTM, NPLSTM, LINLSTM, RELUTANHLSTM, RELULSTM, RELU2LSTM, GRU)}
LSTM_TYPES = ("LSTM", "NPLSTM", "LINLSTM", "RELUTANHLSTM", "RELULSTM", "RELU2LSTM")
OUTPUT_TYPES = ("SoftmaxLayer", "SigmoidLayer", "LinearLayer", "TanhLayer", "ReluLayer")
COMPOSITES = {"Stacked": Stacked, "Reversed": Reversed, "Parallel": Parallel}


def _named(net, name):
    net.name = name
    return net


def _bidi(lstm_type, ni, nh, name="parallel"):
    cls = LAYER_TYPES[lstm_type]
    return _named(Parallel().add(cls(ni, nh)).add(Reversed().add(cls(ni, nh))), name)


def _lstm1(a):
    return _named(Stacked().add(LSTM(a["ninput"], a["nhidden"])).add(SoftmaxLayer(a["nhidden"], a["noutput"])), "lstm1")


def _revlstm1(a):
    return _named(Stacked().add(Reversed().add(LSTM(a["ninput"], a["nhidden"])))
                  .add(SoftmaxLayer(a["nhidden"], a["noutput"])), "revlstm1")


def _bidilstm(a):
    bidi = _bidi(a["lstm_type"], a["ninput"], a["nhidden"])
    out = LAYER_TYPES[a["output_type"]](2 * a["nhidden"], a["noutput"])
    return _named(Stacked().add(bidi).add(out), "bidilstm")


def _bidilstm2(a):
    nh2 = a["nhidden2"] if a["nhidden2"] > 0 else a["nhidden"]
    return _named(Stacked().add(_bidi("LSTM", a["ninput"], a["nhidden"], "bidilayer"))
                  .add(_bidi("LSTM", 2 * a["nhidden"], nh2, "bidilayer"))
                  .add(SoftmaxLayer(2 * nh2, a["noutput"])), "bidilstm2")


#: prefab kinds: canonical name -> (builder, output_type override)
PREFABS = {
    "LSTM1": (_lstm1, None),
    "REVLSTM1": (_revlstm1, None),
    "BIDILSTM": (_bidilstm, None),
    "LRBIDILSTM": (_bidilstm, "SigmoidLayer"),
    "LINBIDILSTM": (_bidilstm, "LinearLayer"),
    "BIDILSTM2": (_bidilstm2, None),
}
ALIASES = {"lstm1": "LSTM1", "uni": "LSTM1", "revlstm1": "REVLSTM1", "bidi": "BIDILSTM",
           "lrbidi": "LRBIDILSTM", "bidi2": "BIDILSTM2", "linbidi": "LINBIDILSTM"}
#: networks over line images given by a VGSL spec (attribute ``spec``): ``VGSL`` and named specs
SPEC_PREFABS = {"CNNBIDILSTM": CNNBIDILSTM, "CRNN": CRNN}
SPEC_KINDS = ("VGSL",) + tuple(SPEC_PREFABS)
#: what ``lstm=`` offers: the prefab networks and their aliases (the image networks for clstmctc)
PREFAB_KINDS = tuple(PREFABS) + tuple(ALIASES)
IMAGE_PREFAB_KINDS = tuple(SPEC_PREFABS)
#: what ``make_net`` and model files accept: the prefabs and the building blocks
KINDS = PREFAB_KINDS + SPEC_KINDS + tuple(LAYER_TYPES) + tuple(COMPOSITES)


def canonical_kind(kind):
    """The canonical kind name for a kind or alias, or a NetworkError listing the choices."""
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise NetworkError(f"unknown network kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def _size(attributes, name, default=None):
    value = attributes.get(name, default)
    if value is None:
        raise NetworkError(f"network attribute {name} is required")
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise NetworkError(f"network attribute {name}={value!r} is not a number") from None


def build_net(kind, attributes):
    """Build an uninitialized network of ``kind`` from string-valued ``attributes``."""
    kind = canonical_kind(kind)
    attributes = {k: str(v) for k, v in attributes.items()}
    if kind in COMPOSITES:
        net = COMPOSITES[kind]()
    elif kind in SPEC_KINDS:
        spec = attributes.setdefault("spec", SPEC_PREFABS.get(kind, ""))
        net = build_spec(spec, _size(attributes, "ninput"), _size(attributes, "noutput"))
    elif kind in LAYER_TYPES:
        net = LAYER_TYPES[kind](_size(attributes, "ninput"), _size(attributes, "noutput"))
    else:
        builder, forced_output = PREFABS[kind]
        a = {n: _size(attributes, n, d) for n, d in
             (("ninput", None), ("nhidden", 100), ("nhidden2", -1), ("noutput", None))}
        for n in ("ninput", "nhidden", "noutput"):
            if a[n] < 1:
                raise NetworkError(f"network attribute {n} must be positive, got {a[n]}")
        a["lstm_type"] = attributes.get("lstm_type", "LSTM")
        a["output_type"] = forced_output or attributes.get("output_type", "SoftmaxLayer")
        if a["lstm_type"] not in LSTM_TYPES:
            raise NetworkError(f"unknown lstm_type {a['lstm_type']!r}: use one of {', '.join(LSTM_TYPES)}")
        if a["output_type"] not in OUTPUT_TYPES:
            raise NetworkError(f"unknown output_type {a['output_type']!r}: use one of {', '.join(OUTPUT_TYPES)}")
        net = builder(a)
        attributes.setdefault("nhidden", str(a["nhidden"]))
        attributes.setdefault("nhidden2", str(a["nhidden2"]))
        attributes.setdefault("lstm_type", a["lstm_type"])
        attributes.setdefault("output_type", a["output_type"])
    net.attributes.update(attributes)
    net.attributes["kind"] = kind
    return net


def initialize(net, rng=None, init="clstm"):
    """Draw every weight of ``net`` (clstm: uniform ±0.01) and zero the deltas."""
    if init not in INITS:
        raise NetworkError(f"unknown init {init!r}: use clstm or scaled")
    rng = np.random.default_rng() if rng is None else rng
    for layer in net.layers():
        layer.init_weights(rng, init)
        layer.zero_deltas()
    return net


def make_net(kind, rng=None, init="clstm", **attributes):
    """Return an initialized network, e.g. ``make_net("bidi", ninput=48, nhidden=100, noutput=83)``.

    ``rng`` (a numpy Generator or an int seed) governs the initial weights."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return initialize(build_net(kind, attributes), rng, init)


def make_net_init(kind, params, rng=None):
    """clstm's colon-separated form: ``make_net_init("bidi", "ninput=48:nhidden=100:noutput=83")``."""
    attributes = {}
    for item in filter(None, params.split(":")):
        name, sep, value = item.partition("=")
        if not sep:
            raise NetworkError(f"network parameter {item!r} is not of the form name=value")
        attributes[name.strip()] = value.strip()
    return make_net(kind, rng=rng, **attributes)


def network_info(net):
    """One line per node: path, learning rate, momentum, ninput, noutput."""
    return "\n".join(f"{path} {node.learning_rate:g} {node.momentum:g} {node.ninput()} {node.noutput()}"
                     for path, node in net.walk())
