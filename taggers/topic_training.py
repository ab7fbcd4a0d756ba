"""Training of the topic tagger (`taggers.topic`): from the sample corpus to `topic.ftz`, its model
card (`topic.md`) and its held-out figures (`topic.eval.json`).

Training data: `<sample>/<domain>/<source>.jsonl.gz`, records `{"id", "text", "source", "meta":
{"label", "lang", ...}}`; `meta.label` (a topic of the taxonomy) is the target. Documents of every
language are used: topic is a property of content, not language, and a classifier that has only seen
English would send non-English prose to whichever class its few known tokens point at (often a
code class, which `domain_of` cannot overrule). To keep the model mostly English, non-English
documents are capped at `max_foreign_share` of each label.
Labels: `meta.label_from` says where a label comes from: `source` (the source's structure: topic
folders, file types, genre) is ground truth; `fallback` (a source's default where it has no
structure) may be replaced by the embedding teacher (`teacher_relabel`, taggers.teacher) before the
fastText model is distilled; `--extra LABEL=PATH` adds labelled JSONL (`read_extra`).
Held-out evaluation, two protocols, each with its own model of the same settings: by source (for a
label with two or more sources, the smallest source that keeps at least half of the label's
documents in training: a source it never saw) and by folder (whole projects, modules or files, about
20 % of each label: files of a known kind from unseen places); a label with a single unit holds out
documents by a hash of their id. Only ground-truth labels are held out. The shipped model is then
retrained with the same settings on everything; the figures go to the model card and
`topic.eval.json` (read by `make bench`). The code-language model (taggers.code_language_training)
is fitted beside it on each split's source files and saved as `code_language.ftz` next to the
topic model; the programming-language figures score both stages together, as `tag_batch` runs them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import tempfile
import time
from collections import Counter, defaultdict

import numpy as np

from taggers import CODE_LANGUAGE_MODEL, code_language_training
from taggers.code_language import LANGUAGE_TOPICS, refine_topics
from taggers.taxonomy import TOPICS
from taggers.topic import (LABEL_PREFIX, MAX_PREPROCESS_CHARS, predict_topics, topic_inputs,
                           topics_given_language)


TRAIN_SETTINGS = dict(lr=0.5, epoch=15, wordNgrams=2, dim=64, minCount=2, bucket=500_000,
                      loss="softmax")
QUANTIZE_SETTINGS = dict(qnorm=True, retrain=False, cutoff=60_000, dsub=2)


def _id_hash(doc_id: str, seed: int) -> float:
    h = hashlib.sha1(f"{seed}:{doc_id}".encode("utf-8", "replace")).digest()
    return int.from_bytes(h[:8], "big") / 2 ** 64


def read_sample(sample_dir: str, log=print) -> list[dict]:
    """Every record of `<sample>/<domain>/<source>.jsonl[.gz]` with a taxonomy label; lines that
    are not JSON objects, and records without a label or text, are counted and reported."""
    docs = []
    invalid = unlabelled = 0
    for root, _dirs, files in sorted(os.walk(sample_dir)):
        for name in sorted(files):
            if not (name.endswith(".jsonl.gz") or name.endswith(".jsonl")):
                continue
            path = os.path.join(root, name)
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        rec = None
                    if not isinstance(rec, dict):
                        invalid += int(bool(line.strip()))
                        continue
                    meta = rec.get("meta") or {}
                    label = meta.get("label") if isinstance(meta, dict) else None
                    text = rec.get("text")
                    if label not in TOPICS or not isinstance(text, str) or not text.strip():
                        unlabelled += 1
                        continue
                    source = str(rec.get("source") or os.path.relpath(path, sample_dir))
                    docs.append({"id": str(rec.get("id", f"{path}:{len(docs)}")), "text": text,
                                 "label": label, "lang": meta.get("lang") or "en", "source": source,
                                 "label_from": str(meta.get("label_from") or "source"),
                                 "folder": _folder_of(source, meta),
                                 "path": str(meta.get("path") or "")})
    if invalid or unlabelled:
        log(f"train-topic: {sample_dir}: skipped {invalid:,} lines that are not JSON objects and "
            f"{unlabelled:,} records without a taxonomy label or text")
    return _assign_groups(docs)


def _folder_of(source: str, meta: dict) -> str:
    path = str(meta.get("path") or "")
    return f"{source}|{meta.get('package', '')}|{os.path.dirname(path) or path}"


def _assign_groups(docs: list[dict]) -> list[dict]:
    """Sets each document's `group`, the unit a folder-level hold-out keeps together: its file's
    folder (a project or module), or the file itself where one folder holds files of different
    labels (fortune topic files side by side, a project's code in several languages)."""
    labels = defaultdict(set)
    for d in docs:
        labels[d["folder"]].add(d["label"])
    for d in docs:
        d["group"] = d["folder"] + (f"|{d['path']}" if len(labels[d["folder"]]) > 1 else "")
    return docs


_GSM8K_CALC = re.compile(r"<<[^<>]*>>")


def read_extra(specs: list[str], log=print) -> list[dict]:
    """Labelled documents from JSONL files named as `LABEL=PATH` (e.g. GSM8K as
    `math.word_problems=gsm8k_train.jsonl`): records with `text`, or `question` and `answer` (the
    answer's `<<calculator>>` annotations removed). A missing file or an unknown label is an error;
    lines that hold no usable record are counted and reported through `log`."""
    docs = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or label not in TOPICS:
            raise SystemExit(f"--extra {spec!r}: expected LABEL=PATH with LABEL a taxonomy topic")
        if not os.path.isfile(path):
            raise SystemExit(f"--extra {spec!r}: no such file {path}")
        name = os.path.splitext(os.path.basename(path))[0]
        opener = gzip.open if path.endswith(".gz") else open
        skipped = 0
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                text = _extra_text(line)
                if text is None:
                    skipped += int(bool(line.strip()))
                    continue
                docs.append({"id": f"{name}:{i}", "text": text, "label": label, "lang": "en",
                             "source": name, "label_from": "source", "group": f"{name}|{i % 10}"})
        if skipped:
            log(f"train-topic: {path}: skipped {skipped:,} lines that are not JSON records with "
                "text (or question and answer)")
    return docs


def _extra_text(line: str) -> str | None:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(rec, dict):
        return None
    text = rec.get("text")
    if not isinstance(text, str) and isinstance(rec.get("question"), str):
        text = rec["question"] + "\n\n" + _GSM8K_CALC.sub("", str(rec.get("answer", "")))
    return text if isinstance(text, str) and text.strip() else None


def select(docs: list[dict], seed: int, max_per_label: int, max_foreign_share: float) -> list[dict]:
    """Caps documents per label (in id-hash order, deterministic), non-English to a share of each."""
    by_label = defaultdict(list)
    for d in docs:
        by_label[d["label"]].append(d)
    out = []
    for label in sorted(by_label):
        items = sorted(by_label[label], key=lambda d: _id_hash(d["id"], seed))
        en = [d for d in items if d["lang"] == "en"]
        foreign = [d for d in items if d["lang"] != "en"]
        n_en = min(len(en), max_per_label)
        n_for = min(len(foreign), int(max_foreign_share * max_per_label),
                    max(int(max_foreign_share / (1 - max_foreign_share) * n_en), 50))
        if n_en == 0:
            n_for = min(len(foreign), max_per_label)
        out += en[:n_en] + foreign[:n_for]
    return out


GROUND_TRUTH = ("source",)      # label provenance evaluated on; fallback and teacher labels only train


def split_heldout(docs: list[dict], seed: int, heldout_frac: float = 0.2, by: str = "source"):
    """(train, heldout, how); `how` says per label what was held out. Only documents whose label
    comes from their source's structure are held out (fallback and teacher labels always train).
    `by="source"`: for a label with two or more sources, one whole source (the smallest with at
    least 5 % of the label that keeps at least half of it in training); `by="directory"`: whole
    folders (projects, modules, topic files) in hash order until `heldout_frac` of the label is
    held out, never more than half. Otherwise `heldout_frac` of documents by id hash."""
    if by not in ("source", "directory"):
        raise ValueError(f"split_heldout: by must be 'source' or 'directory', not {by!r}")
    key = "source" if by == "source" else "group"
    by_label = defaultdict(lambda: defaultdict(list))
    train, held, how = [], [], {}
    for d in docs:
        if d.get("label_from", "source") in GROUND_TRUTH:
            by_label[d["label"]][d[key]].append(d)
        else:
            train.append(d)
    for label in sorted(by_label):
        units = by_label[label]
        total = sum(len(v) for v in units.values())
        chosen: list[str] = []
        if by == "source" and len(units) >= 2:
            for src in sorted(units, key=lambda s: (len(units[s]), s)):
                if len(units[src]) >= max(10, 0.05 * total) and len(units[src]) <= 0.5 * total:
                    chosen = [src]
                    break
        elif by == "directory" and len(units) >= 2:
            size = 0
            for g in sorted(units, key=lambda g: _id_hash(g, seed + 2)):
                if size >= heldout_frac * total:
                    break
                if size + len(units[g]) <= 0.5 * total:
                    chosen.append(g)
                    size += len(units[g])
        if chosen:
            how[label] = (f"source {chosen[0]}" if by == "source"
                          else f"{len(chosen)} of {len(units)} folders")
            for unit, items in units.items():
                (held if unit in chosen else train).extend(items)
        else:
            how[label] = f"{heldout_frac:.0%} of documents by id hash"
            for items in units.values():
                for d in items:
                    (held if _id_hash(d["id"], seed + 1) < heldout_frac else train).append(d)
    return train, held, how


TEACHER_PER_LABEL = 150       # source-labelled documents per topic the teacher learns from
TEACHER_POOL_MAX = 20000      # fallback-labelled documents the teacher may relabel
TEACHER_EVAL_PER_LABEL = 60   # held-out documents per topic the teacher is scored on


def _capped(docs: list[dict], per_label: int, seed: int) -> list[dict]:
    by_label = defaultdict(list)
    for d in sorted(docs, key=lambda d: _id_hash(d["id"], seed)):
        if len(by_label[d["label"]]) < per_label:
            by_label[d["label"]].append(d)
    return [d for label in sorted(by_label) for d in by_label[label]]


def _home_topics(label: str) -> tuple[str, ...]:
    home = label.split(".", 1)[0]
    return tuple(t for t in TOPICS if t.startswith(home + "."))


def teacher_relabel(docs: list[dict], seed: int, encode, cache, log=print,
                    min_confidence: float | None = None) -> tuple[list[dict], dict]:
    """Labels for the English documents whose label is only their source's fallback (e.g. a fortune
    from a file without a topic): the teacher, trained on source-labelled documents plus the other
    half of the pool (two-fold cross-fitting, so no document is judged by a model that saw it),
    picks a topic of the same home; a confident pick (>= min_confidence) replaces the fallback
    label and is marked `label_from: teacher`. Returns (documents, summary)."""
    from taggers import teacher as T
    floor = T.MIN_CONFIDENCE if min_confidence is None else min_confidence
    t0 = time.time()
    base = _capped([d for d in docs if d.get("label_from", "source") in GROUND_TRUTH],
                   TEACHER_PER_LABEL, seed)
    pool_all = [d for d in docs if d.get("label_from") == "fallback" and d["lang"] == "en"]
    pool = sorted(pool_all, key=lambda d: _id_hash(d["id"], seed))[:TEACHER_POOL_MAX]
    summary = {"base": len(base), "pool": len(pool), "pool_eligible": len(pool_all),
               "changes": Counter(), "kept": 0, "min_confidence": floor}
    if not pool:
        return docs, summary
    xb = T.embed([d["text"] for d in base], encode, cache, log=log)
    xp = T.embed([d["text"] for d in pool], encode, cache, log=log)
    fold = np.array([_id_hash(d["id"], seed + 3) < 0.5 for d in pool])
    new_label: dict[str, str] = {}
    for k in (True, False):
        judge, learn = np.nonzero(fold == k)[0], np.nonzero(fold != k)[0]
        clf = T.fit_teacher(np.vstack([xb, xp[learn]]),
                            [d["label"] for d in base] + [pool[i]["label"] for i in learn], seed)
        picks, _ = T.teacher_labels(clf, xp[judge], [_home_topics(pool[i]["label"]) for i in judge],
                                    floor)
        for i, pick in zip(judge, picks):
            if pick is not None and pick != pool[i]["label"]:
                new_label[pool[i]["id"]] = pick
                summary["changes"][(pool[i]["label"], pick)] += 1
            else:
                summary["kept"] += 1
    out = [dict(d, label=new_label[d["id"]], label_from="teacher", fallback_label=d["label"])
           if d["id"] in new_label else d for d in docs]
    summary["seconds"] = time.time() - t0
    log(f"teacher: relabelled {len(new_label):,} of {len(pool):,} fallback documents "
        f"({summary['seconds']:.0f} s)")
    return out, summary


def teacher_heldout(train_docs: list[dict], held: list[dict], seed: int, encode, cache,
                    log=print) -> dict:
    """The teacher's own held-out macro-F1 on the split the student is scored on (capped per
    topic), to compare the expensive annotator with the cheap classifier distilled from it."""
    from taggers import teacher as T
    base = _capped([d for d in train_docs if d.get("label_from", "source") in GROUND_TRUTH],
                   TEACHER_PER_LABEL, seed)
    test = _capped(held, TEACHER_EVAL_PER_LABEL, seed)
    clf = T.fit_teacher(T.embed([d["text"] for d in base], encode, cache, log=log),
                        [d["label"] for d in base], seed)
    pred = list(clf.predict(T.embed([d["text"] for d in test], encode, cache, log=log)))
    truth = [d["label"] for d in test]
    student = {d["id"] for d in test}
    return {"macro_f1": macro_f1(truth, pred), "n": len(test), "ids": student}


def _write_fasttext_file(docs: list[dict], path: str, seed: int) -> None:
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    inputs = topic_inputs([docs[i]["text"] for i in order])
    with open(path, "w", encoding="utf-8") as f:
        for i, line in zip(order, inputs):
            f.write(f"{LABEL_PREFIX}{docs[i]['label']} {line}\n")


def _fit(docs, seed, workdir, quantize=True):
    import fasttext
    path = os.path.join(workdir, "train.txt")
    _write_fasttext_file(docs, path, seed)
    model = fasttext.train_supervised(input=path, seed=seed, thread=1, verbose=0, **TRAIN_SETTINGS)
    if quantize:
        model.quantize(input=path, **QUANTIZE_SETTINGS)
    return model


def macro_f1(truth: list[str], pred: list[str]) -> tuple[float, dict]:
    """Macro-F1 over the classes present in `truth`, and per class {precision, recall, f1, n}."""
    classes = sorted(set(truth))
    per = {}
    for c in classes:
        tp = sum(1 for t, p in zip(truth, pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, pred) if t == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[c] = {"precision": prec, "recall": rec, "f1": f1, "n": tp + fn}
    return (sum(v["f1"] for v in per.values()) / len(per) if per else float("nan")), per


def heldout_scores(model, docs, lid=None, code_model=None) -> dict:
    """Held-out measures beside per-class accuracy: topic macro-F1; programming language of code
    (code.* labels other than docs_about_code) accuracy; with `lid`, coarse-domain macro-F1 (the
    true domain is `domain_of(true label, declared language, 1.0)`, the predicted one
    `domain_of(predicted topic, lid.176's language and share)`, as `tag_batch` computes it). With
    `code_model`, the code-language stage re-decides code.<language> topics, as in `tag_batch`."""
    from taggers.taxonomy import domain_of
    texts = [d["text"] for d in docs]
    if lid is not None:
        from taggers import langid
        from taggers.normalise import normalise_text
        norm = [normalise_text(t) for t in texts]
        langs, lang_scores, shares = langid.identify(norm, lid)
        pred, probs = topics_given_language(norm, model, langs, lang_scores, shares)
        pred, _ = refine_topics(norm, pred, probs, code_model)
    else:
        pred, probs = predict_topics(texts, model)
        pred, _ = refine_topics(texts, pred, probs, code_model)
    truth = [d["label"] for d in docs]
    out = {"topic_macro_f1": macro_f1(truth, pred), "pred": pred}
    code = [(t, p) for t, p in zip(truth, pred) if t in LANGUAGE_TOPICS]
    out["code_language_accuracy"] = (sum(t == p for t, p in code) / len(code), len(code)) if code else None
    if lid is not None:
        true_dom = [domain_of(d["label"], d["lang"], 1.0) for d in docs]
        pred_dom = [domain_of(p, l, s) for p, l, s in zip(pred, langs, shares)]
        out["domain_macro_f1"] = macro_f1(true_dom, pred_dom)
        out["domain_confusion"] = Counter((t, pd, f"{d['label']} -> {p} ({l})")
                                          for t, pd, d, p, l in zip(true_dom, pred_dom, docs, pred,
                                                                    langs) if t != pd)
    return out


def _domain_confusions(w, sc: dict, top: int = 8) -> None:
    conf = sc.get("domain_confusion")
    if conf:
        w("\n| true domain | predicted domain | true topic -> predicted topic (language) | n |\n"
          "|---|---|---|---|\n")
        for (t, pd, what), n in conf.most_common(top):
            w(f"| {t} | {pd} | {what} | {n} |\n")


def evaluate(model, docs, topics: list[str] | None = None):
    """Per-label (n, correct) and a confusion Counter of (true, predicted); `topics`: the
    predictions when already made (heldout_scores' `pred`)."""
    if topics is None:
        topics, _ = predict_topics([d["text"] for d in docs], model)
    per = defaultdict(lambda: [0, 0])
    confusion = Counter()
    for d, t in zip(docs, topics):
        per[d["label"]][0] += 1
        per[d["label"]][1] += int(t == d["label"])
        if t != d["label"]:
            confusion[(d["label"], t)] += 1
    return dict(per), confusion


def train(sample_dir: str, output: str, seed: int = 0, max_per_label: int = 3000,
          max_foreign_share: float = 0.25, card: str | None = None, log=print,
          extra: list[str] | tuple = (), teacher: bool = False,
          teacher_cache: str | None = None, encode=None) -> dict:
    """Trains, evaluates on held-out data, retrains on everything, writes output (.ftz) and card.
    `extra`: more labelled JSONL files (`LABEL=PATH`, see read_extra). With `teacher`, fallback-
    labelled documents are relabelled by the embedding teacher first (teacher_relabel; `encode`
    defaults to the bundled MiniLM, embeddings cached in `teacher_cache`), and the teacher is
    scored on the same held-out documents as the student."""
    t0 = time.time()
    docs = read_sample(sample_dir, log) + read_extra(list(extra), log)
    if not docs:
        raise SystemExit(f"no labelled documents (meta.label in the taxonomy) under {sample_dir}")
    teacher_summary = cache = None
    if teacher:
        from taggers import teacher as T
        if encode is None:
            embedder = T.load_embedder()
            encode = lambda texts: embedder.encode(texts, batch_size=32,  # noqa: E731
                                                   normalize_embeddings=True)
        cache = T.EmbeddingCache(teacher_cache)
        docs, teacher_summary = teacher_relabel(docs, seed, encode, cache, log)
    chosen = select(docs, seed, max_per_label, max_foreign_share)
    train_docs, held, how = split_heldout(chosen, seed, by="source")
    dir_train, dir_held, dir_how = split_heldout(chosen, seed, by="directory")
    log(f"train-topic: {len(docs)} labelled documents, {len(chosen)} selected, "
        f"{len(train_docs)} train / {len(held)} held out (by source), "
        f"{len(dir_train)} / {len(dir_held)} (by folder)")
    from taggers.langid import load_lid
    lid = load_lid()
    with tempfile.TemporaryDirectory() as work:
        eval_model = _fit(train_docs, seed, work)
        code_eval = code_language_training.fit(train_docs, seed, work)
        scores = heldout_scores(eval_model, held, lid, code_eval)
        pred = scores.pop("pred")
        per, confusion = evaluate(eval_model, held, pred)
        train_per, _ = evaluate(eval_model, train_docs)
        dir_model = _fit(dir_train, seed, work)
        code_dir = code_language_training.fit(dir_train, seed, work)
        dir_scores = heldout_scores(dir_model, dir_held, lid, code_dir)
        dir_per, _ = evaluate(dir_model, dir_held, dir_scores.pop("pred"))
        code_scores = (code_language_training.scores(code_eval, held),
                       code_language_training.scores(code_dir, dir_held))
        if teacher:
            th = teacher_heldout(train_docs, held, seed, encode, cache, log)
            ids = th.pop("ids")
            pairs = [(d["label"], p) for d, p in zip(held, pred) if d["id"] in ids]
            th["student_macro_f1"] = macro_f1([t for t, _ in pairs], [p for _, p in pairs])
            teacher_summary["heldout"] = th
        final = _fit(chosen, seed, work)
        code_final = code_language_training.fit(chosen, seed, work)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    final.save_model(output)
    code_output = os.path.join(os.path.dirname(os.path.abspath(output)), CODE_LANGUAGE_MODEL)
    if code_final is not None:
        code_final.save_model(code_output)
    else:
        log(f"train-topic: fewer than two code.<language> topics in the sample: {code_output} not "
            "written (tag_batch needs it)")
    elapsed = time.time() - t0
    result = {"docs": len(docs), "selected": len(chosen), "train": len(train_docs),
              "heldout": len(held), "per_label": per, "train_per_label": train_per,
              "confusion": confusion, "how": how, "seconds": elapsed, "scores": scores,
              "size_bytes": os.path.getsize(output),
              "directory": {"how": dir_how, "per_label": dir_per, "scores": dir_scores,
                            "train": len(dir_train), "heldout": len(dir_held)},
              "teacher": teacher_summary, "extra": list(extra)}
    card = card or os.path.splitext(output)[0] + ".md"
    with open(card, "w", encoding="utf-8") as f:
        f.write(model_card(result, docs, chosen, sample_dir, output, seed, max_per_label,
                           max_foreign_share))
    if code_final is not None:
        two_stage = {name: sc["code_language_accuracy"] for name, sc in
                     (("by source", scores), ("by folder", dir_scores))
                     if sc.get("code_language_accuracy")}
        command = _command(result, sample_dir, output, seed)
        with open(os.path.splitext(code_output)[0] + ".md", "w", encoding="utf-8") as f:
            f.write(code_language_training.model_card(*code_scores, chosen, how, dir_how, two_stage,
                                                      command, os.path.getsize(code_output)))
    write_eval(os.path.splitext(output)[0] + ".eval.json", eval_summary(result))
    log(f"train-topic: wrote {output} ({result['size_bytes']:,} bytes) and {card} in {elapsed:.1f} s")
    return result


def _scores_summary(sc: dict) -> dict:
    f1, per = sc["topic_macro_f1"]
    out = {"topic_macro_f1": round(f1, 4),
           "topic_f1": {k: round(v["f1"], 4) for k, v in per.items()},
           "topic_n": {k: v["n"] for k, v in per.items()}}
    if sc.get("code_language_accuracy"):
        out["code_language_accuracy"] = round(sc["code_language_accuracy"][0], 4)
        out["code_language_n"] = sc["code_language_accuracy"][1]
    if "domain_macro_f1" in sc:
        out["domain_macro_f1"] = round(sc["domain_macro_f1"][0], 4)
        out["domain_f1"] = {k: round(v["f1"], 4) for k, v in sc["domain_macro_f1"][1].items()}
    return out


def eval_summary(r: dict) -> dict:
    """The held-out figures of a training run as plain JSON (`topic.eval.json` beside the model,
    read by `make bench`)."""
    out = {"by_source": _scores_summary(r["scores"]),
           "by_folder": _scores_summary(r["directory"]["scores"])}
    t = r.get("teacher")
    if t and t.get("heldout"):
        out["teacher_vs_student"] = {"n": t["heldout"]["n"],
                                     "teacher_macro_f1": round(t["heldout"]["macro_f1"][0], 4),
                                     "student_macro_f1": round(t["heldout"]["student_macro_f1"][0], 4)}
    if t:
        out["teacher_relabelled"] = sum(t["changes"].values())
    return out


def write_eval(path: str, summary: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")


def model_card(r, docs, chosen, sample_dir, output, seed, max_per_label, max_foreign_share) -> str:
    out = io.StringIO()
    w = out.write
    w("# Topic tagger (`taggers/models/topic.ftz`)\n\n")
    w("Supervised fastText classifier over the topics of `taggers/taxonomy.py` that have training "
      "data, quantised. Written by `taggers.topic_training.train`; this card is regenerated with the model.\n\n")
    w(f"Command: `{_command(r, sample_dir, output, seed)}` (`make train-taggers`); "
      f"{r['seconds']:.0f} s, with the code-language model (`code_language.md`) (fastText on one "
      "thread, fixed seed: deterministic; the teacher's embeddings come from its cache when "
      "present).\n\n")
    w(f"Size: {r['size_bytes']:,} bytes. Settings: {TRAIN_SETTINGS}; quantize {QUANTIZE_SETTINGS}. "
      f"Preprocessing: `taggers.topic.topic_inputs` (a source file's leading comment block "
      f"dropped, then the first {MAX_PREPROCESS_CHARS} characters, lowercase, "
      "letters/digits/punctuation tokens, one line).\n\n")
    w(f"Selection: at most {max_per_label} documents per label in id-hash order, non-English at most "
      f"{max_foreign_share:.0%} of a label's cap. The shipped model is trained on all selected "
      "documents; the accuracies below come from a model with the same settings trained without "
      "the held-out documents.\n\n")
    w("Labels come from each source's structure (`source`: BBC's topic folders, fortune topic files, "
      "file types of code, ...); a source's `fallback` label (e.g. a fortune from a file without a "
      "topic) may be replaced by the embedding teacher (`teacher`, below).\n\n")
    w("## Sources\n\n| source | label | label from | lang | documents | MB | selected |\n"
      "|---|---|---|---|---|---|---|\n")
    sel = Counter((d["source"], d["label"]) for d in chosen)
    agg = {}
    for d in docs:
        key = (d["source"], d["label"])
        a = agg.setdefault(key, [d["label"], Counter(), 0, 0, Counter()])
        a[4][d.get("label_from", "source")] += 1
        a[1][d["lang"]] += 1
        a[2] += 1
        a[3] += len(d["text"].encode("utf-8", "replace"))
    for key in sorted(agg, key=lambda k: (agg[k][0], k)):
        label, langs, n, size, origin = agg[key]
        lang = ",".join(l for l, _ in langs.most_common(3)) + ("…" if len(langs) > 3 else "")
        frm = ",".join(o for o, _ in origin.most_common())
        w(f"| {key[0]} | {label} | {frm} | {lang} | {n:,} | {size / 1e6:.2f} | "
          f"{sel.get(key, 0):,} |\n")
    w("\n## Held-out accuracy per class\n\n| label | held out | n | accuracy | train accuracy |\n"
      "|---|---|---|---|---|\n")
    tot_n = tot_ok = 0
    for label in sorted(set(r["how"]) | set(r["per_label"])):
        n, ok = r["per_label"].get(label, (0, 0))
        tn, tok = r["train_per_label"].get(label, (0, 0))
        tot_n += n
        tot_ok += ok
        acc = f"{ok / n:.3f}" if n else "–"
        tacc = f"{tok / tn:.3f}" if tn else "–"
        w(f"| {label} | {r['how'].get(label, '')} | {n:,} | {acc} | {tacc} |\n")
    if tot_n:
        w(f"| **all** | | {tot_n:,} | {tot_ok / tot_n:.3f} | |\n")
    sc = r.get("scores") or {}
    if sc:
        f1, per_f1 = sc["topic_macro_f1"]
        w(f"\n## Held-out macro-F1\n\n- fine-grained topic macro-F1 (classes with held-out data): "
          f"**{f1:.3f}**\n")
        if sc.get("code_language_accuracy"):
            acc, n = sc["code_language_accuracy"]
            w(f"- programming language of code (code.* but docs_about_code; the topic model, then the "
              f"code-language model on what it calls code.<language>): **{acc:.3f}** on {n:,} "
              "documents\n")
        if "domain_macro_f1" in sc:
            df1, per_dom = sc["domain_macro_f1"]
            w(f"- coarse domain (domain_of(predicted topic, lid.176 language)) macro-F1: "
              f"**{df1:.3f}**\n\n| domain | n | precision | recall | F1 |\n|---|---|---|---|---|\n")
            for dname, v in per_dom.items():
                w(f"| {dname} | {v['n']:,} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |\n")
            _domain_confusions(w, sc)
        w("\n| topic | n | precision | recall | F1 |\n|---|---|---|---|---|\n")
        for tname, v in per_f1.items():
            w(f"| {tname} | {v['n']:,} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |\n")
    dr = r.get("directory")
    if dr:
        _directory_section(w, dr)
    if r.get("teacher") is not None:
        _teacher_section(w, r["teacher"])
    trained = {d["label"] for d in chosen}
    missing = [t for t in TOPICS if t not in trained]
    if missing:
        w(f"\nTopics without training data (never predicted): {', '.join(missing)}.\n")
    untested = sorted(trained - set(r["how"]))
    if untested:
        w(f"\nTopics trained only on fallback or teacher labels (no ground truth to hold out): "
          f"{', '.join(untested)}.\n")
    if r["confusion"]:
        w("\n## Most frequent held-out confusions\n\n| true | predicted | n |\n|---|---|---|\n")
        for (t, p), n in r["confusion"].most_common(15):
            w(f"| {t} | {p} | {n} |\n")
    return out.getvalue()


def _command(r: dict, sample_dir: str, output: str, seed: int) -> str:
    flags = "".join(f" --extra {_shown_extra(e)}" for e in r.get("extra") or []) + (
        " --teacher" if r.get("teacher") is not None else "")
    return f"python -m taggers train-topic --sample {sample_dir} --output {output} --seed {seed}{flags}"


def _shown_extra(spec: str) -> str:
    """`LABEL=PATH` as the card shows it: the file's name only (no folder of this machine)."""
    label, _, path = spec.partition("=")
    return f"{label}=<folder>/{os.path.basename(path)}"


def _directory_section(w, dr: dict) -> None:
    sc = dr["scores"]
    f1, _ = sc["topic_macro_f1"]
    w(f"\n## Held out by folder (unseen projects, modules and topic files)\n\nA second model with "
      f"the same settings, trained on {dr['train']:,} documents and scored on {dr['heldout']:,} from "
      "whole folders it never saw (about 20 % of each topic), so every topic, including each "
      "language inside `code.other`, is tested on files of a kind it was trained on but from "
      f"different projects.\n\n- fine-grained topic macro-F1: **{f1:.3f}**\n")
    if sc.get("code_language_accuracy"):
        acc, n = sc["code_language_accuracy"]
        w(f"- programming language of code: **{acc:.3f}** on {n:,} documents\n")
    if "domain_macro_f1" in sc:
        w(f"- coarse domain macro-F1: **{sc['domain_macro_f1'][0]:.3f}** ("
          + ", ".join(f"{k} {v['f1']:.3f}" for k, v in sc["domain_macro_f1"][1].items()) + ")\n")
        _domain_confusions(w, sc)
    w("\n| label | held out | n | accuracy |\n|---|---|---|---|\n")
    for label in sorted(dr["how"]):
        n, ok = dr["per_label"].get(label, (0, 0))
        w(f"| {label} | {dr['how'][label]} | {n:,} | {ok / n:.3f} |\n" if n else
          f"| {label} | {dr['how'][label]} | 0 | – |\n")


def _teacher_section(w, t: dict) -> None:
    w("\n## Teacher (all-MiniLM-L6-v2 embeddings + logistic regression)\n\n")
    w(f"Trained on {t['base']:,} source-labelled documents (at most {TEACHER_PER_LABEL} per topic). "
      f"It judged {t['pool']:,} of {t['pool_eligible']:,} English fallback-labelled documents "
      f"(two-fold cross-fitting); {sum(t['changes'].values()):,} were relabelled (confidence >= "
      f"{t['min_confidence']}), {t['kept']:,} kept their fallback label.\n\n")
    if t["changes"]:
        w("| fallback label | teacher label | documents |\n|---|---|---|\n")
        for (old, new), n in t["changes"].most_common():
            w(f"| {old} | {new} | {n:,} |\n")
    h = t.get("heldout")
    if h:
        tf1, tper = h["macro_f1"]
        sf1, sper = h["student_macro_f1"]
        w(f"\nOn the same {h['n']:,} held-out documents (by source, at most {TEACHER_EVAL_PER_LABEL} "
          f"per topic): teacher macro-F1 **{tf1:.3f}**, distilled fastText student **{sf1:.3f}**.\n\n"
          "| topic | n | teacher F1 | student F1 |\n|---|---|---|---|\n")
        for name, v in tper.items():
            w(f"| {name} | {v['n']:,} | {v['f1']:.3f} | {sper.get(name, {}).get('f1', 0.0):.3f} |\n")
