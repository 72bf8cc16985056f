"""Lines per second of the Calamari-shaped CNN+BLSTM (lstm=CNNBIDILSTM) on uw3-500-sized lines, and PyTorch's.

Usage: python scripts/bench_cnn.py [--runs N] [--width W] [--threads N] [--no-torch] [--no-compile]

Lines of height 48 and width W (850 by default, like uw3-500's) with 60-character random
transcripts over 80 classes. Prints medians (and best runs) over ``--runs`` runs after two warm-up
runs: training lines/s at batch 1 and on minibatches of 8 (forward, CTC targets, backward,
update), recognition lines/s (forward and best-path decoding), and the share of a batch-1
training step spent in the convolutional front end, the LSTMs, the output layer and CTC. Then
the first run's compile time (a fresh process with an empty Numba cache) against a warm cache.
With PyTorch importable, the same network (Conv2d 40 / ReLU / MaxPool 2x2 / Conv2d 60 / ReLU /
MaxPool 2x2 / bidirectional LSTM 200 / Dropout 0.5 / Linear, CTC loss, SGD with momentum) runs in
the same process with the same number of threads, and the ratios are printed.
"""
import argparse
import os
import threading
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

import clstmtools as clstm
from clstmtools import ctc as ctcmod
from clstmtools.network import LSTM, BatchNorm, Conv2D, MaxPool, Parallel
from clstmtools.network.ports import Layer
from clstmtools.recognize import network_outputs, width_batches

HEIGHT, NCLASSES, LABEL_LENGTH = 48, 80, 60


def median_best(fn, runs, warmups=2):
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def data(width, batch, rng):
    xs = [rng.random((width, HEIGHT), dtype=np.float32) for _ in range(batch)]
    labels = [rng.integers(1, NCLASSES, LABEL_LENGTH) for _ in range(batch)]
    return xs, labels


def clstm_net():
    net = clstm.make_net("CNNBIDILSTM", rng=0, ninput=HEIGHT, noutput=NCLASSES)
    net.setLearningRate(1e-4, 0.9)
    net.set_input_deltas(False)  # as the trainer does: nothing reads the image's deltas
    return net


def clstm_train(net, xs, labels):
    def step():
        net.set_training(True)
        net.inputs.aset_batch(xs)
        net.forward()
        deltas = []
        for b, y in enumerate(labels):
            outputs = net.outputs.column(b)
            aligned, _ = ctcmod.ctc_targets(outputs, y, "clstm")
            deltas.append(aligned - outputs)
        net.d_outputs.aset_batch(deltas)
        net.backward()
        net.update()
        net.set_training(False)
    return step


def clstm_recognize(net, xs):
    def step():
        for x in xs:
            net.inputs.aset(x[:, :, None])
            net.forward()
            ctcmod.decode(net.outputs.array()[:, :, 0], "clstm")
    return step


def clstm_recognize_collection(net, xs):
    """As the programs recognize a collection: minibatches of lines of similar width, read ahead."""
    def step():
        for _, _, outputs in network_outputs(net, xs.__getitem__, range(len(xs))):
            ctcmod.decode(outputs, "clstm")
    return step


def forward_flops(net, width):
    """FLOPs of one line's forward products: ``(multiply-adds x 2, multiply-adds x 2 of layers that pass
    input deltas)``, from the layers' weight matrices and the rows each runs over (a convolution: every
    output place; a recurrent or full layer: every step). Biases, activations and pooling not counted."""
    net.set_training(True)  # layer by layer: every layer's inputs and outputs are set
    net.inputs.aset(np.zeros((width, HEIGHT, 1), np.float32))
    net.forward()
    net.set_training(False)
    total = with_deltas = 0
    for _, node in net.walk():
        if not isinstance(node, Layer) or getattr(node, "W", None) is None or node.W.ndim != 2:
            continue
        rows = node.outputs.T * (node.Ho if isinstance(node, Conv2D) else 1)
        flops = 2 * rows * node.W.size
        total += flops
        with_deltas += flops if node.input_deltas else 0
    return total, with_deltas


