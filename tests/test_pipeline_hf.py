"""Hugging Face `datasets` input (INPUT `hf:NAME_OR_PATH`): a dataset saved with `save_to_disk`
is tagged end to end; a local folder of JSON files is streamed shard by shard, as a hub dataset
would be; a missing dataset, split or text field is a clear error before any pipeline starts.
Everything runs offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1) on data this test writes.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import pyarrow.parquet as pq
import pytest

# before `datasets` is first imported (pipeline.read_hf imports it lazily): offline, private cache
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="mixcurate-hf-home-"))

from pipeline import read_hf  # noqa: E402
from pipeline.inputs import InputError  # noqa: E402
from pipeline.parse import ParseConfig, parse_record  # noqa: E402
from pipeline.read import ReadFiles  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STORIES = [
    "The ferry company will add a second evening crossing in July, when the islands expect the "
    "largest number of summer visitors since the new harbour opened.",
    "Der Gemeinderat hat beschlossen, die alte Mühle am Fluss zu renovieren und dort im nächsten "
    "Jahr ein kleines Museum für die Geschichte des Tals einzurichten.",
    "A volunteer group has planted four hundred oak saplings along the disused railway line, which "
    "the council plans to open as a walking and cycling path next spring.",
    "The school choir won first prize at the regional festival with a programme of folk songs "
    "arranged by their music teacher during the winter holidays.",
    "Night trains between the two capitals will run three times a week from December, the rail "
    "operator announced, after a trial service sold out within days.",
]


def _read(shard):
    out = list(ReadFiles(1 << 20).process(shard))
    return [o for o in out if isinstance(o, dict)], [o.value for o in out if not isinstance(o, dict)][0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A DatasetDict saved with save_to_disk: text in `content`, an `id` on some rows, extra fields."""
    import datasets

    path = tmp_path_factory.mktemp("hf") / "news"
    train = datasets.Dataset.from_dict({
        "content": STORIES + ["   "],
        "id": ["n-0", "", "n-2", "", "n-4", "n-5"],
        "url": [f"https://news.example.org/{i}" for i in range(6)],
        "year": [2024, 2025, 2025, 2026, 2026, 2026],
    })
    test = datasets.Dataset.from_dict({"content": ["held out"], "id": ["t"], "url": ["u"], "year": [1]})
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def json_folder(tmp_path_factory):
    """A folder of two JSON Lines files, read by `load_dataset(folder, streaming=True)` like a hub repo."""
    root = tmp_path_factory.mktemp("hfjson") / "stories"
    (root / "data").mkdir(parents=True)
    for part in range(2):
        with open(root / "data" / f"train-{part:05d}-of-00002.jsonl", "w", encoding="utf-8") as f:
            for i, text in enumerate(STORIES[part * 3:part * 3 + 3]):
                f.write(json.dumps({"text": text, "lang_hint": "x", "n": part * 3 + i}) + "\n")
    return root


def test_a_saved_dataset_is_planned_in_row_ranges_with_its_split(saved):
    shards = read_hf.planned_shards(f"hf:{saved}", split="train", text_field="content")
    assert [(s.start, s.end, s.from_disk) for s in shards] == [(0, 6, True)]
    assert shards[0].relpath == f"hf:{saved}/train" and shards[0].format == "hf"
    records, summary = _read(shards[0])
    assert [r["line"] for r in records] == list(range(6))
    assert records[0]["payload"] == {"text": STORIES[0], "id": "n-0", "url": "https://news.example.org/0",
                                     "year": 2024}
    assert summary["records"] == 6 and summary["error"] is None


def test_rows_become_documents_with_ids_sources_and_meta_by_the_contract(saved):
    (shard,) = read_hf.planned_shards(f"hf:{saved}", split="train", text_field="content")
    parsed = [parse_record(r, ParseConfig()) for r in _read(shard)[0]]
    docs = [d for kind, d in parsed if kind == "doc"]
    assert [d["id"] for d in docs] == ["n-0", f"hf:{saved}/train:1", "n-2", f"hf:{saved}/train:3", "n-4"]
    assert docs[0]["source"] == f"hf:{saved}/train"
    assert json.loads(docs[0]["meta"]) == {"url": "https://news.example.org/0", "year": 2024}
    assert [(kind, v["reason"]) for kind, v in parsed if kind == "reject"] == [("reject", "empty_text")]


