"""Assembling the report page: one static HTML file, CSS inline, no JavaScript, no external URLs.

Every text is escaped with html.escape. Every number taken from a run file is written by `Numbers`
straight from the loaded dict, inside `<span class="num" data-source=FILE data-key=JSON-PATH
data-value=JSON>`: FILE is relative to the run folder (`train/metrics.jsonl#last_eval` is the last
evaluation line of metrics.jsonl), JSON-PATH a JSON list of the keys leading to the value, so a
reader (or a test) can compare the page with the files. A section whose data is missing is still on
the page, with the reason it is absent.
"""
from __future__ import annotations

import datetime
import json
import re
from html import escape

import numpy as np

from .load import Run

SECTIONS = (
    ("overview", "Overview"),
    ("composition", "Corpus composition"),
    ("quality", "Quality"),
    ("dedup", "Duplicates"),
    ("decontamination", "Decontamination"),
    ("mix", "Mix: target against realised"),
    ("fertility", "Tokenizer fertility"),
    ("ablations", "Ablations and the proposal"),
    ("training", "Training"),
)
TOP_ROWS = 15

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; color: #1d2430; background: #f6f7f9; line-height: 1.45; }
header { background: #1d2430; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 1.5em; }
header p { margin: 0; color: #c9d1dd; font-size: .9em; }
nav { padding: 10px 32px; background: #e8ebf0; font-size: .9em; }
nav a { margin-right: 14px; color: #234d8a; text-decoration: none; }
nav a.absent { color: #8a93a3; text-decoration: line-through; }
main { max-width: 1120px; margin: 0 auto; padding: 8px 24px 40px; }
section { background: #fff; border-radius: 6px; padding: 14px 22px 18px; margin: 18px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
section h2 { margin-top: 4px; border-bottom: 2px solid #e8ebf0; padding-bottom: 6px; }
section.absent { background: #fbfbfc; }
p.absent { color: #8a4b08; background: #fff6e6; border-left: 4px solid #e0a030; padding: 8px 12px; }
img { max-width: 100%; height: auto; display: block; margin: 10px 0; border: 1px solid #e8ebf0; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: .88em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e8ebf0; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f2f5; }
.tables { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
.kv td:first-child { color: #4a5466; }
.figs { display: flex; gap: 12px; }
.figs img { max-width: calc(50% - 6px); }
.note { color: #4a5466; font-size: .88em; }
code { background: #f0f2f5; padding: 0 3px; border-radius: 3px; }
"""


class Numbers:
    """Formats numbers from the run's files as tagged spans (see the module docstring)."""

    def __init__(self, sources: dict[str, dict | None]):
        self.sources = sources

    def value(self, source: str, path: list):
        value = self.sources[source]
        for key in path:
            value = value[key]
        return value

    def __call__(self, source: str, path: list, fmt: str = ",") -> str:
        value = self.value(source, path)
        text = format(value, fmt) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        return (f'<span class="num" data-source="{escape(source)}" data-key="{escape(json.dumps(path))}" '
                f'data-value="{escape(json.dumps(value))}">{escape(text)}</span>')


NUMERIC = re.compile(r"^[-+]?[\d,.]+%?$")


def _cell(content: str) -> str:
    """A table cell; numbers (tagged spans or plain) are right-aligned."""
    numeric = content.startswith('<span class="num"') or NUMERIC.match(content)
    return f'<td class="n">{content}</td>' if numeric else f"<td>{content}</td>"


def _table(header: list[str] | None, rows: list[list[str]], cls: str = "") -> str:
    """Header cells are escaped here; row cells are HTML already (escaped text or number spans).
    A table without a header (None) is a list of facts: label, value."""
    head = ("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>") if header else ""
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


def _facts(rows: list[list[str]]) -> str:
    """A two-column list of facts: a plain-text label (escaped here) and its value (HTML)."""
    return _table(None, [[escape(label), value] for label, value in rows], "kv")


def _img(images: dict[str, str], name: str, alt: str) -> str:
    return f'<img src="{escape(images[name])}" alt="{escape(alt)}">' if name in images else ""


def _text(text: str) -> str:
    """Escaped text in which `backquoted` commands are shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _p(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{_text(text)}</p>' if cls else f"<p>{_text(text)}</p>"


def _more(n_shown: int, n_all: int, where: str) -> str:
    return _p(f"{n_all - n_shown:,} more not shown (all of them are in {where}).", "note") if n_all > n_shown else ""


def _top(table: dict, n: int = TOP_ROWS, key=lambda v: v["documents"]) -> list[str]:
    return [k for k, _ in sorted(table.items(), key=lambda kv: (-key(kv[1]), kv[0]))[:n]]


def overview(run: Run, num: Numbers, images) -> str:
    stages = [("tag", "tag/"), ("mix", "mix/"), ("ablations", "mix/ablations/"), ("train", "train/")]
    rows = [[escape(stage), escape(folder), _text("absent: " + run.missing[stage]) if stage in run.missing
             else "present"] for stage, folder in stages]
    out = [_table(["stage", "folder", "status"], rows)]
    facts = []
    if run.stats:
        facts += [["input records", num("tag/stats.json", ["inputs", "records"])],
                  ["input files", num("tag/stats.json", ["inputs", "files"])],
                  ["documents tagged", num("tag/stats.json", ["tagged"])],
                  ["records rejected", num("tag/stats.json", ["rejected"])],
                  ["duplicates removed (is_dup)", num("tag/stats.json", ["duplicates", "removed"])],
                  ["tag wall time (s)", num("tag/stats.json", ["throughput", "wall_s"], ",.1f")]]
    if run.manifest:
        facts += [["train token budget", num("mix/manifest.json", ["tokens_budget"])],
                  ["mix seed", num("mix/manifest.json", ["seed"])]]
    if run.last_eval:
        facts += [["final validation objective (bits per byte)",
                   num("train/metrics.jsonl#last_eval", ["objective"], ".4f")]]
    out.append(_facts(facts))
    if run.stats and run.stats["rejected_by_reason"]:
        out.append(_table(["reject reason", "records"],
                          [[escape(r), num("tag/stats.json", ["rejected_by_reason", r])]
                           for r in run.stats["rejected_by_reason"]]))
    return "".join(out)


def composition(run: Run, num: Numbers, images) -> str:
    s = "tag/stats.json"
    stats = run.stats
    tagged = stats["tagged"] or 1
    out = [_img(images, "composition_domain", "documents and megabytes by domain"),
           _table(["domain", "documents", "share", "characters", "bytes"],
                  [[escape(d), num(s, ["by_domain", d, "documents"]),
                    escape(f"{stats['by_domain'][d]['documents'] / tagged:.1%}"),
                    num(s, ["by_domain", d, "chars"]), num(s, ["by_domain", d, "bytes"])]
                   for d in stats["by_domain"]])]
    tables = []
    for dim, title in (("by_topic", "topic"), ("by_lang", "language"), ("by_source", "source")):
        out.append(_img(images, f"composition_{dim[3:]}", f"documents by {title}"))
        keys = _top(stats[dim])
        tables.append("<div>" + _table([title, "documents", "bytes"],
                                       [[escape(k), num(s, [dim, k, "documents"]), num(s, [dim, k, "bytes"])]
                                        for k in keys])
                      + _more(len(keys), len(stats[dim]), f"tag/stats.json {dim}") + "</div>")
    out.append('<div class="tables">' + "".join(tables) + "</div>")
    return "".join(out)


def quality(run: Run, num: Numbers, images, model_threshold: float) -> str:
    table = run.quality
    domain = np.asarray(table.column("domain").to_pylist(), dtype=object)
    score = table.column("quality").to_numpy(zero_copy_only=False)
    out = [_img(images, "quality_score", "quality score histogram by domain")]
    thresholds = []
    if run.manifest:
        m = "mix/manifest.json"
        thresholds += [["mix: keep quality ≥ (QUALITY)", num(m, ["config", "quality"], "g")],
                       ["anneal: quality ≥", num(m, ["anneal", "quality_min"], "g")],
                       ["documents removed by the quality filter", num(m, ["filters", "quality"])]]
    else:
        out.append(_p("No finished mix: the mix's QUALITY threshold is not known, so only the tagger's "
                      "threshold is shown.", "note"))
    thresholds.append(["tagger: flag model_low_quality when P(high quality) <",
                       escape(f"{model_threshold:g} (taggers.quality.QualityConfig)")])
    out.append(_facts(thresholds))
    cut = run.manifest["config"]["quality"] if run.manifest else None
    rows = []
    for d in sorted(set(domain)):
        q = score[domain == d]
        row = [escape(d), escape(f"{len(q):,}"), escape(f"{q.mean():.3f}"), escape(f"{np.median(q):.3f}")]
        if cut is not None:
            row.append(escape(f"{(q >= cut).mean():.1%}"))
        rows.append(row)
    out.append(_table(["domain", "documents", "mean quality", "median"] +
                      ([f"share ≥ {cut:g}"] if cut is not None else []), rows))
    out.append(_img(images, "quality_model", "quality model probability histogram"))
    out.append(_img(images, "quality_flags", "share of documents failing each quality rule"))
    return "".join(out)


def dedup(run: Run, num: Numbers, images, removed_shares: dict[str, float]) -> str:
    s = "tag/stats.json"
    facts = [[label, num(s, ["duplicates", key])] for label, key in (
        ("exact-text duplicates", "exact"), ("near-duplicate edges (MinHash LSH)", "near"),
        ("URL duplicates", "url"), ("documents removed (is_dup)", "removed"),
        ("clusters (kept documents)", "clusters"), ("clusters with duplicates", "duplicate_clusters"),
        ("largest cluster", "largest_cluster"),
        ("documents with lines repeated across the corpus", "line_dup_documents"))]
    dup = run.stats["duplicates"]
    out = [_facts(facts), _img(images, "dedup_clusters", "cluster size histogram")]
    if dup["removed_by_domain"]:
        out.append(_table(["domain", "removed"], [[escape(d), num(s, ["duplicates", "removed_by_domain", d])]
                                                  for d in dup["removed_by_domain"]]))
    removed = {src: share for src, share in removed_shares.items() if share > 0}
    if not removed:
        out.append(_p("No source had a document removed as a duplicate.", "note"))
        return "".join(out)
    out.append(_img(images, "dedup_sources", "share of each source removed as duplicates"))
    sources = [k for k, _ in sorted(removed.items(), key=lambda kv: (-kv[1], kv[0]))][:TOP_ROWS]
    rows = [[escape(src), num(s, ["duplicates", "removed_by_source", src]), num(s, ["by_source", src, "documents"]),
             escape(f"{removed[src]:.1%}")] for src in sources]
    out.append(_table(["source", "removed", "documents", "removed share"], rows))
    out.append(_more(len(sources), len(removed), "tag/stats.json duplicates.removed_by_source"))
    return "".join(out)


def decontamination(run: Run, num: Numbers, images) -> str:
    s = "tag/stats.json"
    benches = run.stats.get("config", {}).get("dedup", {}).get("benchmarks", {})
    found = run.stats["duplicates"]["decontamination"]
    if not benches and not found:
        return _p("No benchmark was given to the tag job, so nothing was checked for contamination "
                  "(add `TAG_ARGS=\"--decontaminate BENCH.jsonl\"` to `make tag`).", "note")
    rows = []
    for bench in sorted(set(benches) | set(found)):
        if bench in found:
            by_source = found[bench]["by_source"]
            top = _top(by_source, 5, key=lambda v: v)
            per_source = ", ".join(f"{escape(src)}: {num(s, ['duplicates', 'decontamination', bench, 'by_source', src])}"
                                   for src in top)
            if len(by_source) > len(top):
                per_source += escape(f" and {len(by_source) - len(top)} more")
            rows.append([escape(bench), num(s, ["duplicates", "decontamination", bench, "documents"]), per_source])
        else:
            rows.append([escape(bench), "0", ""])
    ngram = run.stats.get("config", {}).get("dedup", {}).get("decontam_ngram")
    return (f'<p class="note">Documents sharing a '
            f'{num(s, ["config", "dedup", "decontam_ngram"]) if ngram else "long"}-word n-gram with a benchmark '
            f"item are flagged {_text('`contaminated:<benchmark>`')} in quality_flags (tagged, not dropped).</p>"
            + _table(["benchmark", "documents flagged", "by source (largest)"], rows))


def mix(run: Run, num: Numbers, images) -> str:
    m = "mix/manifest.json"
    man = run.manifest
    rows = []
    for d, v in man["domains"].items():
        rows.append([escape(d), num(m, ["domains", d, "target"], ".3f"), num(m, ["domains", d, "share"], ".4f"),
                     escape(f"{100 * (v['share'] - v['target']):+.2f}"), num(m, ["domains", d, "tokens"]),
                     num(m, ["domains", d, "documents"]), num(m, ["domains", d, "epochs"], ".2f"),
                     num(m, ["domains", d, "eligible_tokens"]),
                     num(m, ["validation", "tokens_per_domain", d]) if d in man["validation"]["tokens_per_domain"]
                     else "0"])
    train_tokens = sum(v["tokens"] for v in man["domains"].values())
    out = [_p(f"Realised shares are read back from the written shards: {train_tokens:,} "
              "train tokens in all, BOS/EOS and repeats counted."),
           _table(["domain", "target", "realised share", "diff (pp)", "train tokens", "documents", "epochs",
                   "eligible tokens", "val tokens"], rows),
           _facts([["train token budget", num(m, ["tokens_budget"])],
                             ["repetition cap (epochs)", num(m, ["config", "max_epochs"], "g")]]),
           '<div class="figs">', _img(images, "shares", "target against realised shares"),
           _img(images, "epochs", "epochs per domain"), "</div>"]
    out.append(_table(["filter", "documents removed"], [[escape(k), num(m, ["filters", k])] for k in man["filters"]]))
    out += _stripped_lines(man, num, m) + _topic_shares(man, num, m)
    ann = man["anneal"]
    out.append(_table(["anneal domain", "weight", "tokens"],
                      [[escape(d), num(m, ["anneal", "weights", d], ".3f"),
                        num(m, ["anneal", "domains", d, "tokens"]) if d in ann["domains"] else "0"]
                       for d in ann["weights"]]))
    out.append(_facts([["anneal tokens", num(m, ["anneal", "tokens"])],
                                 ["anneal documents need quality ≥", num(m, ["anneal", "quality_min"], "g")]]))
    for note in man.get("plan_notes", []) + ann.get("notes", []):
        out.append(_p(f"note: {note}", "note"))
    return "".join(out)


def _stripped_lines(man: dict, num: Numbers, m: str) -> list[str]:
    """The repeated-line stripping of `make mix --strip-repeated-lines`, per domain (none: nothing)."""
    rl = (man.get("counts") or {}).get("repeated_lines")
    if not rl:
        return []
    at = ["counts", "repeated_lines"]
    rows = [[escape(d), num(m, at + ["by_domain", d, "documents"]), num(m, at + ["by_domain", d, "lines"]),
             num(m, at + ["by_domain", d, "bytes"])] for d in sorted(rl["by_domain"])]
    return [f"<p>Repeated lines stripped before tokenising ({escape(rl['rule'])}; domains "
            f"{escape(', '.join(rl['domains']))}): {num(m, at + ['distinct_lines'])} distinct lines, "
            f"{num(m, at + ['documents_emptied'])} documents left empty.</p>",
            _table(["domain", "documents stripped", "lines", "bytes"], rows)]


def _topic_shares(man: dict, num: Numbers, m: str) -> list[str]:
    """Topic targets against realised shares inside the domains given TOPIC_WEIGHTS."""
    rows = []
    for d, v in man["domains"].items():
        for t in v.get("topics") or {}:
            at = ["domains", d, "topics", t]
            rows.append([escape(d), escape(t), "named" if v["topics"][t]["named"] else "rest",
                         num(m, at + ["target"], ".3f"), num(m, at + ["share"], ".4f"), num(m, at + ["tokens"])])
    if not rows:
        return []
    return [_p("Topic shares inside their domain (TOPIC_WEIGHTS), read back from the shards' topic sidecars."),
            _table(["domain", "topic", "weight", "target", "realised share", "tokens"], rows)]


def fertility(run: Run, num: Numbers, images) -> str:
    m = "mix/manifest.json"
    fert = run.manifest.get("counts", {}).get("fertility", {})
    if not fert.get("domain"):
        return _p("The manifest has no fertility counts (made by an older `make mix`).", "absent")
    tokens_by_lang = run.manifest["counts"].get("tokens", {}).get("lang", {})
    langs = sorted(fert.get("lang", {}), key=lambda k: (-tokens_by_lang.get(k, 0), k))[:TOP_ROWS]
    tok = run.manifest["tokenizer"]
    out = [_p("Fertility = UTF-8 bytes per token (special tokens excluded) over the selected documents; "
              "more bytes per token = the tokenizer compresses that text better."),
           _facts([["vocabulary size", num(m, ["tokenizer", "vocab_size"])],
                             ["token dtype", escape(str(tok.get("dtype", "")))]]),
           _img(images, "fertility", "tokenizer fertility by domain and language"),
           '<div class="tables">',
           _table(["domain", "bytes per token"], [[escape(d), num(m, ["counts", "fertility", "domain", d], ".2f")]
                                                  for d in fert["domain"]]),
           _table(["language", "bytes per token", "tokens"],
                  [[escape(k), num(m, ["counts", "fertility", "lang", k], ".2f"),
                    num(m, ["counts", "tokens", "lang", k]) if k in tokens_by_lang else ""] for k in langs]),
           "</div>", _more(len(langs), len(fert.get("lang", {})), "mix/manifest.json counts.fertility.lang")]
    return "".join(out)


def _per_domain_law(fit) -> str:
    """The law whose per-domain Spearman is shown: the chosen one, else the one fits before
    2026-11-28 recorded (the mixing law)."""
    regs = fit.get("regressors", {})
    chosen = fit.get("chosen")
    if chosen in regs and "cv_spearman_per_domain" in regs[chosen]:
        return chosen
    return "log_share_law" if "cv_spearman_per_domain" in regs.get("log_share_law", {}) else "mixing_law"


def ablations(run: Run, num: Numbers, images) -> str:
    f = "mix/ablations/fit.json"
    fit = run.fit
    target = run.manifest["target_weights"]
    out = [_p(f"{fit['objective']}; lower is better.", "note"),
           _facts([["proxy runs", num(f, ["n_runs"])],
                   *([["common seeds per candidate (the regression fits their mean)",
                       num(f, ["seeds_per_candidate"])]] if fit.get("seeds_per_candidate", 1) > 1 else []),
                   *([["candidate design (Dirichlet draws)", num(f, ["sweep", "design"])]]
                     if "design" in fit.get("sweep", {}) else []),
                   *([["proxies trained on this mix rebuilt at a vocabulary of (tokens; their weights below are "
                       "its token shares, the proposal is carried back through bytes per token)",
                       num(f, ["proxy", "vocab_size"], ",")]] if "proxy" in fit else []),
                   *([["the proposal as WEIGHTS=", num(f, ["weights_spec"])]] if "weights_spec" in fit else []),
                   ["regression chosen", num(f, ["chosen"])],
                             ["its cross-validated Spearman", num(f, ["cv_spearman"], ".3f")],
                             *([[f"the same over {fit['regressors'][fit['chosen']]['cv_spearman_folds']['assignments']} "
                                 "fold assignments: min / median / max",
                                 " / ".join(num(f, ["regressors", fit["chosen"], "cv_spearman_folds", k], ".3f")
                                            for k in ("min", "median", "max"))]]
                               if "cv_spearman_folds" in fit.get("regressors", {}).get(fit.get("chosen"), {}) else []),
                             *[[f"{law.replace('_', ' ')}'s cross-validated Spearman, {d} bits per byte",
                                num(f, ["regressors", law, "cv_spearman_per_domain", d], ".3f")]
                               for law in [_per_domain_law(fit)]
                               for d in fit.get("regressors", {}).get(law, {}).get("cv_spearman_per_domain", {})],
                             *[[f"{name.replace('_', ' ')}'s cross-validated Spearman (for comparison)",
                                num(f, ["regressors", name, "cv_spearman"], ".3f")]
                               for name in fit.get("regressors", {}) if name != fit.get("chosen")],
                             ["predicted objective of the proposal", num(f, ["predicted_objective"], ".4f")],
                             ["verified objective of the proposal", num(f, ["verified_objective"], ".4f")],
                             ["verified objective of the default", num(f, ["default_objective"], ".4f")]]),
           _p(f"Verdict: {fit.get('verdict', '')}"),
           _img(images, "ablation_fit", "predicted against actual objective"),
           _img(images, "ablation_proposal", "default mix against the proposal"),
           _table(["domain", "default (target)", "proposal"],
                  [[escape(d), num("mix/manifest.json", ["target_weights", d], ".3f"),
                    num(f, ["proposed_weights", d], ".3f")] for d in target])]
    if "paired_gain" in fit:  # verification runs k of both arms share seed k
        out.append(_table(["verification seed", "default objective", "proposal objective", "gain"],
                          [[escape(str(k)), num(f, ["default_objective_values", k], ".4f"),
                            num(f, ["verified_objective_values", k], ".4f"),
                            num(f, ["paired_gain", "values", k], "+.4f")]
                           for k in range(len(fit["paired_gain"]["values"]))]))
    if "reproducibility" in fit:  # sweep candidates trained again with another common seed
        rp = fit["reproducibility"]
        out.append(_facts([
            ["candidates trained again with another seed", num(f, ["reproducibility", "runs"])],
            ["their objective's Spearman across the two seeds", num(f, ["reproducibility", "spearman_objective"], ".2f")],
            *[[f"their {d} bits per byte's Spearman across the two seeds",
               num(f, ["reproducibility", "spearman_per_domain", d], ".2f")] for d in rp.get("spearman_per_domain", {})],
            ["one run's noise on the objective (bpb)", num(f, ["reproducibility", "run_noise"], ".4f")],
            ["the objective's spread over the sweep (bpb)", num(f, ["reproducibility", "objective_spread"], ".4f")],
            ["the best correlation a regression can reach against single runs (about)",
             num(f, ["reproducibility", "ceiling"], ".2f")],
            *([["... and against each candidate's mean over its seeds (about)",
                num(f, ["reproducibility", "ceiling_of_mean"], ".2f")]] if "ceiling_of_mean" in rp else [])]))
    runs = sorted(run.ablation_runs, key=lambda r: r["objective"])
    doms = list(target)
    out.append(_table(["run", *[f"w {d}" for d in doms], "objective"],
                      [[escape(r["run"]), *[escape(f"{r[f'w_{d}']:.3f}") for d in doms],
                        escape(f"{r['objective']:.4f}")]
                       for r in runs[:TOP_ROWS]]))
    out.append(_more(min(len(runs), TOP_ROWS), len(runs), "mix/ablations/runs.csv"))
    return "".join(out)


def training(run: Run, num: Numbers, images) -> str:
    e = "train/metrics.jsonl#last_eval"
    lines = run.train_lines
    cfg = run.train_config or {}
    last_step = lines[-1]["step"] if lines else 0
    total = cfg.get("steps")
    status = (f"finished: {last_step:,} of {total:,} steps" if total and last_step >= total else
              f"not finished: {last_step:,} of {total:,} steps logged" if total else f"{last_step:,} steps logged")
    out = [_facts([["model config", escape(str(cfg.get("name", "unknown")))],
                             ["status", escape(status)],
                             ["tokens seen", escape(f"{lines[-1]['tokens']:,}" if lines else "0")],
                             ["checkpoints", escape(", ".join(run.checkpoints) or "none")]])]
    out.append(_img(images, "training_loss", "training loss and learning rate"))
    last = run.last_eval
    if last is None:
        out.append(_p("No evaluation line in metrics.jsonl yet: per-domain bits per byte are absent.", "absent"))
        return "".join(out)
    out.append(_img(images, "training_bpb", "validation bits per byte by domain"))
    doms = [k for k, v in last.items() if isinstance(v, dict)]
    out.append(_p(f"Last evaluation at step {last['step']:,} ({last['tokens']:,} tokens):"))
    out.append(_table(["domain", "bits per byte", "loss (nats per token)", "tokens evaluated"],
                      [[escape(d), num(e, [d, "bpb"], ".4f"), num(e, [d, "loss"], ".4f"), num(e, [d, "tokens"])]
                       for d in doms] + [[escape("objective (mean bpb)"), num(e, ["objective"], ".4f"), "", ""]]))
    return "".join(out)


def section_needs(run: Run) -> dict[str, str | None]:
    """Per section: None when its data is there, else why it is absent."""
    tag = run.missing.get("tag")
    mix = run.missing.get("mix")
    return {"overview": None, "composition": tag, "quality": tag, "dedup": tag, "decontamination": tag,
            "mix": mix, "fertility": mix, "ablations": run.missing.get("ablations"),
            "training": run.missing.get("train")}


def page(run: Run, images: dict[str, str], *, model_threshold: float, removed_shares: dict[str, float] | None) -> str:
    """The whole HTML document. `images` maps plot names to paths relative to the page."""
    num = Numbers({"tag/stats.json": run.stats, "mix/manifest.json": run.manifest,
                   "mix/ablations/fit.json": run.fit, "train/metrics.jsonl#last_eval": run.last_eval})
    builders = {"overview": lambda: overview(run, num, images),
                "composition": lambda: composition(run, num, images),
                "quality": lambda: quality(run, num, images, model_threshold),
                "dedup": lambda: dedup(run, num, images, removed_shares or {}),
                "decontamination": lambda: decontamination(run, num, images),
                "mix": lambda: mix(run, num, images), "fertility": lambda: fertility(run, num, images),
                "ablations": lambda: ablations(run, num, images), "training": lambda: training(run, num, images)}
    absent = section_needs(run)
    nav, body = [], []
    for sid, title in SECTIONS:
        why = absent[sid]
        nav.append(f'<a href="#{sid}"' + (' class="absent"' if why else "") + f">{escape(title)}</a>")
        content = (f'<p class="absent" data-absent="{escape(sid)}">Absent: {_text(why)}</p>' if why
                   else builders[sid]())
        body.append(f'<section id="{sid}"' + (' class="absent"' if why else "") +
                    f"><h2>{escape(title)}</h2>{content}</section>")
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape('mixcurate report: ' + run.root)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>mixcurate report</h1><p>{escape(run.root)} · generated {escape(generated)}</p></header>"
            f"<nav>{''.join(nav)}</nav><main>{''.join(body)}</main></body></html>\n")
