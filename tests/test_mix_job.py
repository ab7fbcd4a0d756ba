"""`make mix` end to end on a small tag output written here: realised shares recomputed from the
shard files, the hash-order prefix rule re-derived independently, held-out validation, the short
domain rule, counted filters, the anneal mix, reruns, bad input before any work, and the trainer
reading the result."""
import collections
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from conftest import ROOT
from mixtures import order, pieces
from mixtures.shards import read_shard
from pipeline import mix_job

FAST = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--vocab-size", "600"]
WORDS = {
    "general": "the of and to in a is that for it as was with be by on not he this are or his from at "
               "which but have an they you were her she there been one all we their has would when".split(),
    "math": "let x y z be integer prime theorem proof lemma sum over n equals 0 1 2 3 + - = ^ ( ) "
            "matrix vector derivative integral limit".split(),
    "code": "def return if else for while import class self ( ) : = == [ ] { } ; int str print "
            "let fn mut match".split(),
    "multilingual": "der die das und ist nicht ein une est les des dans pour la el los que por "
                    "für über große été très".split(),
}
SIZES = {"general": 700, "math": 400, "code": 300, "multilingual": 300}


def write_tag_output(root, sizes=SIZES, seed=0, success=True, drop_column=None):
    """A finished `make tag` output: docs/part-*.parquet with the contract columns, _SUCCESS."""
    rng = np.random.default_rng(seed)
    rows = collections.defaultdict(list)
    for domain, n in sizes.items():
        for i in range(n):
            words = rng.choice(WORDS[domain], size=int(rng.integers(20, 90)))
            rows["id"].append(f"{domain}-{i}")
            rows["text"].append(f"{domain} {i} " + " ".join(words))
            rows["source"].append(f"{domain}/src{i % 3}.jsonl.gz")
            rows["lang"].append("de" if domain == "multilingual" else "en")
            rows["domain"].append(domain)
            rows["topic"].append(f"{'general' if domain == 'multilingual' else domain}.t{i % 2}")
            rows["quality"].append(float(rng.uniform(0.3, 1.0)))
            rows["is_dup"].append(bool(i % 20 == 7))
            rows["meta"].append("{}")
    table = pa.table(dict(rows))
    if drop_column:
        table = table.drop([drop_column])
    os.makedirs(os.path.join(root, "docs"), exist_ok=True)
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), os.path.join(root, "docs", "part-00000-of-00002.parquet"))
    pq.write_table(table.slice(half), os.path.join(root, "docs", "part-00001-of-00002.parquet"))
    if success:
        with open(os.path.join(root, "_SUCCESS"), "w") as f:
            f.write("{}")
    return table.to_pydict()


def mix(tag, out, *extra):
    return mix_job.main(["--input", str(tag), "--output", str(out), *FAST, *extra])


def read_docs(mix_dir, split):
    """{domain: [token tuple of each document]} read from the shard files in manifest order."""
    m = json.load(open(os.path.join(mix_dir, "manifest.json")))
    out = collections.defaultdict(list)
    for s in m["shards"]:
        if s["split"] != split:
            continue
        tokens, offsets = read_shard(os.path.join(mix_dir, s["path"]), m["tokenizer"]["dtype"])
        ends = list(offsets[1:]) + [len(tokens)]
        out[s["domain"]] += [tuple(tokens[a:b].tolist()) for a, b in zip(offsets, ends)]
    return m, out


@pytest.fixture(scope="module")
def tag(tmp_path_factory):
    root = tmp_path_factory.mktemp("tag")
    return root, write_tag_output(str(root))


