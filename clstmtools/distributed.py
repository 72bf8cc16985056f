"""Training one model on several processes over MPI: which process this is, the gradient sum across them, and the checks that keep the replicas alike.

A program started by ``mpiexec -n K`` (or Slurm's ``srun``) runs as K ranks. Every rank holds the
whole model; each step every rank trains on its share of the minibatch, their weight deltas are
summed (``Allreduce``) and every rank makes the same update, so the replicas stay identical
(checked every CHECK_EVERY updates and at each test). Rank 0 alone prints and writes. Without an MPI
launcher (or with one rank) :func:`world` is None and nothing of MPI is imported: the launchers'
environment variables tell whether there are several ranks before mpi4py is loaded.
"""
import os
import sys
import zlib

import numpy as np

#: environment variables that MPI launchers set: (size, rank, ranks on this node)
LAUNCHERS = (
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),  # Open MPI
    ("PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS"),  # MPICH's Hydra, Intel MPI, srun --mpi=pmi2
    ("SLURM_STEP_NUM_TASKS", "PMIX_RANK", "SLURM_STEP_TASKS_PER_NODE"),  # srun --mpi=pmix
)
#: updates between two checks that every rank holds the same weights
CHECK_EVERY = 100


class DistributedError(RuntimeError):
    """Ranks that disagree (their weights drifted apart), or MPI that cannot be used."""


def launched_size():
    """The number of ranks an MPI launcher started this process among (1 without one)."""
    for size, rank, _ in LAUNCHERS:
        if size in os.environ and rank in os.environ:
            try:
                return int(os.environ[size])
            except ValueError:
                return 1
    return 1


_WORLD = []


def world():
    """The :class:`World` of this run when an MPI launcher started it with several ranks, else None."""
    if not _WORLD:
        _WORLD.append(World() if launched_size() > 1 else None)
    return _WORLD[0]


class World:
    """The ranks of one MPI job (mpi4py's COMM_WORLD): ``rank``, ``size``, ``local_size`` (ranks on this node)."""

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError:
            raise DistributedError("started by an MPI launcher, but mpi4py is not installed: pip install "
                                   "'clstmtools[mpi]'") from None
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.local_size = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
        self._buffer = None

    @property
    def leader(self):
        """True on rank 0, which alone prints, saves and runs hooks."""
        return self.rank == 0

    def share(self, items):
        """This rank's part of ``items`` (a minibatch's lines, a test set): every size-th from its rank."""
        return list(items)[self.rank::self.size]

    def share_by_width(self, items, widths):
        """This rank's part of ``items``: from the widest down, each to the rank with the fewest steps so far
        (the lowest rank on a tie), so that every rank's part holds about as many steps."""
        totals = [0] * self.size
        mine = []
        for k in sorted(range(len(items)), key=lambda k: (-widths[k], k)):
            rank = min(range(self.size), key=lambda r: (totals[r], r))
            totals[rank] += widths[k]
            if rank == self.rank:
                mine.append(items[k])
        return mine

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        return self.comm.bcast(value, root=0)

    def gather(self, value):
        """Every rank's ``value``, in rank order, on every rank."""
        return self.comm.allgather(value)

    def sum(self, values):
        """The float64 sums over the ranks of a few numbers (error counts, a stop request)."""
        values = np.asarray(values, np.float64)
        total = np.empty_like(values)
        self.comm.Allreduce(values, total, op=self.MPI.SUM)
        return total

    def sum_deltas(self, net, extra=()):
        """Sum the weight deltas of every layer of ``net`` (and the step and sequence counts its learning-rate
        normalization divides by) over the ranks, in place, with one Allreduce; ``extra`` numbers ride
        along (a stop request) and come back summed."""
        layers = net.layers()
        arrays = [dw for layer in layers for _, dw in layer.storage()]
        n = sum(a.size for a in arrays)
        counts = [float(v) for layer in layers for v in (layer.nsteps, layer.nseq)]
        size = n + len(counts) + len(extra)
        if self._buffer is None or self._buffer.size != size:
            self._buffer = np.empty(size, np.float32)
        buffer = self._buffer
        k = 0
        for a in arrays:
            buffer[k:k + a.size] = a.ravel()
            k += a.size
        buffer[k:] = counts + [float(v) for v in extra]
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        k = 0
        for a in arrays:
            a.ravel()[...] = buffer[k:k + a.size]
            k += a.size
        for layer, (nsteps, nseq) in zip(layers, buffer[k:k + len(counts)].reshape(-1, 2)):
            layer.nsteps, layer.nseq = int(round(nsteps)), int(round(nseq))
        return buffer[k + len(counts):].astype(np.float64)

    def check_alike(self, net, trial):
        """Stop with a DistributedError when the ranks' weights are no longer bit for bit the same."""
        digest = 0
        for _, w, _ in net.weights():
            digest = zlib.crc32(np.ascontiguousarray(w).view(np.uint8), digest)
        digests = self.gather(digest)
        if len(set(digests)) > 1:
            differing = [rank for rank, d in enumerate(digests) if d != digests[0]]
            raise DistributedError(f"trial {trial}: the weights of rank(s) {differing} differ from rank 0's; the "
                                   f"replicas drifted apart (a rank computed something else)")

    def abort(self, status):
        """End every rank of the job at once (after this rank reported an error)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(status)


def silence_followers(w):
    """On every rank but rank 0, standard output goes nowhere (errors and warnings still reach stderr)."""
    if w is not None and not w.leader:
        sys.stdout = open(os.devnull, "w")


def threads_per_rank(w, cores):
    """The cores of a node shared among its ranks: ``cores // ranks on this node`` (at least 1)."""
    return max(1, cores // (w.local_size if w is not None else 1))
