"""clstm's network model: layers that own weights and buffers, composites, prefab networks, make_net.

Every network has the four sequence ports ``inputs``, ``outputs``, ``d_inputs``, ``d_outputs``
(:class:`~clstmtools.sequence.Sequence`, public shape ``(T, depth, batch)``); ``forward()`` fills
``outputs`` from ``inputs``, ``backward()`` fills ``d_inputs`` from ``d_outputs`` (deltas are
*target minus output*) and accumulates weight deltas, ``update()`` applies them.

A minibatch is a padded batch with per-column lengths (``inputs.aset_batch(list_of_arrays)``,
``outputs.column(b)``, ``d_outputs.aset_batch(list)``): padding never changes a result, and
``update()`` after one minibatch equals pseudo-batching its lines one at a time. Composites hand
buffers on without copying (``Sequence.share``); the two halves of a ``Parallel`` and the row
chunks of a full layer run on the threads of :mod:`clstmtools.parallel`.

The package: :mod:`.ports` (ports and the layer base), :mod:`.full` (full layers), :mod:`.lstm`
(LSTMs), :mod:`.gru` (GRUs), :mod:`.composites`, :mod:`.conv` (convolution, pooling, reshapes,
normalization, dropout over feature maps), :mod:`.directions` (recurrent layers along the rows or
columns of feature maps), :mod:`.vgsl` (network specs) and :mod:`.kinds` (the one registry of kinds,
``make_net``).
"""
from ..kernels.config import FLOAT  # noqa: F401  (the dtype of new layers: tests set it to float64)
from .composites import Parallel, Reversed, Stacked  # noqa: F401
from .conv import (  # noqa: F401
    BatchNorm, Conv2D, Dropout, GroupNorm, MaxPool, Reshape, describe_maps, dropout_layers, normalizes_by_batch,
    seed_dropout,
)
from .directions import AlongX, AlongY  # noqa: F401
from .full import (  # noqa: F401
    MIN_CHUNK_ROWS, ROW_CHUNKS, FullLayer, LinearLayer, ReluLayer, SigmoidLayer, SoftmaxLayer, TanhLayer, row_chunks,
)
from .kinds import (  # noqa: F401
    ALIASES, COMPOSITES, IMAGE_PREFAB_KINDS, KINDS, LAYER_TYPES, LSTM_TYPES, OUTPUT_TYPES, PREFAB_KINDS, PREFABS,
    SPEC_KINDS, SPEC_PREFABS, build_net, canonical_kind, initialize, make_net, make_net_init, network_info,
)
from .gru import GRU  # noqa: F401
from .lstm import LINLSTM, LSTM, NPLSTM, RELU2LSTM, RELULSTM, RELUTANHLSTM  # noqa: F401
from .ports import (  # noqa: F401
    GRADIENT_CLIP, INIT_RANGE, INITS, MAX_STEPS, NORMALIZATIONS, OPTIMIZERS, Layer, Network, NetworkError,
)
from .vgsl import (  # noqa: F401
    CNNBIDILSTM, CRNN, SpecError, build_spec, input_shape, line_format, recurrent_sizes, spec_depth,
)
