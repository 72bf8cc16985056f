#!/usr/bin/env python3
"""Draw a few training lines as clstmctc sees them with augment=1: each normalized line, then degraded copies
(in training, a line is degraded with probability augment_p, else kept as it is).

    python scripts/augment_picture.py [--tgz ../shared/data/uw3-500.tgz] [--lines 3] [--copies 3]
                                      [--seed 1] [--out docs/augment.png]

Lines come from the uw3-500 archive (centre-normalized to height 48, as clstmctc does for a
list of line images); without the archive, from the generator's OCR lines. Ink is drawn black
on white; a thin grey rule separates the lines.
"""
import argparse
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from clstmtools import generate
from clstmtools.augment import Augmenter
from clstmtools.datasets import open_ocr_dataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TGZ = REPO.parent / "shared" / "data" / "uw3-500.tgz"
WIDTH = 900  # the picture shows the first WIDTH columns of each line


def uw3_lines(tgz, workdir):
    with tarfile.open(tgz) as archive:
        archive.extractall(workdir, filter="data")
    paths = sorted(str(p) for p in Path(workdir).rglob("*.bin.png"))
    listfile = Path(workdir) / "lines.txt"
    listfile.write_text("".join(p + "\n" for p in paths[::97]))  # a spread of pages
    return open_ocr_dataset(listfile, target_height=48)


def generated_lines(workdir):
    generate.main(["-o", str(workdir), "-q", "--tasks", "ocr", "--ocr-train", "10", "--ocr-test", "0"])
    return open_ocr_dataset(Path(workdir) / "ocr-train.h5")


def strip(line):
    """A (width, depth) line as a grey image, ink black, cut or padded to WIDTH columns."""
    ink = np.zeros((line.shape[1], WIDTH), np.float32)
    shown = line[:WIDTH].T
    ink[:, :shown.shape[1]] = shown
    return Image.fromarray(np.uint8(255 * (1 - np.clip(ink, 0, 1))), "L")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tgz", default=str(DEFAULT_TGZ))
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "docs" / "augment.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        data = uw3_lines(args.tgz, workdir) if Path(args.tgz).exists() else generated_lines(workdir)
        augment = Augmenter(np.random.default_rng(args.seed), 1.0)  # every copy degraded, whatever augment_p
        strips = []
        for i in range(min(args.lines, len(data))):
            line = data.input(i)
            strips += [strip(line)] + [strip(augment(line)) for _ in range(args.copies)]
            strips.append(Image.new("L", (WIDTH, 3), 200))
    height = sum(s.height for s in strips)
    picture = Image.new("L", (WIDTH, height), 255)
    y = 0
    for s in strips:
        picture.paste(s, (0, y))
        y += s.height
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, format="PNG", optimize=True)
    print(f"wrote {args.out}: {args.lines} lines, each followed by {args.copies} augmented copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
