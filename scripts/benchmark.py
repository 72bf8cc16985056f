"""Time steps per second of clstmtools' networks (and PyTorch's, when it is installed) on text-line sizes.

Usage: python scripts/benchmark.py [--quick] [--threads N] [--runs N] [--no-torch] [--no-compile] [--e2e N]
                                   [--recognition] [--only WORDS]

Prints, for BIDILSTM with ninput 48, nhidden 100, 100 classes and lines of T = 800 steps, the
median over several runs (after two warm-up runs, alternating with PyTorch's) of time steps per second, and the best run, for:
training at batch 1 (forward, softmax deltas target - output, backward, update), inference at
batch 1, training on minibatches of 16 lines, nhidden 200, and the unidirectional LSTM1. Then the start-up cost: a
fresh process that imports the package and trains one line, with an empty Numba cache (the
first run's compile time) and with the warm cache. With PyTorch importable, the same network
(nn.LSTM bidirectional + Linear + log_softmax, SGD with momentum) runs in this process with the
same number of threads, and the ratio is printed. ``--e2e N`` also measures clstmctc's
end-to-end training speed on the uw3-500 lines against a bare training loop over them (see
``end_to_end_lines_per_second``), and
``--recognition`` what ``mode=text`` does on the 450 uw3-500 training lines, in padded minibatches
against one line at a time (see ``recognition_seconds``).
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
from clstmtools.datasets import open_ocr_dataset
from clstmtools.recognize import network_outputs
from clstmtools.tasks import CtcTask

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


def alternating_seconds(steps, runs, warmups=2, settle_seconds=0.05):
    """``{name: (median, best)}`` wall times of several step functions over ``runs`` calls each
    after ``warmups`` (PyTorch's first calls for a new shape build its kernels, and the second can
    still be slow), their runs alternating: the load of a shared machine then weighs on each about
    equally. The best run shows what the code does when nothing else competes for the cores.

    Before each timed run the same function runs untimed for ``settle_seconds`` (at least once):
    PyTorch's OpenMP threads keep spinning on the cores for several milliseconds after its last
    parallel region (GNU OpenMP's default spin count), and a core left idle runs slowly at first;
    either slows down whichever run comes next (measured: clstmtools' batch-1 inference right
    after a PyTorch run at 0.55x of its speed run after run)."""
    for fn in steps.values():
        for _ in range(warmups):
            fn()
    times = {name: [] for name in steps}
    for _ in range(runs):
        for name, fn in steps.items():
            settled = time.perf_counter() + settle_seconds
            fn()
            while time.perf_counter() < settled:
                fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


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
    compilation cancel out; and a bare loop of forward, clstm's CTC alignment, backward and update
    over the same lines, normalized beforehand, drawn at random as clstmctc draws them. Returns
    ``(clstmctc lines/s, bare loop lines/s)``, or None when the data is not beside the checkout."""
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
        program = ntrain / (run(10 + ntrain) - base)
        data = open_ocr_dataset(str(listfile), dewarp="center", target_height=48)
        task = CtcTask(data.input, data.labels, data.codec)
        net = clstm.make_net("BIDILSTM", ninput=48, nhidden=100, noutput=len(data.codec), rng=1)
        net.setLearningRate(1e-4, 0.9)
        lines = [data.input(i) for i in range(len(data))]
        usable = [i for i, x in enumerate(lines) if len(x) >= 2 * len(data.labels(i)) + 1]
        order = np.random.default_rng(1).choice(usable, ntrain)
        start = time.perf_counter()
        for i in order:
            net.inputs.aset(lines[i][:, :, None])
            net.forward()
            outputs = net.outputs.array()[:, :, 0]
            aligned, _ = task.targets(i, outputs, data.labels(i))
            net.d_outputs.aset((aligned - outputs)[:, :, None])
            net.backward()
            net.update()
        return program, ntrain / (time.perf_counter() - start)


def recognition_seconds(runs):
    """``mode=text``'s work on the 450 uw3-500 training lines (the protocol's split: reverse-sorted
    paths, the first 50 are the test lines) with a BIDILSTM-100 model: read, centre-normalize,
    recognize and decode every line, from an empty line cache each run (start-up excluded). Runs
    alternate between one line at a time (what ``mode=text`` did) and ``network_outputs``' padded
    minibatches. Returns ``{way: median seconds}`` and the lines' total width, or None without the data."""
    if not UW3.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = sorted((p for p in uw3_line_list(tmp).read_text().split()), reverse=True)[50:]
        listfile = Path(tmp) / "train450.txt"
        listfile.write_text("".join(f"{p}\n" for p in paths))

        def dataset():
            return open_ocr_dataset(str(listfile), dewarp="center", target_height=48)
        codec = dataset().codec
        net = clstm.make_net("BIDILSTM", ninput=48, nhidden=100, noutput=len(codec), rng=0)
        task = CtcTask(None, None, codec)

        def one_at_a_time():
            data = dataset()
            for i in range(len(data)):
                net.inputs.aset(data.input(i)[:, :, None])
                net.forward()
                task.decode(net.outputs.array()[:, :, 0])

        def batched():
            data = dataset()
            for _, _, outputs in network_outputs(net, data.input, range(len(data))):
                task.decode(outputs)

        timed = alternating_seconds({"one line at a time": one_at_a_time, "padded minibatches": batched}, runs,
                                    warmups=1)
        data = dataset()
        width = sum(len(data.input(i)) for i in range(len(data)))
        return {way: median for way, (median, _) in timed.items()}, width


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, no start-up measurement")
    parser.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    parser.add_argument("--runs", type=int, default=0, help="timed runs per case (default 7, quick 5)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when it is installed")
    parser.add_argument("--no-compile", action="store_true", help="skip the start-up (compile time) measurement")
    parser.add_argument("--e2e", type=int, default=0, metavar="N",
                        help="also time clstmctc end to end on N uw3-500 lines")
    parser.add_argument("--recognition", action="store_true",
                        help="also time mode=text's work on the 450 uw3-500 training lines, batched and line by line")
    parser.add_argument("--only", default="", metavar="WORDS",
                        help="comma-separated words: run only the cases whose label contains one of them")
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
    cases = [case for case in CASES if not args.only or any(w in case[0] for w in args.only.split(","))]
    rates = {}
    if have_torch:
        print(f"PyTorch {torch.__version__} in the same process with {threads} thread(s); each case alternates "
              f"clstmtools and PyTorch runs")
    print(f"\n{'case':42s} {'steps/s':>10s} {'ms/line':>9s} {'best steps/s':>13s}"
          + (f" {'PyTorch steps/s':>16s} {'ratio':>6s}" if have_torch else ""))
    for label, kind, nhidden, batch, training in cases:
        steps = {"clstm": clstm_step(kind, nhidden, batch, training, np.random.default_rng(0))}
        if have_torch:
            steps["torch"] = torch_step(kind, nhidden, batch, training, np.random.default_rng(0), threads)
        timed = alternating_seconds(steps, runs)
        median, best = timed["clstm"]
        rates[label] = T * batch / median
        line = f"{label:42s} {rates[label]:10.0f} {1e3 * median / batch:9.2f} {T * batch / best:13.0f}"
        if have_torch:
            rate = T * batch / timed["torch"][0]
            line += f" {rate:16.0f} {rates[label] / rate:6.2f}"
        print(line, flush=True)
    if args.recognition:
        result = recognition_seconds(runs)
        if result is None:
            print("recognition on uw3-500: data not found")
        else:
            seconds, width = result
            print(f"\nmode=text's work on the 450 uw3-500 training lines ({width} steps, reading and "
                  f"normalizing included, start-up excluded):")
            inference = rates.get("BIDILSTM nh=100 batch 1, inference")
            for way, sec in seconds.items():
                versus = f", {width / sec / inference:.2f} x batch-1 inference" if inference else ""
                print(f"  {way:20s} {sec:6.2f} s  {450 / sec:6.1f} lines/s  {width / sec:8.0f} steps/s{versus}")
    if not (args.quick or args.no_compile):
        with tempfile.TemporaryDirectory() as cache:
            cold = startup_seconds(cache)
            warm = statistics.median(startup_seconds(cache) for _ in range(3))
        print(f"start-up (import + one training line): empty Numba cache {cold:.1f} s, warm cache {warm:.1f} s "
              f"(compile time about {cold - warm:.1f} s)")
    if args.e2e:
        rates = end_to_end_lines_per_second(args.e2e, threads)
        print("clstmctc on uw3-500: data not found" if rates is None else
              f"clstmctc on uw3-500 (training, {args.e2e} lines): {rates[0]:.1f} lines/s; a bare forward/CTC/"
              f"backward/update loop over the same lines: {rates[1]:.1f} lines/s ({rates[0] / rates[1]:.2f}x)")


if __name__ == "__main__":
    main()
