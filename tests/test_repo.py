"""Repository-level checks: the README's commands, the documentation, CI, and the one-way flow of imports."""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clstmtools"

#: the data flow, lowest first: a module may import only modules of its own or a lower level
LEVELS = [
    {"kernels"},
    {"sequence", "codec", "filenames", "images", "dewarp", "parallel", "blas", "memory", "atomic", "augment",
     "unicode_scripts", "distributed"},
    {"datasets", "network", "display", "curve"},
    {"modelfile", "ctc", "params", "generate", "recognize", "resume", "evaluation", "vote"},
    {"tasks", "ensemble"},
    {"ocropy", "trainer", "data_parallel", "onnx_export"},
    {"sweep"},
    {"drivers"},
]


def _level(module):
    for i, names in enumerate(LEVELS):
        if module in names:
            return i
    raise AssertionError(f"module {module} is not placed in LEVELS")


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            yield (node.module or "").split(".")[0] or None, node
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("clstmtools"):
            yield (node.module.split(".") + [""])[1], node


def test_readme_quick_start_and_ci_run_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "pytest" in block[1]
    assert block[1] in (ROOT / ".ci" / "run").read_text()


def test_the_settings_reference_is_generated_from_the_table():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "params_table.py"), "--check",
                             str(ROOT / "docs" / "programs.md")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_is_a_front_page_that_links_into_the_documentation():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", readme))
    pages = {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")} - {"docs/index.md"}
    assert linked == pages, pages ^ linked


#: what the product never says of itself (internal words, how a figure was reached)
INTERNAL_WORDS = re.compile(r"seed 00|asked for|the issue", re.I)


def test_the_product_speaks_of_itself():
    """The package, the programs, the scripts, the README, the documentation and the changelog."""
    paths = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "mkdocs.yml"]
    for folder in ("clstmtools", "docs", "bin", "scripts"):
        paths += [path for path in (ROOT / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    found = []
    for path in paths:
        data = path.read_bytes()
        if b"\0" in data:
            continue  # a picture
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if INTERNAL_WORDS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_changelog_names_the_packages_version_first():
    import pytest
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert versions and versions[0] == version, (versions, version)
    for section in re.split(r"^## ", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)[1:]:
        assert set(re.findall(r"^### (\w+)$", section, re.M)) <= {"Added", "Changed", "Deprecated", "Removed",
                                                                  "Fixed", "Security"}, section[:40]


def test_the_documentation_site_builds_without_a_broken_link(tmp_path):
    """mkdocs build --strict (the [docs] extra): a broken link or anchor, or a page left out of the
    navigation, fails."""
    import pytest
    pytest.importorskip("mkdocs")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Keep a Changelog" in (tmp_path / "site" / "changelog" / "index.html").read_text(encoding="utf-8")


def test_every_module_opens_with_a_docstring():
    for path in PACKAGE.rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.strip(), f"{path} has no module docstring"


def test_data_flows_one_way():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue  # the package's front door re-exports the API
        own = rel.parts[0].removesuffix(".py")
        for target, node in _imports(path):
            if len(rel.parts) > 1 and node.level == 1:
                continue  # a sibling inside the same subpackage
            if target is None or target == own:
                continue
            assert _level(target) <= _level(own), f"{rel} imports {target} (higher in the data flow)"


def test_kernels_import_only_numpy_numba_and_their_config():
    for path in (PACKAGE / "kernels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                # and the standard library's hashing of the kernels' sources for the cache key (config.py)
                assert all(a.name.split(".")[0] in ("numpy", "numba", "math", "hashlib", "os") for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1 or node.module.split(".")[0] in ("numpy", "numba"), path


def test_numba_options_are_set_in_one_place():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py":
            continue
        text = path.read_text()
        assert "fastmath" not in text and "njit(" not in text and "@jit" not in text, path


def test_the_demo_runs_end_to_end_in_quick_mode(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--quick", "--outdir",
                             str(tmp_path / "demo")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"errs \d+ total \d+ rate [\d.]+ %", result.stdout)
    assert re.search(r"# selected model .*: trial \d+, validation error", result.stdout)
    for name in ("ocr-train.h5", "ocr-test.h5", "ocr.h5", "ocr-curve.png", "ocr-display.png", "train.log",
                 "errs.txt"):
        assert (tmp_path / "demo" / name).stat().st_size > 0, name


def test_only_the_sweep_imports_optuna():
    """Optuna is the [sweep] extra's: the trainers run without it and never load it."""
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "sweep":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.split(".")[0] == "optuna" for name in names) or path.name == "clstmsweep.py", path
    code = ("import sys, clstmtools.drivers.clstmctc, clstmtools.drivers.clstmseq, clstmtools.drivers.clstmtext; "
            "print('optuna' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr


def test_the_edit_distance_comes_from_levenshtein_itself_not_its_wrapper():
    import pytest
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower() for spec in dependencies]
    assert "levenshtein" in names and "python-levenshtein" not in names, names


LAZY_CHECK = """
import sys
import clstmtools.drivers.clstmctc, clstmtools.drivers.clstmtext
loaded = {name.split(".", 1)[1] for name in sys.modules if name.startswith("clstmtools.")}
print(sorted(loaded & {"trainer", "augment", "display", "curve", "kernels.augment", "kernels.ctc"}),
      sorted(set(sys.modules) & {"Levenshtein", "xml.sax.saxutils", "ssl"}))
import clstmtools as clstm
print(clstm.load_net.__module__, clstm.Sequence.__name__, clstm.ctc.ctc_loss is clstm.ctc_loss,
      "make_net" in dir(clstm), hasattr(clstm, "no_such_name"))
from clstmtools.drivers.common import _interruptions
from clstmtools.trainer import Interrupted
print([cls.__name__ for cls in _interruptions()])
"""


def test_recognition_starts_without_the_training_modules_and_the_api_loads_on_use():
    """The programs import the trainer, augmentation and the CTC alignment kernels only to train, edit
    distances only to compare, XML writing only to write (start-up of mode=text); ``import clstmtools
    as clstm`` still gives the whole API and every submodule, loaded on first use, and a signal still
    stops training."""
    done = subprocess.run([sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[] []", "clstmtools.modelfile Sequence True True False",
                                        "['KeyboardInterrupt', 'Interrupted']"]


def test_an_api_name_that_is_also_its_modules_name_stays_the_function():
    """``clstm.read_line`` imports clstmtools.vote, which binds ``clstm.vote`` to the module; ``clstm.vote`` is
    still the function."""
    code = "import clstmtools as clstm; clstm.read_line; print(callable(clstm.vote), clstm.vote.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["True", "vote"], done.stderr


def test_no_part_of_the_package_takes_another_parts_private_names():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        for target, node in _imports(path):
            if len(rel.parts) > 1 and node.level == 1:
                continue  # a sibling inside the same subpackage
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            assert not private, f"{rel} imports {private} from {target}"


def test_every_function_and_class_is_used():
    """Each one is named somewhere besides its definition (the package, tests, scripts, README or docs); Numba's
    registrations (decorated overloads) are found by Numba."""
    texts = [path.read_text() for folder in ("clstmtools", "tests", "scripts") for path in (ROOT / folder).rglob("*.py")]
    texts += [path.read_text(encoding="utf-8") for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]]
    words = {}
    for word in re.findall(r"\w+", "\n".join(texts)):
        words[word] = words.get(word, 0) + 1
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("__") \
                    and not node.decorator_list:
                assert words[node.name] > 1, f"{path.relative_to(ROOT)}: {node.name} is never used"


def test_one_atomic_writer_with_errors_and_one_place_that_strips_h5():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "def write_atomically" not in text, path  # atomic.write_or_raise is the one
        if path.name != "modelfile.py":  # modelfile.save_stem is the one
            assert 'removesuffix(".h5")' not in text and "[:-3]" not in text, path
