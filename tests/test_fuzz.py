"""Seeded fuzzing: mutated and hostile small real files through load_net, the dataset readers and the programs.

Every outcome must be a success or the reader's one-line error: never another exception, a crash, a
hang or an allocation of gigabytes (``scripts/fuzz.py`` runs the same with more mutations)."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import fuzz  # noqa: E402


def test_mutated_and_hostile_files_give_one_line_errors_or_work():
    summary = fuzz.fuzz(seed=2, mutations=250, programs=6)
    assert summary["failures"] == []
    outcomes = summary["outcomes"]
    assert outcomes.get("error", 0) > 100 and outcomes.get("ok", 0) > 20  # the mutations reach the checks
    assert outcomes.get("program error", 0) + outcomes.get("program ok", 0) == 6
    assert outcomes.get("libhdf5 hang", 0) == 0


def in_subprocess(code, cwd):
    """The last line ``code`` writes to stderr, run in a subprocess: a libhdf5 stall (36 s and 13 GB of memset
    for the file below before the fix) is a timeout, not a stuck test run."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(fuzz.__file__).parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 1, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_huge_vlen_count_is_an_error_not_a_hang(tmp_path):
    """``scripts/fuzz.py --seed 7`` mutant 627: five bytes overwritten at 6288 of the clstmseq seed file turn
    the stored count of outputs[3] into 3385597584, and libhdf5 allocated and zeroed that many floats (36 s,
    13 GB) inside H5T__conv_vlen, where no signal reaches. The stored count is now checked against outputs_dims
    before the read."""
    seeds = fuzz.make_seeds(tmp_path / "seeds")
    data = bytearray(seeds["seq"].read_bytes())
    assert len(data) == 8384 and data[6288:6293] == bytes([18, 0, 0, 0, 64])  # the seed file is unchanged
    data[6288:6293] = bytes([144, 30, 204, 201, 251])
    path = tmp_path / "seq.h5"
    path.write_bytes(data)
    assert "sample 3: outputs has 3385597584 values but outputs_dims says 9x2" in in_subprocess(
        f"import fuzz; fuzz.read_seq({str(path)!r})", tmp_path)
    # enough steps to reach sample 3 (the samples are drawn at random)
    env = dict(os.environ, threads="1", ntrain="20", report_every="0", test_every="-1", save_name="fuzzed")
    result = subprocess.run([sys.executable, "-m", "clstmtools.drivers.clstmseq", str(path)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "outputs has 3385597584 values" in lines[0], result.stderr


def test_huge_vlen_count_without_dims_is_an_error(tmp_path):
    """The same class where no dims dataset says the size (an OCR file's transcripts): the counts must fit in
    the file."""
    seeds = fuzz.make_seeds(tmp_path / "seeds")
    path = tmp_path / "ocr.h5"
    path.write_bytes(seeds["ocr"].read_bytes())
    with h5py.File(path, "r") as f:
        offset = f["transcripts"].id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset + 2 * 16:offset + 2 * 16 + 4] = np.uint32(1 << 30).tobytes()  # sample 2's stored count
    path.write_bytes(data)
    assert "transcripts declares 4294967312 bytes of values, more than the file holds" in in_subprocess(
        f"import fuzz; fuzz.read_ocr({str(path)!r})", tmp_path)
