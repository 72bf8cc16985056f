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

    A minibatch of sequences of different lengths is padded to the longest: ``lengths``
    holds the number of real steps of each column (None: every column has all ``T``), and
    the networks keep the padding from changing any result (see ``aset_batch``).
    """

    __slots__ = ("data", "lengths", "_borrowed")

    def __init__(self, array=None):
        self.data = np.zeros((0, 1, 0), FLOAT)
        self.lengths = None
        self._borrowed = False  # data is another Sequence's storage (see share)
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
        """Make the storage ``(T, batch, depth)``, reusing it when the shape is unchanged and it is
        this Sequence's own (never writing into storage borrowed with ``share``).

        Contents are undefined after a change of storage; ``lengths`` is reset (all columns full)."""
        shape = (int(T), int(batch), int(depth))
        if self.data.shape != shape or self._borrowed:
            self.data = np.empty(shape, FLOAT)
            self._borrowed = False
        self.lengths = None
        return self.data

    def like(self, other):
        """Resize to the shape of another Sequence and take its column lengths."""
        self.resize(other.T, other.depth, other.batch)
        self.lengths = other.lengths
        return self.data

    def share(self, other):
        """Make this Sequence a view of another one's storage and lengths (no copy) until it is
        next resized or set, which gives it storage of its own again."""
        self.data = other.data
        self.lengths = other.lengths
        self._borrowed = True
        return self

    def borrow(self, data, lengths=None):
        """Make this Sequence a view of ``data`` (another Sequence's storage, perhaps seen in another shape)
        with the column lengths ``lengths`` (None: all full), without copying, as :meth:`share` does."""
        self.data = data
        self.lengths = lengths
        self._borrowed = True
        return self

    def zero(self):
        lengths = self.lengths
        self.resize(self.T, self.depth, self.batch)[...] = 0
        self.lengths = lengths
        return self

    # --- minibatches of different lengths ------------------------------------------
    def column_lengths(self):
        """The number of real steps of every column, as an int64 array of size ``batch``."""
        if self.lengths is None:
            return np.full(self.batch, self.T, np.int64)
        return np.asarray(self.lengths, np.int64)

    def lengths_equal(self):
        """True when every column has the same number of real steps (no padding)."""
        lengths = self.column_lengths()
        return bool(lengths.size == 0 or (lengths == lengths[0]).all())

    def nsteps(self):
        """The number of real (not padding) time steps over all columns."""
        return self.T * self.batch if self.lengths is None else int(self.lengths.sum())

    def column(self, b):
        """Column ``b`` without its padding, as a ``(T_b, depth)`` view of the storage."""
        if not 0 <= b < self.batch:
            raise IndexError(f"column {b} of a sequence with batch {self.batch}")
        return self.data[:self.column_lengths()[b], b, :]

    def aset_batch(self, arrays):
        """Set a minibatch from a list of ``(T_i, depth)`` arrays: column ``i`` gets sequence ``i``,
        padded with zeros to the longest, and ``lengths`` records every ``T_i``."""
        arrays = [np.asarray(a) for a in arrays]
        if not arrays:
            raise ValueError("aset_batch needs at least one sequence")
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != arrays[0].shape[1]:
                raise ValueError(f"aset_batch: sequence {i} has shape {a.shape}, expected (T >= 1, "
                                 f"{arrays[0].shape[1] if arrays[0].ndim == 2 else 'depth'})")
        lengths = np.array([a.shape[0] for a in arrays], np.int64)
        data = self.resize(lengths.max(), arrays[0].shape[1], len(arrays))
        for i, a in enumerate(arrays):
            data[:a.shape[0], i, :] = a
            data[a.shape[0]:, i, :] = 0
        self.lengths = None if (lengths == lengths[0]).all() else lengths
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
        """Copy another Sequence's values (and column lengths) into this one."""
        self.like(other)
        self.data[...] = other.data
        return self

    def __repr__(self):
        lengths = "" if self.lengths is None else f", lengths={self.lengths.tolist()}"
        return f"Sequence(T={self.T}, depth={self.depth}, batch={self.batch}{lengths})"
