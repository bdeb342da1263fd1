"""Crash-safe replacement of a folder: at every instant its name holds the old or the new complete copy.

:func:`atomic_directory` yields a hidden sibling ``.NAME.tmp-<pid>-<random>`` to write into. When the
``with`` body succeeds, every file and the folder are fsynced, then the new folder takes the name in one
atomic step:

- NAME does not exist: ``rename(tmp, NAME)``;
- NAME is a folder: the two folders are *exchanged* (Linux ``renameat2(RENAME_EXCHANGE)``, macOS
  ``renamex_np(RENAME_SWAP)``), after which the old copy sits at the tmp name and is deleted.

So NAME stays a plain folder (no symlink farm to confuse copies, ``rsync`` or a push's link checks), and a
``kill -9`` at any point leaves NAME old or new, never missing or half-written. Where no atomic exchange
exists (Windows, NFS and other file systems that refuse it) the old folder is renamed to
``.NAME.old-<pid>-<random>`` and the new one renamed in: a crash between the two renames leaves NAME
missing for that instant, with the old copy kept under ``.NAME.old-*``.

If NAME is a symlink made by the user, the folder it points to is replaced and the link is kept.
Leftovers of crashed saves (``.NAME.tmp-*``, ``.NAME.old-*``) are deleted by the next successful save,
except those of a live process that may still be writing them (its pid is in the name). Concurrent saves
to one NAME from threads of one process are not supported. New folders and files follow the umask.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from zoo.errors import CheckpointError, CheckpointWriteError

MAX_LINK_HOPS = 40


def _umask() -> int:
    """The process umask: read from /proc on Linux (setting it to read it races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_user_links(dest: Path) -> Path:
    """``dest`` with its own symlinks followed (one hop at a time), so a user's link is kept and the
    folder it points to is replaced; a dangling link gives the path it names."""
    for _ in range(MAX_LINK_HOPS):
        if not dest.is_symlink():
            return dest
        dest = Path(os.path.join(dest.parent, os.readlink(dest)))
    raise CheckpointError(f"{dest}: too many levels of symbolic links (a loop?); give a real folder")


def check_destination(dest: Path, *, is_replaceable: Callable[[Path], bool] | None = None) -> Path:
    """Check that ``dest`` can be (re)written, before any work: return the folder that will be written.

    Raises :class:`CheckpointError` naming ``dest`` if it is a file, a non-empty folder that
    ``is_replaceable`` refuses (user data), or if its parent folder cannot be created or written.
    """
    target = follow_user_links(Path(dest).expanduser())
    if target.exists() and not target.is_dir():
        raise CheckpointError(
            f"{dest} exists and is not a folder; choose a folder path (nothing was written)"
        )
    if (
        is_replaceable is not None
        and target.is_dir()
        and any(target.iterdir())
        and not is_replaceable(target)
    ):
        raise CheckpointError(
            f"{dest} exists, is not empty and is not a kexue-zoo checkpoint; "
            "choose a new folder (nothing was written)"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
        probe.rmdir()
    except OSError as exc:
        raise CheckpointWriteError(
            f"cannot write {dest}: {exc.strerror or exc} in {target.parent}; "
            "choose a folder you can write to (e.g. --out DIR)"
        ) from exc
    return target


@contextmanager
def atomic_directory(dest: Path, *, is_replaceable: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a fresh folder beside ``dest``; on success it replaces ``dest`` atomically, on error it vanishes.

    ``is_replaceable(folder)`` says whether an existing non-empty folder may be replaced (else refused).
    """
    target = check_destination(dest, is_replaceable=is_replaceable)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    except OSError as exc:
        raise CheckpointWriteError(f"cannot write {dest}: {exc}") from exc
    try:
        yield tmp
        _finish(tmp)
        _swap_in(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(f"cannot write {dest}: {exc} (the previous content is unchanged)") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    clean_leftovers(target)


def _finish(folder: Path) -> None:
    """Give ``folder`` and its files the umask's modes and fsync them all (files, sub-folders, itself)."""
    mask = _umask()
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, 0o666 & ~mask)
            fsync_path(path)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        fsync_path(root, directory=True)
    os.chmod(folder, 0o777 & ~mask)


def write_text(path: Path, text: str) -> None:
    """Replace one file crash-safely: written beside it, fsynced, renamed over it (umask modes)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent, directory=True)


def fsync_path(path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Flush a file (or a folder's entries) to disk; folders cannot be opened on Windows (skipped)."""
    if directory and os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target``; the old content, if any, is deleted afterwards."""
    if not target.exists() and not target.is_symlink():
        try:
            os.rename(tmp, target)  # atomic; fails if a racing writer created a non-empty target
        except OSError:
            if not target.is_dir():
                raise
        else:
            fsync_path(target.parent, directory=True)
            return
    if exchange(tmp, target):
        fsync_path(target.parent, directory=True)
        shutil.rmtree(tmp, ignore_errors=True)  # now the old copy; a crash here leaves a leftover only
        return
    old = target.parent / f".{target.name}.old-{tmp.name.rsplit('.tmp-', 1)[-1]}"
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    fsync_path(target.parent, directory=True)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 2  # macOS stdio.h
_AT_FDCWD = -100


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False where the OS or file system cannot (then nothing changed)."""
    libc = _libc() if sys.platform in ("linux", "darwin") else None
    if libc is None:
        return False
    a_b, b_b = os.fsencode(a), os.fsencode(b)
    if sys.platform == "linux" and hasattr(libc, "renameat2"):
        rc = libc.renameat2(_AT_FDCWD, a_b, _AT_FDCWD, b_b, ctypes.c_uint(_RENAME_EXCHANGE))
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rc = libc.renamex_np(a_b, b_b, ctypes.c_uint(_RENAME_SWAP))
    else:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    import errno

    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # not supported here: the caller falls back to two renames
    raise OSError(err, os.strerror(err), str(b))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers: a save in progress in this process is never listed here
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it on Windows: keep what may be in use
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep it
    return True


def clean_leftovers(target: Path) -> list[Path]:
    """Delete ``.NAME.tmp-*`` and ``.NAME.old-*`` beside ``target`` left by crashed saves; return them.

    Entries named with the pid of another live process (a save in progress) are kept.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(?:(\d+)-)?[^/]*")
    removed = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return []
    for path in siblings:
        match = pattern.fullmatch(path.name)
        if match is None or (match.group(2) and _pid_alive(int(match.group(2)))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
