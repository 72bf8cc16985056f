"""The training loop shared by the three programs: steps, updates, reports, tests, saves, hooks and safe stops."""
import os
import signal
import subprocess
import sys
import time
import warnings
from collections import deque

import numpy as np

from . import resume
from .curve import write_curve
from .modelfile import save_net, save_stem
from .network import dropout_layers, recurrent_sizes
from .tasks import SkipSample, TrainingError, finite


#: attributes that describe the network itself; the run's parameters never overwrite them
NETWORK_ATTRIBUTES = ("kind", "ninput", "nhidden", "nhidden2", "noutput", "lstm_type", "output_type", "neps",
                      "unicode", "spec")
#: seconds within which the same signal again is the same request, not a second one: a parent that
#: dies with several threads sends its death signal (PR_SET_PDEATHSIG) once per thread
REPEAT_WINDOW = 1.0


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived during training: acted on at the next step boundary, or at once (``save``
    False) when a second one (another signal, or the same after REPEAT_WINDOW) comes before that."""

    def __init__(self, signum, save=True):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.save = save


class StopTraining(Exception):
    """Raised by a per-test callback (early stopping, a sweep's pruner) to end the run normally; the
    message says why."""


def hits(every, lo, hi):
    """True when a positive ``every`` has a multiple in ``[lo, hi)`` (periodic events of a run)."""
    return every > 0 and hi > lo and (hi - 1) // every >= -(-lo // every)


# --- the loop ---------------------------------------------------------------------------------------
class Trainer:
    """Runs training for any task: chooses lines, updates every ``pseudo_batch`` lines, reports,
    tests, saves (atomically, never a NaN model, never over a better one), runs hooks, stops safely.

    ``settings`` is a :class:`clstmtools.params.Settings`; ``test(net, trainer)`` and
    ``validate(net, trainer)`` return ``(error_rate, line_to_print)`` (or are None); when there is a
    validation, it chooses the best model and the test is only reported. ``train_indices`` are the
    samples to train on. ``on_test`` holds callbacks ``f(trainer, result)`` run after each test
    (``result``: trial, validation, test, selected, improved); one may raise StopTraining.
    ``state`` is a :class:`clstmtools.resume.RunState` to continue from (``load=`` of a model
    saved by a run); ``keep`` names arrays saved with the run state (the validation split).
    Until trial ``freeze_until`` only the output layer trains (freeze=N after load=); ``data_key``
    identifies the training data in the run state (see :func:`clstmtools.resume.data_key`)."""

    def __init__(self, net, settings, task, train_indices, test=None, out=None, display=None, validate=None,
                 state=None, keep=None, freeze_until=0, data_key=None):
        self.net = net
        net.set_input_deltas(False)  # nothing here reads them
        self.s = settings
        self.task = task
        self.indices = np.asarray(train_indices)
        if len(self.indices) == 0:
            raise TrainingError("there is nothing to train on")
        self.test_fn = test
        self.validate_fn = validate
        self.out = out or sys.stdout
        self.display = display
        self.save_name = save_stem(settings.save_name)
        self.best = self.resumed_best()
        self.start_time = time.time()
        self.window = deque(maxlen=100)
        self.total = dict(lines=0, errors=0, count=0, loss=0.0)
        self.trial = 0
        self.updates = 0
        self.pending = 0  # lines back-propagated since the last update
        self.best_trial = None
        self.best_test = None
        self.stale = 0  # tests since the selection error last improved
        self.stopped = None  # why a callback ended the run early
        self.keep = dict(keep or {})
        self.curve = []  # (trial, wall s, training loss, training error, validation error, test error)
        self.time_offset = 0.0  # wall time of the runs this one continues
        self.on_test = [early_stop]
        self.progress = Progress(self.out, settings.ntrain)
        self.freeze_until = freeze_until
        self.frozen = False
        self.data_key = data_key
        self.writes = True  # this process writes models, curves, pictures and runs hooks (one rank of several not)
        self.saved = []
        self.skipped = set()
        self.resumed = state is not None and settings.get("start", -1) < 0
        if self.resumed:
            self.restore(state)
        if "%" in self.save_name:
            try:
                self.save_name % 0
            except (TypeError, ValueError) as error:
                raise TrainingError(f"save_name={settings.save_name!r}: a % in the name must be one number "
                                    f"format such as %08d ({error})") from None

    # --- output ------------------------------------------------------------------------------
    def say(self, *lines):
        self.progress.clear()
        for line in lines:
            print(line, file=self.out)
        self.out.flush()

    def warn(self, message):
        self.progress.clear()
        print(message, file=sys.stderr)
        sys.stderr.flush()

    # --- saving and hooks --------------------------------------------------------------------
    def resumed_best(self):
        """The loaded model's test error when this run's best-on-test saves would replace that
        very file (resuming under the same name): a worse model must not overwrite it."""
        load, target = self.s.get("load"), self.save_name + ".h5"
        if not (load and self.save_name and os.path.exists(load) and os.path.exists(target)
                and os.path.samefile(load, target)):
            return float("inf")
        try:
            return float(self.net.attributes.get("last_err", "inf"))
        except ValueError:
            return float("inf")

    def run_hook(self, name, path=None):
        command = self.s.get(name) or ""
        if not command or not self.writes:
            return
        env = dict(os.environ)
        if path:
            env["CLSTM_SAVED"] = os.path.abspath(path)
        env["CLSTM_TRIAL"] = str(self.trial)
        result = subprocess.run(command, shell=True, env=env)
        if result.returncode != 0:
            self.warn(f"{name} hook {command!r} exited with status {result.returncode}; training goes on")

    def weights_finite(self):
        return all(finite(w) for _, w, _ in self.net.weights())

    def save(self, path, error=None, state=True):
        """Save the network with the trial, the error, the resolved parameters and (``state``) what a
        resumed run continues from; refuse NaN weights."""
        if not self.weights_finite():
            raise TrainingError(f"trial {self.trial}: the weights contain NaN or infinity; not saving {path}")
        attributes = self.net.attributes
        for name, value in self.s.attributes().items():
            if name not in NETWORK_ATTRIBUTES:  # the network's own attributes describe its shape
                attributes[name] = value
        attributes["trial"] = str(self.trial)
        if error is not None:
            attributes["last_err"] = f"{error:g}"
        if self.writes:
            save_net(path, self.net, extra=(lambda f: resume.write(f, self.run_state())) if state else None)
        self.saved.append(path)
        self.say(f"# saved {path}")
        self.run_hook("after_save", path)
        return path

    def periodic_path(self):
        if "%" in self.save_name:
            return (self.save_name % self.trial) + ("" if self.save_name.endswith(".h5") else ".h5")
        return f"{self.save_name}-{self.trial:08d}.h5"

    # --- exact resume ------------------------------------------------------------------------------
    def generators(self):
        """The run's random generators: the sample order (and weight initialization), the task's own,
        each dropout layer's (by its place in the network)."""
        dropout = {f"dropout{path}": layer.rng for path, layer in dropout_layers(self.net)}
        return {"order": self.s.rng, **self.task.generators(), **dropout}

    def run_state(self):
        """Everything a resumed run needs besides the weights, at a step boundary."""
        scalars = dict(trial=self.trial, updates=self.updates, pending=self.pending, best=self.best,
                       best_trial=self.best_trial, best_test=self.best_test, stale=self.stale,
                       freeze=self.s.get("freeze", 0), freeze_until=self.freeze_until, data=self.data_key,
                       wall=self.time_offset + self.elapsed(),
                       generators={name: resume.generator_state(rng) for name, rng in self.generators().items()})
        arrays = dict(self.keep)
        if self.curve:
            arrays["curve"] = np.array(self.curve, np.float64)
        return resume.capture(self.net, scalars, arrays)

    def restore(self, state):
        """Continue from ``state``: optimizer buffers, counters, random states, best errors, the curve."""
        try:
            resume.restore(self.net, state)
        except ValueError as error:
            raise TrainingError(f"{self.s.get('load')}: {error}") from None
        generators = self.generators()
        for name, data in state.get("generators", {}).items():
            if name in generators:
                resume.set_generator_state(generators[name], data)
        self.updates, self.pending = state.get("updates", 0), state.get("pending", 0)
        if self.best == float("inf"):  # else the loaded file is the one best saves replace: its error rules
            self.best = float(state.get("best", float("inf")))
        self.best_trial, self.best_test, self.stale = state.get("best_trial"), state.get("best_test"), state.get("stale", 0)
        self.time_offset = float(state.get("wall", 0.0))
        if state.get("freeze") == self.s.get("freeze", 0):  # the same command continued; else a new freeze=N
            self.freeze_until = state.get("freeze_until", self.freeze_until)
        if "curve" in state.arrays:
            self.curve = [tuple(row) for row in state.arrays["curve"].tolist()]

    # --- learning-rate schedule --------------------------------------------------------------
    def learning_rate(self):
        lr = self.s.lrate
        decay = self.s.get("lrate_decay", 1.0)
        if decay != 1.0:
            lr *= decay ** (self.trial / 1000.0)
        warmup = self.s.get("warmup", 0)
        if warmup and self.trial < warmup:
            lr *= (self.trial + 1) / warmup
        return lr

    # --- tests ---------------------------------------------------------------------------------
    def elapsed(self):
        return time.time() - self.start_time

    def run_test(self):
        """Validate and test (each callable returns the error rate and the line to print); the
        validation error (else the test error) selects: save when better, then the callbacks."""
        if self.test_fn is None and self.validate_fn is None:
            return None
        result = dict(trial=self.trial, validation=None, test=None)
        for key, fn in (("validation", self.validate_fn), ("test", self.test_fn)):
            if fn is not None:
                result[key], line = fn(self.net, self)
                self.say(line)
        self.run_hook("after_test")
        rate = result["validation"] if self.validate_fn is not None else result["test"]
        result.update(selected=rate, improved=rate < self.best)
        if result["improved"]:
            self.best, self.best_trial, self.best_test, self.stale = rate, self.trial, result["test"], 0
        else:
            self.stale += 1
        self.add_curve_point(result)
        if self.s.save_every == 0 and self.save_name and result["improved"]:
            self.save(self.save_name + ".h5", rate)
        for callback in self.on_test:
            callback(self, result)
        return rate

    def add_curve_point(self, result):
        """Record the test in the run's curve and redraw save_name-curve.png."""
        nan = float("nan")
        loss = float(np.mean([r[0] for r in self.window])) if self.window else nan
        errors = sum(r[1] for r in self.window) / max(sum(r[2] for r in self.window), 1) if self.window else nan
        self.curve.append((self.trial, self.time_offset + self.elapsed(), loss, errors,
                           nan if result["validation"] is None else result["validation"],
                           nan if result["test"] is None else result["test"]))
        if self.save_name and self.writes:
            write_curve(f"{self.save_name}-curve.png", self.curve, os.path.basename(self.save_name))

    # --- the loop ------------------------------------------------------------------------------
    def choose(self, trial):
        if self.s.randomize:
            return int(self.indices[self.s.rng.integers(len(self.indices))])
        return int(self.indices[trial % len(self.indices)])

    def hidden_sizes(self):
        """The network's own nhidden and nhidden2 (a loaded model keeps its sizes whatever the settings say);
        for a VGSL network, its first two recurrent layers' (LSTMs or GRUs; -1 where it has fewer)."""
        spec = self.net.attributes.get("spec")
        if spec:
            return tuple((recurrent_sizes(spec) + [-1, -1])[:2])
        return (self.net.attr_int("nhidden", self.s.nhidden),
                self.net.attr_int("nhidden2", self.s.get("nhidden2", -1)))

    def report(self, record, i):
        elapsed = time.time() - self.start_time
        lines = max(self.total["lines"], 1)
        loss = np.mean([r[0] for r in self.window])
        errs = sum(r[1] for r in self.window) / max(sum(r[2] for r in self.window), 1)
        shape = record["input"].shape
        nh1, nh2 = self.hidden_sizes()
        self.say(f"{self.trial} {i} dim {shape[0]} {shape[1]} time {elapsed:.1f} lines/s {lines / elapsed:.1f} "
                 f"lrate {self.learning_rate():g} hidden {nh1} {nh2} loss {record['loss']:.4g} "
                 f"mean loss {loss:.4g} mean err {errs:.4f}")
        self.say(*self.task.report(record))

    def train(self, start, ntrain):
        """Train from trial ``start`` up to ``ntrain``; returns the exit status (0, or 130/143 when
        interrupted after saving)."""
        self.trial = start
        self.pending_signal = None
        previous = {}

        def record(signum, frame):
            # only noted here: the loop stops at the next step boundary, so that the model it saves is
            # the state after a whole step (never half an update, never inside an HDF5 write)
            now = time.monotonic()
            if self.pending_signal is not None:
                if signum == self.pending_signal and now - self.signalled_at < REPEAT_WINDOW:
                    return  # the same request delivered again (a dying parent signals once per thread)
                raise Interrupted(signum, save=False)
            self.pending_signal, self.signalled_at = signum, now

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, record)
        try:
            # overflow shows up as NaN or infinity, which the loop detects and reports itself; the
            # filter (unlike np.errstate) also covers the threads that run the layers
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", r"(overflow|invalid value) encountered", RuntimeWarning)
                self._loop(start, ntrain)
                self.act_on_signal()
        except StopTraining as stop:
            self.stopped = str(stop)
            self.say(f"# {stop}")
        except Interrupted as stop:
            for signum, handler in previous.items():  # another signal must not cut the save short
                signal.signal(signum, signal.SIG_IGN)
            if not stop.save:
                self.warn(f"interrupted twice (by {stop}) at trial {self.trial}; stopped without saving")
                return 128 + stop.signum
            path = f"{self.save_name}-interrupted.h5" if self.save_name else "clstm-interrupted.h5"
            self.warn(f"interrupted by {stop} at trial {self.trial}; saving the model to {path}")
            if self.weights_finite():
                self.save(path)
            return 128 + stop.signum
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.finish()
        return 0

    def act_on_signal(self):
        """Stop (raise Interrupted) if a signal arrived since the last step boundary."""
        if self.pending_signal is not None:
            raise Interrupted(self.pending_signal)

    def _step(self, trial, size):
        """Train on the next ``size`` lines (one padded minibatch when size > 1); returns
        ``[(index, record), ...]`` for the lines used."""
        self.net.set_training(True)  # dropout and batch statistics in training steps only
        try:
            return self._training_step(trial, size)
        finally:
            self.net.set_training(False)

    def share(self, indices):
        """The lines of a step that this process trains on (all of them; one rank of several takes its part)."""
        return indices

    def _training_step(self, trial, size):
        indices = self.share([self.choose(trial + k) for k in range(size)])
        try:
            if len(indices) == 1:
                try:
                    return [(indices[0], self.task.step(self.net, indices[0]))]
                except SkipSample as skip:
                    skipped, used = [(indices[0], str(skip))], []
            else:
                records, skipped = self.task.step_batch(self.net, indices)
                kept = [i for i in indices if i not in {j for j, _ in skipped}]
                used = list(zip(kept, records))
        except TrainingError as error:
            raise TrainingError(f"trial {trial}, {error}") from None
        for i, reason in skipped:
            if i not in self.skipped:
                self.skipped.add(i)
                self.warn(f"skipping {reason} (strict=1 makes this an error)")
        return used

    def step_size(self):
        """Lines per step: the minibatch."""
        return max(1, self.s.get("minibatch", 1))

    def _loop(self, start, ntrain):
        s = self.s
        size = self.step_size()
        current_lr = None
        self.run_hook("after_start")
        trial = start
        while trial < ntrain:
            self.trial = trial
            self.act_on_signal()
            if (trial < self.freeze_until) != self.frozen:
                self.freeze(trial < self.freeze_until)
            self.progress.show(trial, self.total["lines"], self.elapsed())
            lr = self.learning_rate()
            if lr != current_lr:
                self.net.setLearningRate(lr, s.momentum)
                current_lr = lr
            n = min(size, ntrain - trial)
            used = self._step(trial, n)
            self.learn(trial, used)
            if used and hits(s.report_every, trial, trial + n):
                self.report(used[0][1], used[0][0])
            if used and self.writes and self.display is not None and hits(s.display_every, trial, trial + n):
                self.display(used[0][1])
            trial += n
            if hits(s.test_every, trial - n + 1, trial + 1):
                self.trial = trial
                self.run_test()
            if self.save_name and hits(s.save_every, trial - n + 1, trial + 1):
                self.trial = trial
                self.save(self.periodic_path())
        self.trial = max(ntrain, start)

    def learn(self, trial, used):
        """Count the lines ``used`` in a step (``[(index, record), ...]``) and update the weights every
        pseudo_batch lines."""
        for _, record in used:
            self.count_lines(1, record["loss"], record["errors"], record["count"])
        self.pending += len(used)
        if used and self.pending >= self.s.get("pseudo_batch", 1):
            self.update(trial, self.task.name(used[0][0]))

    def count_lines(self, lines, loss, errors, count):
        """Add trained lines to the totals and the window the reports average over."""
        self.total["lines"] += lines
        self.total["errors"] += errors
        self.total["count"] += count
        self.window.append((loss, errors, count))

    def update(self, trial, where):
        """Update the weights with the deltas since the last update; stop if that made them NaN."""
        self.net.update()
        self.updates += 1
        self.pending = 0
        if not self.weights_finite():
            raise TrainingError(f"trial {trial}, {where}: the update made the weights NaN or infinite; stopped "
                                "without saving them (try a smaller lrate)")

    def freeze(self, frozen):
        """Train the output layer alone (freeze=N after load=) or, from now on, every layer."""
        from .network.finetune import freeze_backbone

        freeze_backbone(self.net, frozen)
        self.frozen = frozen
        if frozen:
            self.say(f"# training the output layer only, until trial {self.freeze_until} (freeze)")
        else:
            self.say(f"# trial {self.trial}: training every layer")

    def finish(self):
        """Final test and save, and a summary."""
        if self.stopped is None and self.s.test_every > 0 and self.trial % self.s.test_every != 0:
            try:
                self.run_test()
            except StopTraining:
                pass  # the run ends here anyway
        tested = (self.test_fn is not None or self.validate_fn is not None) and self.s.test_every > 0
        if self.save_name and not tested and self.s.save_every == 0:
            self.save(self.save_name + ".h5")
        elapsed = time.time() - self.start_time
        t = self.total
        rate = t["errors"] / max(t["count"], 1)
        best = ""
        if self.best < float("inf"):
            best = f" best {'validation' if self.validate_fn else 'test'} error {self.best:g}"
        if self.skipped:
            best += f"; skipped {len(self.skipped)} unusable sample(s)"
        self.say(f"# done: {t['lines']} lines in {elapsed:.1f} s ({t['lines'] / max(elapsed, 1e-9):.1f} lines/s), "
                 f"training error {rate:.4f}{best}; saved {len(self.saved)} model file(s)"
                 + (f", last {self.saved[-1]}" if self.saved else ""))
        if self.validate_fn is not None and self.best_trial is not None:
            tested = f", test error {self.best_test:g}" if self.best_test is not None else ""
            where = f" ({self.save_name}.h5)" if self.save_name and self.s.save_every == 0 else ""
            self.say(f"# selected model{where}: trial {self.best_trial}, validation error {self.best:g}{tested}")


