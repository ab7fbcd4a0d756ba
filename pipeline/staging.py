"""Atomic outputs: a job writes into `OUTPUT.staging-<pid>-<n>`, which is renamed into place at
the end, then `_SUCCESS` is written. Readers of a stage require `_SUCCESS`.

`_SUCCESS` holds the run's identity (input fingerprint and config): the same finished run again is
a no-op, a different finished run in the same place is an error unless forced.
Local folders get `_SUCCESS` inside the staging folder and are then renamed atomically, so OUTPUT
is never visible without it; remote ones (gs://, s3://) are moved file by file through FileSystems,
`_SUCCESS` last. Staging (and replaced `OUTPUT.old-<pid>`) folders left by a killed run are removed
by the next run. `io_error_message` turns a failed write (full disk, read-only or missing folder),
also one raised inside a Beam worker, into one line naming the path and the reason.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import time

from apache_beam.io.filesystems import FileSystems

SUCCESS = "_SUCCESS"
INTERRUPTED = 130  # exit status after Ctrl-C (SIGINT)


class OutputError(RuntimeError):
    """OUTPUT holds another finished run, or cannot be written."""


def _remote(path: str) -> bool:
    return "://" in path


def _join(*parts: str) -> str:
    return FileSystems.join(*parts) if _remote(parts[0]) else os.path.join(*parts)


def read_success(output: str) -> dict | None:
    """The identity stored in OUTPUT/_SUCCESS, or None when OUTPUT is not a finished run."""
    path = _join(output, SUCCESS)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        try:
            return json.loads(f.read().decode("utf-8") or "{}")
        except ValueError:
            return {}


def require_success(path: str, stage: str) -> dict:
    """For readers of a stage's output: its identity, or a clear error if it is not finished."""
    ident = read_success(path)
    if ident is None:
        raise OutputError(f"{path} is not a finished {stage} output (no {SUCCESS}); run `make {stage}` first")
    return ident


def check_previous(output: str, identity: dict, force: bool) -> bool:
    """True when OUTPUT already holds this very run (nothing to do). Raises when it holds another
    finished run and force is off, or when it exists but is not one of our finished outputs."""
    previous = read_success(output)
    if previous is not None:
        same = all(previous.get(k) == identity.get(k) for k in ("input_fingerprint", "config"))
        if same and not force:
            return True
        if not force:
            raise OutputError(
                f"{output} holds a different finished run (other input or settings); "
                "use another OUTPUT or FORCE=1 to replace it")
        return False
    if force:
        return False
    if _remote(output):
        occupied = bool(FileSystems.match([output.rstrip("/") + "/**"])[0].metadata_list)
    else:
        occupied = os.path.exists(output) and bool(os.listdir(output))
    if occupied:
        raise OutputError(f"{output} exists and is not a finished run of ours; remove it or use FORCE=1")
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_staging(output: str) -> str:
    """A fresh staging folder beside OUTPUT; removes staging folders left by dead local runs."""
    output = output.rstrip("/")
    if not _remote(output):
        parent = os.path.dirname(os.path.abspath(output)) or "."
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {parent}: {exc.strerror or exc}") from exc
        if not os.access(parent, os.W_OK):
            raise OutputError(f"cannot write to the output folder {parent}: permission denied")
        base = os.path.basename(output)
        for name in os.listdir(parent):
            for prefix in (base + ".staging-", base + ".old-"):
                if name.startswith(prefix):
                    pid = name[len(prefix):].split("-")[0]
                    if pid.isdigit() and not _pid_alive(int(pid)):
                        shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    staging = f"{output}.staging-{os.getpid()}-{int(time.time() * 1000)}"
    try:
        FileSystems.mkdirs(staging) if _remote(staging) else os.makedirs(staging)
    except OSError as exc:
        raise OutputError(f"cannot create {staging}: {exc.strerror or exc}") from exc
    return staging


def publish(staging: str, output: str, identity: dict) -> None:
    """Move the finished staging folder to OUTPUT (replacing an older run) with _SUCCESS: locally
    written inside staging before the one atomic rename, remotely written after the last file."""
    output = output.rstrip("/")
    if _remote(output):
        old = [m.path for m in FileSystems.match([output + "/**"])[0].metadata_list]
        if old:
            FileSystems.delete(old)
        src = [m.path for m in FileSystems.match([staging + "/**"])[0].metadata_list]
        FileSystems.rename(src, [output + p[len(staging):] for p in src])
        _write_success(output, identity)
    else:
        _write_success(staging, identity)  # inside, so the one rename makes OUTPUT complete at once
        trash = None
        if os.path.exists(output):
            trash = f"{output}.old-{os.getpid()}"
            os.rename(output, trash)
        os.rename(staging, output)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)


def _write_success(folder: str, identity: dict) -> None:
    with FileSystems.create(_join(folder, SUCCESS)) as f:
        f.write(json.dumps(identity, sort_keys=True, indent=1).encode("utf-8"))


def exit_process(code: int) -> None:
    """Ends a job's process with code. After an interrupt Beam's runner may leave threads running
    that would keep the process alive: the staging folder is already gone, so exit at once."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code) if code == INTERRUPTED else sys.exit(code)


def discard(staging: str) -> None:
    if _remote(staging):
        paths = [m.path for m in FileSystems.match([staging + "/**"])[0].metadata_list]
        if paths:
            FileSystems.delete(paths)
    else:
        shutil.rmtree(staging, ignore_errors=True)


_WRAPPED_OS_ERROR = re.compile(r"\[Errno (\d+)\] ([^:\n]+?)(?:: '([^'\n]+)')?(?:\n|$)")
_WRITE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                 errno.EROFS: "read-only file system"}
_ACCESS_ERRNOS = {errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}


def _describe(code: int, strerror: str, path: str) -> str:
    if code in _WRITE_ERRNOS:
        return f"cannot write {path}: {_WRITE_ERRNOS[code]} ({strerror})"
    return f"cannot access {path}: {_ACCESS_ERRNOS[code]} ({strerror})"


def io_error_message(exc: BaseException, output: str) -> str | None:
    """One line for a failed write or a denied access, e.g. `cannot write <path>: no space left on
    device (...)`, or None when exc is not such an OS error. Beam workers' errors reach the driver
    as a RuntimeError holding the worker's traceback as text: the errno and path are found there."""
    known = {**_WRITE_ERRNOS, **_ACCESS_ERRNOS}
    seen = exc
    while seen is not None:  # the OSError itself, or one it was raised from
        if isinstance(seen, OSError) and seen.errno in known:
            return _describe(seen.errno, seen.strerror or str(seen), seen.filename or output)
        seen = seen.__cause__ or seen.__context__
    matches = [m for m in _WRAPPED_OS_ERROR.finditer(str(exc)) if int(m.group(1)) in known]
    if not matches:
        return None
    m = matches[-1]
    return _describe(int(m.group(1)), m.group(2).strip(), m.group(3) or output)
