#!/usr/bin/env python3
"""Training lines/s over MPI on this machine: 2 ranks x 1 thread against 1 rank x 1 thread and 1 rank x 2 threads, minibatch 8, alternating runs.

    python scripts/bench_mpi.py [--runs 3] [--lines 400] [--lstm CNNBIDILSTM] [--tgz ../shared/data/uw3-500.tgz]
                                [--width W]

Each run trains clstmctc on the uw3-500 training lines (centre-normalized once into an HDF5 file,
so that reading images does not count) for --lines lines with minibatch=8 and no tests, and reads
the lines/s that clstmctc reports at the end (its training loop alone, start-up excluded). With
--width W the lines are instead 450 random lines of height 48 and that one width (60-character
transcripts): every rank's share of a step is then the same work, and what is left of the
speed-up is the cost of the ranks working together (uw3-500's lines differ in width, and a step
waits for the rank whose lines are the most work). The three
set-ups run in turn, --runs rounds; the medians and their ratios are printed, with the network's
parameter count and the bytes each update's Allreduce moves.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from uw3_protocol import DEFAULT_TGZ, split_lists  # noqa: E402

DONE = re.compile(r"^# done: (\d+) lines in (\S+) s \((\S+) lines/s\)", re.M)
SETUPS = {"1 rank x 1 thread": (1, 1), "2 ranks x 1 thread": (2, 1), "1 rank x 2 threads": (1, 2)}


def lines_h5(tgz, workdir):
    """The uw3-500 training lines, centre-normalized to height 48, as a clstm HDF5 file (made once)."""
    target = workdir / "uw3-train.h5"
    if not target.exists():
        train, _, _ = split_lists(tgz, workdir)
        subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "lines2h5.py"), str(train),
                        str(target)], check=True)
    return target


def random_lines_h5(width, workdir):
    """450 random lines of height 48 and one width with 60-character transcripts over 80 classes."""
    import numpy as np

    from clstmtools.datasets import write_ocr_h5

    rng = np.random.default_rng(1)
    target = workdir / f"random-{width}.h5"
    write_ocr_h5(target, [rng.random((width, 48), dtype=np.float32) for _ in range(450)],
                 [rng.integers(1, 81, 60) for _ in range(450)], [0] + list(range(33, 113)))
    return target


def run(ranks, threads, data, workdir, settings):
    env = dict(os.environ, threads=str(threads), save_name=str(workdir / "bench"), report_every="0",
               seed="1", minibatch="8", **settings)
    command = [sys.executable, "-m", "clstmtools.drivers.clstmctc", str(data)]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
        command = [mpiexec, "-n", str(ranks), *command]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return float(DONE.search(result.stdout).group(3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--lstm", default="CNNBIDILSTM")
    parser.add_argument("--tgz", type=Path, default=DEFAULT_TGZ)
    parser.add_argument("--width", type=int, help="random lines of this width instead of uw3-500's")
    args = parser.parse_args(argv)
    import clstmtools as clstm

    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        data = lines_h5(args.tgz, workdir) if args.width is None else random_lines_h5(args.width, workdir)
        settings = dict(lstm=args.lstm, ntrain=str(args.lines), optimizer="adam", init="scaled", lrate="1e-3")
        net = clstm.make_net(args.lstm, ninput=48, noutput=100, nhidden=100)
        parameters = sum(w.size for _, w, _ in net.weights())
        print(f"# {args.lstm}: {parameters:,} weights ({4 * parameters / 1e6:.1f} MB summed by each update's "
              f"Allreduce), minibatch 8, {args.lines} lines a run, {args.runs} rounds", flush=True)
        speeds = {name: [] for name in SETUPS}
        run(1, 1, data, workdir, dict(settings, ntrain="16"))  # compiles nothing later runs pay for
        for round_ in range(args.runs):
            for name, (ranks, threads) in SETUPS.items():
                speeds[name].append(run(ranks, threads, data, workdir, settings))
                print(f"round {round_ + 1}: {name}: {speeds[name][-1]:.1f} lines/s", flush=True)
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    base = medians["1 rank x 1 thread"]
    for name, median in medians.items():
        print(f"{name}: median {median:.1f} lines/s ({median / base:.2f}x 1 rank x 1 thread)")
    two = medians["2 ranks x 1 thread"]
    print(f"2 ranks x 1 thread against 1 rank x 2 threads: {two / medians['1 rank x 2 threads']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
