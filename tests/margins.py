"""Learning-test bounds that record how far a measured error is from its bound, and the seed those tests train with.

A learning test asserts that training really lowered an error; the value it ends at moves with the
seed and with the CPU (float32 rounding differs between AVX2 and AVX-512 code, and between BLAS
kernels). ``scripts/learning_margins.py`` runs these tests under several seeds and code paths with
``CLSTMTOOLS_TEST_SEED`` and ``CLSTMTOOLS_MARGINS`` set, and tabulates the worst value of each
bound, so that lengths and thresholds can be set with room to spare on any machine.
"""
import json
import os

#: the seed of the learning tests' training runs (1 unless the margin script sets another)
SEED = int(os.environ.get("CLSTMTOOLS_TEST_SEED", "1"))


def _record(name, value, relation, bound):
    path = os.environ.get("CLSTMTOOLS_MARGINS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(dict(name=name, value=float(value), relation=relation, bound=float(bound),
                                    seed=SEED)) + "\n")


def at_most(name, value, bound, context=None):
    """Assert ``value <= bound`` (an error that must have fallen far enough), recording both."""
    _record(name, value, "<=", bound)
    assert value <= bound, (name, value, bound, context)


def at_least(name, value, bound, context=None):
    """Assert ``value >= bound`` (an error before training, or a count of right answers), recording both."""
    _record(name, value, ">=", bound)
    assert value >= bound, (name, value, bound, context)
