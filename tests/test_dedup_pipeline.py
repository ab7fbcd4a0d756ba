"""Dedup in Beam (pipeline.dedup): planted exact, near, URL duplicates and long chains give the same
clusters as a union-find computed here, on 1 and 2 workers; components on known graphs; line
dedup and decontamination counts."""
import glob
import json
import random
from collections import Counter, defaultdict, deque

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.dedup import (ComponentsNotConverged, ConnectedComponents, Dedup, DedupConfig,
                            LINE_SHARE_SIGNAL, batch_lines, doc_lines, exact_key, line_shares,
                            load_benchmarks, node_key, repeated_line_table, signature_text,
                            signature_texts, unrepeated_text)
from taggers.minhash import MinHasher, band_keys

VOCAB = [f"w{i}" for i in range(5000)]
# Plain LSH (bands from the threshold, word 5-grams, full text, no exact check): the setting the
# union-find expectations below compute without Beam.
LSH_ONLY = dict(shingle=5, bands=None, rows=None, exact_jaccard_check=False, signature_lines="all")


def _options(workers):
    mode = "in_memory" if workers == 1 else "multi_processing"
    return PipelineOptions(["--runner=FnApiRunner", f"--direct_running_mode={mode}",
                            f"--direct_num_workers={workers}", "--default_sdk_harness_log_level=WARNING"])


def _row(i, text, url=None, quality=0.5, source="s"):
    return {"id": i, "text": text, "source": source, "domain": "general", "quality": quality,
            "meta": json.dumps({"url": url} if url else {}), "quality_flags": [],
            "quality_signals": {"q": 1.0}}


def _corpus(n_base=400, seed=0):
    rng = random.Random(seed)
    rows = []

    def text(n=300):
        return " ".join(rng.choice(VOCAB) for _ in range(n))
    for i in range(n_base):
        rows.append(_row(f"d{i:05d}", text(), quality=rng.random()))
    # exact copies, light edits (a near duplicate) and URL twins
    for i in range(0, 60, 3):
        rows.append(_row(f"x{i:05d}", rows[i]["text"], quality=rng.random()))
    for i in range(60, 120, 3):
        words = rows[i]["text"].split()
        words[rng.randrange(len(words))] = "edited"
        rows.append(_row(f"n{i:05d}", " ".join(words).upper(), quality=rng.random()))
    for i in range(120, 140, 2):
        rows[i]["meta"] = json.dumps({"url": f"https://example.org/{i}"})
        rows.append(_row(f"u{i:05d}", text(), url=f"https://example.org/{i}", quality=rng.random()))
    # chains of diameter 13, no shortcuts: links alternate between a shared URL (different texts)
    # and a near-duplicate text
    for c in range(3):
        words = text().split()
        for k in range(14):
            url = f"https://chain{c}.example/{(k + 1) // 2}"
            rows.append(_row(f"c{c}-{k:02d}", " ".join(words), url=url, quality=rng.random()))
            if k % 2:
                words = text().split()
            else:  # case changed and one word appended: Jaccard 296/297 with word 5-grams
                words = [w.upper() for w in words] + ["appended"]
    # a pure near-duplicate chain: each link substitutes one word of the previous one
    words = text().split()
    for k in range(14):
        rows.append(_row(f"p-{k:02d}", " ".join(words), quality=rng.random()))
        words[rng.randrange(len(words))] = rng.choice(VOCAB)
    rng.shuffle(rows)
    return rows


