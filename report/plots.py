"""The report's PNG plots (matplotlib, Agg backend): one function per figure, each drawing from the
loaded run (report.load) and returning the path it wrote. The mix plots (target against realised
shares, epochs, tokenizer fertility) are mixtures.report's, drawn into the report's folder."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from mixtures import report as mix_report  # noqa: E402

DOMAIN_ORDER = ("general", "math", "code", "multilingual")
PHASE_COLOURS = {"warmup": "tab:orange", "stable": "tab:blue", "decay": "tab:purple", "anneal": "tab:green"}


def _save(fig, folder: str, name: str) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _domains(keys) -> list[str]:
    """Domains in the usual order, then any others alphabetically."""
    keys = list(keys)
    return [d for d in DOMAIN_ORDER if d in keys] + sorted(k for k in keys if k not in DOMAIN_ORDER)


def top_items(table: dict, n: int, value=lambda v: v["documents"]) -> list[tuple[str, object]]:
    """The n largest entries of a stats table, largest first (ties by name)."""
    return sorted(table.items(), key=lambda kv: (-value(kv[1]), kv[0]))[:n]


def composition(stats: dict, folder: str, top: int = 20) -> dict[str, str]:
    """Documents and megabytes by domain; documents by topic, language and source (top `top`)."""
    paths = {}
    doms = _domains(stats["by_domain"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    a1.bar(doms, [stats["by_domain"][d]["documents"] for d in doms], color="tab:blue")
    a1.set_title("Documents by domain")
    a2.bar(doms, [stats["by_domain"][d]["bytes"] / 1e6 for d in doms], color="tab:green")
    a2.set_title("UTF-8 megabytes by domain")
    paths["composition_domain"] = _save(fig, folder, "composition_domain.png")

    for dim, title in (("by_topic", "topic"), ("by_lang", "language"), ("by_source", "source")):
        items = top_items(stats[dim], top)
        fig, ax = plt.subplots(figsize=(9, 0.6 + 0.25 * max(3, len(items))))
        names = [k for k, _ in items][::-1]
        ax.barh(names, [v["documents"] for _, v in items][::-1], color="tab:blue")
        more = len(stats[dim]) - len(items)
        ax.set_title(f"Documents by {title}" + (f" (largest {len(items)} of {len(stats[dim])})" if more else ""))
        ax.set_xlabel("documents")
        ax.tick_params(axis="y", labelsize=8)
        paths[f"composition_{dim[3:]}"] = _save(fig, folder, f"composition_{dim[3:]}.png")
    return paths


def quality(table, thresholds: dict[str, float], model_threshold: float, folder: str) -> dict[str, str]:
    """Histograms of `quality` per domain with the mix thresholds; the quality model's P(high
    quality) with its flag threshold; the share of documents failing each rule."""
    paths = {}
    domain = np.asarray(table.column("domain").to_pylist(), dtype=object)
    score = table.column("quality").to_numpy(zero_copy_only=False)
    bins = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for d in _domains(set(domain)):
        ax.hist(score[domain == d], bins=bins, histtype="step", linewidth=1.6, label=f"{d} ({(domain == d).sum():,})")
    for (label, value), style in zip(thresholds.items(), ("--", ":", "-.")):
        ax.axvline(value, color="black", linestyle=style, label=f"{label} {value:g}")
    ax.set_xlabel("quality score")
    ax.set_ylabel("documents")
    ax.set_title("Quality score by domain")
    ax.legend(fontsize=8, loc="upper left")
    paths["quality_score"] = _save(fig, folder, "quality_score.png")

    if "model_hq_prob" in table.column_names:
        prob = table.column("model_hq_prob").to_numpy(zero_copy_only=False).astype(float)
        known = ~np.isnan(prob)
        fig, ax = plt.subplots(figsize=(9, 3.2))
        for d in _domains(set(domain[known])):
            ax.hist(prob[known & (domain == d)], bins=bins, histtype="step", linewidth=1.6, label=d)
        ax.axvline(model_threshold, color="red", linestyle="--",
                   label=f"model_low_quality below {model_threshold:g}")
        ax.set_xlabel("quality model: P(high quality)")
        ax.set_ylabel("documents")
        ax.set_title(f"Quality model probability ({known.sum():,} documents scored; code's quality ignores it)")
        ax.legend(fontsize=8)
        paths["quality_model"] = _save(fig, folder, "quality_model.png")

    if "quality_flags" in table.column_names:
        flags = pc.value_counts(pc.list_flatten(table.column("quality_flags"))).to_pylist()
        flags = sorted(((f["values"], f["counts"] / max(1, table.num_rows)) for f in flags), key=lambda kv: kv[1])
        fig, ax = plt.subplots(figsize=(9, 0.6 + 0.25 * max(3, len(flags))))
        ax.barh([k for k, _ in flags], [v for _, v in flags], color="tab:red")
        ax.set_xlabel("share of all documents flagged")
        ax.set_title("Quality rules failed (quality_flags)")
        ax.tick_params(axis="y", labelsize=8)
        paths["quality_flags"] = _save(fig, folder, "quality_flags.png")
    return paths


def dedup(stats: dict, folder: str, top: int = 20) -> dict[str, str]:
    """Cluster sizes (log scale) and the share of each source's documents removed as duplicates."""
    dup = stats["duplicates"]
    paths = {}
    hist = sorted((int(k), v) for k, v in dup["cluster_size_histogram"].items())
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar([str(k) for k, _ in hist], [v for _, v in hist], color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.set_title("Duplicate cluster sizes (1 = unique document)")
    ax.tick_params(axis="x", labelsize=8, rotation=60 if len(hist) > 20 else 0)
    paths["dedup_clusters"] = _save(fig, folder, "dedup_clusters.png")

    shares = {src: share for src, share in removed_shares(stats).items() if share > 0}
    if not shares:
        return paths
    items = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.25 * max(3, len(items))))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="tab:red")
    ax.set_xlabel("share of the source's documents removed (is_dup)")
    ax.set_title("Removed as duplicates, by source" + (f" (largest {len(items)} of {len(shares)} with removals)"
                                                        if len(shares) > len(items) else ""))
    ax.tick_params(axis="y", labelsize=8)
    paths["dedup_sources"] = _save(fig, folder, "dedup_sources.png")
    return paths


