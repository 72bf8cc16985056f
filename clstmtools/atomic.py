"""Every file the package writes goes through ``atomic_write``: complete or not there at all, with a plain file's mode.

The content is written to a temporary file beside the target (``.NAME.HOST.PID.RANDOM.tmp``),
flushed to disk and renamed over the target, so that a reader (or a crash) only ever sees the old
file or the new one; the folder is then flushed too, so that the rename itself survives a power
loss (without it the new name can vanish, and with a replaced file, both). The new file gets the permissions a plainly created file would have (the
existing file's, else 0666 less the umask), not ``mkstemp``'s 0600. A temporary left behind by a
killed writer is removed at the next write of the same name: at once when it came from a process
of this host that is gone, after a day when it came from another host.
"""
import contextlib
import os
import secrets
import socket
import stat
import time

#: a temporary file of another host is taken for abandoned after this many seconds
FOREIGN_TEMPORARY_AGE = 86400.0


def umask():
    """The process's umask (read from /proc where it can be, so that it is never changed, even briefly)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _host():
    return socket.gethostname().replace(".", "_") or "host"


def _process_is_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, but someone else's
        return False
    return False


def remove_stale_temporaries(path):
    """Remove the temporaries that earlier, killed writes of ``path`` left behind; returns their names."""
    directory, name = os.path.split(os.path.abspath(path))
    prefix, host, removed = f".{name}.", _host(), []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        parts = entry[len(prefix):-len(".tmp")].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        full = os.path.join(directory, entry)
        try:
            if parts[0] == host:
                stale = _process_is_gone(int(parts[1]))
            else:
                stale = time.time() - os.lstat(full).st_mtime > FOREIGN_TEMPORARY_AGE
            if stale:
                os.remove(full)
                removed.append(entry)
        except OSError:
            continue
    return removed


def _plain_mode(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~umask()


def sync_folder(directory):
    """Flush ``directory``'s entries to disk (POSIX: fsync the folder), making the renames in it durable.
    Where a folder cannot be opened or flushed (Windows; some network filesystems) nothing is done."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path to write ``path``'s new content into; on a clean exit it replaces ``path``.

    On an exception (KeyboardInterrupt included) the temporary is removed and ``path`` is left as
    it was."""
    path = os.fspath(path)
    remove_stale_temporaries(path)
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    mode = _plain_mode(path)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:  # named by the target file, not by the temporary
        raise OSError(error.errno, error.strerror, path) from None
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        sync_folder(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return os.fspath(path)


def write_or_raise(path, data, error):
    """Write ``data`` (bytes) to ``path`` atomically; a failure raises ``error`` (an exception class) with
    the one line ``PATH: cannot write: REASON``."""
    try:
        return write_bytes(path, data)
    except OSError as problem:
        raise error(f"{os.fspath(path)}: cannot write: {problem.strerror or problem}") from None


def write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode(encoding))
