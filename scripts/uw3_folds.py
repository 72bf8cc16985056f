#!/usr/bin/env python3
"""Cross-fold training and voting on uw3-500: folds=K on the 450 training lines, then each fold model and their vote on the 50 test lines.

    python scripts/uw3_folds.py [--folds 5] [--tgz ../shared/data/uw3-500.tgz] [--workdir DIR] [NAME=VALUE ...]

The customary split (reverse-sorted paths, the first 50 the test set) as in uw3_protocol.py. Each
fold model trains on the other folds and chooses its best model on its own fold (validation);
the test lines decide nothing. The summary gives each fold model's validation and test CER, the
mean test CER of the fold models, the test CER of the fold model with the lowest validation CER
(the one a single-model user would have picked), the best test CER among them (for comparison
only: chosen on the test set), and the test CER of the vote of all of them (load=NAME-fold*.h5).
NAME=VALUE pairs go to clstmctc as settings; the default recipe is CNNBIDILSTM with Adam.
"""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from uw3_protocol import DEFAULT_TGZ, REPO, split_lists  # noqa: E402

#: the default recipe (Calamari's network shape, the settings of the README's uw3 figures)
RECIPE = dict(lstm="CNNBIDILSTM", optimizer="adam", init="scaled", lrate="1e-3", beta2="0.99", warmup="300",
              ntrain="8000", test_every="500", early_stop="6", report_every="0", seed="1")
SUMMARY = re.compile(r"^errs (\d+) total (\d+) rate (\S+) %$", re.M)
FOLD = re.compile(r"^# fold (\d+) of \d+: \S+, trial (\d+), validation error (\S+)", re.M)


def clstmctc(args, env, cwd):
    result = subprocess.run([sys.executable, "-m", "clstmtools.drivers.clstmctc", *map(str, args)], cwd=cwd,
                            env=dict(os.environ, **env), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"clstmctc {' '.join(map(str, args))} failed:\n{result.stdout[-2000:]}{result.stderr}")
    return result.stdout


def test_cer(model, test_list, cwd):
    """(errors, characters) of ``model`` (one file, or a comma list or pattern that votes) on the test lines."""
    errors, total, _ = SUMMARY.search(clstmctc([test_list], dict(load=model, mode="quiet"), cwd)).groups()
    return int(errors), int(total)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tgz", type=Path, default=DEFAULT_TGZ)
    parser.add_argument("--workdir", type=Path, default=REPO / "out" / "uw3-folds")
    parser.add_argument("settings", nargs="*", metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    train_list, test_list, _ = split_lists(args.tgz, args.workdir)
    settings = dict(RECIPE, **dict(setting.split("=", 1) for setting in args.settings))
    settings.update(folds=str(args.folds), save_name="uw3")
    print("# " + " ".join(f"{k}={v}" for k, v in settings.items()), flush=True)
    output = clstmctc([train_list], settings, args.workdir)
    print(output, end="", flush=True)
    validation = {int(k): float(v) for k, _, v in FOLD.findall(output)}
    rows = []
    for k in range(args.folds):
        errors, total = test_cer(f"uw3-fold{k}.h5", test_list, args.workdir)
        rows.append((k, validation.get(k), errors, total))
        print(f"fold {k}: validation CER {100 * validation.get(k, float('nan')):.2f}%, test CER "
              f"{100 * errors / total:.2f}% ({errors}/{total})", flush=True)
    rates = [errors / total for _, _, errors, total in rows]
    chosen = min(rows, key=lambda row: row[1] if row[1] is not None else float("inf"))
    errors, total = test_cer("uw3-fold*.h5", test_list, args.workdir)
    mean = sum(rates) / len(rates)
    print(f"mean of the {args.folds} fold models: test CER {100 * mean:.2f}%")
    print(f"fold model chosen on validation (fold {chosen[0]}): test CER {100 * chosen[2] / chosen[3]:.2f}%")
    print(f"best fold model on the test set (not a choice): {100 * min(rates):.2f}%")
    print(f"vote of the {args.folds} fold models: test CER {100 * errors / total:.2f}% ({errors}/{total}); "
          f"{100 * (1 - (errors / total) / mean):.0f}% fewer errors than the mean model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
