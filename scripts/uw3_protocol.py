#!/usr/bin/env python3
"""The uw3-500 protocol: extract, split (reverse-sorted paths, first 50 = test), train clstmctc with periodic
tests, and print the test character error rate against lines trained and wall time.

    python scripts/uw3_protocol.py [--tgz ../shared/data/uw3-500.tgz] [--ntrain 5000] [--test-every 1000]
                                   [--time-limit SECONDS] [--targets 2.75,1.5] [--validation F]
                                   [--workdir DIR] [NAME=VALUE ...]

With --validation F (the protocol of the figures in docs/performance.md: 0.1), a seeded fraction F of the 450
training lines is held out: the validation error chooses the model, and the summary reports the
test CER of that one model; the test curve is then only what happened, not a result.

NAME=VALUE pairs are passed to clstmctc as environment settings (e.g. lrate=1e-4 nhidden=100
optimizer=adam); the defaults are clstm's (BIDILSTM, nhidden 100, lrate 1e-4, momentum 0.9).
The fastest settings found on this protocol: optimizer=adam init=scaled lrate=4e-3 beta2=0.99
warmup=300 lrate_decay=0.8 (test CER <= 2.75% after 2500-4000 lines, best about 1%).
Wall time counts from the start of clstmctc (imports, data loading and tests included). With
--time-limit, clstmctc is stopped (SIGTERM) once that much wall time has passed and the last test
before it is the CER reached in the budget. The summary gives, for each target CER, the wall time
and lines of the first test at or below it; the load average is the machine's, for comparisons.
"""
import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TGZ = REPO.parent / "shared" / "data" / "uw3-500.tgz"
TEST_LINE = re.compile(r"(TESTERR|VALERR) \S+ \S+ (\d+) (\S+)")
SPEED = re.compile(r"(?:^\d+ \d+ dim .* lines/s (\S+) )|(?:^# done: .*\((\S+) lines/s\))")


def split_lists(tgz, workdir):
    """Extract the archive (once) and write train.list (450 lines) and test.list (50 lines)."""
    root = workdir / "uw3-500"
    if not root.exists():
        with tarfile.open(tgz) as archive:
            archive.extractall(root, filter="data")
    paths = sorted((str(p) for p in root.rglob("*.bin.png")), reverse=True)
    if len(paths) < 51:
        raise SystemExit(f"{tgz}: expected 500 line images, found {len(paths)}")
    (workdir / "test.list").write_text("\n".join(paths[:50]) + "\n")
    (workdir / "train.list").write_text("\n".join(paths[50:]) + "\n")
    return workdir / "train.list", workdir / "test.list", len(paths) - 50


