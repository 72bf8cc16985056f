"""Opening a sweep's study: its storage (a journal file or a database, both with heartbeats), sampler and pruner."""
import os
import random
import re
import time
import warnings

import numpy as np
import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat  # the interface RDBStorage implements for heartbeats
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError  # Optuna's own dependency

#: a trial whose worker has been silent for this many heartbeats is marked failed
GRACE_BEATS = 3
DATABASES = ("postgresql", "mysql", "sqlite")


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal file with the database's heartbeat rule: each running trial's worker writes the time
    every ``interval`` seconds, and a trial silent for ``grace`` seconds is stale (Optuna fails it)."""

    def __init__(self, path, interval, grace):
        super().__init__(JournalFileBackend(path))
        self.interval, self.grace = interval, grace

    def record_heartbeat(self, trial_id):
        self.set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id):
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            last = trial.system_attrs.get("heartbeat", trial.datetime_start.timestamp())
            if now - last > self.grace:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self):
        return self.interval

    def get_heartbeat_stale_trial_callback(self):
        return None


def storage_location(settings):
    """What storage= names (empty: the journal file NAME.optuna in the current folder)."""
    return settings.storage or f"{settings.study}.optuna"


def shown_location(settings):
    """storage= as it may be printed: a database URL's password hidden."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", storage_location(settings))


def open_storage(settings):
    """The storage of storage=: a database for a URL, else a journal file; both fail silent trials."""
    location = storage_location(settings)
    interval = settings.heartbeat
    if location.split(":", 1)[0].split("+", 1)[0] in DATABASES and "://" in location:
        if location.startswith("postgresql://"):
            location = "postgresql+psycopg://" + location[len("postgresql://"):]  # the [sweep] extra's driver
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return _database(location, interval)
            except ImportError as error:
                raise ValueError(f"storage={shown_location(settings)}: no database driver for it ({error}); "
                                 "pip install 'clstmtools[sweep]' brings PostgreSQL's") from None
            except SQLAlchemyError as error:
                reason = (str(error.orig) if getattr(error, "orig", None) else str(error)).strip().splitlines()
                raise ValueError(f"storage={shown_location(settings)}: the database cannot be used: "
                                 f"{reason[0] if reason else error.__class__.__name__}") from None
    return HeartbeatJournalStorage(location, interval, GRACE_BEATS * interval)


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
    fail_stale_trials(study)
    return study


def fail_stale_trials(study):
    """Mark the running trials whose workers stopped sending heartbeats as failed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


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
    fail_stale_trials(study)
    return study
