#!/usr/bin/env python3
"""Fine-tuning against training from scratch on one real page: a model of other material (uw3-500) continued on the page's lines with resize=union, and the same network trained from nothing, for the same time.

    python scripts/page_transfer.py --base uw3-fold0.h5 [--seconds 300] [--train-lines 16]
                                    [--workspace ../shared/data/page-sample] [--workdir DIR] [NAME=VALUE ...]

The page (the OCR-D sample: Kant, 1784, Fraktur, 24 lines with PAGE ground truth) is cut into its
first --train-lines lines (training) and the rest (test), as two PAGE files beside the original.
Both runs start together (threads=1 each), test on the test lines every --test-every lines and
stop after --seconds; nothing is chosen on the test lines: the figure is each run's last test
within the time, and the table shows both curves. NAME=VALUE pairs go to both runs.
"""
import argparse
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = REPO.parent / "shared" / "data" / "page-sample"
PAGE = "OCR-D-GT-PAGE/PAGE_0017_PAGE.xml"
IMAGE = "OCR-D-IMG/INPUT_0017.tif"
RECIPE = dict(optimizer="adam", init="scaled", lrate="1e-3", beta2="0.99", report_every="0", seed="1",
              threads="1", ntrain="1000000")
TESTERR = re.compile(r"^TESTERR (\S+) \S+ (\d+) (\S+) .* errors (\d+) chars (\d+)$", re.M)


def split_page(workspace, workdir, train_lines):
    """Copies of the page holding its first ``train_lines`` text lines and the others; list files naming the image."""
    for name in (PAGE, IMAGE):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(workspace / name, workdir / name)
    tree = ET.parse(workdir / PAGE)
    namespace = tree.getroot().tag.split("}")[0] + "}"
    ET.register_namespace("", namespace[1:-1])
    lines = [line for line in tree.iter(namespace + "TextLine")]
    parts = {"train": set(map(id, lines[:train_lines])), "test": set(map(id, lines[train_lines:]))}
    lists = {}
    for part, keep in parts.items():
        copied = copy.deepcopy(tree)
        originals = {id(a): b for a, b in zip(tree.iter(), copied.iter())}
        for parent in list(copied.iter()):
            for child in list(parent):
                if child.tag == namespace + "TextLine" and not any(originals[k] is child for k in keep):
                    parent.remove(child)
        target = workdir / f"OCR-D-GT-PAGE/{part}.xml"
        copied.write(target, encoding="utf-8", xml_declaration=True)
        lists[part] = workdir / f"{part}.txt"
        lists[part].write_text(f"{target}\t{workdir / IMAGE}\n", encoding="utf-8")
    return lists["train"], lists["test"], len(lines)


def start(name, settings, train, workdir):
    log = open(workdir / f"{name}.log", "w", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "clstmtools.drivers.clstmctc", str(train)], cwd=workdir,
                               env=dict(os.environ, save_name=name, **settings), stdout=log, stderr=subprocess.STDOUT)
    return process, log


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the model to fine-tune (trained on other material)")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--train-lines", type=int, default=16)
    parser.add_argument("--test-every", type=int, default=100)
    parser.add_argument("--workspace", type=Path, default=WORKSPACE)
    parser.add_argument("--workdir", type=Path, default=REPO / "out" / "page-transfer")
    parser.add_argument("--table-only", action="store_true", help="print the table of the runs in --workdir again")
    parser.add_argument("settings", nargs="*", metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    start = {"finetuned": load_trial(args.base), "scratch": 0}
    if args.table_only:
        print_table(workdir, start)
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    train, test, count = split_page(args.workspace, workdir, args.train_lines)
    print(f"# {args.workspace / PAGE}: {args.train_lines} lines to train on, {count - args.train_lines} to test")
    common = dict(RECIPE, testset=str(test), test_every=str(args.test_every),
                  **dict(setting.split("=", 1) for setting in args.settings))
    spec = load_spec(args.base)
    runs = {"finetuned": dict(common, load=str(args.base.resolve()), resize="union"),
            "scratch": dict(common, spec=spec)}
    started = {name: start(name, settings, train, workdir) for name, settings in runs.items()}
    time.sleep(args.seconds)
    for process, log in started.values():
        process.send_signal(signal.SIGTERM)
    for process, log in started.values():
        process.wait()
        log.close()
    print_table(workdir, start)
    return 0


def print_table(workdir, start):
    """Both runs' test CER against wall time, lines trained in the run (not counting the base model's), and
    each run's last test."""
    curves = {name: [(float(t), int(trial) - first, int(e), int(n)) for t, trial, _, e, n in
                     TESTERR.findall((workdir / f"{name}.log").read_text("utf-8"))] for name, first in start.items()}
    print(f"| seconds | {' | '.join(f'{name}: lines trained, test CER' for name in curves)} |")
    print("|---|" + "---|" * len(curves))
    marks = sorted({t for curve in curves.values() for t, *_ in curve})
    for mark in marks[:: max(1, len(marks) // 12)]:
        cells = []
        for curve in curves.values():
            done = [row for row in curve if row[0] <= mark]
            cells.append(f"{done[-1][1]}, {100 * done[-1][2] / done[-1][3]:.2f}%" if done else "-")
        print(f"| {mark:.0f} | {' | '.join(cells)} |")
    for name, curve in curves.items():
        if curve:
            t, lines, errors, chars = curve[-1]
            print(f"{name}: after {t:.0f} s and {lines} lines, test CER {100 * errors / chars:.2f}% ({errors}/{chars})")


def load_trial(path):
    from clstmtools.modelfile import load_net

    return load_net(str(path)).attr_int("trial", 0)


def load_spec(path):
    """The VGSL spec the base model was built from (the scratch run trains the same network)."""
    from clstmtools.modelfile import load_net

    spec = load_net(str(path)).attributes.get("spec")
    if not spec:
        raise SystemExit(f"{path}: not a VGSL model; give the scratch run's network as NAME=VALUE settings")
    return spec


if __name__ == "__main__":
    sys.exit(main())
