"""clstmtools: clstm's small-LSTM sequence trainers (OCR and text transduction) on Numba kernels.

``import clstmtools as clstm`` gives the Python API clstm users scripted against: ``make_net``,
``make_net_init``, ``Sequence``, ``network_info``, ``save_net``, ``load_net`` and the CTC functions;
and what fine-tuning, voting and evaluation need: ``Codec``, ``resized_codec``, ``resize_outputs``,
``resize_inputs``, ``freeze_backbone``, ``read_line``, ``vote``, ``evaluate``, ``format_report``.
They are imported on first use, so that a program importing one submodule (``clstmtools.drivers``)
loads only what it runs.
"""
import importlib

#: the API's names, by the submodule that defines them
_API = {
    "codec": ("Codec", "resized_codec"),
    "ctc": ("beam_search_decode", "best_path_decode", "char_confidences", "ctc_align_targets", "ctc_loss",
            "mktargets", "seq_ctc_align", "trivial_decode"),
    "evaluation": ("evaluate", "format_report"),
    "modelfile": ("ModelFileError", "load_net", "save_net"),
    "network": ("Network", "NetworkError", "make_net", "make_net_init", "network_info"),
    "network.finetune": ("freeze_backbone", "resize_inputs", "resize_outputs"),
    "parallel": ("set_threads",),
    "sequence": ("Sequence",),
    "vote": ("read_line", "vote"),
}
_HOME = {name: module for module, names in _API.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name):
    """An API name, or a submodule (``clstmtools.ctc`` after ``import clstmtools``), imported now."""
    module = _HOME.get(name)
    if module is not None:
        home = importlib.import_module(f".{module}", __name__)
        # importing clstmtools.vote binds the name vote to the module: the API's names come after it
        globals().update({api_name: getattr(home, api_name) for api_name in _API[module]})
        value = getattr(home, name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