def _expected(rows, config):
    """Union-find over band collisions, exact texts and URLs, computed without Beam."""
    hasher = MinHasher(config.num_perm, config.seed, config.shingle, config.shingle_kind, config.hash_name)
    sig, counts = hasher.signatures([r["text"] for r in rows])
    keys = band_keys(sig, config.bands, config.rows)
    buckets = defaultdict(set)
    for i, r in enumerate(rows):
        if counts[i]:
            for b, k in enumerate(keys[i]):
                buckets[("b", b, k)].add(i)
        buckets[("x", exact_key(r["text"]))].add(i)
        url = json.loads(r["meta"]).get("url")
        if url:
            buckets[("u", url)].add(i)
    parent = list(range(len(rows)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    adj = defaultdict(set)
    for members in buckets.values():
        members = sorted(members)
        for m in members[1:]:
            parent[find(m)] = find(members[0])
            adj[m].add(members[0])
            adj[members[0]].add(m)
    groups = defaultdict(list)
    for i in range(len(rows)):
        groups[find(i)].append(i)
    rep = {}
    for members in groups.values():
        best = min(members, key=lambda i: node_key(rows[i], config.representative))
        for i in members:
            rep[rows[i]["id"]] = rows[best]["id"]
    return rep, adj


def _distance(adj, a, b):
    seen, todo = {a: 0}, deque([a])
    while todo:
        x = todo.popleft()
        for y in adj[x]:
            if y not in seen:
                seen[y] = seen[x] + 1
                todo.append(y)
    return seen.get(b)


def _run(rows, config, workers, tmp_path, name):
    out = str(tmp_path / name)
    with beam.Pipeline(options=_options(workers)) as p:
        done, events = p | beam.Create(rows) | Dedup(config, batch_size=64)
        done | "RowsOut" >> beam.Map(json.dumps) | "WR" >> beam.io.WriteToText(out + "/rows")
        events | "EvOut" >> beam.Map(json.dumps) | "WE" >> beam.io.WriteToText(out + "/events")
    read = lambda pat: [json.loads(l) for f in sorted(glob.glob(pat)) for l in open(f)]
    return read(out + "/rows*"), _duplicates(read(out + "/events*"))


def _duplicates(events) -> dict:
    """The `duplicates` section of stats.json that the dedup events add up to."""
    from pipeline.stats import StatsFn
    fn = StatsFn()
    acc = fn.create_accumulator()
    for event in events:
        acc = fn.add_input(acc, tuple(event))
    return fn.extract_output(acc)["duplicates"]


@pytest.mark.parametrize("workers,representative,n_base", [(1, "smallest_id", 400), (2, "quality", 5000),
                                                          (1, "quality", 5000)])
def test_clusters_match_union_find_on_planted_duplicates_and_chains(tmp_path, workers, representative, n_base):
    corpus = _corpus(n_base)
    config = DedupConfig(threshold=0.8, num_perm=64, representative=representative, line_dedup_min_docs=0, **LSH_ONLY)
    rep, adj = _expected(corpus, config)
    index = {r["id"]: i for i, r in enumerate(corpus)}
    ends = [_distance(adj, index[f"c{c}-00"], index[f"c{c}-13"]) for c in range(3)]
    assert min(ends) == 13, ends  # planted chains really are long in the graph
    rows, dups = _run(corpus, config, workers, tmp_path, f"w{workers}")
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in corpus)  # nothing lost
    got = {r["id"]: r["dup_cluster"] for r in rows}
    assert got == rep
    assert all(r["is_dup"] == (r["dup_cluster"] != r["id"]) for r in rows)
    for c in range(3):  # a chain is one cluster
        assert len({got[f"c{c}-{k:02d}"] for k in range(14)}) == 1
    for i in range(0, 60, 3):
        assert got[f"x{i:05d}"] == got[f"d{i:05d}"]
    for i in range(120, 140, 2):
        assert got[f"u{i:05d}"] == got[f"d{i:05d}"]
    assert dups["buckets_by_kind"]["exact"] == 20
    size_of = Counter(got.values())
    assert dups["largest_cluster"] >= 14
    assert dups["cluster_size_histogram"] == dict(sorted(Counter(str(n) for n in size_of.values()).items(),
                                                         key=lambda kv: int(kv[0])))


def test_exact_jaccard_check_drops_boilerplate_links(tmp_path):
    rng = random.Random(3)
    header = " ".join(rng.choice(VOCAB) for _ in range(200))
    rows = [_row(f"h{i}", header + " " + " ".join(rng.choice(VOCAB) for _ in range(60))) for i in range(6)]
    rows.append(_row("h9", rows[0]["text"] + " tail"))
    loose = DedupConfig(threshold=0.5, num_perm=64, line_dedup_min_docs=0, **LSH_ONLY)
    strict = DedupConfig(threshold=0.5, num_perm=64, line_dedup_min_docs=0, **{**LSH_ONLY, "exact_jaccard_check": True})
    strict.threshold = 0.9
    a, _ = _run(rows, loose, 1, tmp_path, "loose")
    b, dups = _run(rows, strict, 1, tmp_path, "strict")
    assert len({r["dup_cluster"] for r in a}) < len({r["dup_cluster"] for r in b})
    got = {r["id"]: r["dup_cluster"] for r in b}
    assert got["h9"] == "h0"
    assert dups["near_pairs_rejected"] > 0


def _components(edges, rounds, tmp_path, name):
    out = str(tmp_path / name)
    with beam.Pipeline(options=_options(1)) as p:
        (p | beam.Create(edges) | ConnectedComponents(rounds)
           | beam.Map(json.dumps) | beam.io.WriteToText(out))
    return dict(json.loads(l) for f in glob.glob(out + "*") for l in open(f))


def test_components_on_known_graphs(tmp_path):
    rng = random.Random(1)
    nodes = [f"n{i:04d}" for i in range(300)]
    chain = [f"k{i:03d}" for i in range(60)]
    rng.shuffle(chain)  # a path of diameter 59 in random key order
    edges = list(zip(chain, chain[1:])) + [(rng.choice(nodes), rng.choice(nodes)) for _ in range(250)]
    edges = [e for e in edges if e[0] != e[1]]
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x
    for u, v in edges:
        a, b = sorted((find(u), find(v)))
        parent[b] = a
    expect = {x: find(x) for e in edges for x in e}
    assert _components(edges, 10, tmp_path, "cc") == expect
    with pytest.raises(Exception, match="did not converge"):
        _components(list(zip(chain, chain[1:])), 1, tmp_path, "cc1")


def test_line_dedup_share_and_decontamination(tmp_path):
    bench = tmp_path / "mmlu.jsonl"
    q = "what is the capital city of the small country that lies between france and spain in europe today"
    bench.write_text(json.dumps({"question": q, "choices": ["a", "b"]}) + "\n" + json.dumps({"q": "too short"}) + "\n")
    benchmarks = load_benchmarks([str(bench)], 13)
    assert benchmarks["mmlu"]["items"] == 2 and benchmarks["mmlu"]["short_items"] == 1
    rows = [_row(f"r{i}", f"Copyright Example Corp\nunique line {i} " + "x" * i + "\nbody " * (i % 2))
            for i in range(8)]
    rows.append(_row("leak", "Intro.\nQuestion: What is the capital city of the small country that lies "
                     "between France and Spain in Europe today? Answer", source="web"))
    config = DedupConfig(num_perm=32, line_dedup_min_docs=6, benchmarks=benchmarks, **LSH_ONLY)
    out, dups = _run(rows, config, 1, tmp_path, "lines")
    by_id = {r["id"]: r for r in out}
    share = by_id["r1"]["quality_signals"][LINE_SHARE_SIGNAL]
    assert share == pytest.approx(len("copyright example corp") / (22 + len("unique line 1 x") + 4))
    assert by_id["leak"]["quality_signals"][LINE_SHARE_SIGNAL] == 0.0
    assert by_id["r1"]["quality_signals"]["q"] == 1.0
    assert by_id["leak"]["quality_flags"] == ["contaminated:mmlu"]
    assert all(not r["quality_flags"] for i, r in by_id.items() if i != "leak")
    assert dups["decontamination"] == {"mmlu": {"documents": 1, "by_source": {"web": 1}}}
    assert dups["line_dup_documents"] == 8


def test_bad_settings_fail_clearly(tmp_path):
    for kw in ({"threshold": 1.2}, {"representative": "longest"}, {"bands": 4, "rows": None},
               {"bands": 40, "rows": 8}, {"cc_rounds": 0}):
        with pytest.raises(ValueError):
            DedupConfig(**kw)
    bad = tmp_path / "b.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="b.jsonl:1"):
        load_benchmarks([str(bad)], 13)


def test_stats_count_duplicates_by_domain_source_and_benchmark():
    from pipeline.stats import StatsFn, dup_summary
    fn = StatsFn()
    events = [("dup_bucket", "exact", 3), ("dup_bucket", "url", 2), ("dup_bucket", "near", 4),
              ("dup_pairs", 2, 1), ("dup_near_edges", 1), ("dup_cluster", 4),
              ("dup_doc", False, True, "code", "a", True, ()), ("dup_doc", True, True, "code", "a", False, ("mmlu",)),
              ("dup_doc", True, True, "math", "b", False, ("mmlu", "gsm8k")), ("dup_doc", False, False, "math", "b", False, ())]
    accs = []
    for half in (events[:4], events[4:]):  # counted on two workers, then merged
        acc = fn.create_accumulator()
        for e in half:
            acc = fn.add_input(acc, e)
        accs.append(acc)
    d = fn.extract_output(fn.merge_accumulators(accs))["duplicates"]
    assert (d["exact"], d["url"], d["near"], d["removed"], d["clusters"]) == (2, 1, 1, 2, 2)
    assert (d["near_pairs_checked"], d["near_pairs_rejected"]) == (2, 1)
    assert d["cluster_size_histogram"] == {"1": 1, "4": 1} and d["largest_cluster"] == 4
    assert d["largest_bucket"] == 4 and d["line_dup_documents"] == 1
    assert d["removed_by_domain"] == {"code": 1, "math": 1} and d["removed_by_source"] == {"a": 1, "b": 1}
    assert d["decontamination"] == {"gsm8k": {"documents": 1, "by_source": {"b": 1}},
                                    "mmlu": {"documents": 2, "by_source": {"a": 1, "b": 1}}}
    # a batch's events summed into one dup_summary event count the same
    acc = fn.create_accumulator()
    for part in (events[:3], events[3:7], events[7:]):
        acc = fn.add_input(acc, dup_summary(part))
    assert fn.extract_output(acc)["duplicates"] == d


def _header_corpus():
    """Ten documents under one 12-line header (240 words) with different 40-word bodies, a light
    edit of the first (a true near duplicate, header included), and two header-only documents."""
    rng = random.Random(11)
    words = lambda n: [rng.choice(VOCAB) for _ in range(n)]
    header = "\n".join(" ".join(words(20)) for _ in range(12))
    bodies = [words(40) for _ in range(10)]
    body_text = lambda b: "\n".join(" ".join(b[k:k + 20]) for k in range(0, 40, 20))
    rows = [_row(f"h{i}", header + "\n" + body_text(b)) for i, b in enumerate(bodies)]
    edited = list(bodies[0])
    edited[25] = "edited"
    rows.append(_row("n0", header.upper() + "\n" + body_text(edited)))  # case differs: same lines
    rows.append(_row("o1", header))
    rows.append(_row("o2", header + "\nthe end"))  # 2 words left: fewer than a shingle
    return rows


def test_signature_text_drops_repeated_lines_with_the_line_count_normalisation():
    texts = [f"Shared  HEADER line\nbody {i} has five words\n\nshared header LINE " for i in range(4)]
    table = repeated_line_table(texts + ["shared header line"], 3)
    assert len(table) == 1  # the one normalised line, held by 5 documents
    on = DedupConfig(signature_lines="unrepeated", shingle=5)
    assert unrepeated_text(texts[0], table) == "body 0 has five words"
    assert signature_text(texts[0], table, on) == "body 0 has five words"
    assert signature_text("shared header line", table, on) == "shared header line"  # nothing left: full text
    short = "Shared header line\nonly four words here"
    assert signature_text(short, table, on) == short  # fewer words than a shingle: full text
    assert signature_text(texts[0], table, DedupConfig(signature_lines="all")) == texts[0]
    assert repeated_line_table(texts, 4).size == 0 and repeated_line_table(texts, 0).size == 0
    with pytest.raises(ValueError, match="signature_lines"):
        DedupConfig(signature_lines="some")


LINE_EDGES = ["", " ", "\n", "a\n\n b \t\n", "  X  y\t\tz  \n\n\n q", "\r\n\r\nA\rB", "\u00c9t\u00c9 \n\u0130x",
              "tail space \t", "\t lead", "one line"]


def test_batch_line_hashes_equal_each_texts_own():
    hashes, sizes, owner = batch_lines(LINE_EDGES)
    assert owner.tolist() == sorted(owner.tolist())
    for i, text in enumerate(LINE_EDGES):
        h, s = doc_lines(text)
        assert np.array_equal(hashes[owner == i], h) and np.array_equal(sizes[owner == i], s)
    # lines are normalised before hashing: case, inner runs of spaces and tabs, trailing blanks
    assert doc_lines("A  b\t")[0].tolist() == doc_lines("a b")[0].tolist() == doc_lines(" a\tb ")[0].tolist()
    assert doc_lines("a b\n\n")[1].tolist() == [3]


def test_batch_signature_texts_and_line_shares_equal_the_per_text_ones():
    texts = [f"Shared  HEADER line\nbody {i} has five words\n\nshared header LINE " for i in range(4)]
    texts += ["no repeated line at all\n\n\nhere", "shared header line", "", "Shared header line\nfour words here now"]
    table = repeated_line_table(texts, 3)
    on = DedupConfig(signature_lines="unrepeated", shingle=5)
    texts += ["Body With  Case\nshared header line\n\u0130stanbul \u00c9t\u00c9 \u03a3\u039f\u03a3\n\n\ttail\t",
              "\n\nshared header line\n\n"]
    batch = signature_texts(texts, table, on)
    # the batch gives the other lines in the line count's normalised form: the same words up to case
    assert [b.lower().split() for b in batch] == [signature_text(t, table, on).lower().split() for t in texts]
    assert batch[-2] != texts[-2] and batch[-1] == texts[-1]  # all lines repeated: signed on the full text
    for kind, n in (("word", 5), ("word", 2), ("char", 3)):   # and so the same signatures
        c = DedupConfig(signature_lines="unrepeated", shingle=n, shingle_kind=kind)
        hasher = MinHasher(c.num_perm, c.seed, c.shingle, c.shingle_kind, c.hash_name)
        one_by_one = [signature_text(t, table, c) for t in texts]
        assert np.array_equal(hasher.signatures(signature_texts(texts, table, c))[0],
                              hasher.signatures(one_by_one)[0])
    shares = line_shares(texts, table)
    header = len("shared header line")
    assert shares[0] == pytest.approx(2 * header / (2 * header + len("body 0 has five words")))
    assert shares[4] == 0.0 and shares[5] == 1.0 and shares[6] == 0.0


def test_a_batch_line_split_crosses_a_shuffle_as_bytes_and_its_normalised_texts_sign_the_same():
    from pipeline.dedup import _BatchLines
    texts = ["Title  LINE\r\nbody\xa0with no-break\x1cspace\n\n\ttail ", "", "\u0130stanbul \u00c9T\u00c9\n \n",
             "one line", "Shared header line\nfour words here now\n"]
    split = _BatchLines(texts)
    again = _BatchLines.normalised(split.data.tobytes(), split.hashes.tobytes(), len(texts))
    for name in ("starts", "ends", "owner", "hashes"):
        assert np.array_equal(getattr(again, name), getattr(split, name))
    normalised = [t.decode("utf-8") for t in again.texts()]
    assert len(normalised) == len(texts) and normalised[1] == "" and normalised[3] == "one line"
    for kind, n in (("word", 2), ("word", 5), ("char", 3)):   # the same words up to case: the same signatures
        c = DedupConfig(shingle=n, shingle_kind=kind)
        hasher = MinHasher(c.num_perm, c.seed, c.shingle, c.shingle_kind, c.hash_name)
        assert np.array_equal(hasher.signatures(normalised)[0], hasher.signatures(texts)[0])
        assert all(np.array_equal(hasher.shingle_hashes(a), hasher.shingle_hashes(b))
                   for a, b in zip(normalised, texts))


def test_unrepeated_signature_lines_split_documents_that_only_share_a_header(tmp_path):
    rows = _header_corpus()
    settings = dict(threshold=0.5, num_perm=64, line_dedup_min_docs=6, shingle=5, bands=None, rows=None,
                    exact_jaccard_check=False)
    off, _ = _run(rows, DedupConfig(signature_lines="all", **settings), 1, tmp_path, "all")
    on, dups = _run(rows, DedupConfig(signature_lines="unrepeated", **settings), 1, tmp_path, "unrepeated")
    got_off = {r["id"]: r["dup_cluster"] for r in off}
    got_on = {r["id"]: r["dup_cluster"] for r in on}
    assert len({got_off[f"h{i}"] for i in range(10)}) == 1  # signed on full text: the header chains them
    assert {got_on[f"h{i}"] for i in range(10)} == {f"h{i}" for i in range(10)}  # bodies differ: no duplicates
    assert got_on["n0"] == "h0"  # the true near duplicate is still found
    assert got_on["o2"] == got_on["o1"] == "o1"  # header-only documents: signed on their full text
    assert got_on["o1"] != got_on["h0"]
    by_id = {r["id"]: r for r in on}  # line share still counts the header as repeated
    assert by_id["h1"]["quality_signals"][LINE_SHARE_SIGNAL] > 0.5
    assert dups["removed"] == 2


def test_unrepeated_signature_lines_with_the_exact_check_on_two_workers(tmp_path):
    rows = _header_corpus()
    config = DedupConfig(threshold=0.5, num_perm=64, line_dedup_min_docs=6, signature_lines="unrepeated",
                         exact_jaccard_check=True, shingle=5, bands=None, rows=None)
    out, dups = _run(rows, config, 2, tmp_path, "checked")
    got = {r["id"]: r["dup_cluster"] for r in out}
    assert got["n0"] == "h0" and got["o2"] == "o1"
    assert sum(1 for r in out if r["is_dup"]) == 2
    assert dups["near_pairs_checked"] > 0
    assert dups["near_pairs_rejected"] == 0  # only the true pairs were candidates


def test_the_default_setting_is_the_dev_chosen_one_and_separates_header_sharing_documents(tmp_path):
    c = DedupConfig()
    assert (c.signature_lines, c.shingle, c.bands, c.rows, c.num_perm, c.exact_jaccard_check, c.threshold) == \
        ("unrepeated", 2, 28, 2, 56, True, 0.5)
    out, _ = _run(_header_corpus(), c, 2, tmp_path, "default")
    got = {r["id"]: r["dup_cluster"] for r in out}
    assert {got[f"h{i}"] for i in range(10)} == {f"h{i}" for i in range(10)}  # a shared header is no link
    assert got["n0"] == "h0"
    assert got["o2"] == "o2"  # "the end" is left: one 2-gram, so it is signed on that alone
    assert sum(1 for r in out if r["is_dup"]) == 1
    few, _ = _run(_header_corpus(), DedupConfig(shards=3), 1, tmp_path, "three-shards")
    assert {r["id"]: r["dup_cluster"] for r in few} == got  # shards group the work, never the answer


def test_rows_cross_the_label_join_with_their_signals_intact():
    from pipeline.dedup import _packed, _unpacked
    from taggers.quality import QUALITY_SIGNAL_NAMES
    signals = {name: float(i) for i, name in enumerate(QUALITY_SIGNAL_NAMES)}
    row = {"id": "a", "text": "t", "quality_signals": signals}
    packed = _packed(row)
    assert not isinstance(packed["quality_signals"], dict)       # names are not carried per row
    assert _unpacked(packed) == row and row["quality_signals"] is signals  # the input is untouched
    other = {"id": "b", "text": "t", "quality_signals": {"x": 1.0}}  # another layout: as it is
    assert _packed(other) == other and _unpacked(_packed(other)) == other


def _numpy_inside(value) -> bool:
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if isinstance(value, dict):
        return any(_numpy_inside(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_numpy_inside(v) for v in value)
    return False


def test_shuffled_elements_hold_no_numpy_arrays_and_the_sets_survive_as_bytes():
    # Beam's default coder pickles a numpy array (about 30 us a round trip); bytes are copied.
    from pipeline.dedup import (BucketEntries, CheckJaccard, NearEntries, _repeated_lines, edge_halves,
                                set_shard, star_edges)
    rows = _corpus(n_base=200)[:300] + _header_corpus()              # near and exact copies, a shared header
    c = DedupConfig(signature_lines="unrepeated")
    first = BucketEntries(c, bands=False)
    first.setup()
    out = list(first.process(rows))
    lines = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == "lines"]
    splits = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == "near"]
    entries = [o for o in out if not isinstance(o, beam.pvalue.TaggedOutput)]
    repeated = [_repeated_lines((s, [h for shard, h in lines if shard == s]), 6) for s in {s for s, _ in lines}]
    assert len(splits) == 1                                          # the batch's line split, once
    near = NearEntries(c)
    near.setup()
    out2 = list(near.process(splits[0], repeated))
    sets = [o.value for o in out2 if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == "sets"]
    shares = [o.value for o in out2 if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == "shares"]
    entries += [o for o in out2 if not isinstance(o, beam.pvalue.TaggedOutput)]
    stars = [e for s in {s for s, _ in entries}
             for e in star_edges((s, [rec for shard, rec in entries if shard == s]), c.shards)]
    ends = [e.value for e in stars if isinstance(e, beam.pvalue.TaggedOutput) and e.tag == "near_ends"]
    edges = [e for e in stars if not isinstance(e, beam.pvalue.TaggedOutput)]
    near_edges = sorted({e for _, (_, (firsts, seconds)) in ends for e in zip(firsts, seconds)})
    assert near_edges and all(kind != "near" for kind, _ in edges)  # near edges go to the check only
    for u, v in near_edges:                                          # each to the set shards of its ends
        assert {s for s, (_, (f, w)) in ends if (u, v) in zip(f, w)} == {set_shard(u, c.shards), set_shard(v, c.shards)}
    halves = [x for s in {s for s, _ in sets} | {s for s, _ in ends}
              for x in edge_halves((s, [v for shard, v in ends if shard == s] +
                                    [(1, rec) for shard, rec in sets if shard == s]), c.shards)]
    for stage in (lines, splits, entries, repeated, sets, shares, stars, halves):
        assert stage and not any(_numpy_inside(x) for x in stage)
    # each end's set, read back from its bytes, is the shingle set of its signature text
    hasher = MinHasher(c.num_perm, c.seed, c.shingle, c.shingle_kind, c.hash_name)
    table = np.unique(np.concatenate([np.frombuffer(r, dtype=np.uint64) for r in repeated]))
    assert len(table) == 12                                          # the header's lines
    by_id = {r["id"]: r["text"] for r in rows}
    seen = 0
    for dest, (firsts, seconds, which, sizes, data) in halves:
        stops = np.cumsum(np.frombuffer(sizes, dtype=np.int64))
        for u, v, end, a, b in zip(firsts, seconds, which, stops - np.frombuffer(sizes, dtype=np.int64), stops):
            assert dest == set_shard(u, c.shards)                   # the two halves meet in u's shard
            want = hasher.shingle_hashes(signature_text(by_id[(u, v)[end]], table, c))
            assert np.array_equal(np.frombuffer(data, dtype=np.uint32)[a:b], want)
            seen += 1
    assert seen == 2 * len(near_edges)                               # every edge, both ends, once
    check = CheckJaccard(c.threshold)
    got = [e for s in {s for s, _ in halves} for e in check.process((s, [h for d, h in halves if d == s]))]
    kept = [e for e in got if not isinstance(e, beam.pvalue.TaggedOutput)]
    counts = [e.value for e in got if isinstance(e, beam.pvalue.TaggedOutput) and e.value[0] == "dup_pairs"]
    assert sum(n for _, n, _ in counts) == len(near_edges)
    assert sum(r for _, _, r in counts) == len(near_edges) - len(kept)
    assert set(kept) <= set(near_edges) and kept
