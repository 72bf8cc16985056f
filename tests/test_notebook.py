"""clstm's notebook workflow, as the Python API page shows it, runs against a real clstm HDF5 file."""
import re
from pathlib import Path

import numpy as np

from clstmtools.datasets import write_ocr_h5

ROOT = Path(__file__).resolve().parents[1]


def test_the_notebook_example_of_the_api_page_runs(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 1, (int(T), 48)).astype(np.float32) for T in rng.integers(20, 40, 6)]
    transcripts = [rng.integers(1, 5, 3) for _ in images]
    write_ocr_h5(tmp_path / "uw3-dew.h5", images, transcripts, [0, 97, 98, 99, 100])
    page = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- notebook-example -->\n```python\n(.*?)```", page, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code.replace("range(10000)", "range(12)"), "python-api.md", "exec"), namespace)
    net = namespace["net"]
    assert (tmp_path / "model.h5").exists() and net.ninput() == 48 and net.noutput() == 5
    aligned = namespace["aligned"].array()
    np.testing.assert_allclose(aligned.sum(axis=1), 1, rtol=1e-5)  # rows of the alignment are distributions
