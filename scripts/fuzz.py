"""Fuzz the readers: seeded mutations of small real files through load_net, the dataset readers and the programs.

    python scripts/fuzz.py [--seed S] [--mutations N] [--programs M] [--json]

Small real files (a model, clstm OCR and clstmseq HDF5 files, a line image with its ground truth
and list, text pairs, a PAGE XML and an ALTO file with their page image) are truncated, bit-flipped,
overwritten and spliced at random, and crafted to be hostile (absurd dims, a 10^6-character
transcript, wrong dtypes and shapes, compression bombs, huge image headers). Each mutant goes
through its reader in this process, each under a time limit and with its peak allocation
measured; ``--programs`` of them also go through the real programs as subprocesses. Every outcome
must be a success or the reader's one-line error: any other exception, a crash of the
interpreter, a run past the time limit or an allocation past the memory limit is a failure. Prints
the outcomes by kind and exits 1 if any failed.
"""
import argparse
import collections
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

import clstmtools as clstm
from clstmtools import datasets
from clstmtools.modelfile import ModelFileError

#: seconds one reader may take on one mutant
TIME_LIMIT = 10
#: bytes one reader may allocate at its peak on one mutant
MEMORY_LIMIT = 256 << 20
#: seconds one program run may take
PROGRAM_TIME_LIMIT = 120


#: the synthetic page's lines: (top, text), 20 pixels high across a 120 x 60 page
PAGE_LINES = ((10, "abc"), (40, "cab"))
ALTO_BOX = 'HPOS="5" VPOS="{top}" WIDTH="110" HEIGHT="20"'
PAGE_DOCUMENT = ('<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/'
                 'pagecontent/2019-07-15"><Page imageFilename="page.png" imageWidth="120" imageHeight="60">'
                 '{lines}</Page></PcGts>\n')
ALTO_DOCUMENT = ('<?xml version="1.0" encoding="UTF-8"?>\n<alto xmlns="http://www.loc.gov/standards/alto/ns-v2#">'
                 '<Description><MeasurementUnit>pixel</MeasurementUnit><sourceImageInformation><fileName>page.png'
                 '</fileName></sourceImageInformation></Description><Layout><Page WIDTH="120" HEIGHT="60">'
                 '<PrintSpace><TextBlock ID="b">{lines}</TextBlock></PrintSpace></Page></Layout></alto>\n')


def polygon(top):
    """A line's PAGE polygon: its box from ``top``."""
    return f"5,{top} 115,{top} 115,{top + 20} 5,{top + 20}"


class Hang(Exception):
    """A reader ran past TIME_LIMIT."""


