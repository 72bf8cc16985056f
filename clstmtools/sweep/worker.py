"""A sweep worker: runs trials=N trials of PROGRAM against the shared study, keeps the best model, stops
cleanly on SIGINT or SIGTERM (the running trial's model saved, the trial marked failed with the reason)."""
import fcntl
import os
import signal
import socket
import sys
import time

import optuna
from optuna.trial import TrialState

from ..modelfile import ModelFileError, load_net, save_net, save_stem
from .study import (fail_stale_trials, heartbeat, make_pruner, make_sampler, open_study, optimism, shown_location,
                    trial_seed)
from .trial import TrialRun, suggest, trial_environment


class TrialFailed(Exception):
    """A trial that could not give an error (bad value, NaN, crash); the worker goes on."""


class WorkerStopped(Exception):
    """SIGINT or SIGTERM reached the worker; it stops after the running trial."""


def say(line):
    print(line, flush=True)


def describe(space):
    parts = []
    for d in space:
        if d.choices is not None:
            parts.append(f"{d.name} in {':'.join(map(str, d.choices))}")
        else:
            parts.append(f"{d.name} {'log-' if d.log else ''}uniform in {d.lo},{d.hi}")
    return "; ".join(parts) or "nothing (every setting fixed)"


def keep_if_best(model_path, best_path, study_name, number, error, objective):
    """Copy the trial's model to ``best_path`` (atomically, under a lock) unless a better one is there.
    Returns True when it was copied."""
    with open(save_stem(best_path) + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.exists(best_path):
                current = load_net(best_path).attributes.get("sweep_error", "inf")
                if float(current) <= error:
                    return False
        except (ModelFileError, ValueError):
            pass  # an unreadable best model is replaced
        net = load_net(model_path)
        net.attributes.update(sweep_study=study_name, sweep_trial=str(number), sweep_error=f"{error!r}",
                              sweep_objective=objective)
        save_net(best_path, net)
        return True


class Worker:
    """The state of one worker: the study, the search space, the trial being run, a stop request."""

    def __init__(self, settings, program, data, program_settings, space, objective):
        self.s, self.program, self.data = settings, program, data
        self.space, self.objective = space, objective
        self.base = save_stem(program_settings.save_name)
        test_every = max(program_settings.test_every, 1)
        self.pruner = make_pruner(settings, test_every, program_settings.ntrain)
        self.study = None
        self.run = None
        self.signum = None

    def interrupt(self, signum, frame):
        self.signum = signum
        if self.run is not None:
            self.run.stop(signal.SIGINT)

    def objective_function(self, trial):
        if self.signum is not None:
            raise WorkerStopped("stopped before the trial began")
        with heartbeat(trial, self.s):
            return self.run_trial(trial)

    def run_trial(self, trial):
        self.study.sampler = make_sampler(self.s.sampler, trial_seed(self.s.seed, trial.number))
        values = {d.name: suggest(trial, d) for d in self.space}
        name = f"{self.base}-trial{trial.number}"
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("log", name + ".log")
        shown = " ".join(f"{key}={value}" for key, value in values.items())
        say(f"trial {trial.number} started: {shown or '(fixed settings)'}; output in {name}.log")
        env = trial_environment(os.environ, self.space, values, name)
        self.run = TrialRun(self.program, self.data, env, trial, self.objective, name + ".log", say)
        try:
            status = self.run.run()
        finally:
            run, self.run = self.run, None
        trial.set_user_attr("lines", run.lines)
        if os.path.exists(name + ".h5"):
            trial.set_user_attr("model", name + ".h5")
        if run.last_model:
            trial.set_user_attr("last_model", run.last_model)
        if self.signum is not None:
            reason = f"worker interrupted by {signal.Signals(self.signum).name} at {run.lines} lines"
            if run.last_model:
                reason += f"; model saved to {run.last_model}"
            trial.set_user_attr("fail_reason", reason)
            say(f"trial {trial.number} failed: {reason}")
            raise WorkerStopped(reason)
        if run.pruned:
            say(f"trial {trial.number} pruned at {run.lines} lines (error {run.errors[-1][1]:g}); "
                f"model so far in {run.last_model or name + '.h5'}")
            raise optuna.TrialPruned()
        reason = run.failure(status)
        if reason:
            trial.set_user_attr("fail_reason", reason)
            say(f"trial {trial.number} failed: {reason}")
            raise TrialFailed(reason)
        error = run.best_error()
        best = ""
        if os.path.exists(name + ".h5") and keep_if_best(name + ".h5", self.base + "-best.h5", self.s.study,
                                                          trial.number, error, self.objective):
            best = f"; the best so far, copied to {self.base}-best.h5"
        say(f"trial {trial.number} complete: error {error:g} after {run.lines} lines{best}")
        return error

    def work(self):
        """Run the trials; returns the exit status (0, or 128 + the signal that stopped the worker)."""
        self.study = open_study(self.s, self.pruner)
        chosen = self.study.user_attrs.get("objective", self.objective)
        if chosen != self.objective:
            raise ValueError(f"objective={self.s.objective}: study {self.s.study} minimizes the {chosen} error "
                             f"(its first worker's choice); give every worker the same objective")
        caveat = " (the best trial's will be optimistic: the test set chooses it)" if self.objective == "test" else ""
        say(f"# study {self.s.study} in {shown_location(self.s)}: {self.s.trials} trial(s) of {self.program} "
            f"over {describe(self.space)}; minimizing the {self.objective} error{caveat}; sampler "
            f"{self.s.sampler} (seed {self.s.seed}), pruner {self.s.pruner}")
        for name, value in (("program", self.program), ("objective", self.objective)):
            if not self.study.user_attrs.get(name):
                self.study.set_user_attr(name, value)
        previous = {signum: signal.signal(signum, self.interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
        start = time.time()
        try:
            self.study.optimize(self.objective_function, n_trials=self.s.trials, catch=(TrialFailed,),
                                callbacks=[self.after_trial])
        except WorkerStopped:
            print(f"clstmsweep: stopped by {signal.Signals(self.signum).name}", file=sys.stderr)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.summary(time.time() - start)
        return 128 + self.signum if self.signum else 0

    def after_trial(self, study, trial):
        """Between two trials: stop when asked to, else fail the trials whose workers died meanwhile."""
        if self.signum:
            study.stop()
        else:
            fail_stale_trials(study, self.s)

    def summary(self, elapsed):
        # from the trials, not study.best_trial, whose query PostgreSQL refuses in some versions of Optuna 4
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if complete:
            best = min(complete, key=lambda trial: (trial.value, trial.number))
            line = (f"best of the study: trial {best.number}, {self.objective} error {best.value:g} "
                    f"({self.base}-best.h5){optimism(self.objective)}")
        else:
            line = "no trial of the study has completed yet"
        say(f"# worker done in {elapsed:.1f} s; {line}")