def removed_shares(stats: dict) -> dict[str, float]:
    """Share of each source's tagged documents that `is_dup` marks for removal."""
    removed = stats["duplicates"]["removed_by_source"]
    return {s: removed.get(s, 0) / v["documents"] for s, v in stats["by_source"].items() if v["documents"]}


def mix(manifest: dict, folder: str) -> dict[str, str]:
    """mixtures.report's target-against-realised shares, epochs and fertility plots."""
    written = mix_report.plots(manifest, folder)
    return {os.path.splitext(os.path.basename(p))[0]: p for p in written}


def ablations(runs: list[dict], fit: dict, target: dict, folder: str) -> dict[str, str]:
    """Held-out predictions of the chosen regression against each candidate's objective (the mean
    over its seeds' runs, in candidate order as the predictions are; runs.csv is in finishing
    order), and the default weights against the proposal with their verified objectives."""
    paths = {}
    by_candidate: dict[str, list[float]] = {}
    for r in runs:   # run_NNN, and run_NNN_sK for its other seeds
        by_candidate.setdefault(r["run"].split("_s")[0], []).append(r["objective"])
    actual = np.array([np.mean(by_candidate[k]) for k in sorted(by_candidate)])
    predicted = np.array(fit["cv_predictions"][fit["chosen"]])
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.scatter(actual, predicted, label=f"{len(actual)} candidates, {len(runs)} proxy runs")
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="predicted = actual")
    ax.set_xlabel("actual objective (bits per byte)")
    ax.set_ylabel("predicted, held out (bits per byte)")
    ax.set_title(f"{fit['chosen']}: CV Spearman {fit['cv_spearman']:.2f}")
    ax.legend(fontsize=8)
    paths["ablation_fit"] = _save(fig, folder, "ablation_fit.png")

    doms = _domains(target)
    x = np.arange(len(doms))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2, 1]})
    a1.bar(x - 0.2, [target[d] for d in doms], 0.4, label="default (target)")
    a1.bar(x + 0.2, [fit["proposed_weights"][d] for d in doms], 0.4, label="proposal")
    a1.set_xticks(x, doms)
    a1.set_ylabel("weight")
    a1.set_title("Default mix against the proposal")
    a1.legend(fontsize=8)
    means = [fit["default_objective"], fit["predicted_objective"], fit["verified_objective"]]
    errs = [fit.get("default_objective_std", 0.0), 0.0, fit.get("verified_objective_std", 0.0)]
    a2.bar(["default\nverified", "proposal\npredicted", "proposal\nverified"], means, yerr=errs,
           color=["tab:blue", "tab:grey", "tab:orange"], capsize=4)
    a2.set_ylim(min(means) - 3 * max(max(errs), 0.01), max(means) + 3 * max(max(errs), 0.01))
    a2.set_ylabel("objective (bits per byte)")
    a2.set_title("Objective (lower is better)")
    paths["ablation_proposal"] = _save(fig, folder, "ablation_proposal.png")
    return paths


def training(train_lines: list[dict], eval_lines: list[dict], folder: str) -> dict[str, str]:
    """Training loss by tokens seen, coloured by schedule phase, with the learning rate; and each
    domain's validation bits per byte at every evaluation."""
    paths = {}
    tokens = np.array([m["tokens"] for m in train_lines])
    loss = np.array([m["loss"] for m in train_lines])
    phases = [m["phase"] for m in train_lines]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for phase, colour in PHASE_COLOURS.items():
        mask = np.array([p == phase for p in phases])
        if mask.any():
            ax.scatter(tokens[mask], loss[mask], s=6, color=colour, label=phase)
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("train loss (nats per token)")
    ax.set_title("Training loss")
    lr = ax.twinx()
    lr.plot(tokens, [m["lr"] for m in train_lines], color="black", linewidth=0.8, alpha=0.5)
    lr.set_ylabel("learning rate")
    ax.plot(tokens, loss, color="grey", linewidth=0.6, alpha=0.6)
    ax.legend(fontsize=8, loc="upper right", markerscale=2)
    paths["training_loss"] = _save(fig, folder, "training_loss.png")

    if eval_lines:
        doms = _domains(k for k, v in eval_lines[-1].items() if isinstance(v, dict))
        fig, ax = plt.subplots(figsize=(9, 3.5))
        x = [e["tokens"] for e in eval_lines]
        for d in doms:
            ax.plot(x, [e[d]["bpb"] for e in eval_lines], marker="o", markersize=3, label=d)
        ax.plot(x, [e["objective"] for e in eval_lines], color="black", linestyle="--", label="objective (mean)")
        ax.set_xlabel("tokens seen")
        ax.set_ylabel("validation bits per byte")
        ax.set_title("Validation bits per byte by domain")
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        paths["training_bpb"] = _save(fig, folder, "training_bpb.png")
    return paths
