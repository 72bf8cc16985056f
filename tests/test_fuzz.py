"""Seeded fuzzing: mutated and hostile small real files through load_net, the dataset readers and the programs.

Every outcome must be a success or the reader's one-line error: never another exception, a crash, a
hang or an allocation of gigabytes (``scripts/fuzz.py`` runs the same with more mutations)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import fuzz  # noqa: E402


def test_mutated_and_hostile_files_give_one_line_errors_or_work():
    summary = fuzz.fuzz(seed=2, mutations=250, programs=6)
    assert summary["failures"] == []
    outcomes = summary["outcomes"]
    assert outcomes.get("error", 0) > 100 and outcomes.get("ok", 0) > 20  # the mutations reach the checks
    assert outcomes.get("program error", 0) + outcomes.get("program ok", 0) == 6
    # hangs inside libhdf5 itself (a damaged global heap) are counted apart; they stay rare
    assert outcomes.get("libhdf5 hang", 0) <= 2
