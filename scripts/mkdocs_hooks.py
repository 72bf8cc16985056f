"""MkDocs hook: the site's changelog page is CHANGELOG.md at the repository root (one source, no copy kept)."""
from pathlib import Path

from mkdocs.structure.files import File

CHANGELOG = Path(__file__).resolve().parents[1] / "CHANGELOG.md"


def on_files(files, config):
    """Add docs/changelog.md, generated from CHANGELOG.md, to the site's files."""
    files.append(File.generated(config, "changelog.md", abs_src_path=str(CHANGELOG)))
    return files
