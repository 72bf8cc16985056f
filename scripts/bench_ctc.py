"""Time the CTC kernels on one OCR-sized line (T=800, C=100, L=80): alignment, loss and decoders.

Usage: python scripts/bench_ctc.py [--T 800] [--C 100] [--L 80] [--repeat 21] [--threads N] [--net] [--uw3 N]
Prints the median (and the minimum, less disturbed on a shared machine) wall time of each call
after a warm-up (which also compiles the kernels); the CTC kernels run on one thread.
With --net it also times one BIDILSTM training step (ninput 48, nhidden 100, clstm alignment
included; its two directions on ``--threads`` threads, default all cores) on the same T,
alternating steps and alignments so that both see the same machine, and prints the alignment's
share of a step (the median of the per-pair ratios). The alignments timed there work on data the
step has pushed out of the caches, as they would be if the outputs did not come from the network.
With --uw3 N it also trains clstmctc (clstm's defaults) on N lines of ../shared/data/uw3-500.tgz in
this process and prints the share of the training steps' time spent in the CTC targets.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmark import UW3, uw3_line_list
from clstmtools import ctc, parallel


def timings_ms(fn, repeat):
    """``(median, minimum)`` milliseconds of ``repeat`` calls after one warm-up call."""
    fn()
    times = timeit.repeat(fn, number=1, repeat=repeat)
    return 1e3 * statistics.median(times), 1e3 * min(times)


def summary_ms(times):
    return 1e3 * statistics.median(times), 1e3 * min(times)


def side_by_side(first, second, repeat):
    """Wall times of ``repeat`` calls of each, alternating, after one warm-up call of each."""
    first(), second()
    first_times, second_times = [], []
    for _ in range(repeat):
        for fn, times in ((first, first_times), (second, second_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return first_times, second_times


def uw3_share(ntrain, threads):
    """Train clstmctc in this process on ``ntrain`` uw3-500 lines; return ``(steps, step seconds, CTC seconds,
    mean T, mean L)``, timing every training step and every CTC target computation within it."""
    from clstmtools import tasks
    from clstmtools.drivers import clstmctc

    times = {"steps": [], "targets": [], "T": [], "L": []}
    targets, step_batch = tasks.CtcTask.targets, tasks.CtcTask.step_batch

    def timed_targets(task, i, outputs, labels, log_outputs=None):
        start = time.perf_counter()
        result = targets(task, i, outputs, labels, log_outputs)
        times["targets"].append(time.perf_counter() - start)
        times["T"].append(len(outputs))
        times["L"].append(len(labels))
        return result

    def timed_step(task, *args, **kwargs):
        start = time.perf_counter()
        result = step_batch(task, *args, **kwargs)
        times["steps"].append(time.perf_counter() - start)
        return result

    with tempfile.TemporaryDirectory() as tmp:
        listfile = uw3_line_list(tmp)
        os.environ.update(ntrain=str(ntrain), save_name=str(Path(tmp) / "model"), test_every="-1",
                          report_every="1000000", seed="1", threads=str(threads))
        tasks.CtcTask.targets, tasks.CtcTask.step_batch = timed_targets, timed_step
        argv, sys.argv = sys.argv, ["clstmctc", str(listfile)]
        try:
            clstmctc.main()
        except SystemExit as stop:
            if stop.code:
                raise
        finally:
            tasks.CtcTask.targets, tasks.CtcTask.step_batch = targets, step_batch
            sys.argv = argv
    # the first pass over the lines also loads and normalizes them: count the rest
    skip = min(500, len(times["steps"]) // 2)
    return (len(times["steps"]) - skip, sum(times["steps"][skip:]), sum(times["targets"][skip:]),
            statistics.mean(times["T"]), statistics.mean(times["L"]))


def bidi_step(T, noutput, labels, rng):
    """One BIDILSTM training step on a random line, CTC (clstm mode) included: the scale to compare with."""
    from clstmtools.network import make_net

    net = make_net("bidi", rng=0, ninput=48, nhidden=100, noutput=noutput)
    net.setLearningRate(1e-4, 0.9)
    xs = rng.random((T, 48, 1)).astype(np.float32)

    def step():
        net.inputs.aset(xs)
        net.forward()
        outputs = net.outputs.array()[:, :, 0]
        net.d_outputs.aset((ctc.ctc_targets(outputs, labels, "clstm")[0] - outputs)[:, :, None])
        net.backward()
        net.update()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=800)
    parser.add_argument("--C", type=int, default=100)
    parser.add_argument("--L", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    parser.add_argument("--net", action="store_true", help="also time a BIDILSTM training step")
    parser.add_argument("--uw3", type=int, default=0, metavar="N", help="also train clstmctc on N uw3-500 lines")
    args = parser.parse_args()
    threads = parallel.set_threads(args.threads)

    rng = np.random.default_rng(0)
    activations = 3.0 * rng.standard_normal((args.T, args.C))
    activations[:, 0] += 2.0
    outputs = np.exp(activations - activations.max(axis=1, keepdims=True))
    outputs = (outputs / outputs.sum(axis=1, keepdims=True)).astype(np.float32)
    labels = [int(c) for c in rng.integers(1, args.C, args.L)]
    targets = ctc.mktargets(labels, args.C)

    cases = {
        "ctc_align_targets (clstm, one-hot targets)": lambda: ctc.ctc_align_targets(outputs, targets),
        "ctc_targets clstm (align + loss, as trained)": lambda: ctc.ctc_targets(outputs, labels, "clstm"),
        "ctc_loss (standard)": lambda: ctc.ctc_loss(outputs, labels),
        "trivial_decode": lambda: ctc.trivial_decode(outputs),
        "best_path_decode": lambda: ctc.best_path_decode(outputs),
        "beam_search_decode (beam 10)": lambda: ctc.beam_search_decode(outputs, beam_width=10),
        "char_confidences (best path)": lambda: ctc.char_confidences(outputs),
    }
    print(f"T={args.T} C={args.C} L={args.L}, {threads} thread(s), median of {args.repeat} runs")
    with threadpool_limits(1):
        for name, fn in cases.items():
            print("  {:46s} {:8.3f} ms   (min {:.3f})".format(name, *timings_ms(fn, args.repeat)))
        if args.net:
            step = bidi_step(args.T, args.C, labels, rng)
            align = cases["ctc_targets clstm (align + loss, as trained)"]
            step_times, align_times = side_by_side(step, align, args.repeat)
            name = f"BIDILSTM training step (48 -> 100 -> {args.C})"
            print("  {:46s} {:8.3f} ms   (min {:.3f})".format(name, *summary_ms(step_times)))
            print("  {:46s} {:8.3f} ms   (min {:.3f})".format("ctc_targets clstm, alternating with the steps",
                                                              *summary_ms(align_times)))
            share = statistics.median(a / s for a, s in zip(align_times, step_times))
            print(f"  alignment / training step: {100 * share:.1f} % (median of {len(step_times)} pairs)")
    if args.uw3:
        if not UW3.exists():
            print(f"clstmctc on uw3-500: {UW3} not found")
            return
        steps, step_seconds, ctc_seconds, mean_T, mean_L = uw3_share(args.uw3, threads)
        print(f"clstmctc on uw3-500 (mean T {mean_T:.0f}, L {mean_L:.0f}), {steps} steps after the first pass: "
              f"{1e3 * step_seconds / steps:.2f} ms per step, CTC targets {1e3 * ctc_seconds / steps:.3f} ms "
              f"= {100 * ctc_seconds / step_seconds:.1f} % of the steps' time")


if __name__ == "__main__":
    main()
