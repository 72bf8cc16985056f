"""clstmtools: clstm's small-LSTM sequence trainers (OCR and text transduction) on Numba kernels.

``import clstmtools as clstm`` gives the Python API clstm users scripted against: ``make_net``,
``make_net_init``, ``Sequence``, ``network_info``, ``save_net``, ``load_net`` and the CTC functions.
"""
from .ctc import (  # noqa: F401
    beam_search_decode, best_path_decode, char_confidences, ctc_align_targets, ctc_loss, mktargets,
    seq_ctc_align, trivial_decode,
)
from .modelfile import ModelFileError, load_net, save_net  # noqa: F401
from .network import (  # noqa: F401
    Network, NetworkError, make_net, make_net_init, network_info,
)
from .parallel import set_threads  # noqa: F401
from .sequence import Sequence  # noqa: F401
