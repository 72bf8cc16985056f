"""Cross-fold training (folds=K): K models, each trained on all folds of the data but one and chosen on that one, run as processes sharing the cores.

This is Calamari's recipe for its voting ensembles: the data is cut into K seeded folds; fold k's
model trains on the other K-1 and validates (chooses its best model, stops early) on fold k.
The folds run as separate processes of the same program (``fold=k``), as many at a time as the
cores allow, each saving ``save_name-fold{k}.h5`` and writing its output to
``save_name-fold{k}.log``; a fold that was interrupted continues from its
``save_name-fold{k}-interrupted.h5`` when the command is run again.
"""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

from .. import distributed, parallel
from ..params import ParamError

#: the line a training run ends with when a validation chose its model (see Trainer.finish)
SELECTED = re.compile(r"^# selected model.*: trial (\d+), validation error (\S+?)(?:, test error (\S+))?$", re.M)


def fold_of(count, folds, fold, rng):
    """The sorted sample indices of fold ``fold`` out of ``folds`` over ``count`` samples, from a
    permutation drawn by ``rng`` (the same seed gives every fold process the same cut)."""
    order = rng.permutation(count)
    return sorted(int(i) for i in order[fold::folds])


def check_folds(settings, count):
    """Refuse fold settings that cannot work for ``count`` samples."""
    folds, fold = settings.folds, settings.fold
    if folds == 1:
        raise ParamError("folds=1: cross-fold training needs at least 2 folds")
    if fold >= 0 and not folds:
        raise ParamError(f"fold={fold}: set folds=K as well")
    if folds and fold >= folds:
        raise ParamError(f"fold={fold}: the folds are numbered 0 to {folds - 1}")
    if folds and (settings.validation or settings.valset):
        raise ParamError("folds: each fold validates on its own part of the data; do not set validation or valset")
    if folds > count:
        raise ParamError(f"folds={folds}: the data has only {count} samples")


def fold_name(base, fold):
    return f"{base}-fold{fold}"


def run_folds(program, settings, args, base, train_fold):
    """Train every fold of ``folds=K``: on the K ranks of an MPI job, fold k on rank k (``train_fold()``
    trains this rank's); else as processes of ``program`` (``fold=k``), as many at a time as the cores
    (or ``threads=``) allow. One summary line per fold as it ends and one at the end; returns the exit
    status (non-zero when a fold failed or the run was interrupted)."""
    w = distributed.world()
    if w is not None:
        return _fold_per_rank(program, settings, base, train_fold, w)
    folds = settings.folds
    cores = settings.threads or parallel.cpu_count()
    at_once = min(folds, cores)
    threads = max(1, cores // at_once)
    print(f"# {folds} folds, {at_once} at a time on {threads} thread(s) each; output in {base}-fold*.log",
          flush=True)
    waiting = list(range(folds))
    running = {}
    results = {}
    stop = {}

    def forward(signum, frame):
        stop.setdefault("signum", signum)
        for process, _ in running.values():
            process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while waiting or running:
            while waiting and len(running) < at_once and "signum" not in stop:
                k = waiting.pop(0)
                running[k] = _start(program, settings, args, base, k, threads)
            time.sleep(0.2)
            for k, (process, log) in list(running.items()):
                if process.poll() is not None:
                    log.close()
                    del running[k]
                    results[k] = _summary(base, k, folds, process.returncode)
                    print(results[k][1], flush=True)
            if "signum" in stop:
                waiting.clear()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "signum" in stop:
        print(f"# folds interrupted by {signal.Signals(stop['signum']).name}: run the same command again to "
              f"continue each fold from its {base}-fold*-interrupted.h5", flush=True)
        return 128 + stop["signum"]
    return _conclude(base, folds, results)


def _fold_per_rank(program, settings, base, train_fold, w):
    """Fold k trained by rank k (its output in its log); rank 0 reports."""
    folds = settings.folds
    if w.size != folds:
        raise ParamError(f"folds={folds} on {w.size} MPI ranks: one fold a rank needs mpiexec -n {folds} (without "
                         f"mpiexec the folds share this machine's cores)")
    settings.resolved["fold"] = w.rank
    terminal = sys.stdout, sys.stderr
    with open(fold_name(base, w.rank) + ".log", "w", encoding="utf-8") as log:
        sys.stdout = sys.stderr = log
        try:
            status = train_fold()
        except Exception as error:  # a fold that fails ends alone, as a fold process would
            print(f"{program}: error: {error}", file=log)
            status = 1
        finally:
            sys.stdout, sys.stderr = terminal
    statuses = w.gather(status)
    if not w.leader:
        return status
    results = {k: _summary(base, k, folds, statuses[k]) for k in range(folds)}
    for k in range(folds):
        print(results[k][1], flush=True)
    return _conclude(base, folds, results)


def _conclude(base, folds, results):
    """The closing line of the folds (their mean validation error, and how they vote) and the exit status."""
    errors = [error for error, _, _ in results.values() if error is not None]
    if errors:
        print(f"# {len(errors)} of {folds} folds failed: see their logs", flush=True)
        return 1
    chosen = [float(results[k][2]) for k in sorted(results) if results[k][2] is not None]
    if chosen:
        print(f"# {folds} fold models {base}-fold0.h5 ... {base}-fold{folds - 1}.h5: validation error mean "
              f"{np.mean(chosen):g} (from {min(chosen):g} to {max(chosen):g}); they vote with "
              f"load='{base}-fold*.h5'", flush=True)
    return 0


def _start(program, settings, args, base, k, threads):
    """Start fold ``k``: the same program and settings with ``fold=k``, the same seed, and its own threads;
    from its interrupted model, when there is one."""
    env = dict(os.environ, fold=str(k), seed=str(settings.seed), threads=str(threads))
    interrupted = fold_name(base, k) + "-interrupted.h5"
    resumed = os.path.exists(interrupted)
    if resumed:
        env["load"] = interrupted
        env.pop("start", None)
    log = open(fold_name(base, k) + ".log", "a" if resumed else "w", encoding="utf-8")
    what = f"continuing from {interrupted}" if resumed else "started"
    print(f"# fold {k}: {what}", flush=True)
    process = subprocess.Popen([sys.executable, "-m", "clstmtools.drivers.child", str(os.getpid()), program, *args],
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, log


def _summary(base, k, folds, status):
    """``(error or None, the fold's summary line, its validation error or None)`` from its exit status and log."""
    log = fold_name(base, k) + ".log"
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if status != 0:
        last = [line for line in text.splitlines() if line.strip()][-1:] or ["(no output)"]
        return status, f"# fold {k} of {folds} failed (status {status}): {last[0]} (see {log})", None
    selected = SELECTED.findall(text)
    if not selected:
        return None, f"# fold {k} of {folds}: done, no validation chose a model (see {log})", None
    trial, validation, test = selected[-1]
    tested = f", test error {test}" if test else ""
    return None, (f"# fold {k} of {folds}: {fold_name(base, k)}.h5, trial {trial}, validation error "
                  f"{validation}{tested}"), validation