# --- the real files ---------------------------------------------------------------------------------
def make_seeds(folder):
    """Write the small real files into ``folder``; returns ``{kind: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    net = clstm.make_net("bidi", ninput=8, nhidden=3, noutput=4, rng=1)
    net.codec = [0, ord("a"), ord("b"), ord("c")]
    clstm.save_net(folder / "model.h5", net)
    images = [rng.uniform(0, 1, (12 + 3 * i, 8)).astype(np.float32) for i in range(4)]
    datasets.write_ocr_h5(folder / "ocr.h5", images, [[1, 2], [3], [1, 1, 2], [2]], [0, ord("a"), ord("b"), ord("c")])
    datasets.write_seq_h5(folder / "seq.h5", [rng.uniform(0, 1, (6 + i, 3)) for i in range(4)],
                          [rng.uniform(0, 1, (6 + i, 2)) for i in range(4)])
    lines = folder / "lines"
    lines.mkdir()
    Image.fromarray((rng.uniform(0, 255, (16, 40))).astype(np.uint8)).save(lines / "l1.png")
    (lines / "l1.gt.txt").write_text("abc\n", "utf-8")
    (lines / "list.txt").write_text("l1.png\n", "utf-8")
    (folder / "pairs.txt").write_text("abc\tABC\nhello\tHELLO\n# a comment\nxy\tXY\n", "utf-8")
    pages = folder / "pages"
    pages.mkdir()
    grey = np.full((60, 120), 230, np.uint8)
    grey[14:26, 10:110:5] = 20
    grey[44:56, 10:110:5] = 20
    Image.fromarray(grey).save(pages / "page.png")
    # the two lines of the page, as (top, text): a PAGE TextLine and an ALTO TextLine each
    page_lines = "".join(f'<TextRegion id="r{k}"><TextLine id="l{k}"><Coords points="{polygon(top)}"/>'
                         f'<TextEquiv><Unicode>{text}</Unicode></TextEquiv></TextLine></TextRegion>'
                         for k, (top, text) in enumerate(PAGE_LINES))
    alto_lines = "".join(f'<TextLine ID="l{k}" {ALTO_BOX.format(top=top)}><String CONTENT="{text}" '
                         f'{ALTO_BOX.format(top=top)}/></TextLine>' for k, (top, text) in enumerate(PAGE_LINES))
    (pages / "page.xml").write_text(PAGE_DOCUMENT.format(lines=page_lines), "utf-8")
    (pages / "alto.xml").write_text(ALTO_DOCUMENT.format(lines=alto_lines), "utf-8")
    return {"page": pages / "page.xml", "alto": pages / "alto.xml", "model": folder / "model.h5",
            "ocr": folder / "ocr.h5", "seq": folder / "seq.h5",
            "image": lines / "l1.png", "truth": lines / "l1.gt.txt", "list": lines / "list.txt",
            "pairs": folder / "pairs.txt"}


# --- the readers ------------------------------------------------------------------------------------
def read_model(path):
    clstm.load_net(path)


def read_ocr(path):
    with datasets.OcrH5Dataset(path) as data:
        for i in range(len(data)):
            data.input(i)
            data.labels(i)


def read_seq(path):
    with datasets.SeqH5Dataset(path) as data:
        for i in range(len(data)):
            data.input(i)
            data.output(i)


def read_lines(path):
    data = datasets.LineListDataset(path)
    for i in range(len(data)):
        data.input(i)
        data.labels(i)


def read_pairs(path):
    datasets.TextPairs.read(path)


def read_layout(path):
    data = datasets.open_ocr_dataset(path)  # as the programs open it: a damaged XML file may no longer look like one
    for i in range(len(data)):
        data.input(i)
        data.labels(i)


#: kind of file -> (reader, the errors it may raise)
READERS = {"model": (read_model, ModelFileError), "ocr": (read_ocr, datasets.DatasetError),
           "seq": (read_seq, datasets.DatasetError), "list": (read_lines, datasets.DatasetError),
           "image": (read_lines, datasets.DatasetError), "truth": (read_lines, datasets.DatasetError),
           "pairs": (read_pairs, datasets.DatasetError), "page": (read_layout, datasets.DatasetError),
           "alto": (read_layout, datasets.DatasetError)}


# --- mutations --------------------------------------------------------------------------------------
def mutate(data, rng):
    """A random mutation of the bytes ``data``: ``(name, bytes)``."""
    n = len(data)
    kind = rng.integers(6)
    buffer = bytearray(data)
    if kind == 0:
        cut = int(rng.integers(0, n))
        return f"truncate at {cut}", bytes(buffer[:cut])
    if kind == 1:
        flips = int(rng.integers(1, 9))
        for _ in range(flips):
            i = int(rng.integers(n))
            buffer[i] ^= 1 << int(rng.integers(8))
        return f"flip {flips} bits", bytes(buffer)
    if kind == 2:
        start, size = int(rng.integers(n)), int(rng.integers(1, 64))
        buffer[start:start + size] = bytes(rng.integers(0, 256, min(size, n - start), dtype=np.uint8))
        return f"overwrite {size} bytes at {start}", bytes(buffer)
    if kind == 3:
        start, size = int(rng.integers(n)), int(rng.integers(1, 64))
        buffer[start:start + size] = b"\xff" * min(size, n - start)
        return f"0xff {size} bytes at {start}", bytes(buffer)
    if kind == 4:
        start, size = int(rng.integers(n)), int(rng.integers(1, 256))
        return f"duplicate {size} bytes at {start}", bytes(buffer[:start + size] + buffer[start:])
    start = int(rng.integers(n))
    return f"zero from {start}", bytes(buffer[:start] + b"\0" * (n - start))


def crafted(seeds, folder):
    """Hostile files made on purpose: ``[(kind, name, path), ...]``."""
    folder = Path(folder)
    cases = []

    def copy(kind, name):
        path = folder / f"crafted-{len(cases)}{seeds[kind].suffix}"
        path.write_bytes(seeds[kind].read_bytes())
        cases.append((kind, name, path))
        return path

    with h5py.File(copy("model", "nhidden attribute 10^9"), "r+") as f:
        f.attrs["nhidden"] = np.bytes_(b"1000000000")
    with h5py.File(copy("model", "ninput attribute 10^9"), "r+") as f:
        f.attrs["ninput"] = np.bytes_(b"1000000000")
    with h5py.File(copy("model", "kind attribute an integer array"), "r+") as f:
        f.attrs["kind"] = np.arange(5)
    with h5py.File(copy("model", "a weight of strings"), "r+") as f:
        name = next(n for n in f if n.startswith("."))
        del f[name]
        f[name] = np.array([b"x"] * 3)
    with h5py.File(copy("model", "codec of 10^8 entries, compressed"), "r+") as f:
        del f["codec"]
        f.create_dataset("codec", shape=(10 ** 8, 1), dtype=np.float32, chunks=(10 ** 6, 1), compression="gzip")
    with h5py.File(copy("model", "codec of strings"), "r+") as f:
        del f["codec"]
        f["codec"] = np.array([b"a", b"b", b"c", b"d"])
    with h5py.File(copy("model", "a weight as a group"), "r+") as f:
        name = next(n for n in f if n.startswith("."))
        del f[name]
        f.create_group(name)
    with h5py.File(copy("ocr", "images_dims 10^9"), "r+") as f:
        f["images_dims"][0] = [10 ** 9, 8]
    with h5py.File(copy("ocr", "a 10^6-label transcript"), "r+") as f:
        f["transcripts"][0] = np.ones(10 ** 6, np.int32)
    with h5py.File(copy("ocr", "a NaN pixel"), "r+") as f:
        image = f["images"][1].copy()
        image[3] = np.nan
        f["images"][1] = image
    with h5py.File(copy("ocr", "images_dims of floats"), "r+") as f:
        dims = f["images_dims"][()]
        del f["images_dims"]
        f["images_dims"] = dims.astype(np.float64) + 0.5
    with h5py.File(copy("ocr", "images as a 2-d float array"), "r+") as f:
        del f["images"]
        f["images"] = np.zeros((4, 3), np.float32)
    with h5py.File(copy("ocr", "codec of 10^8 entries, compressed"), "r+") as f:
        del f["codec"]
        f.create_dataset("codec", shape=(10 ** 8,), dtype=np.int32, chunks=(10 ** 6,), compression="gzip")
    with h5py.File(copy("ocr", "10^8 images, compressed"), "r+") as f:
        for name in ("images", "images_dims", "transcripts"):
            del f[name]
        f.create_dataset("images", shape=(10 ** 8,), dtype=h5py.vlen_dtype(np.float32), chunks=(10 ** 6,),
                         compression="gzip")
        f.create_dataset("images_dims", shape=(10 ** 8, 2), dtype=np.int32, chunks=(10 ** 6, 2), compression="gzip")
        f.create_dataset("transcripts", shape=(10 ** 8,), dtype=h5py.vlen_dtype(np.int32), chunks=(10 ** 6,),
                         compression="gzip")
    with h5py.File(copy("seq", "an infinite target"), "r+") as f:
        output = f["outputs"][2].copy()
        output[0] = np.inf
        f["outputs"][2] = output
    with h5py.File(copy("seq", "inputs_dims 10^9 steps"), "r+") as f:
        f["inputs_dims"][1] = [10 ** 9, 3]
        f["outputs_dims"][1] = [10 ** 9, 2]
    with h5py.File(copy("seq", "inputs of complex numbers"), "r+") as f:
        del f["inputs"]
        f["inputs"] = np.zeros((4, 3), np.complex64)
    path = folder / "pairs-long.txt"
    path.write_text("a" * 10 ** 6 + "\t" + "b" * 10 ** 6 + "\n", "utf-8")
    cases.append(("pairs", "a 10^6-character pair", path))
    lines = folder / "huge-lines"
    lines.mkdir()
    header = io.BytesIO()
    Image.new("L", (1, 1)).save(header, format="PNG")
    png = bytearray(header.getvalue())
    png[16:24] = (100000).to_bytes(4, "big") * 2  # the IHDR width and height, CRC left wrong
    (lines / "l1.png").write_bytes(bytes(png))
    (lines / "l1.gt.txt").write_text("abc\n", "utf-8")
    (lines / "list.txt").write_text("l1.png\n", "utf-8")
    cases.append(("list", "an image header claiming 10^5 x 10^5 pixels", lines / "list.txt"))
    (folder / "bad-utf8.txt").write_bytes(b"abc\t\xff\xfe\n")
    cases.append(("pairs", "not UTF-8", folder / "bad-utf8.txt"))
    return cases


# --- running ----------------------------------------------------------------------------------------
def _alarm(signum, frame):
    raise Hang()


def outcome(kind, path):
    """``(outcome, detail)`` of reading ``path`` as ``kind``: ok, error (the reader's one-line error) or a
    failure: exception, hang, memory."""
    reader, expected = READERS[kind]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT)
    tracemalloc.start()
    try:
        reader(path)
        result = ("ok", "")
    except Hang:
        result = ("hang", f"past {TIME_LIMIT} s")
    except expected as error:
        message = str(error)
        result = ("error", message) if "\n" not in message and message else ("exception", f"multi-line: {message!r}")
    except BaseException as error:  # noqa: BLE001 - any other exception is what the fuzzing looks for
        result = ("exception", f"{type(error).__name__}: {error}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak > MEMORY_LIMIT:
        result = ("memory", f"peak {peak / 2 ** 20:.0f} MiB; {result[0]}: {result[1]}")
    return result


class Worker:
    """A subprocess that reads the cases it is sent, one JSON line each, and answers each with its outcome: a
    crash of the interpreter or a hang inside a C library (where no alarm reaches) then costs only the worker."""

    def __init__(self):
        self.process = None

    def start(self):
        self.stacks = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stacks, text=True, bufsize=1)

    def read(self, kind, path):
        if self.process is None:
            self.start()
        self.process.stdin.write(json.dumps([kind, str(path)]) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], TIME_LIMIT + 5)
        line = self.process.stdout.readline() if ready else ""
        if line:
            return tuple(json.loads(line))
        if ready:  # the worker died
            status = self.process.wait()
            self.process = None
            return "crash", f"status {status}"
        # where it is stuck: the worker dumps its stack on SIGUSR1
        self.process.send_signal(signal.SIGUSR1)
        time.sleep(1)
        self.stacks.seek(0)
        frames = [line.strip() for line in self.stacks.read().splitlines() if line.strip().startswith("File")]
        self.stop()
        if frames and "h5py" in frames[0]:
            return "libhdf5 hang", f"inside h5py: {frames[0]}; called from {frames[1] if len(frames) > 1 else '?'}"
        return "hang", f"past {TIME_LIMIT} s in C code: {frames[:3]}"

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
            self.stacks.close()


def worker():
    """The worker's loop (``--worker``): one case per line on stdin, one outcome per line on stdout."""
    import faulthandler
    faulthandler.register(signal.SIGUSR1)
    for line in sys.stdin:
        kind, path = json.loads(line)
        print(json.dumps(outcome(kind, path)), flush=True)


def program_outcome(job):
    """``(outcome, detail)`` of a finished program run: ok, error (one line on stderr), or a failure."""
    process, started = job
    try:
        out, err = process.communicate(timeout=max(1, PROGRAM_TIME_LIMIT - (time.time() - started)))
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return "hang", f"past {PROGRAM_TIME_LIMIT} s"
    if process.returncode < 0:
        return "crash", f"signal {-process.returncode}"
    if process.returncode == 0:
        return "ok", ""
    lines = err.strip().splitlines()
    if "Traceback" in err or "internal error" in err or len(lines) != 1 or process.returncode != 1:
        return "exception", f"status {process.returncode}: {err.strip()[-500:]}"
    return "error", lines[0]


def launch(kind, path, seeds, cwd):
    """Start the program that reads a ``kind`` file on ``path`` (a model evaluated on the real data, or data
    evaluated with the real model or trained on for a few lines)."""
    env = dict(os.environ, threads="1", ntrain="2", report_every="0", test_every="-1", save_name="fuzzed")
    if kind == "model":
        env.update(mode="errs", load=str(path))
        args = ["clstmctc", str(seeds["ocr"])]
    elif kind == "ocr":
        args = ["clstmctc", str(path)]
    elif kind == "seq":
        args = ["clstmseq", str(path)]
    elif kind == "pairs":
        args = ["clstmtext", str(path)]
    elif kind in ("page", "alto"):
        env.update(target_height="16")
        args = ["clstmctc", str(path)]
    else:
        args = ["clstmctc", str(path)]
    command = [sys.executable, "-m", f"clstmtools.drivers.{args[0]}", *args[1:]]
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, time.time()


def fuzz(seed=1, mutations=300, programs=8, parallel=4, log=None):
    """Run the fuzzing; returns ``{"tried": n, "outcomes": {outcome: count}, "by_kind": ..., "failures": [...]}``."""
    rng = np.random.default_rng(seed)
    counts = collections.Counter()
    by_kind = collections.defaultdict(collections.Counter)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seeds = make_seeds(tmp / "seeds")
        (tmp / "mutants").mkdir()
        cases = [(kind, "unchanged", seeds["list"] if kind in ("image", "truth") else path)
                 for kind, path in seeds.items()] + crafted(seeds, tmp / "mutants")
        kinds = sorted(seeds)
        for n in range(mutations):
            kind = kinds[int(rng.integers(len(kinds)))]
            name, data = mutate(seeds[kind].read_bytes(), rng)
            if kind in ("page", "alto"):  # beside the page image it names
                folder = tmp / "mutants" / f"page-{n}"
                folder.mkdir()
                (folder / "page.png").write_bytes((seeds[kind].parent / "page.png").read_bytes())
                (folder / seeds[kind].name).write_bytes(data)
                cases.append((kind, name, folder / seeds[kind].name))
            elif kind in ("image", "truth"):  # mutated in place beside a list that names it
                folder = tmp / "mutants" / f"lines-{n}"
                folder.mkdir()
                for other in ("image", "truth", "list"):
                    (folder / seeds[other].name).write_bytes(seeds[other].read_bytes())
                (folder / seeds[kind].name).write_bytes(data)
                cases.append((kind, name, folder / seeds["list"].name))
            else:
                path = tmp / "mutants" / f"{n}{seeds[kind].suffix}"
                path.write_bytes(data)
                cases.append((kind, name, path))
        reader = Worker()
        for kind, name, path in cases:
            case_started = time.time()
            result, detail = reader.read(kind, path)
            counts[result] += 1
            by_kind[kind][result] += 1
            if result not in ("ok", "error"):  # a libhdf5 hang too: the readers check what makes it spin
                failures.append(dict(kind=kind, mutation=name, outcome=result, detail=detail[:500]))
            if log:
                log(f"{kind:6} {name:45} {result:9} {time.time() - case_started:5.2f} s  {detail[:100]}")
        reader.stop()
        # the programs, on every kind in turn
        by_program_kind = collections.defaultdict(list)
        for case in cases:
            if case[1] != "unchanged":
                by_program_kind[case[0]].append(case)
        order = [kind_cases[i] for i in range(len(cases)) for kind_cases in by_program_kind.values()
                 if i < len(kind_cases)]  # the kinds in turn, crafted cases first
        chosen = order[:programs]
        workdir = tmp / "runs"
        workdir.mkdir()
        for start in range(0, len(chosen), parallel):
            batch = chosen[start:start + parallel]
            jobs = []
            for j, (kind, name, path) in enumerate(batch):
                cwd = workdir / f"{start + j}"
                cwd.mkdir()
                jobs.append(launch(kind, path, seeds, cwd))
            for (kind, name, path), job in zip(batch, jobs):
                result, detail = program_outcome(job)
                counts["program " + result] += 1
                by_kind["program " + kind][result] += 1
                if result not in ("ok", "error"):
                    failures.append(dict(kind=kind, mutation=name, outcome="program " + result, detail=detail[:500]))
                if log:
                    log(f"program {kind:6} {name:37} {result:9} {detail[:100]}")
    return dict(seed=seed, tried=len(cases), programs=len(chosen), outcomes=dict(counts),
                by_kind={kind: dict(c) for kind, c in sorted(by_kind.items())}, failures=failures)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mutations", type=int, default=3000, help="random mutations (crafted cases come on top)")
    parser.add_argument("--programs", type=int, default=40, help="cases also run through the real programs")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    started = time.time()
    summary = fuzz(args.seed, args.mutations, args.programs, log=print if args.verbose else None)
    summary["seconds"] = round(time.time() - started, 1)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"seed {summary['seed']}: {summary['tried']} files read, {summary['programs']} program runs, "
              f"{summary['seconds']} s")
        for kind, outcomes in summary["by_kind"].items():
            print(f"  {kind:16} " + ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items())))
        print("  failures: " + (str(len(summary["failures"])) if summary["failures"] else "none"))
        for failure in summary["failures"]:
            print(f"    {failure}")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
