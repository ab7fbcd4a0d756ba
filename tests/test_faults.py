"""Faults (spec §3) and progress (spec §5) of the Beam jobs, with real processes.

- A `make tag` or `make mix` killed mid-run (SIGKILL, SIGTERM) never leaves a visible output:
  only an `OUTPUT.staging-<pid>-<ms>` folder, which the next run removes; run again, it completes
  with the same rows and stats (mix: the same shard files) as an uninterrupted run.
- A corrupt or truncated gzip or Parquet input is rejected whole (one `unreadable_file` record
  naming the file and the reason, no document from it) while every good file is tagged.
- An output that cannot be written (a file in the way, a read-only folder, a full disk) stops the
  job with one line naming the path and the reason, no traceback.
- The jobs' workers log their counts at intervals; the totals come from Beam's metrics.
"""
import collections
import errno
import glob
import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import mix_job, progress, staging, tag_job
from test_mix_job import write_tag_output

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("the city council approved new budget after long debate about schools roads public library "
         "members said plan would be reviewed again next year river mountain garden engine").split()
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MIX_ARGS = ["--tokens", "60000", "--val-tokens", "1500", "--vocab-size", "600", "--no-plots"]


def _texts(seed, n):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(60)) + f" ({seed}-{i})." for i in range(n)]


def _jsonl_gz(path, seed, n):
    lines = (json.dumps({"id": f"{seed}-{i}", "text": t}) for i, t in enumerate(_texts(seed, n)))
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    with open(path, "wb") as f:
        f.write(data)
    return data


