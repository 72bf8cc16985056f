"""One trial: PROGRAM run as a child process with the drawn values, its test errors reported to the study
as they are printed, stopped when pruned, and its outcome (error, lines, models, reason) recorded."""
import math
import os
import re
import signal
import subprocess
import sys
import time

from ..params import SEQ, format_value

#: the sweep's own settings, which the trials do not get
SWEEP_ONLY = ("study", "storage", "trials", "sampler", "pruner", "prune_after", "objective", "heartbeat")

#: clstmctc's and clstmtext's TESTERR and VALERR lines: kind, elapsed, save_name, lines trained, error, ...
CTC_ERROR_LINE = re.compile(r"(TESTERR|VALERR) \S+ (?:.* )?(\d+) (\S+) lrate ")
#: clstmseq's TESTERR line: mse, ratio, CERR error, ratio, N count, at lines trained
SEQ_ERROR_LINE = re.compile(r"(TESTERR) \S+ \S+ CERR (\S+) \S+ N \d+ at (\d+)")
INTERRUPTED_LINE = re.compile(r"interrupted by SIG\w+ at trial (\d+); saving the model to (.+)")
KIND_OF_OBJECTIVE = {"test": "TESTERR", "validation": "VALERR"}


def parse_error_line(program, line):
    """``(kind, lines trained, error)`` of a TESTERR/VALERR line of ``program``, or None."""
    if program == SEQ:
        match = SEQ_ERROR_LINE.match(line)
        if match:
            return match.group(1), int(match.group(3)), float(match.group(2))
        return None
    match = CTC_ERROR_LINE.match(line)
    if not match:
        return None
    try:
        return match.group(1), int(match.group(2)), float(match.group(3))
    except ValueError:
        return None


def suggest(trial, dimension):
    """Trial ``trial``'s value of one dimension, on the scale today's random draws use."""
    if dimension.choices is not None:
        return trial.suggest_categorical(dimension.name, list(dimension.choices))
    if dimension.type is int:
        return trial.suggest_int(dimension.name, dimension.lo, dimension.hi, log=dimension.log)
    return trial.suggest_float(dimension.name, dimension.lo, dimension.hi, log=dimension.log)


def trial_environment(environ, space, values, save_name):
    """The environment of one trial: the worker's, less the sweep's settings, with the drawn values."""
    env = {name: text for name, text in environ.items() if name not in SWEEP_ONLY}
    for dimension in space:
        env.pop(dimension.variable, None)
        env[dimension.name] = format_value(values[dimension.name])
    env.update(save_name=save_name, mode="train", PYTHONUNBUFFERED="1")
    return env


class TrialRun:
    """Runs PROGRAM on DATA for one trial, feeding the objective's errors to ``trial`` (an Optuna trial)."""

    def __init__(self, program, data, env, trial, objective, log_path, say):
        self.program, self.data, self.env, self.trial = program, data, env, trial
        self.kind = KIND_OF_OBJECTIVE[objective]
        self.log_path, self.say = log_path, say
        self.errors = []  # (lines trained, error) of the objective, as reported
        self.lines = 0
        self.pruned = False
        self.reason = None  # the child's own one-line error
        self.last_model = None  # where the child saved the model when it was stopped
        self.process = None

    def start(self, log):
        # the child stops when the worker dies (see child.py); it writes its own log: its output outlives a
        # killed worker (no pipe to break); a session of its own: a terminal's Ctrl-C reaches only the worker
        command = [sys.executable, "-m", "clstmtools.drivers.child", str(os.getpid()), self.program, *self.data]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self, signum=signal.SIGINT):
        """Ask the child to save its model and stop (it does so at once, between two lines)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def run(self, poll=0.05):
        """Run to the end, reading the log as it grows; returns the child's exit status."""
        with open(self.log_path, "wb") as log:
            self.start(log)
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            pending = ""
            while True:
                finished = self.process.poll() is not None
                pending += log.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    self.read(line)
                if finished:
                    if pending:
                        self.read(pending)
                    return self.process.wait()
                if not lines:
                    time.sleep(poll)

    def read(self, line):
        stopped = INTERRUPTED_LINE.search(line)
        if stopped:
            self.lines = max(self.lines, int(stopped.group(1)))
            self.last_model = stopped.group(2)
        elif line.startswith(f"{self.program}: ") and " error: " in line:
            self.reason = line.split(" error: ", 1)[1]
        parsed = parse_error_line(self.program, line)
        if parsed is None:
            return
        kind, lines, error = parsed
        self.lines = max(self.lines, lines)
        if kind != self.kind or self.pruned or not math.isfinite(error):
            return
        self.errors.append((lines, error))
        self.say(f"trial {self.trial.number}: {kind} {error:g} at {lines} lines")
        self.trial.report(error, lines)
        if self.trial.should_prune():
            self.pruned = True
            self.stop()

    def best_error(self):
        return min(error for _, error in self.errors) if self.errors else None

    def failure(self, status):
        """Why the run failed, as one line, or None when it gave an objective value."""
        if status != 0:
            return self.reason or f"{self.program} exited with status {status} (see {self.log_path})"
        if not self.errors:
            return (f"{self.program} printed no {self.kind} line: give the trials a test (testset=, test_every=)"
                    if self.kind == "TESTERR" else
                    f"{self.program} printed no VALERR line: give the trials a validation set")
        return None
