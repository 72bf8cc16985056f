"""Shared pytest fixtures: the real data in ../shared/data (skipped cleanly when absent)."""
import os
import tarfile
from pathlib import Path

import pytest

#: the project's shared data folder (``../shared/data`` beside the repository), overridable by environment
SHARED_DATA = Path(os.environ.get("CLSTMTOOLS_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))

#: lines of the customary uw3 split held out for testing
UW3_TEST_LINES = 50


def shared_file(name):
    """Path of a file in the shared data folder; skips the test when it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared data {path} is not available")
    return path


def uw3_split(paths):
    """The customary uw3 split: ``.bin.png`` paths sorted in reverse, first 50 test, the rest train."""
    ordered = sorted((str(p) for p in paths), reverse=True)
    return ordered[UW3_TEST_LINES:], ordered[:UW3_TEST_LINES]


@pytest.fixture(scope="session")
def uw3_dir(tmp_path_factory):
    """Folder holding the 500 uw3 lines (``book/NNNN/NNNNNN.bin.png`` and ``.gt.txt``), extracted once."""
    archive = shared_file("uw3-500.tgz")
    target = tmp_path_factory.mktemp("uw3")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="session")
def uw3_lists(uw3_dir):
    """``(train_list, test_list)``: list files of the customary uw3 split (450 / 50 lines), paths relative."""
    train, test = uw3_split(p.relative_to(uw3_dir) for p in uw3_dir.glob("book/*/*.bin.png"))
    lists = []
    for name, paths in (("train.txt", train), ("test.txt", test)):
        listfile = uw3_dir / name
        listfile.write_text("".join(p + "\n" for p in paths), encoding="utf-8")
        lists.append(listfile)
    return tuple(lists)