def _parquet(path, seed, n, checksums=False):
    texts = _texts(seed, n)
    pq.write_table(pa.table({"id": [f"{seed}-{i}" for i in range(n)], "text": texts}), path,
                   row_group_size=max(1, n // 4), write_page_checksum=checksums)
    return open(path, "rb").read()


def _cmd(module, *args):
    return [sys.executable, "-m", module, *args]


def _run(module, *args):
    return subprocess.run(_cmd(module, *args), cwd=ROOT, capture_output=True, text=True, timeout=300)


def _docs_multiset(out):
    rows = pq.read_table(os.path.join(out, "docs")).to_pylist()
    return collections.Counter(json.dumps(r, sort_keys=True) for r in rows)


def _stats_without_timing(out):
    stats = json.load(open(os.path.join(out, "stats.json")))
    stats.pop("throughput")
    return stats


def _kill_mid_run(cmd, output, sig, after_staging_s):
    """Starts cmd, waits for its staging folder, lets it run a little longer, sends sig; then
    ends whatever is left of the process group (Beam's workers) so nothing runs on."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.time() + 120
    while not glob.glob(f"{output}.staging-{proc.pid}-*"):
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no staging folder appeared"
        time.sleep(0.02)
    time.sleep(after_staging_s)
    assert proc.poll() is None, "the job finished before it could be killed"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    try:  # orphaned workers would hold the stderr pipe open
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc, proc.stderr.read()


def _assert_nothing_visible(output, names=("docs", "stats.json", "manifest.json", "shards")):
    assert not os.path.exists(output), "a killed run must not leave OUTPUT"
    for staged in glob.glob(output + ".staging-*"):
        assert not os.path.exists(os.path.join(staged, staging.SUCCESS))


# ---------------------------------------------------------------- killed jobs

@pytest.fixture(scope="module")
def tag_input(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for part in range(4):
        _jsonl_gz(root / f"part{part}.jsonl.gz", part, 1000)
    return str(root)


@pytest.fixture(scope="module")
def tag_reference(tag_input, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ref") / "tag")
    p = _run("pipeline.tag_job", "--input", tag_input, "--output", out, "--direct_num_workers=2")
    assert p.returncode == 0, p.stderr[-3000:]
    return out


@pytest.mark.parametrize("job", ["tag", "mix"])
def test_a_killed_job_leaves_no_output_and_a_rerun_completes_the_same(job, tag_input, tag_reference, tmp_path):
    if job == "tag":
        source, module, extra = tag_input, "pipeline.tag_job", ["--direct_num_workers=2"]
    else:
        source = str(tmp_path / "tagged")
        write_tag_output(source)
        module, extra = "pipeline.mix_job", [*MIX_ARGS, "--direct_num_workers=2"]
    output = str(tmp_path / "out")
    cmd = _cmd(module, "--input", source, "--output", output, *extra)

    killed = []
    for sig in (signal.SIGKILL, signal.SIGTERM):
        proc, err = _kill_mid_run(cmd, output, sig, after_staging_s=1.0)
        assert proc.returncode != 0
        _assert_nothing_visible(output)
        left = glob.glob(f"{output}.staging-{proc.pid}-*")
        assert len(left) == 1         # no chance to clean up: a clearly named leftover
        killed += left

    p = _run(module, "--input", source, "--output", output, *extra)
    assert p.returncode == 0, p.stderr[-3000:]
    assert not [k for k in killed if os.path.exists(k)], "the rerun removes the dead runs' staging folders"
    assert not glob.glob(output + ".staging-*") and not glob.glob(output + ".old-*")
    assert os.path.exists(os.path.join(output, staging.SUCCESS))
    if job == "tag":
        assert _docs_multiset(output) == _docs_multiset(tag_reference)
        assert _stats_without_timing(output) == _stats_without_timing(tag_reference)
    else:
        reference = str(tmp_path / "reference")
        r = _run(module, "--input", source, "--output", reference, *extra)
        assert r.returncode == 0, r.stderr[-3000:]
        for name in ("tokenizer.json",):
            assert open(os.path.join(output, name)).read() == open(os.path.join(reference, name)).read()
        got, want = (json.load(open(os.path.join(o, "manifest.json"))) for o in (output, reference))
        assert got["shards"] == want["shards"]        # same files, byte for byte (sha256)
        assert got["domains"] == want["domains"]


def test_a_leftover_staging_folder_of_a_live_run_is_left_alone(tmp_path):
    """Only dead runs' folders are removed: a second job beside a running one must not delete its work."""
    out = str(tmp_path / "out")
    live = f"{out}.staging-{os.getpid()}-1"
    os.makedirs(live)
    dead = f"{out}.staging-999999999-1"
    os.makedirs(dead)
    mine = staging.new_staging(out)
    assert os.path.isdir(live) and not os.path.exists(dead) and mine.startswith(out + ".staging-")


# ---------------------------------------------------------------- corrupt inputs

def test_corrupt_gzip_and_parquet_files_are_rejected_whole_and_the_rest_is_tagged(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _jsonl_gz(src / "good.jsonl.gz", 1, 40)
    _parquet(src / "good.parquet", 2, 40)
    data = _jsonl_gz(src / "truncated.jsonl.gz", 3, 400)
    (src / "truncated.jsonl.gz").write_bytes(data[: len(data) * 2 // 3])
    data = bytearray(_jsonl_gz(src / "garbled.jsonl.gz", 4, 400))
    data[len(data) // 2: len(data) // 2 + 200] = bytes(random.Random(0).randrange(256) for _ in range(200))
    (src / "garbled.jsonl.gz").write_bytes(bytes(data))
    data = _parquet(src / "truncated.parquet", 5, 400)
    (src / "truncated.parquet").write_bytes(data[: len(data) // 2])
    data = bytearray(_parquet(src / "garbled.parquet", 6, 400, checksums=True))
    data[len(data) // 3: len(data) // 3 + 64] = b"\x00" * 64
    (src / "garbled.parquet").write_bytes(bytes(data))

    out = tmp_path / "out"
    p = _run("pipeline.tag_job", "--input", str(src), "--output", str(out), *IN_MEMORY)
    assert p.returncode == 0, p.stderr[-3000:]
    docs = pq.read_table(out / "docs", columns=["id", "source"]).to_pylist()
    assert sorted(d["source"] for d in docs) == ["good.jsonl.gz"] * 40 + ["good.parquet"] * 40
    rejects = [json.loads(line) for f in glob.glob(str(out / "rejects" / "*.jsonl")) for line in open(f)]
    bad = {"truncated.jsonl.gz", "garbled.jsonl.gz", "truncated.parquet", "garbled.parquet"}
    assert sorted(r["file"] for r in rejects) == sorted(bad), "one reject per bad file, nothing else"
    for r in rejects:
        assert r["reason"] == "unreadable_file" and len(r["detail"]) > 10, r
    stats = json.load(open(out / "stats.json"))
    assert stats["tagged"] == 80 and stats["rejected"] == 4
    assert stats["inputs"]["records"] == stats["tagged"] + stats["rejected"]


# ---------------------------------------------------------------- unwritable outputs and full disks

def _one_clear_line(err):
    lines = [line for line in err.strip().splitlines() if "semi_persistent_directory" not in line]
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


@pytest.mark.parametrize("module", ["pipeline.tag_job", "pipeline.mix_job"])
def test_an_output_under_a_regular_file_is_a_clear_error(module, tmp_path, tag_input):
    (tmp_path / "afile").write_text("not a folder")
    source = tag_input
    if module == "pipeline.mix_job":
        source = str(tmp_path / "tagged")
        write_tag_output(source)
    out = str(tmp_path / "afile" / "out")
    p = _run(module, "--input", source, "--output", out, *IN_MEMORY, *(MIX_ARGS if "mix" in module else []))
    assert p.returncode != 0
    line = _one_clear_line(p.stderr)
    assert str(tmp_path / "afile") in line and ("Not a directory" in line or "File exists" in line), line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only (0555) folder anyway")
def test_an_output_in_a_read_only_folder_is_a_clear_error(tmp_path, tag_input):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        p = _run("pipeline.tag_job", "--input", tag_input, "--output", str(ro / "out"), *IN_MEMORY)
    finally:
        ro.chmod(0o755)
    assert p.returncode != 0
    line = _one_clear_line(p.stderr)
    assert str(ro) in line and "permission denied" in line, line


def _can_mount():
    return os.geteuid() == 0 and subprocess.run(["which", "mount"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="mounting a small tmpfs needs root and mount(8)")
def test_a_full_disk_is_a_clear_error_naming_the_path(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _jsonl_gz(src / "a.jsonl.gz", 1, 1500)     # ~0.6 MB of text: more than the disk holds
    disk = tmp_path / "disk"
    disk.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)], capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {m.stderr.strip()}")
    try:
        p = _run("pipeline.tag_job", "--input", str(src), "--output", str(disk / "out"), *IN_MEMORY)
        left = os.listdir(disk)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert p.returncode != 0
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith("tag: error: cannot write ") and str(disk / "out") in line, p.stderr[-3000:]
    assert "no space left on device" in line and "Traceback" not in p.stderr.split("tag: error:")[-1]
    assert left == [], "the failed run removes its staging folder"


WORKER_TRACEBACK = """Traceback (most recent call last):
  File "apache_beam/runners/common.py", line 1501, in process
  File "pipeline/mix_job.py", line 320, in process
    f.write(payload)
OSError: [Errno 28] No space left on device: '/data/out.staging-12-34/_tmp/train/general/00000-00000.bin'
 [while running 'WriteShards']
"""


def test_io_errors_become_one_line_with_path_and_reason():
    direct = OSError(errno.ENOSPC, "No space left on device", "/data/out.staging-1/stats.json")
    assert staging.io_error_message(direct, "OUTPUT") == \
        "cannot write /data/out.staging-1/stats.json: no space left on device (No space left on device)"
    wrapped = RuntimeError(WORKER_TRACEBACK)
    assert staging.io_error_message(wrapped, "OUTPUT") == (
        "cannot write /data/out.staging-12-34/_tmp/train/general/00000-00000.bin: "
        "no space left on device (No space left on device)")
    try:
        try:
            raise OSError(errno.EROFS, "Read-only file system", "/ro/x")
        except OSError as exc:
            raise RuntimeError("writing failed") from exc
    except RuntimeError as chained:
        assert staging.io_error_message(chained, "OUTPUT") == "cannot write /ro/x: read-only file system " \
                                                              "(Read-only file system)"
    denied = RuntimeError("...\nPermissionError: [Errno 13] Permission denied: '/ro/out.staging-1/docs'\n")
    assert staging.io_error_message(denied, "OUTPUT") == \
        "cannot access /ro/out.staging-1/docs: permission denied (Permission denied)"
    assert staging.io_error_message(ValueError("a bug"), "OUTPUT") is None
    assert staging.io_error_message(FileNotFoundError(errno.ENOENT, "No such file", "/m"), "OUTPUT") is None


@pytest.mark.parametrize("job", [tag_job, mix_job])
def test_the_jobs_report_a_full_disk_in_a_worker_as_one_line(job, monkeypatch, capsys, tmp_path):
    source = tmp_path / "in"
    if job is tag_job:
        source.mkdir()
        _jsonl_gz(source / "a.jsonl.gz", 1, 5)
    else:
        write_tag_output(str(source))

    def fails_in_a_worker(*args, **kwargs):
        raise RuntimeError(WORKER_TRACEBACK)
    monkeypatch.setattr(job, "build", fails_in_a_worker)
    out = str(tmp_path / "out")
    assert job.main(["--input", str(source), "--output", out, *IN_MEMORY,
                     *(MIX_ARGS if job is mix_job else [])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no space left on device" in err and "/data/out.staging-12-34/_tmp/train/general/00000-00000.bin" in err
    assert os.listdir(tmp_path) == ["in"], "the failed run removes its staging folder"


def test_other_errors_still_show_their_traceback(monkeypatch, tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')

    def bug(*args, **kwargs):
        raise ValueError("a bug")
    monkeypatch.setattr(tag_job, "build", bug)
    with pytest.raises(ValueError):
        tag_job.main(["--input", str(tmp_path / "a.jsonl"), "--output", str(tmp_path / "out"), *IN_MEMORY])
    assert not glob.glob(str(tmp_path / "out*"))


# ---------------------------------------------------------------- progress

def test_progress_logs_counts_at_intervals_only():
    now = [0.0]
    lines = []
    p = progress.Progress("tag", ("read", "tagged", "rejected", "duplicates"), every=10,
                          clock=lambda: now[0], emit=lines.append)
    for _ in range(1000):
        p.add("read")
    now[0] = 9.9
    p.add("tagged", 5)
    assert lines == []                      # not yet due
    now[0] = 10.0
    p.add("rejected")
    now[0] = 15.0
    p.add("read")
    now[0] = 75.0
    p.add("duplicates", 2)
    assert len(lines) == 2
    assert lines[0].startswith("tag progress [worker pid ") and ", 10s]: " in lines[0]
    assert lines[0].endswith("read 1,000 | tagged 5 | rejected 1 | duplicates 0")
    assert ", 1m15s]: " in lines[1] and lines[1].endswith("read 1,001 | tagged 5 | rejected 1 | duplicates 2")


def test_progress_every_zero_logs_nothing():
    lines = []
    p = progress.Progress("mix", ("read",), every=0, clock=lambda: 1e9, emit=lines.append)
    p.add("read", 10)
    assert lines == [] and p.counts == {"read": 10}


def test_the_tag_job_logs_progress_lines_and_the_totals(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _jsonl_gz(src / "a.jsonl.gz", 1, 600)
    (src / "b.jsonl").write_text('{"text": 1}\n')
    p = _run("pipeline.tag_job", "--input", str(src), "--output", str(tmp_path / "out"), *IN_MEMORY,
             "--progress-every", "0.05")
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [line for line in p.stderr.splitlines() if line.startswith("tag progress [worker pid ")]
    assert lines, p.stderr[-3000:]
    assert all(" | tagged " in line and " | duplicates " in line for line in lines)
    assert "tag counters: read 601, tagged 600, rejected 1, duplicates 0" in p.stderr
