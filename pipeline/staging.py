"""Atomic outputs: a job writes into `OUTPUT.staging-<pid>-<n>`, which is renamed into place at
the end, then `_SUCCESS` is written. Readers of a stage require `_SUCCESS`.

`_SUCCESS` holds the run's identity (input fingerprint and config): the same finished run again is
a no-op, a different finished run in the same place is an error unless forced.
Local folders are renamed atomically; remote ones (gs://, s3://) file by file through FileSystems.
"""
from __future__ import annotations

import json
import os
import shutil
import time

from apache_beam.io.filesystems import FileSystems

SUCCESS = "_SUCCESS"


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
    if not _remote(output) and os.path.exists(output) and os.listdir(output) and not force:
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
            raise OutputError(f"cannot create {parent}: {exc}") from exc
        if not os.access(parent, os.W_OK):
            raise OutputError(f"output folder {parent} is not writable")
        prefix = os.path.basename(output) + ".staging-"
        for name in os.listdir(parent):
            if name.startswith(prefix):
                pid = name[len(prefix):].split("-")[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    staging = f"{output}.staging-{os.getpid()}-{int(time.time() * 1000)}"
    FileSystems.mkdirs(staging) if _remote(staging) else os.makedirs(staging)
    return staging


def publish(staging: str, output: str, identity: dict) -> None:
    """Move the finished staging folder to OUTPUT (replacing an older run), then write _SUCCESS."""
    output = output.rstrip("/")
    if _remote(output):
        old = [m.path for m in FileSystems.match([output + "/**"])[0].metadata_list]
        if old:
            FileSystems.delete(old)
        src = [m.path for m in FileSystems.match([staging + "/**"])[0].metadata_list]
        FileSystems.rename(src, [output + p[len(staging):] for p in src])
    else:
        trash = None
        if os.path.exists(output):
            trash = f"{output}.old-{os.getpid()}"
            os.rename(output, trash)
        os.rename(staging, output)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)
    with FileSystems.create(_join(output, SUCCESS)) as f:
        f.write(json.dumps(identity, sort_keys=True, indent=1).encode("utf-8"))


def discard(staging: str) -> None:
    if _remote(staging):
        paths = [m.path for m in FileSystems.match([staging + "/**"])[0].metadata_list]
        if paths:
            FileSystems.delete(paths)
    else:
        shutil.rmtree(staging, ignore_errors=True)