def parse_targets(text):
    try:
        return sorted((float(piece) for piece in text.split(",") if piece.strip()), reverse=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--targets: expected CER percentages like 2.75,1.5, got {text!r}")


def load_average():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def summary(curve, targets, time_limit, validation=None):
    """The summary lines: the model chosen on validation and its test CER, the best test CER, the CER
    within the time limit, and the time to each target."""
    lines = []
    if validation:
        # the first of equal validation errors, as the trainer keeps the first (it saves only on improvement)
        chosen = min(validation, key=lambda point: (point[2], point[0]))
        test = {point[0]: point[2] for point in curve}.get(chosen[0])
        lines.append(f"# selected on validation: the model after {chosen[0]} lines ({chosen[1]:.0f} s), validation "
                     f"CER {chosen[2]:.2f}%, test CER {test:.2f}%" if test is not None else "(no test)")
        lines.append("# the test curve (not used for the choice):")
    best = min(curve, key=lambda point: point[2])
    lines.append(f"# best test CER {best[2]:.2f}% after {best[0]} lines ({best[1]:.0f} s)")
    if time_limit:
        within = [point for point in curve if point[1] <= time_limit]
        reached = f"{within[-1][2]:.2f}% (best {min(p[2] for p in within):.2f}%)" if within else "no test yet"
        lines.append(f"# within {time_limit:g} s: {reached}")
    for target in targets:
        hit = next((point for point in curve if point[2] <= target), None)
        lines.append(f"# time to <= {target:g}% CER: " +
                     (f"{hit[1]:.1f} s ({hit[0]} lines)" if hit else "not reached"))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tgz", default=str(DEFAULT_TGZ), help="the uw3-500 archive")
    parser.add_argument("--ntrain", type=int, default=5000, help="training lines (default 5000)")
    parser.add_argument("--test-every", type=int, default=1000, help="test every N lines (default 1000)")
    parser.add_argument("--time-limit", type=float, default=0,
                        help="stop clstmctc after this many seconds of wall time (default 0: never)")
    parser.add_argument("--targets", type=parse_targets, default=parse_targets("2.75,1.5"),
                        help="CER percentages whose time to reach is summarized (default 2.75,1.5)")
    parser.add_argument("--validation", type=float, default=0,
                        help="hold out this fraction of the training lines to choose the model (default 0: none)")
    parser.add_argument("--workdir", help="where to extract and save models (default: a temporary folder)")
    parser.add_argument("settings", nargs="*", help="NAME=VALUE settings for clstmctc")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="uw3-"))
    workdir.mkdir(parents=True, exist_ok=True)
    train, test, ntrain_lines = split_lists(Path(args.tgz), workdir)
    env = dict(os.environ, save_name=str(workdir / "uw3"), testset=str(test), test_every=str(args.test_every),
               ntrain=str(args.ntrain), report_every=str(max(args.ntrain // 10, 1)))
    if args.validation:
        env["validation"] = str(args.validation)
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"settings are NAME=VALUE, got {item!r}")
        env[name] = value
    print(f"# uw3-500: {ntrain_lines} training lines, 50 test lines; workdir {workdir}")
    print("# clstmctc settings: " + (" ".join(args.settings) or "the defaults (clstm's)"))
    print(f"# load average at the start: {load_average()}")
    print(f"{'lines':>7} {'wall_s':>8} {'test_CER_%':>10}" + (f" {'val_CER_%':>10}" if args.validation else ""),
          flush=True)
    start = time.time()
    command = [sys.executable, "-m", "clstmtools.drivers.clstmctc", str(train)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    stopper = None
    if args.time_limit > 0:
        # SIGTERM makes clstmctc save its model and exit; the test lines read so far stay valid
        stopper = threading.Timer(args.time_limit, process.send_signal, (signal.SIGTERM,))
        stopper.start()
    curve, validation, speed = [], [], None
    for line in process.stdout:
        match = TEST_LINE.match(line)
        if match:
            lines, rate = int(match.group(2)), float(match.group(3)) * 100
            if match.group(1) == "VALERR":
                validation.append((lines, time.time() - start, rate))
                continue
            curve.append((lines, time.time() - start, rate))
            shown = f" {validation[-1][2]:10.2f}" if validation and validation[-1][0] == lines else ""
            print(f"{lines:7d} {curve[-1][1]:8.1f} {rate:10.2f}{shown}", flush=True)
        match = SPEED.match(line)
        if match:  # the trainer's own figure (tests excluded), from its reports and its last line
            speed = match.group(1) or match.group(2)
    status = process.wait()
    if stopper is not None:
        stopper.cancel()
    wall = time.time() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if curve:
        print("\n".join(summary(curve, args.targets, args.time_limit, validation)))
    print(f"# wall {wall:.0f} s ({speed or '?'} lines/s overall); peak resident memory {peak_mb:.0f} MB; "
          f"load average at the end: {load_average()}; exit status {status}")
    stopped = status == 128 + signal.SIGTERM or status == -signal.SIGTERM
    return 0 if stopped and args.time_limit > 0 else status


if __name__ == "__main__":
    sys.exit(main())
