"""Time steps per second of clstmtools' networks (and PyTorch's, when it is installed) on text-line sizes.

Usage: python scripts/benchmark.py [--quick] [--threads N] [--runs N] [--no-torch] [--no-compile] [--e2e N]

Prints, for BIDILSTM with ninput 48, nhidden 100, 100 classes and lines of T = 800 steps, the
median over several runs (after two warm-up runs) of time steps per second, and the best run, for:
training at batch 1 (forward, softmax deltas target - output, backward, update), inference at
batch 1, training on minibatches of 16 lines, nhidden 200, and the unidirectional LSTM1. Then the start-up cost: a
fresh process that imports the package and trains one line, with an empty Numba cache (the
first run's compile time) and with the warm cache. With PyTorch importable, the same network
(nn.LSTM bidirectional + Linear + log_softmax, SGD with momentum) runs in this process with the
same number of threads, and the ratio is printed. ``--e2e N`` also measures clstmctc's
end-to-end training speed on the uw3-500 lines (see ``end_to_end_lines_per_second``).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

import clstmtools as clstm

T = 800
NINPUT = 48
NCLASSES = 100
UW3 = Path(__file__).resolve().parents[2] / "shared" / "data" / "uw3-500.tgz"

#: (label, network kind, nhidden, batch, training?)
CASES = [
    ("BIDILSTM nh=100 batch 1, training", "BIDILSTM", 100, 1, True),
    ("BIDILSTM nh=100 batch 1, inference", "BIDILSTM", 100, 1, False),
    ("BIDILSTM nh=100 minibatch 16, training", "BIDILSTM", 100, 16, True),
    ("BIDILSTM nh=200 batch 1, training", "BIDILSTM", 200, 1, True),
    ("BIDILSTM nh=200 batch 1, inference", "BIDILSTM", 200, 1, False),
    ("LSTM1 nh=100 batch 1, training", "LSTM1", 100, 1, True),
    ("LSTM1 nh=100 batch 1, inference", "LSTM1", 100, 1, False),
]


def timed_seconds(fn, runs, warmups=2):
    """``(median, best)`` wall time of ``fn()`` over ``runs`` calls after ``warmups`` calls
    (PyTorch's first calls for a new shape build its kernels, and the second can still be slow).
    The best run shows what the code does when nothing else competes for the cores."""
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def lines_and_targets(batch, rng):
    xs = [rng.random((T, NINPUT), dtype=np.float32) for _ in range(batch)]
    targets = [rng.dirichlet(np.ones(NCLASSES), T).astype(np.float32) for _ in range(batch)]
    return xs, targets


def clstm_step(kind, nhidden, batch, training, rng):
    """One training step (or forward pass) of a clstmtools network on ``batch`` lines of T steps."""
    net = clstm.make_net(kind, ninput=NINPUT, nhidden=nhidden, noutput=NCLASSES, rng=0)
    net.setLearningRate(1e-4, 0.9)
    xs, targets = lines_and_targets(batch, rng)

    def step():
        net.inputs.aset_batch(xs)
        net.forward()
        if training:
            net.d_outputs.aset_batch([t - net.outputs.column(b) for b, t in enumerate(targets)])
            net.backward()
            net.update()

    return step


def torch_step(kind, nhidden, batch, training, rng, threads):
    """The same step in PyTorch (CPU): nn.LSTM + Linear + log_softmax, SGD with momentum."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(NINPUT, nhidden, bidirectional=kind == "BIDILSTM")
    linear = torch.nn.Linear(nhidden * (2 if kind == "BIDILSTM" else 1), NCLASSES)
    params = list(lstm.parameters()) + list(linear.parameters())
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    xs, targets = lines_and_targets(batch, rng)
    x = torch.from_numpy(np.stack(xs, axis=1))  # (T, batch, ninput)
    target = torch.from_numpy(np.stack(targets, axis=1))

    def forward():
        return torch.log_softmax(linear(lstm(x)[0]), dim=-1)

    def step():
        if not training:
            with torch.no_grad():
                forward()
            return
        optimizer.zero_grad()
        loss = -(target * forward()).sum()
        loss.backward()
        optimizer.step()

    return step


def startup_seconds(numba_cache_dir):
    """Wall time of a fresh process that imports clstmtools and trains one BIDILSTM line."""
    code = ("import numpy as np, clstmtools as c\n"
            "n = c.make_net('bidi', ninput=48, nhidden=100, noutput=100, rng=0)\n"
            "n.inputs.aset(np.random.rand(100, 48, 1).astype(np.float32)); n.forward()\n"
            "n.d_outputs.aset(-n.outputs.array()); n.backward(); n.update()\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_cache_dir))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def uw3_line_list(directory):
    """Extract the uw3-500 lines into ``directory`` and return a list file of all 500 images, sorted."""
    with tarfile.open(UW3) as tar:
        tar.extractall(directory, filter="data")
    listfile = Path(directory) / "train.txt"
    listfile.write_text("".join(f"{p}\n" for p in sorted(Path(directory).glob("book/*/*.bin.png"))))
    return listfile


def end_to_end_lines_per_second(ntrain, threads):
    """clstmctc's training speed on the uw3-500 lines (height-48 centre normalization, BIDILSTM,
    nhidden 100): two runs of the real command, ``ntrain`` lines apart, so that start-up and
    compilation cancel out. Returns None when the data is not beside the checkout."""
    if not UW3.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        listfile = uw3_line_list(tmp)

        def run(n):
            env = dict(os.environ, ntrain=str(n), save_name=str(Path(tmp) / "model"), test_every="-1",
                       report_every="1000000", seed="1", threads=str(threads))
            start = time.perf_counter()
            subprocess.run(["clstmctc", str(listfile)], env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            return time.perf_counter() - start

        base = run(10)
        return ntrain / (run(10 + ntrain) - base)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, no start-up measurement")
    parser.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    parser.add_argument("--runs", type=int, default=0, help="timed runs per case (default 7, quick 5)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when it is installed")
    parser.add_argument("--no-compile", action="store_true", help="skip the start-up (compile time) measurement")
    parser.add_argument("--e2e", type=int, default=0, metavar="N",
                        help="also time clstmctc end to end on N uw3-500 lines")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 7)
    threads = clstm.set_threads(args.threads)
    try:
        import torch  # optional: only for the comparison
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False

    print(f"T={T} ninput={NINPUT} classes={NCLASSES}, {threads} thread(s), median of {runs} runs after warm-ups; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"\n{'case':42s} {'steps/s':>10s} {'ms/line':>9s} {'best steps/s':>13s}")
    rates = {}
    for label, kind, nhidden, batch, training in CASES:
        median, best = timed_seconds(clstm_step(kind, nhidden, batch, training, np.random.default_rng(0)), runs)
        rates[label] = T * batch / median
        print(f"{label:42s} {rates[label]:10.0f} {1e3 * median / batch:9.2f} {T * batch / best:13.0f}", flush=True)
    if have_torch:  # after clstmtools: PyTorch's idle OpenMP threads keep spinning for a while
        print(f"\nPyTorch {torch.__version__}, {threads} thread(s), same process")
        print(f"{'case':42s} {'steps/s':>10s} {'clstmtools / PyTorch':>21s} {'best steps/s':>13s}")
        for label, kind, nhidden, batch, training in CASES:
            step = torch_step(kind, nhidden, batch, training, np.random.default_rng(0), threads)
            median, best = timed_seconds(step, runs)
            rate = T * batch / median
            print(f"{label:42s} {rate:10.0f} {rates[label] / rate:21.2f} {T * batch / best:13.0f}", flush=True)

    if not (args.quick or args.no_compile):
        with tempfile.TemporaryDirectory() as cache:
            cold = startup_seconds(cache)
            warm = statistics.median(startup_seconds(cache) for _ in range(3))
        print(f"start-up (import + one training line): empty Numba cache {cold:.1f} s, warm cache {warm:.1f} s "
              f"(compile time about {cold - warm:.1f} s)")
    if args.e2e:
        rate = end_to_end_lines_per_second(args.e2e, threads)
        print("clstmctc on uw3-500: data not found" if rate is None else
              f"clstmctc on uw3-500 (training, {args.e2e} lines): {rate:.1f} lines/s")


if __name__ == "__main__":
    main()
