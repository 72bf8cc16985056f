"""Training one model on the ranks of an MPI job: each step every rank trains on its share of the minibatch, the deltas are summed and every rank makes the same update.

:class:`DataParallelTrainer` is the :class:`~clstmtools.trainer.Trainer` of a rank of a
:class:`~clstmtools.distributed.World`. Every rank draws the same lines for a step (the order's
generator is seeded alike), takes every size-th of them from its rank, runs them forward and
backward, and one Allreduce sums the weight deltas (and the lines' counts) over the ranks; the
update is then the one a single process makes after the whole minibatch (to float32 rounding of
the sums). clstm's momentum buffer is the delta array itself: it is set aside before a step and
added back after the sum, so that it is counted once. Ranks agree on stopping (a signal, early
stopping) at step boundaries; rank 0 alone writes; the run state holds every rank's generators.
"""
from .distributed import CHECK_EVERY
from .params import ParamError
from .trainer import Interrupted, Trainer


class DataParallelTrainer(Trainer):
    """A Trainer whose steps are shared among the ranks of ``world`` (see the module's description)."""

    def __init__(self, *args, world, **kwargs):
        self.world = world
        super().__init__(*args, **kwargs)
        self.writes = world.leader
        if not world.leader:
            self.display = None
        size = self.s.get("minibatch") or world.size
        if size < world.size:
            raise ParamError(f"minibatch={size}: the minibatch is shared among the {world.size} ranks; give each at "
                             f"least one line (minibatch={world.size} or more)")
        if self.s.get("pseudo_batch", 1) > 1:
            raise ParamError("pseudo_batch: with several ranks, minibatch=N is the lines of one update; set "
                             "minibatch instead")
        self._set_aside = None

    def step_size(self):
        return self.s.get("minibatch") or self.world.size

    def share(self, indices):
        """This rank's lines of a step: dealt out by width where the widths are known without reading the
        lines (HDF5 lines, texts), so that the ranks' shares take about as long; else every size-th."""
        width = getattr(self.task, "width", None)
        widths = [width(i) for i in indices] if width is not None else [None]
        return self.world.share(indices) if None in widths else self.world.share_by_width(indices, widths)

    def act_on_signal(self):
        """Stop on every rank when any rank got a signal since the last step boundary (all ranks decide the
        same at the same boundary: no rank waits in a sum another left)."""
        signals = [signum for signum in self.world.gather(self.pending_signal or 0) if signum]
        if signals:
            raise Interrupted(self.pending_signal or signals[0])

    def _momentum(self):
        """The delta arrays that carry clstm's momentum between updates (SGD's; Adam's are consumed)."""
        return [dw for layer in self.net.layers() if layer.optimizer == "sgd" and not layer.frozen
                for _, dw in layer.storage()]

    def set_aside(self):
        """Take the momentum out of the delta arrays before a step (they then hold this rank's deltas alone)."""
        self._set_aside = [dw.copy() for dw in self._momentum()]
        for dw in self._momentum():
            dw[...] = 0

    def _step(self, trial, size):
        if self._set_aside is None:
            self.set_aside()
        return super()._step(trial, size)

    def learn(self, trial, used):
        losses = sum(record["loss"] for _, record in used)
        errors = sum(record["errors"] for _, record in used)
        count = sum(record["count"] for _, record in used)
        lines, losses, errors, count = self.world.sum_deltas(self.net, [len(used), losses, errors, count])
        for dw, kept in zip(self._momentum(), self._set_aside):
            dw += kept
        self._set_aside = None
        if lines:
            self.count_lines(int(lines), losses / lines, int(errors), int(count))
            self.update(trial, f"one of the lines of rank {self.world.rank}" if not used else
                        self.task.name(used[0][0]))
            if self.updates % CHECK_EVERY == 0:
                self.world.check_alike(self.net, trial)

    def run_test(self):
        self.world.check_alike(self.net, self.trial)
        return super().run_test()

    def save(self, path, error=None, state=True):
        self._rank_generators = self.world.gather(self._generator_states())
        return super().save(path, error, state)

    def _generator_states(self):
        from .resume import generator_state

        return {name: generator_state(rng) for name, rng in self.generators().items()}

    def run_state(self):
        state = super().run_state()
        state.scalars["ranks"] = self.world.size
        state.scalars["rank_generators"] = self._rank_generators
        return state

    def restore(self, state):
        super().restore(state)
        from .resume import set_generator_state

        ranks = state.get("rank_generators")
        if ranks is None or len(ranks) != self.world.size:
            saved = state.get("ranks", 1)
            self.warn(f"{self.s.get('load')}: saved by {saved} rank(s), continued on {self.world.size}: the lines "
                      f"each rank draws and their random degradations go on otherwise than in the run it continues")
            return
        generators = self.generators()
        for name, data in ranks[self.world.rank].items():
            if name in generators:
                set_generator_state(generators[name], data)
