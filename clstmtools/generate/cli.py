"""The generator's command line: which tasks, how many samples, progress lines, and the files written."""
import argparse
import os
import sys
import time

from .common import WORDS, GenerateError, stream
from .expressions import ExpressionStyle, write_expression_folder
from .lines import LineStyle, ocr_setup, write_ocr_file
from .sequences import SEQUENCE_TASKS, write_sequence_task
from .textpairs import TEXT_TRANSFORMS, make_text_pairs, write_text_pairs

class Progress:
    """A line on stderr every few seconds while ``what`` runs; silent for short runs."""

    def __init__(self, what, total, quiet=False, every=3.0):
        self.what, self.total, self.quiet, self.every = what, total, quiet, every
        self.start = self.last = time.monotonic()

    def update(self, done):
        now = time.monotonic()
        if not self.quiet and now - self.last >= self.every and done < self.total:
            self.last = now
            print(f"{self.what}: {done}/{self.total} ({100 * done // self.total}%) "
                  f"{now - self.start:.0f} s", file=sys.stderr, flush=True)

    def elapsed(self):
        return time.monotonic() - self.start


#: names for --tasks beyond the single sequence tasks
TASK_GROUPS = ("all", "seq", "ocr", "text", "expr")


def selected_tasks(spec):
    """``--tasks`` resolved to (sequence tasks, text transforms, ocr?, expr?), in a fixed order."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    known = set(SEQUENCE_TASKS) | set(TASK_GROUPS) | {f"text-{t}" for t in TEXT_TRANSFORMS}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise GenerateError(f"unknown task(s) {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(TASK_GROUPS)}, {', '.join(SEQUENCE_TASKS)}, "
                         f"{', '.join('text-' + t for t in TEXT_TRANSFORMS)}")
    everything = "all" in names
    sequences = [t for t in SEQUENCE_TASKS if everything or "seq" in names or t in names]
    transforms = [t for t in TEXT_TRANSFORMS if everything or "text" in names or f"text-{t}" in names]
    return sequences, transforms, everything or "ocr" in names, everything or "expr" in names


def build_parser():
    p = argparse.ArgumentParser(
        prog="generate.py",
        description="Write synthetic training data: clstm's sequence tasks (clstmseq HDF5), rendered "
                    "OCR lines (clstmctc HDF5), text-transform pairs (clstmtext) and arithmetic-"
                    "expression images (ID_LABEL.png folders). The same options and seed write the "
                    "same files.")
    p.add_argument("--tasks", default="all",
                   help="comma-separated: sequence tasks (" + ", ".join(SEQUENCE_TASKS) + "), 'seq' for "
                        "all of them, 'ocr', 'text' (or text-" + "/text-".join(TEXT_TRANSFORMS) + "), "
                        "'expr', or 'all' (default)")
    p.add_argument("-o", "--outdir", default=".", help="output directory (created; default .)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    g = p.add_argument_group("sequence tasks (OUTDIR/TASK.h5)")
    g.add_argument("-n", "--samples", type=int, default=50000, help="sequences per task (50000)")
    g.add_argument("--length", type=int, default=29, help="steps per sequence (29)")
    g.add_argument("--depth", type=int, default=2,
                   help="input depth (2); the detect tasks always have 2, the delay tasks 1")
    g = p.add_argument_group("OCR lines (OUTDIR/ocr-train.h5, ocr-test.h5)")
    g.add_argument("--ocr-train", type=int, default=1000, metavar="N", help="training lines (1000)")
    g.add_argument("--ocr-test", type=int, default=100, metavar="M", help="test lines (100)")
    g.add_argument("--height", type=int, default=LineStyle.height, help="line height in pixels (48)")
    g.add_argument("--font", action="append", default=[], metavar="TTF",
                   help="TrueType/OpenType font file, may be repeated (default: Pillow's built-in font); "
                        "expression images use these besides the built-in font")
    g.add_argument("--ocr-text", choices=("words", "letters"), default="words",
                   help="words from a list (default), or random characters")
    g.add_argument("--wordlist", metavar="FILE", help="UTF-8 file of words (whitespace-separated) "
                                                      "instead of the built-in list")
    g.add_argument("--noise", type=float, default=LineStyle.noise, help="largest noise sd, ink 0..1 (0.1)")
    g.add_argument("--blur", type=float, default=LineStyle.blur, help="largest blur sigma in pixels (0.7)")
    g.add_argument("--slant", type=float, default=LineStyle.slant, help="largest shear (0.2)")
    g.add_argument("--wobble", type=float, default=LineStyle.wobble,
                   help="largest baseline wobble amplitude in pixels (1.5)")
    g = p.add_argument_group("text pairs (OUTDIR/text-NAME-train.txt, -test.txt)")
    g.add_argument("--text-train", type=int, default=10000, metavar="N", help="training pairs (10000)")
    g.add_argument("--text-test", type=int, default=1000, metavar="M", help="test pairs (1000)")
    g = p.add_argument_group("expression images (OUTDIR/expr-train/, expr-test/)")
    g.add_argument("--expr-train", type=int, default=500, metavar="N", help="training images (500)")
    g.add_argument("--expr-test", type=int, default=100, metavar="M", help="held-out images (100)")
    return p


def read_wordlist(path):
    try:
        with open(path, encoding="utf-8") as f:
            words = f.read().split()
    except (OSError, UnicodeDecodeError) as error:
        raise GenerateError(f"{path}: cannot read the word list ({error})") from None
    if not words:
        raise GenerateError(f"{path}: the word list is empty")
    return words


def report_dropped(what, dropped):
    for label, lost in dropped.items():
        print(f"{what}: font {label!r} cannot draw {lost!r}; dropped", file=sys.stderr)


def run(args):
    """Write everything ``args`` asks for; returns [(path, description)]."""
    sequences, transforms, ocr, expr = selected_tasks(args.tasks)
    for option in ("samples", "length", "depth", "height"):
        if getattr(args, option) < 1:
            raise GenerateError(f"--{option} must be positive, got {getattr(args, option)}")
    for option in ("ocr_train", "ocr_test", "text_train", "text_test", "expr_train", "expr_test"):
        if getattr(args, option) < 0:
            raise GenerateError(f"--{option.replace('_', '-')} must not be negative")
    os.makedirs(args.outdir, exist_ok=True)
    written = []
    say = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))

    start = time.monotonic()
    for k, name in enumerate(sequences, 1):
        say(f"seq {k}/{len(sequences)}: {name} ({time.monotonic() - start:.0f} s so far)")
        path = write_sequence_task(name, args.outdir, args.samples, args.length, args.depth, args.seed)
        depth = SEQUENCE_TASKS[name].depth or args.depth
        written.append((path, f"{args.samples} sequences x {args.length} steps, depth {depth} -> 1: "
                              f"{SEQUENCE_TASKS[name].summary}"))

    if ocr and (args.ocr_train or args.ocr_test):
        style = LineStyle(args.height, args.noise, args.blur, args.slant, args.wobble)
        words = read_wordlist(args.wordlist) if args.wordlist else WORDS
        renderers, text_maker, alphabet, dropped = ocr_setup(args.font, style, args.ocr_text, words)
        report_dropped("ocr", dropped)
        training = set()  # the test lines' texts are kept apart from these
        for part, count in (("train", args.ocr_train), ("test", args.ocr_test)):
            if count:
                path = os.path.join(args.outdir, f"ocr-{part}.h5")
                progress = Progress(f"ocr-{part}", count, args.quiet)
                training |= write_ocr_file(path, count, renderers, text_maker, alphabet,
                                           stream(args.seed, f"ocr-{part}"), progress, training)
                written.append((path, f"{count} lines, height {style.height}, "
                                      f"{len(alphabet)} characters {alphabet!r}"))
                say(f"ocr-{part}: {progress.elapsed():.1f} s")

    for name in transforms:
        training = set()
        for part, count in (("train", args.text_train), ("test", args.text_test)):
            if count:
                path = os.path.join(args.outdir, f"text-{name}-{part}.txt")
                pairs = make_text_pairs(name, count, stream(args.seed, f"text-{name}-{part}"), training)
                training |= {source for source, _ in pairs}
                write_text_pairs(path, pairs)
                written.append((path, f"{count} pairs input<TAB>{name}(input)"))

    if expr and (args.expr_train or args.expr_test):
        style = ExpressionStyle(args.font)
        report_dropped("expr", style.dropped)
        training = set()
        for part, count in (("train", args.expr_train), ("test", args.expr_test)):
            if count:
                folder = os.path.join(args.outdir, f"expr-{part}")
                progress = Progress(f"expr-{part}", count, args.quiet)
                training |= write_expression_folder(folder, count, style, stream(args.seed, f"expr-{part}"),
                                                    args.noise, progress, training)
                written.append((folder + os.sep, f"{count} images ID_LABEL.png + labels.txt"))
                say(f"expr-{part}: {progress.elapsed():.1f} s")
    return written


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        written = run(args)
    except (ValueError, OSError) as error:
        print(f"generate.py: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} outputs in {time.monotonic() - start:.1f} s:")
    for path, description in written:
        print(f"  {path}: {description}")
    return 0
