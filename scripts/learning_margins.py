"""Measure the room the learning tests leave: each runs under several seeds and code paths, and every bound's worst value is tabulated.

A learning test trains briefly and asserts that an error fell below a bound (``tests/margins.py``).
Where that error ends moves with the seed and with the CPU: float32 sums round differently in AVX2
and AVX-512 code and in different BLAS kernels. This script runs the learning tests with
``CLSTMTOOLS_TEST_SEED`` = 1..N, each on two code paths of this machine:

- ``native``: Numba and OpenBLAS as they are here;
- ``avx2``: Numba compiling for the host without its AVX-512 features (``NUMBA_CPU_FEATURES``; cpu
  ``znver3`` on a Zen 4) and OpenBLAS using its Haswell kernels (``OPENBLAS_CORETYPE``): what an
  AVX2 machine such as an AMD Zen 3 runs (on a machine without AVX-512 the two are alike).

and prints, for every bound, the worst value over all runs next to the bound, so lengths and
thresholds can be set with room to spare. A bound that any run broke is marked ``FAILS``.

    python scripts/learning_margins.py --seeds 5                 # about 20 minutes on two cores
    python scripts/learning_margins.py --seeds 2 --variants avx2 --tests tests/test_folders.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the tests whose assertions are error levels reached by training
LEARNING_TESTS = (
    "tests/test_learning.py",
    "tests/test_folders.py",
    "tests/test_ctc.py::test_training_lowers_label_error",
    "tests/test_network.py::test_notebook_style_training_learns_a_sequence_task",
    "tests/test_optim.py::test_adam_learns_in_the_notebook_loop",
    "tests/test_ocropy.py::test_pylstmctc_loop_learns_rendered_lines",
    "tests/test_pagexml.py::test_a_model_trains_on_the_page_lines_through_the_program",
    "tests/test_own_lines.py::test_resize_union_keeps_every_old_output_exactly_and_learns_the_new_characters",
)

#: host CPU features that an AVX2 machine lacks
WIDE_VECTOR_FEATURES = ("avx512", "evex512", "avx10", "amx")


def avx2_environment():
    """Environment settings that make Numba and OpenBLAS run this machine's AVX2 code paths."""
    import llvmlite.binding as ll

    features = ll.get_host_cpu_features()
    flags = ",".join(("-" if name.startswith(WIDE_VECTOR_FEATURES) or not on else "+") + name
                     for name, on in sorted(features.items()))
    host = ll.get_host_cpu_name()
    return dict(NUMBA_CPU_NAME="znver3" if host == "znver4" else host, NUMBA_CPU_FEATURES=flags,
                OPENBLAS_CORETYPE="Haswell")


def run_tests(tests, seed, extra_env, records):
    env = dict(os.environ, CLSTMTOOLS_TEST_SEED=str(seed), CLSTMTOOLS_MARGINS=str(records), **extra_env)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-300:]


def summarize(rows):
    """One line per bound: the worst value over the runs, its seed and code path, the median, the bound."""
    by_name = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row)
    lines = ["| bound | runs | worst (seed, code path) | median | relation | status |", "|---|---|---|---|---|---|"]
    for name, group in by_name.items():
        relation, bound = group[0]["relation"], group[0]["bound"]
        worst = max(group, key=lambda r: r["value"]) if relation == "<=" else min(group, key=lambda r: r["value"])
        broken = [r for r in group if (r["value"] > bound if relation == "<=" else r["value"] < bound)]
        median = statistics.median(r["value"] for r in group)
        status = f"FAILS {len(broken)}" if broken else "holds"
        lines.append(f"| {name} | {len(group)} | {worst['value']:.4g} ({worst['seed']}, {worst['variant']}) | "
                     f"{median:.4g} | {relation} {bound:g} | {status} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    parser.add_argument("--variants", default="native,avx2", help="code paths: native, avx2 (default both)")
    parser.add_argument("--tests", nargs="*", default=list(LEARNING_TESTS), help="pytest node ids")
    parser.add_argument("--records", help="JSON-lines file to keep every measured value in")
    args = parser.parse_args(argv)
    variants = {"native": {}, "avx2": avx2_environment()}
    chosen = [name.strip() for name in args.variants.split(",")]
    unknown = set(chosen) - set(variants)
    if unknown:
        parser.error(f"unknown code path(s): {', '.join(sorted(unknown))}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for variant in chosen:
            for seed in range(1, args.seeds + 1):
                records = Path(scratch) / f"{variant}-{seed}.jsonl"
                outcome = run_tests(args.tests, seed, variants[variant], records)
                print(f"# {variant} seed {seed}: {outcome}", flush=True)
                if records.exists():
                    for line in records.read_text().splitlines():
                        rows.append(dict(json.loads(line), variant=variant))
    if args.records:
        Path(args.records).write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(summarize(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
