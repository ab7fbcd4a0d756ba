"""Training of the code-language model (`taggers.code_language`): `code_language.ftz` and its card.

Trained by `taggers.topic_training.train` beside the topic model, on the same selected documents and
the same two held-out splits (by source, by folder), but only on documents labelled with a
`code.<language>` topic, read through `code_language.syntax_inputs`. This module fits the model
(`fit`), scores it alone on held-out source files (`scores`) and writes its card (`model_card`); the
two stages together are scored in `topic_training.heldout_scores` and reported in the topic card.
"""
from __future__ import annotations

import io
import os
import random
from collections import Counter

from taggers.code_language import (CONFIDENT_TOPIC, LANGUAGE_TOPICS, MAX_SYNTAX_CHARS,
                                    predict_languages, syntax_inputs)
from taggers.topic import LABEL_PREFIX

TRAIN_SETTINGS = dict(lr=0.5, epoch=15, wordNgrams=2, dim=64, minCount=2, bucket=200_000,
                      loss="softmax")
QUANTIZE_SETTINGS = dict(qnorm=True, retrain=False, cutoff=50_000, dsub=2)


def language_docs(docs: list[dict]) -> list[dict]:
    """The documents the code-language model learns from and is scored on."""
    return [d for d in docs if d["label"] in LANGUAGE_TOPICS]


def fit(docs: list[dict], seed: int, workdir: str):
    """A quantised fastText model over the `code.<language>` documents of `docs` (one thread, fixed
    seed: deterministic), or None when they hold fewer than two languages."""
    import fasttext
    docs = language_docs(docs)
    if len({d["label"] for d in docs}) < 2:
        return None
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    path = os.path.join(workdir, "code_language.train.txt")
    with open(path, "w", encoding="utf-8") as f:
        for i, line in zip(order, syntax_inputs([docs[i]["text"] for i in order])):
            f.write(f"{LABEL_PREFIX}{docs[i]['label']} {line}\n")
    model = fasttext.train_supervised(input=path, seed=seed, thread=1, verbose=0, **TRAIN_SETTINGS)
    model.quantize(input=path, **QUANTIZE_SETTINGS)
    return model


def scores(model, docs: list[dict]) -> dict:
    """The model alone on the held-out `code.<language>` documents of `docs` (as if the topic model
    had routed every one of them here): {"n", "accuracy", "per_label": {label: [n, correct]},
    "confusion": Counter of (true, predicted)}."""
    docs = language_docs(docs)
    if model is None or not docs:
        return {"n": 0, "accuracy": None, "per_label": {}, "confusion": Counter()}
    pred, _ = predict_languages([d["text"] for d in docs], model)
    per: dict[str, list[int]] = {}
    confusion = Counter()
    for d, p in zip(docs, pred):
        c = per.setdefault(d["label"], [0, 0])
        c[0] += 1
        c[1] += int(p == d["label"])
        if p != d["label"]:
            confusion[(d["label"], p)] += 1
    ok = sum(c[1] for c in per.values())
    return {"n": len(docs), "accuracy": ok / len(docs), "per_label": per, "confusion": confusion}


def model_card(by_source: dict, by_folder: dict, chosen: list[dict], how: dict, dir_how: dict,
               two_stage: dict, command: str, size_bytes: int) -> str:
    """The card beside `code_language.ftz`: command, settings, training documents per source, the
    model's held-out accuracy per language on both splits, and both stages together."""
    out = io.StringIO()
    w = out.write
    w("# Code-language model (`taggers/models/code_language.ftz`)\n\n")
    w("Second stage of the topic tagger: re-decides the `code.<language>` topic of every document the "
      "topic model calls `code.<language>` (not `code.docs_about_code`), from syntax rather than "
      "vocabulary (`taggers.code_language`). Written by `taggers.topic_training.train` with the topic "
      "model; this card is regenerated with the model.\n\n")
    w(f"Command: `{command}` (`make train-taggers`). Size: {size_bytes:,} bytes. Settings: "
      f"{TRAIN_SETTINGS}; quantize {QUANTIZE_SETTINGS}. Preprocessing: "
      "`taggers.code_language.syntax_inputs` (after the leading comment block, the first "
      f"{MAX_SYNTAX_CHARS} characters: keywords and short lower-case words, upper-case words, "
      "punctuation runs, line breaks marked indented or not, every other identifier as its shape).\n\n")
    docs = language_docs(chosen)
    w("## Training documents\n\n| label | source | documents |\n|---|---|---|\n")
    for (label, source), n in sorted(Counter((d["label"], d["source"]) for d in docs).items()):
        w(f"| {label} | {source} | {n:,} |\n")
    w("\n## Held-out accuracy, this model alone\n\nEach held-out source file as if the topic model "
      "had routed it here. By source: one whole source per language held out where a language has "
      "two or more (for `code.other`, a language never seen); by folder: whole projects and modules "
      "of known languages.\n\n| label | by source: held out | n | accuracy | by folder: held out | n "
      "| accuracy |\n|---|---|---|---|---|---|---|\n")
    for label in sorted(set(by_source["per_label"]) | set(by_folder["per_label"])):
        cells = []
        for sc, h in ((by_source, how), (by_folder, dir_how)):
            n, ok = sc["per_label"].get(label, (0, 0))
            cells += [h.get(label, ""), f"{n:,}", f"{ok / n:.3f}" if n else "–"]
        w(f"| {label} | " + " | ".join(cells) + " |\n")
    for name, sc in (("by source", by_source), ("by folder", by_folder)):
        if sc["accuracy"] is not None:
            w(f"\n- {name}: **{sc['accuracy']:.3f}** on {sc['n']:,} files; most frequent confusions: "
              + ", ".join(f"{t} -> {p} ({n})" for (t, p), n in sc["confusion"].most_common(5)))
    w("\n\n## Both stages together\n\nProgramming language of code as `tag_batch` assigns it (the "
      "topic model decides code or not and which topic; this model re-decides the language where the "
      f"topic model's probability is below {CONFIDENT_TOPIC}), on the topic card's held-out "
      "documents: ")
    w(", ".join(f"{name} **{acc:.3f}** on {n:,} files" for name, (acc, n) in two_stage.items()))
    w(" (target 0.97; `taggers/models/topic.md`).\n")
    return out.getvalue()