@pytest.fixture(scope="module")
def mixed(tag, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "mix"
    assert mix(tag[0], out, "--tokens", "60000", "--quality", "0.4", "--val-tokens", "1500",
               "--anneal-tokens", "6000", "--anneal-quality", "0.8") == 0
    return str(out)


def test_realised_shares_recomputed_from_the_files_hit_the_targets(mixed):
    m, docs = read_docs(mixed, "train")
    tokens = {d: sum(len(x) for x in v) for d, v in docs.items()}
    total = sum(tokens.values())
    assert total >= 60000
    for d, w in m["target_weights"].items():
        assert abs(tokens[d] / total - w) <= 0.005, (d, tokens[d] / total, w)
        assert m["domains"][d]["share"] == pytest.approx(tokens[d] / total)
        assert m["domains"][d]["tokens"] == tokens[d]
        assert all(x[0] == 1 and x[-1] == 2 and 1 not in x[1:-1] for x in docs[d])


def test_manifest_and_tokenizer_follow_the_contract(mixed):
    m = json.load(open(os.path.join(mixed, "manifest.json")))
    for key in ("format_version", "seed", "input", "input_fingerprint", "tokenizer", "tokens_budget",
                "target_weights", "domains", "anneal", "validation", "shards", "filters", "config", "versions"):
        assert key in m
    assert m["tokenizer"] | {"path": "tokenizer.json", "bos_id": 1, "eos_id": 2, "dtype": "uint16"} == m["tokenizer"]
    tok = Tokenizer.from_file(os.path.join(mixed, "tokenizer.json"))
    assert [tok.token_to_id(s) for s in ("<|pad|>", "<|bos|>", "<|eos|>")] == [0, 1, 2]
    for s in m["shards"]:
        path = os.path.join(mixed, s["path"])
        assert os.path.getsize(path) == 2 * s["tokens"] == s["bytes"]
        assert s["path"].startswith(f"shards/{s['split']}/{s['domain']}/") and s["path"].endswith(".bin")
        assert os.path.exists(path[:-4] + ".idx.npy")
    for d in m["domains"].values():
        assert set(d) >= {"target", "tokens", "share", "epochs", "eligible_tokens", "documents"}
    assert not os.path.exists(os.path.join(mixed, "_tmp"))
    for name in ("shares.png", "epochs.png", "fertility.png"):
        with open(os.path.join(mixed, "plots", name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def expected_selection(mix_dir, rows, quality_min, max_piece_tokens=0):
    """Re-derives, from the tag rows alone, what DESIGN.md's rule puts in val and train per domain:
    {domain: (val sequences, train sequences, {sequence: document id})}. Documents go to validation
    by the bucket of their own hash; the pool's stored sequences (whole documents, or the pieces of
    the long ones, each with its own hash) are taken in hash order, whole passes then the shortest
    prefix reaching the quota."""
    m = json.load(open(os.path.join(mix_dir, "manifest.json")))
    tok = Tokenizer.from_file(os.path.join(mix_dir, "tokenizer.json"))
    newline = pieces.newline_tokens(tok)
    keep = [i for i in range(len(rows["id"])) if not rows["is_dup"][i] and rows["quality"][i] >= quality_min]
    enc = tok.encode_batch([rows["text"][i] for i in keep], add_special_tokens=False)
    hashes = order.doc_hashes(m["seed"], [rows["id"][i] for i in keep])
    by_domain = collections.defaultdict(list)
    for i, e, h in zip(keep, enc, hashes):
        doc = np.array([1, *e.ids, 2], dtype=np.uint16)
        stored = pieces.split(doc, max_piece_tokens, newline)
        keys = [rows["id"][i]] if len(stored) == 1 else [pieces.piece_key(rows["id"][i], k) for k in range(len(stored))]
        own = order.doc_hashes(m["seed"], keys)
        doc_bucket = order.buckets(np.array([h], dtype=np.uint64))[0]
        for ph, x in zip(own, stored):
            by_domain[rows["domain"][i]].append((int(ph), doc_bucket, tuple(x.tolist()), rows["id"][i]))
    out = {}
    for d, items in by_domain.items():
        items.sort()
        cut = m["counts"]["selection"][d]["val_cut"]
        in_val = [x for _, b, x, _ in items if b >= cut]
        pool = [x for _, b, x, _ in items if b < cut]
        quota = m["domains"][d]["quota"]
        expected, got = [], 0
        while got < quota:
            for x in pool:
                if got >= quota:
                    break
                expected.append(x)
                got += len(x)
        out[d] = (in_val, expected, {x: doc_id for _, _, x, doc_id in items})
    return out


def test_train_is_the_shortest_hash_order_prefix_and_val_is_held_out(mixed, tag):
    m, train = read_docs(mixed, "train")
    _, val = read_docs(mixed, "val")
    for d, (in_val, expected, _) in expected_selection(mixed, tag[1], 0.4).items():
        assert sorted(val[d]) == sorted(in_val) and sum(map(len, in_val)) >= 1500
        assert not set(val[d]) & set(train[d])
        assert train[d] == expected, d


def test_long_documents_are_selected_as_pieces_and_never_straddle_train_and_val(tmp_path, capsys):
    tag = tmp_path / "tag"
    rows = write_tag_output(str(tag), sizes={"general": 200, "math": 100, "code": 100, "multilingual": 60})
    rng = np.random.default_rng(3)
    long_ids = set()
    for i, d in enumerate(rows["domain"]):  # every fifth code file: 60-200 lines, hundreds of tokens
        if d == "code" and i % 5 == 0:
            long_ids.add(rows["id"][i])
            rows["text"][i] = "\n".join(" ".join(rng.choice(WORDS["code"], size=int(rng.integers(3, 9))))
                                        for _ in range(int(rng.integers(60, 200))))
    table = pa.table(rows)
    pq.write_table(table.slice(0, 230), str(tag / "docs" / "part-00000-of-00002.parquet"))
    pq.write_table(table.slice(230), str(tag / "docs" / "part-00001-of-00002.parquet"))
    out = tmp_path / "mix"
    assert mix(tag, out, "--tokens", "20000", "--val-tokens", "2000", "--anneal-tokens", "0",
               "--max-piece-tokens", "64") == 0
    m, train = read_docs(str(out), "train")
    _, val = read_docs(str(out), "val")
    split = m["counts"]["split_documents"]
    assert split["max_piece_tokens"] == 64 and split["by_domain"]["code"]["documents"] >= 15
    assert split["by_domain"]["code"]["pieces"] > 3 * split["by_domain"]["code"]["documents"]
    code = split["by_domain"]["code"]
    assert (f"documents over 64 tokens stored as pieces: code {code['documents']:,} -> {code['pieces']:,}"
            in capsys.readouterr().out)
    derived = expected_selection(str(out), rows, 0.0, 64)
    for d, (in_val, expected, doc_of) in derived.items():
        assert max(len(x) for x in train[d] + val[d]) <= 66
        assert sorted(val[d]) == sorted(in_val)
        assert train[d] == expected, d
        assert not {doc_of[x] for x in val[d]} & {doc_of[x] for x in train[d]}  # by document, not piece
    code_doc_of = derived["code"][2]
    long_docs = collections.Counter(code_doc_of[x] for x in train["code"] if code_doc_of[x] in long_ids)
    assert len(long_docs) >= 5 and max(long_docs.values()) < 10  # many long files, a few pieces of each
    whole = tmp_path / "whole"
    assert mix(tag, whole, "--tokens", "20000", "--val-tokens", "2000", "--anneal-tokens", "0",
               "--max-piece-tokens", "0") == 0
    assert max(len(x) for x in read_docs(str(whole), "train")[1]["code"]) > 300


def test_tokenising_in_small_calls_writes_the_same_shards(mixed, tag, tmp_path, monkeypatch):
    calls = []
    encode = mix_job.tokenizer.encode_docs
    monkeypatch.setattr(mix_job, "ENCODE_CHARS", 2000)  # the in-memory runner runs Prepare in this process
    monkeypatch.setattr(mix_job.tokenizer, "encode_docs", lambda tok, texts, dtype: calls.append(
        sum(map(len, texts))) or encode(tok, texts, dtype))
    out = tmp_path / "small-calls"
    assert mix(tag[0], out, "--tokens", "60000", "--quality", "0.4", "--val-tokens", "1500",
               "--anneal-tokens", "6000", "--anneal-quality", "0.8") == 0
    assert len(calls) > 20 and max(calls) <= 2000
    a = json.load(open(os.path.join(mixed, "manifest.json")))
    b = json.load(open(out / "manifest.json"))
    assert [(s["path"], s["sha256"]) for s in a["shards"]] == [(s["path"], s["sha256"]) for s in b["shards"]]


def test_documents_that_fit_are_stored_exactly_as_without_pieces(mixed, tag, tmp_path):
    whole = tmp_path / "whole"
    assert mix(tag[0], whole, "--tokens", "60000", "--quality", "0.4", "--val-tokens", "1500",
               "--anneal-tokens", "6000", "--anneal-quality", "0.8", "--max-piece-tokens", "0") == 0
    a = json.load(open(os.path.join(mixed, "manifest.json")))
    b = json.load(open(whole / "manifest.json"))
    assert a["counts"]["split_documents"]["by_domain"] == {}
    assert [(s["path"], s["sha256"]) for s in a["shards"]] == [(s["path"], s["sha256"]) for s in b["shards"]]


def test_filters_are_counted_and_nothing_filtered_is_written(mixed, tag):
    m, train = read_docs(mixed, "train")
    rows = tag[1]
    n_dup = sum(rows["is_dup"])
    n_low = sum(1 for q, u in zip(rows["quality"], rows["is_dup"]) if not u and q < 0.4)
    assert m["filters"]["is_dup"] == n_dup and m["filters"]["quality"] == n_low
    assert m["filters"]["lang"] == 0 and m["filters"]["source_cap"] == 0
    counted = sum(m["counts"]["documents"]["domain"].values())
    assert counted + n_dup + n_low == len(rows["id"])
    assert sum(m["counts"]["tokens"]["topic"].values()) == sum(m["counts"]["tokens"]["domain"].values())
    assert set(m["counts"]["fertility"]["domain"]) == set(SIZES) and "de" in m["counts"]["fertility"]["lang"]


def test_anneal_mix_is_high_quality_and_upweights_math_and_code(mixed, tag):
    m, ann = read_docs(mixed, "anneal")
    tok = Tokenizer.from_file(os.path.join(mixed, "tokenizer.json"))
    rows = tag[1]
    quality = {(1, *tok.encode(t, add_special_tokens=False).ids, 2): q
               for t, q in zip(rows["text"], rows["quality"])}
    assert all(quality[x] >= 0.8 for v in ann.values() for x in v)
    total = sum(len(x) for v in ann.values() for x in v)
    assert total >= 6000 and m["anneal"]["tokens"] == total
    for d in ("math", "code"):
        share = sum(map(len, ann[d])) / total
        assert share > m["target_weights"][d] + 0.03


def test_short_domain_is_repeated_to_the_cap_and_the_rest_goes_to_the_others(tmp_path):
    tag = tmp_path / "tag"
    write_tag_output(str(tag), sizes={"general": 500, "math": 250, "code": 250, "multilingual": 25})
    out = tmp_path / "mix"
    assert mix(tag, out, "--tokens", "40000", "--max-epochs", "2", "--val-tokens", "300",
               "--anneal-tokens", "0") == 0
    m, train = read_docs(str(out), "train")
    ml = m["domains"]["multilingual"]
    assert ml["short"] and ml["epochs"] == pytest.approx(2.0, abs=0.05)
    counts = collections.Counter(train["multilingual"])
    assert set(counts.values()) == {2}
    assert any("multilingual is short" in n for n in m["plan_notes"])
    g, c = m["domains"]["general"]["share"], m["domains"]["code"]["share"]
    assert g / c == pytest.approx(0.5 / 0.17, rel=0.03)
    assert sum(d["share"] for d in m["domains"].values()) == pytest.approx(1.0)


def test_source_cap_and_langs_filters_are_counted(tmp_path):
    tag = tmp_path / "tag"
    rows = write_tag_output(str(tag), sizes={"general": 300, "math": 120, "code": 120, "multilingual": 60})
    out = tmp_path / "mix"
    assert mix(tag, out, "--tokens", "8000", "--weights", "general=0.6,math=0.2,code=0.2",
               "--langs", "en", "--source-cap", "0.2", "--val-tokens", "200", "--anneal-tokens", "0") == 0
    m, train = read_docs(str(out), "train")
    assert m["filters"]["domain_not_in_weights"] == 60 and m["filters"]["lang"] == 0
    assert set(train) == {"general", "math", "code"}
    # each of the 3 sources per domain holds about a third of the tokens: a 20 % cap removes some of each
    assert m["filters"]["source_cap"] > 0
    capped = m["counts"]["selection"]
    assert sum(capped[d]["source_cap_removed"]["documents"] for d in capped) == m["filters"]["source_cap"]
    for d in ("general", "math", "code"):
        kept = m["counts"]["tokens"]["domain"][d]
        assert capped[d]["eligible_tokens"] + capped[d]["val_tokens"] <= 0.6 * kept + 1
    out2 = tmp_path / "mix2"
    assert mix(tag, out2, "--tokens", "8000", "--weights", "general=0.6,math=0.2,code=0.2",
               "--langs", "de", "--val-tokens", "200", "--anneal-tokens", "0") == 2


def test_rerun_is_a_no_op_and_a_different_run_needs_force(mixed, tag, capsys):
    before = os.path.getmtime(os.path.join(mixed, "manifest.json"))
    assert mix(tag[0], mixed, "--tokens", "60000", "--quality", "0.4", "--val-tokens", "1500",
               "--anneal-tokens", "6000", "--anneal-quality", "0.8") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert os.path.getmtime(os.path.join(mixed, "manifest.json")) == before
    assert mix(tag[0], mixed, "--tokens", "50000") == 2
    assert "FORCE=1" in capsys.readouterr().err


@pytest.mark.parametrize("setup, args, message", [
    ("nosuccess", [], "no _SUCCESS"),
    ("nocolumn", [], "lacks column(s) is_dup"),
    ("ok", ["--weights", "general=0.5,maths=0.5"], "unknown domain 'maths'"),
    ("ok", ["--weights", "general=0.5,math=0.4"], "sum to 0.9"),
    ("ok", ["--weights", "general=1.2,math=-0.2"], "weight of 'math' is -0.2"),
    ("ok", ["--tokens", "5000000"], "TOKENS=5,000,000 is larger than the data and caps allow"),
    ("ok", ["--max-piece-tokens", "10"], "--max-piece-tokens must be 0 (whole documents) or at least 64, got 10"),
    ("ok", ["--ablations", "4", "--ablation-replicates", "5"],
     "--ablation-replicates must be 0 or between 2 and --ablations (4), got 5"),
    ("ok", ["--ablations", "4", "--ablation-seeds", "2", "--ablation-replicates", "2"],
     "above 1 it replaces --ablation-replicates (its seeds are the replicates); got 2 and 2"),
    ("ok", ["--ablations", "4", "--ablation-seeds", "0"], "--ablation-seeds must be >= 1"),
    ("ok", ["--ablations", "4", "--ablation-vocab-size", "100"], "--ablation-vocab-size must be 0 or >= 259, got 100"),
])
def test_bad_input_fails_clearly_before_any_work(tmp_path, setup, args, message):
    tag = tmp_path / "tag"
    write_tag_output(str(tag), sizes={"general": 30, "math": 30, "code": 30, "multilingual": 30},
                     success=setup != "nosuccess", drop_column="is_dup" if setup == "nocolumn" else None)
    out = tmp_path / "mix"
    p = subprocess.run([sys.executable, "-m", "pipeline.mix_job", "--input", str(tag), "--output", str(out),
                        "--vocab-size", "300", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and message in p.stderr, p.stderr[-2000:]
    assert not out.exists() and not list(tmp_path.glob("mix.staging-*"))


def test_the_trainer_trains_on_the_mix(mixed, tmp_path):
    from test_trainer_helpers import run_trainer, write_config, read_metrics
    cfg = write_config(str(tmp_path / "tiny.json"), eval_tokens=400)
    run_trainer(mixed, tmp_path / "train", cfg, "--steps", "20")
    evals = [r for r in read_metrics(str(tmp_path / "train")) if r.get("eval") == "val"]
    assert evals and all(np.isfinite(evals[-1][d]["bpb"]) for d in SIZES)


def test_every_piece_routed_to_a_shard_is_written_or_nothing_is_published(tag, tmp_path, monkeypatch):
    seen = {}
    real_check = mix_job.check_nothing_lost

    def recording_check(counters, written):
        seen["routed"], seen["written"] = counters.get("routed"), sum(s["documents"] for s in written)
        real_check(counters, written)

    monkeypatch.setattr(mix_job, "check_nothing_lost", recording_check)
    assert mix(tag[0], tmp_path / "whole", "--tokens", "20000", "--val-tokens", "1000") == 0
    assert seen["routed"] == seen["written"] > 0
    m = json.load(open(tmp_path / "whole" / "manifest.json"))
    assert sum(s["documents"] for s in m["shards"]) == seen["routed"]

    # a runner that drops one document between Route and the shard writer (as Beam's local
    # runner did before pipeline.runner_fix): the job stops, and OUTPUT is not published
    real_process = mix_job.WriteShard.process

    def lossy_process(self, kv):
        key, docs = kv
        docs = list(docs)
        return real_process(self, (key, docs[1:] if key[0] == "train" and len(docs) > 1 else docs))

    monkeypatch.setattr(mix_job.WriteShard, "process", lossy_process)
    with pytest.raises(mix_job.LostPieces, match="were routed to shards but"):
        mix(tag[0], tmp_path / "lossy", "--tokens", "20000", "--val-tokens", "1000")
    assert not os.path.exists(tmp_path / "lossy")


def test_the_lost_piece_check_names_both_counts_and_allows_runners_without_metrics():
    mix_job.check_nothing_lost({"routed": 9}, [{"documents": 4}, {"documents": 5}])
    mix_job.check_nothing_lost({}, [{"documents": 4}])  # no counters from this runner: no check
    with pytest.raises(mix_job.LostPieces, match="10 document pieces were routed to shards but 9 were written"):
        mix_job.check_nothing_lost({"routed": 10}, [{"documents": 4}, {"documents": 5}])
