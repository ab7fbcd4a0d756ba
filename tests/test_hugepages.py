"""The Beam jobs re-execute themselves once with glibc's transparent-huge-page tunable, when the
kernel takes advice and the user has not said otherwise (pipeline.hugepages)."""
import os
import subprocess
import sys
import textwrap

import pytest

from pipeline import hugepages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_kernel_mode_is_the_bracketed_word(tmp_path):
    path = tmp_path / "enabled"
    path.write_text("always [madvise] never\n")
    assert hugepages.thp_mode(str(path)) == "madvise"
    path.write_text("[always] madvise never\n")
    assert hugepages.thp_mode(str(path)) == "always"
    assert hugepages.thp_mode(str(tmp_path / "missing")) is None
    path.write_text("garbage\n")
    assert hugepages.thp_mode(str(path)) is None


def test_the_tunable_is_added_only_where_it_helps():
    env = {"PATH": "/bin"}
    assert hugepages.environment_with_huge_pages(env, "madvise", "glibc") == {
        "PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert hugepages.environment_with_huge_pages(env, "never", "glibc") is None
    assert hugepages.environment_with_huge_pages(env, "always", "glibc") is None   # no advice needed
    assert hugepages.environment_with_huge_pages(env, None, "glibc") is None
    assert hugepages.environment_with_huge_pages(env, "madvise", "") is None        # musl, macOS
    assert hugepages.environment_with_huge_pages({**env, "MIXCURATE_HUGE_PAGES": "0"}, "madvise", "glibc") is None


def test_other_tunables_are_kept_and_the_users_choice_wins():
    other = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}
    assert hugepages.environment_with_huge_pages(other, "madvise", "glibc")["GLIBC_TUNABLES"] == \
        "glibc.malloc.arena_max=1:glibc.malloc.hugetlb=1"
    # already named (by the user, or by the re-executed process itself): never a second exec
    mine = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert hugepages.environment_with_huge_pages(mine, "madvise", "glibc") is None


@pytest.mark.skipif(hugepages.thp_mode() != "madvise" or hugepages.libc_name() != "glibc",
                    reason="needs Linux with glibc and transparent huge pages in madvise mode")
def test_a_job_runs_once_more_with_the_tunable_and_keeps_its_arguments(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        print("start", flush=True)
        from pipeline import hugepages
        if __name__ == "__main__":
            hugepages.reexec_with_huge_pages()
        print("tunables", os.environ.get("GLIBC_TUNABLES"), "args", sys.argv[1:], "O", sys.flags.optimize)
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "MIXCURATE_HUGE_PAGES")}
    env["PYTHONPATH"] = ROOT
    out = subprocess.run([sys.executable, "-O", str(script), "--input", "a b"], env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["start", "start",
                   "tunables glibc.malloc.hugetlb=1 args ['--input', 'a b'] O 1"]
    env["MIXCURATE_HUGE_PAGES"] = "0"
    out = subprocess.run([sys.executable, str(script)], env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["start", "tunables None args [] O 0"]
