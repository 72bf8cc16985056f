"""Opening a sweep's study: its storage (a journal file or a database), sampler and pruner, and the
heartbeats by which a trial whose worker died is failed (through Optuna's public API only)."""
import contextlib
import os
import random
import re
import threading
import time
import warnings

import numpy as np
import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError  # Optuna's own dependency

#: a trial whose worker has been silent for this many heartbeats is marked failed
GRACE_BEATS = 3
DATABASES = ("postgresql", "mysql", "sqlite")
#: a journal file's trials: the user attribute in which a running trial's worker keeps its last sign of life
HEARTBEAT = "heartbeat"


class Heartbeat:
    """While a trial of a journal file runs (``with Heartbeat(trial, interval):``): a thread of the worker's
    that writes the time into the trial every ``interval`` seconds. (A database has Optuna's own.)"""

    def __init__(self, trial, interval):
        self.trial, self.interval = trial, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="clstmsweep-heartbeat", daemon=True)

    def __enter__(self):
        self.trial.set_user_attr(HEARTBEAT, time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _beat(self):
        while not self._stop.wait(self.interval):
            try:
                self.trial.set_user_attr(HEARTBEAT, time.time())
            except RuntimeError:  # finished: another worker found it silent too long and failed it
                return
            except Exception:  # noqa: BLE001 - the storage out of reach for a moment: the next beat tries again
                pass


def heartbeat(trial, settings):
    """What keeps ``trial`` alive while it runs: a :class:`Heartbeat` for a journal file; nothing more for a
    database, where Optuna's own heartbeat runs (on the database's clock)."""
    if is_database(storage_location(settings)):
        return contextlib.nullcontext()
    return Heartbeat(trial, settings.heartbeat)


def fail_stale_trials(study, settings):
    """Mark failed the running trials whose workers have sent no heartbeat for three of them: Optuna's
    function for a database, the same rule here for a journal file. (Optuna refuses to update a finished
    trial with a RuntimeError, UpdateFinishedTrialError where it has that.)"""
    if is_database(storage_location(settings)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        return
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.user_attrs.get(HEARTBEAT, trial.datetime_start.timestamp())
        if now - last > GRACE_BEATS * settings.heartbeat:
            try:
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            except RuntimeError:  # another worker failed it meanwhile
                pass


def optimism(objective):
    """What follows a study's best error where the test set chose it (objective=test), else nothing."""
    return "; optimistic: the test set chose it" if objective == "test" else ""


def storage_location(settings):
    """What storage= names (empty: the journal file NAME.optuna in the current folder)."""
    return settings.storage or f"{settings.study}.optuna"


def shown_location(settings):
    """storage= as it may be printed: a database URL's password hidden."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", storage_location(settings))


def is_database(location):
    """Whether a storage= location is a database URL (else it is a journal file)."""
    return "://" in location and location.split(":", 1)[0].split("+", 1)[0] in DATABASES


def open_storage(settings):
    """The storage of storage=: a database for a URL (with Optuna's heartbeat), else a journal file."""
    location = storage_location(settings)
    if not is_database(location):
        return JournalStorage(JournalFileBackend(location))
    if location.startswith("postgresql://"):
        location = "postgresql+psycopg://" + location[len("postgresql://"):]  # the [sweep] extra's driver
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return _database(location, settings.heartbeat)
        except ImportError as error:
            raise ValueError(f"storage={shown_location(settings)}: no database driver for it ({error}); "
                             "pip install 'clstmtools[sweep]' brings PostgreSQL's") from None
        except SQLAlchemyError as error:
            reason = (str(error.orig) if getattr(error, "orig", None) else str(error)).strip().splitlines()
            raise ValueError(f"storage={shown_location(settings)}: the database cannot be used: "
                             f"{reason[0] if reason else error.__class__.__name__}") from None


def _database(url, interval, attempts=5):
    """RDBStorage on ``url``; workers that start together on an empty database race to create its tables,
    and the losers try again (they then find the tables)."""
    for attempt in range(attempts):
        try:
            return RDBStorage(url, heartbeat_interval=interval, grace_period=GRACE_BEATS * interval,
                              engine_kwargs={"pool_pre_ping": True})
        except (IntegrityError, ProgrammingError):  # another worker's tables appeared meanwhile
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random())


def trial_seed(seed, number):
    """The seed of trial ``number``'s draws: the same for every worker, different for every trial."""
    return int(np.random.SeedSequence(seed, spawn_key=(2, number)).generate_state(1)[0])


def make_sampler(kind, seed):
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # constant_liar: experimental in Optuna 4, stable since
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(settings, first_step, last_step):
    """pruner= for trials that report at lines ``first_step``, ... up to ``last_step``."""
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.prune_after, n_warmup_steps=0)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(first_step, 1), max_resource=max(last_step, 1),
                                              reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(settings, pruner=None):
    """The study named by study= (created when missing), minimizing, with stale trials failed."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name=settings.study, storage=open_storage(settings), direction="minimize",
                                sampler=make_sampler(settings.sampler, settings.seed), pruner=pruner,
                                load_if_exists=True)
    fail_stale_trials(study, settings)
    return study


def load_study(settings):
    """The existing study named by study= (for the report); its silent trials are marked failed first."""
    location = storage_location(settings)
    if "://" not in location and not os.path.exists(location):
        raise ValueError(f"storage={location}: no such journal file (no trial of study {settings.study} ran here)")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.load_study(study_name=settings.study, storage=open_storage(settings))
    except KeyError:
        raise ValueError(f"{shown_location(settings)}: no study named {settings.study}") from None
    fail_stale_trials(study, settings)
    return study
