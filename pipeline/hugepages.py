"""Transparent huge pages for the local runner's processes, through glibc's malloc tunable.

Beam's local runner copies every element batch between its processes into freshly allocated
memory (protobuf messages built, serialised and parsed in its gRPC threads), and the kernel maps
that memory in 4 KB pages, one minor page fault each: 8.8-9.2 M faults and a quarter to a third of
the tag job's CPU as system time on the sample corpus. With `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` glibc's
malloc asks for transparent huge pages (`madvise(MADV_HUGEPAGE)`) on the memory it maps, which the
kernel then fills 2 MB at a time: 1.3-1.4 M faults, 0.89x the CPU and about 0.85x the wall time
of the tag job, every output column identical and about the same peak memory (README, Measuring).

The tunable is read when a process starts, so a job that wants it re-executes itself once with it
set (`reexec_with_huge_pages`), before it imports Beam; the runner's worker processes inherit it.
Nothing happens off Linux and glibc, when the kernel's THP mode is `never` (or `always`, which needs
no advice), when GLIBC_TUNABLES already names the tunable, or with MIXCURATE_HUGE_PAGES=0.
"""
from __future__ import annotations

import os
import sys

TUNABLE = "glibc.malloc.hugetlb"
OPT_OUT = "MIXCURATE_HUGE_PAGES"
THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode(path: str = THP_MODE) -> str | None:
    """The kernel's transparent-huge-page mode (`always`, `madvise` or `never`), or None."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def libc_name() -> str:
    """`glibc` when this process runs on GNU libc, else ''."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return ""
    return "glibc" if version.startswith("glibc") else ""


def environment_with_huge_pages(env: dict, mode: str | None, libc: str) -> dict | None:
    """The environment to re-execute with, or None when there is nothing to do (see module)."""
    tunables = env.get("GLIBC_TUNABLES", "")
    if (env.get(OPT_OUT) == "0" or libc != "glibc" or mode != "madvise"
            or TUNABLE in tunables):
        return None
    out = dict(env)
    out["GLIBC_TUNABLES"] = f"{tunables}:{TUNABLE}=1" if tunables else f"{TUNABLE}=1"
    return out


def reexec_with_huge_pages() -> None:
    """Re-executes this process's command line (`sys.orig_argv`: the interpreter's flags too) with
    the tunable set, when it is wanted (see module); else returns."""
    if not sys.platform.startswith("linux"):
        return
    env = environment_with_huge_pages(dict(os.environ), thp_mode(), libc_name())
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)
