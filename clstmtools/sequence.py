"""Sequence: a (T, depth, batch) float32 array, stored time-major as (T, batch, depth) for the kernels."""
import numpy as np

from .kernels.config import FLOAT


class Sequence:
    """A variable-length sequence of feature vectors, clstm's data type.

    The public shape is ``(T, depth, batch)`` (time step, feature, batch column), as in
    clstm. Internally the values live in ``self.data`` with shape ``(T, batch, depth)``,
    C-contiguous, so that a time step of the whole batch is one contiguous block and the
    matrix products over whole sequences are single BLAS calls. ``array()`` is a view of
    that storage in the public shape.
    """

    __slots__ = ("data",)

    def __init__(self, array=None):
        self.data = np.zeros((0, 1, 0), FLOAT)
        if array is not None:
            self.aset(array)

    # --- shape -------------------------------------------------------------------
    @property
    def T(self):
        return self.data.shape[0]

    @property
    def batch(self):
        return self.data.shape[1]

    @property
    def depth(self):
        return self.data.shape[2]

    @property
    def shape(self):
        return (self.T, self.depth, self.batch)

    def __len__(self):
        return self.T

    def resize(self, T, depth, batch=1):
        """Make the storage ``(T, batch, depth)``, reusing it when the shape is unchanged.

        Contents are undefined after a change of shape."""
        shape = (int(T), int(batch), int(depth))
        if self.data.shape != shape:
            self.data = np.empty(shape, FLOAT)
        return self.data

    def like(self, other):
        """Resize to the shape of another Sequence."""
        return self.resize(other.T, other.depth, other.batch)

    def zero(self):
        self.data[...] = 0
        return self

    # --- clstm's Python API ---------------------------------------------------------
    def array(self):
        """The values as a ``(T, depth, batch)`` view of this sequence's storage."""
        return self.data.transpose(0, 2, 1)

    def aset(self, array):
        """Set the values from a ``(T, depth, batch)`` array (``(T, depth)`` means batch 1)."""
        a = np.asarray(array)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"a sequence must be a (T, depth, batch) array, got shape {a.shape}")
        self.resize(a.shape[0], a.shape[1], a.shape[2])
        self.data[...] = a.transpose(0, 2, 1)
        return self

    def copy_from(self, other):
        """Copy another Sequence's values into this one."""
        self.like(other)
        self.data[...] = other.data
        return self

    def __repr__(self):
        return f"Sequence(T={self.T}, depth={self.depth}, batch={self.batch})"