def sgemm_peak(threads, n=2048, seconds=1.0):
    """GFLOP/s of float32 ``np.dot`` of n x n matrices, one product on each of ``threads`` threads at once
    (single-threaded BLAS, as the network runs them); the best of several rounds."""
    rng = np.random.default_rng(0)
    mats = [(rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)) for _ in range(threads)]
    outs = [np.empty((n, n), np.float32) for _ in range(threads)]
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        workers = [threading.Thread(target=np.dot, args=(a, b), kwargs={"out": o}) for (a, b), o in zip(mats, outs)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, threads * 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
        if time.perf_counter() > deadline:
            return best


def shares(net, xs, labels, runs):
    """Seconds per batch-1 training step in each part of the network, by timing every leaf's
    forward and backward (and the CTC targets) over ``runs`` steps."""
    spent = defaultdict(float)

    def part(node):
        if isinstance(node, (Conv2D, MaxPool, BatchNorm)):
            return "convolutions and pooling"
        if isinstance(node, (LSTM, Parallel)):
            return "LSTMs"
        return "dropout and output layer"

    def timed(fn, name):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    top = [node for node in net.sub]  # the Stacked's direct children: a BLSTM counted once
    for node in top:
        node.forward = timed(node.forward, part(node))
        node.backward = timed(node.backward, part(node))
    targets = ctcmod.ctc_targets
    ctcmod.ctc_targets = timed(targets, "CTC")
    try:
        step = clstm_train(net, xs[:1], labels[:1])
        step()
        spent.clear()
        start = time.perf_counter()
        for _ in range(runs):
            step()
        total = time.perf_counter() - start
    finally:
        ctcmod.ctc_targets = targets
        for node in top:
            del node.forward, node.backward
    return {name: seconds / total for name, seconds in spent.items()}, total / runs


def compile_seconds(width):
    """Seconds for a fresh process to import and train one line, with an empty and a warm Numba cache."""
    code = ("import numpy as np, clstmtools as c; from clstmtools import ctc as k; "
            "n = c.make_net('CNNBIDILSTM', rng=0, ninput=48, noutput=80); n.set_input_deltas(False); n.set_training(True); "
            f"n.inputs.aset(np.random.rand({width}, 48, 1).astype('f')); n.forward(); "
            "o = n.outputs.array()[:, :, 0]; a, _ = k.ctc_targets(o, np.arange(1, 30), 'clstm'); "
            "n.d_outputs.aset((a - o)[:, :, None]); n.backward(); n.update(); n.set_training(False); n.forward()")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(2):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            out.append(time.perf_counter() - start)
    return out


class TorchNet:
    """The same network in PyTorch (CPU)."""

    def __init__(self, torch, threads):
        nn = torch.nn
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        self.conv = nn.Sequential(nn.Conv2d(1, 40, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(40, 60, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.lstm = nn.LSTM(12 * 60, 200, bidirectional=True)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(400, NCLASSES)
        self.params = [*self.conv.parameters(), *self.lstm.parameters(), *self.out.parameters()]
        self.opt = torch.optim.SGD(self.params, lr=1e-4, momentum=0.9)
        self.ctc = nn.CTCLoss(blank=0)

    def logits(self, x):  # x (B, 1, H, W)
        f = self.conv(x)  # (B, 60, 12, W/4)
        B, C, H, W = f.shape
        seq = f.permute(3, 0, 1, 2).reshape(W, B, C * H)
        y, _ = self.lstm(seq)
        return self.out(self.drop(y)).log_softmax(2)

    def train_step(self, xs, labels):
        torch = self.torch
        x = torch.from_numpy(np.stack(xs).transpose(0, 2, 1)[:, None].copy())

        def step():
            self.conv.train()
            self.drop.train()
            logp = self.logits(x)
            T = logp.shape[0]
            targets = torch.from_numpy(np.concatenate(labels))
            loss = self.ctc(logp, targets, torch.full((len(xs),), T, dtype=torch.long),
                            torch.tensor([len(y) for y in labels]))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return step

    def recognize(self, xs):
        torch = self.torch

        def step():
            self.drop.eval()
            with torch.no_grad():
                for x in xs:
                    self.logits(torch.from_numpy(x.T[None, None].copy())).argmax(2)
        return step

    def recognize_collection(self, xs):
        """In the minibatches clstmtools makes of these lines (they have one width: no padding)."""
        torch = self.torch
        batches = width_batches([len(x) for x in xs])

        def step():
            self.drop.eval()
            with torch.no_grad():
                for batch in batches:
                    lines = np.stack([xs[k] for k in batch]).transpose(0, 2, 1)[:, None].copy()
                    self.logits(torch.from_numpy(lines)).argmax(2)
        return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=850)
    parser.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args(argv)
    threads = clstm.set_threads(args.threads)
    rng = np.random.default_rng(0)
    xs1, labels1 = data(args.width, 1, rng)
    xs8, labels8 = data(args.width, 8, rng)
    xs14, _ = data(args.width, 14, rng)  # two minibatches of recognition (its 6000 steps: 7 lines of 850)
    load = os.getloadavg()
    print(f"# CNNBIDILSTM (Calamari's shape), lines {HEIGHT} x {args.width}, {NCLASSES} classes, "
          f"{threads} threads, {os.cpu_count()} cpus, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    net = clstm_net()
    peak = sgemm_peak(threads)
    forward, with_deltas = forward_flops(net, args.width)
    train_flops = 2 * forward + with_deltas  # forward, weight deltas, input deltas
    print(f"# sgemm peak {peak:.1f} GFLOP/s on {threads} threads; per line {forward / 1e9:.3f} GFLOP forward, "
          f"{train_flops / 1e9:.3f} GFLOP a training step")
    cases = [("training, batch 1", 1, clstm_train(net, xs1, labels1), train_flops),
             ("training, minibatch 8", 8, clstm_train(net, xs8, labels8), train_flops),
             ("recognition, batch 1", 8, clstm_recognize(net, xs8), forward),
             ("recognition, minibatches", 14, clstm_recognize_collection(net, xs14), forward)]
    torch_cases = []
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("# PyTorch is not installed: no comparison")
        else:
            tnet = TorchNet(torch, threads)
            torch_cases = [tnet.train_step(xs1, labels1), tnet.train_step(xs8, labels8), tnet.recognize(xs8),
                           tnet.recognize_collection(xs14)]
            print(f"# PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    for k, (label, lines, step, flops) in enumerate(cases):
        med, best = median_best(step, args.runs)
        achieved = lines * flops / med / 1e9
        line = (f"{label:26s} clstmtools {lines / med:7.2f} lines/s (best {lines / best:.2f}), "
                f"{achieved:6.1f} GFLOP/s = {100 * achieved / peak:4.1f}% of peak")
        if torch_cases:
            tmed, tbest = median_best(torch_cases[k], args.runs)
            line += (f"   PyTorch {lines / tmed:7.2f} lines/s (best {lines / tbest:.2f}), "
                     f"{lines * flops / tmed / 1e9:6.1f} GFLOP/s   ratio {tmed / med:.2f}")
        print(line, flush=True)
    parts, seconds = shares(net, xs1, labels1, args.runs)
    print(f"share of a batch-1 training step ({seconds * 1000:.0f} ms): "
          + ", ".join(f"{name} {100 * share:.1f}%" for name, share in sorted(parts.items(), key=lambda p: -p[1])))
    if not args.no_compile:
        cold, warm = compile_seconds(args.width)
        print(f"fresh process, import + one training line: {cold:.1f} s with an empty Numba cache, "
              f"{warm:.1f} s with a warm one (compile time about {cold - warm:.1f} s)")


if __name__ == "__main__":
    main()
