#!/usr/bin/env python3
"""The uw3-500 protocol: extract, split (reverse-sorted paths, first 50 = test), train clstmctc with periodic
tests, and print the test character error rate against lines trained and wall time.

    python scripts/uw3_protocol.py [--tgz ../shared/data/uw3-500.tgz] [--ntrain 5000] [--test-every 1000]
                                   [--workdir DIR] [NAME=VALUE ...]

NAME=VALUE pairs are passed to clstmctc as environment settings (e.g. lrate=1e-4 nhidden=100
optimizer=adam); the defaults are clstm's (BIDILSTM, nhidden 100, lrate 1e-4, momentum 0.9).
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TGZ = REPO.parent / "shared" / "data" / "uw3-500.tgz"


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tgz", default=str(DEFAULT_TGZ), help="the uw3-500 archive")
    parser.add_argument("--ntrain", type=int, default=5000, help="training lines (default 5000)")
    parser.add_argument("--test-every", type=int, default=1000, help="test every N lines (default 1000)")
    parser.add_argument("--workdir", help="where to extract and save models (default: a temporary folder)")
    parser.add_argument("settings", nargs="*", help="NAME=VALUE settings for clstmctc")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="uw3-"))
    workdir.mkdir(parents=True, exist_ok=True)
    train, test, ntrain_lines = split_lists(Path(args.tgz), workdir)
    env = dict(os.environ, save_name=str(workdir / "uw3"), testset=str(test), test_every=str(args.test_every),
               ntrain=str(args.ntrain), report_every=str(max(args.ntrain // 10, 1)))
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"settings are NAME=VALUE, got {item!r}")
        env[name] = value
    print(f"# uw3-500: {ntrain_lines} training lines, 50 test lines; workdir {workdir}")
    print("# clstmctc settings: " + (" ".join(args.settings) or "the defaults (clstm's)"))
    print(f"{'lines':>7} {'wall_s':>8} {'test_CER_%':>10}")
    start = time.time()
    command = [sys.executable, "-m", "clstmtools.drivers.clstmctc", str(train)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    curve = []
    for line in process.stdout:
        match = re.match(r"TESTERR \S+ \S+ (\d+) (\S+)", line)
        if match:
            lines, rate = int(match.group(1)), float(match.group(2)) * 100
            curve.append((lines, time.time() - start, rate))
            print(f"{lines:7d} {curve[-1][1]:8.1f} {rate:10.2f}", flush=True)
    status = process.wait()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if curve:
        best = min(curve, key=lambda c: c[2])
        print(f"# best test CER {best[2]:.2f}% after {best[0]} lines ({best[1]:.0f} s); "
              f"peak resident memory {peak_mb:.0f} MB; exit status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
