"""clstmtools: clstm's small-LSTM sequence trainers (OCR and text transduction) on Numba kernels."""
from .sequence import Sequence  # noqa: F401