def early_stop(trainer, result):
    """The on_test callback of ``early_stop=K``: stop after K tests without a better selection error."""
    patience = trainer.s.get("early_stop", 0)
    if patience > 0 and trainer.stale >= patience:
        what = "validations" if trainer.validate_fn is not None else "tests"
        raise StopTraining(f"early stop at trial {trainer.trial}: no improvement in {patience} {what} "
                           f"(best {trainer.best:g} at trial {trainer.best_trial})")


class Progress:
    """A one-line progress display (lines/s, time to ntrain) redrawn in place, on a terminal only."""

    EVERY = 0.5  # seconds between redraws

    def __init__(self, out, ntrain):
        self.out, self.ntrain = out, ntrain
        self.active = bool(getattr(out, "isatty", lambda: False)())
        self.shown = False
        self.last = -self.EVERY  # the first step shows it

    def show(self, trial, lines, elapsed):
        if not self.active or elapsed - self.last < self.EVERY:
            return
        self.last = elapsed
        speed = lines / max(elapsed, 1e-9)
        eta = (self.ntrain - trial) / speed if speed > 0 else float("inf")
        self.out.write(f"\r\033[K[{trial}/{self.ntrain} {100 * trial / self.ntrain:.1f}%] {speed:.1f} lines/s, "
                       f"{format_duration(eta)} to go")
        self.out.flush()
        self.shown = True

    def clear(self):
        if self.shown:
            self.out.write("\r\033[K")
            self.shown = False


def format_duration(seconds):
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
