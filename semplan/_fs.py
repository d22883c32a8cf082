"""File-system plumbing written once: atomic replacement, exclusive locks, JSON files, the cache directory.

Every file semplan writes for others to read (index files, manifests, reports, model exports) goes
through `replace_atomically`: a reader sees the old file or the new one, never half of one, and a
killed writer leaves at most a hidden `.NAME.*.tmp` beside it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from semplan._faults import fault_point
from semplan.errors import LockBusy


def cache_dir() -> Path:
    """$SEMPLAN_CACHE_DIR, else ~/.cache/semplan: embeddings, ONNX exports of read-only models."""
    env = os.environ.get("SEMPLAN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "semplan"


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened, as on Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], None], *, fault_name: str | None = None) -> Path:
    """`write(temporary_path)`, fsync it, give it the umask's mode, then rename it over `path`.

    `fault_name` names the crash tests' fault points `<name>-temp-written` and `<name>-renamed`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~umask())  # mkstemp makes 0600; outputs are as shareable as any file
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        if fault_name:
            fault_point(f"{fault_name}-temp-written")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    if fault_name:
        fault_point(f"{fault_name}-renamed")
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, fault_name: str | None = None) -> Path:
    return replace_atomically(path, lambda temporary: temporary.write_bytes(data), fault_name=fault_name)


def write_text_atomic(path: str | os.PathLike, text: str, *, newline: str | None = None, encoding: str = "utf-8") -> Path:
    def write(temporary: Path) -> None:
        with open(temporary, "w", encoding=encoding, newline=newline) as handle:
            handle.write(text)

    return replace_atomically(path, write)


def write_json_atomic(path: str | os.PathLike, data: Any, *, fault_name: str | None = None) -> Path:
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"), fault_name=fault_name)


def read_json(path: str | os.PathLike) -> Any | None:
    """The parsed file, or None if it is missing or not JSON (callers decide what that means)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def replace_dir(new: Path, target: Path) -> None:
    """Swap a finished directory into place; the old one is removed only after the rename."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard_dir(target: Path) -> None:
    """Remove a directory so that it is gone under its name at once (renamed aside, then deleted)."""
    aside = target.with_name(f".{target.name}.{os.getpid()}.discarded")
    os.rename(target, aside)
    shutil.rmtree(aside, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or we cannot tell: keep it)
    return True


def dead_staging(target: Path, suffix: str) -> list[Path]:
    """The hidden staging siblings of `target` whose building process is gone."""
    dead = []
    for path in sorted(target.parent.glob(f".{target.name}.*{suffix}")):
        pid = path.name[len(target.name) + 2 :].partition(".")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            dead.append(path)
    return dead


def remove_dead_staging(target: Path, suffix: str) -> list[Path]:
    """Remove the hidden staging siblings of `target` left by processes that died while building."""
    removed = dead_staging(target, suffix)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


@contextlib.contextmanager
def scratch_dir(target: Path, *, suffix: str) -> Iterator[Path]:
    """A hidden working directory beside `target`, removed on exit; a killed run's is removed by the next.

    Named as `staged_dir`'s staging directories are, so `remove_dead_staging` tells them apart.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(target, suffix)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=suffix, dir=target.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(target: Path, *, suffix: str, replace: bool) -> Iterator[Path]:
    """Build a directory in a hidden sibling of `target`, then publish it in one rename.

    Readers never see a half-built directory under `target`. With `replace`, an existing
    `target` is swapped out (and removed after the rename); without it, publishing fails with
    `FileExistsError` if another process filled `target` meanwhile, rather than throwing that
    away. The staging name carries this process's id, so `remove_dead_staging` can tell a killed
    build's leftovers from a build still running.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(target, suffix)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=suffix, dir=target.parent))
    try:
        os.chmod(staging, 0o777 & ~umask())
        yield staging
        if replace:
            replace_dir(staging, target)
        else:
            try:
                os.rename(staging, target)  # replaces only an empty directory (POSIX)
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise FileExistsError(errno.EEXIST, "created by another process meanwhile", str(target)) from None
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    fsync_dir(target.parent)


def _try_lock(handle: IO[str], wait: bool) -> bool:
    # filelock's primitive (flock on POSIX, LockFileEx on one byte on Windows) on our own handle, so the
    # holder can write its pid into the file for the "busy" message, and nothing here is POSIX-only.
    from filelock import lock_descriptor

    return lock_descriptor(handle.fileno(), blocking=wait)


def _holder_pid(handle: IO[str]) -> str:
    try:
        handle.seek(0)
        return handle.read().strip() or "?"
    except OSError:  # Windows: the holder's locked byte cannot be read
        return "?"


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: bool = True, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block.

    The operating system releases it when the process dies, so a killed writer never leaves a
    stale lock. With `wait=False`, a lock held by another process raises `LockBusy` naming `what`
    and the holder's pid, which the holder writes into the file.
    """
    path = Path(path)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        if not _try_lock(handle, wait):
            holder = _holder_pid(handle)
            raise LockBusy(f"{what or path} is being written by another process (pid {holder}); try again when it finishes")
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.truncate(0)
    finally:
        handle.close()