def test_a_large_saved_dataset_is_split_into_contiguous_row_ranges(saved, monkeypatch):
    monkeypatch.setattr(read_hf, "ROWS_PER_SHARD", 4)
    shards = read_hf.planned_shards(f"hf:{saved}", split="train", text_field="content")
    assert [(s.start, s.end) for s in shards] == [(0, 4), (4, 6)]
    rows = [r["line"] for s in shards for r in _read(s)[0]]
    assert rows == list(range(6))


def test_a_streamed_folder_is_read_one_data_file_per_shard(json_folder):
    shards = read_hf.planned_shards(f"hf:{json_folder}", split="train")
    assert len(shards) == 2 and not shards[0].from_disk
    texts, labels = [], set()
    for shard in shards:
        records, summary = _read(shard)
        assert summary["records"] == len(records) and [r["line"] for r in records] == list(range(len(records)))
        texts += [r["payload"]["text"] for r in records]
        labels |= {r["file"] for r in records}
    assert sorted(texts) == sorted(STORIES)
    assert labels == {f"hf:{json_folder}/train/00000-of-00002", f"hf:{json_folder}/train/00001-of-00002"}


@pytest.mark.parametrize("spec,kwargs,message", [
    ("hf:{missing}", {}, "cannot open Hugging Face dataset"),
    ("hf:someone/no-such-dataset-xyz", {}, "cannot open Hugging Face dataset hf:someone/no-such-dataset-xyz/train"),
    ("hf:{saved}", {"split": "validation"}, "has no split 'validation' (it has test, train)"),
    ("hf:{saved}", {"text_field": "body"}, "has no text field 'body' (its fields: content, id, url, year)"),
    ("hf:{json}", {"text_field": "body"}, "has no text field 'body' (its fields: text, lang_hint, n)"),
    ("hf:", {}, "needs a dataset name or path"),
])
def test_a_missing_dataset_split_or_field_is_a_clear_error(saved, json_folder, tmp_path, spec, kwargs, message):
    spec = spec.format(saved=saved, json=json_folder, missing=tmp_path / "nothing-here")
    with pytest.raises(InputError) as err:
        read_hf.planned_shards(spec, **kwargs)
    assert message in str(err.value)


def run_tag(*args, check=True):
    cmd = [sys.executable, "-m", "pipeline.tag_job", *args, "--direct_num_workers=2"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"tag job failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


def test_the_tag_job_tags_a_saved_dataset_end_to_end(saved, tmp_path):
    out = tmp_path / "tag"
    run_tag("--input", f"hf:{saved}", "--hf-text-field", "content", "--output", str(out))
    docs = {d["id"]: d for d in pq.read_table(glob.glob(str(out / "docs" / "part-*.parquet"))).to_pylist()}
    assert set(docs) == {"n-0", f"hf:{saved}/train:1", "n-2", f"hf:{saved}/train:3", "n-4"}
    assert docs["n-0"]["text"] == STORIES[0] and docs["n-0"]["lang"] == "en"
    assert docs[f"hf:{saved}/train:1"]["lang"] == "de"
    assert json.loads(docs["n-4"]["meta"])["url"] == "https://news.example.org/4"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"]["records"] == 6 and stats["tagged"] == 5
    assert stats["rejected_by_reason"] == {"empty_text": 1}
    assert stats["config"]["hf"] == {"split": "train", "config": None, "text_field": "content"}
    again = run_tag("--input", f"hf:{saved}", "--hf-text-field", "content", "--output", str(out))
    assert "nothing to do" in again.stdout


def test_the_tag_job_stops_before_the_pipeline_on_a_missing_text_field(saved, tmp_path):
    proc = run_tag("--input", f"hf:{saved}", "--output", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "has no text field 'text'" in proc.stderr and "--hf-text-field" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_hf_flags_without_an_hf_input_are_a_usage_error(tmp_path):
    plain = tmp_path / "in.jsonl"
    plain.write_text('{"text": "a plain document"}\n')
    proc = run_tag("--input", str(plain), "--hf-split", "validation", "--output", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--hf-split apply to an INPUT hf:NAME_OR_PATH only" in proc.stderr
