"""The console programs clstmctc, clstmseq, clstmtext, clstmsweep and clstmexport (thin: read settings, build, train, report), and the version line they print."""


def version_line(program):
    """``PROGRAM VERSION`` (``--version``): the version of the installed clstmtools package."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return f"{program} {version('clstmtools')}"
    except PackageNotFoundError:
        return f"{program} (clstmtools is not installed: no version)"
