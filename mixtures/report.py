"""What a person sees after `make mix`: a terminal table (target against realised shares, epochs,
eligible tokens, fertility, filters) and PNG plots beside the outputs."""
from __future__ import annotations

import os


def summary(manifest: dict) -> str:
    """The terminal table, from manifest.json alone."""
    doms = manifest["domains"]
    fert = manifest.get("counts", {}).get("fertility", {}).get("domain", {})
    lines = [f"mix: {sum(d['tokens'] for d in doms.values()):,} train tokens "
             f"(budget {manifest['tokens_budget']:,}), seed {manifest['seed']}",
             f"{'domain':<14}{'target':>8}{'share':>8}{'diff pp':>9}{'tokens':>12}{'docs':>8}"
             f"{'epochs':>8}{'eligible':>12}{'val':>9}{'anneal':>9}{'B/tok':>7}"]
    val = manifest["validation"]["tokens_per_domain"]
    ann = manifest["anneal"]["domains"]
    for d, v in doms.items():
        lines.append(f"{d:<14}{v['target']:>8.3f}{v['share']:>8.3f}{100 * (v['share'] - v['target']):>+9.2f}"
                     f"{v['tokens']:>12,}{v['documents']:>8,}{v['epochs']:>8.2f}{v['eligible_tokens']:>12,}"
                     f"{val.get(d, 0):>9,}{ann.get(d, {}).get('tokens', 0):>9,}{fert.get(d, 0):>7.2f}")
        for t, e in v.get("topics", {}).items():
            lines.append(f"  {t:<30}{e['target']:>8.3f}{e['share']:>8.3f}{100 * (e['share'] - e['target']):>+9.2f}"
                         f"{e['tokens']:>12,}{e['documents']:>8,}{e['epochs']:>8.2f}{e['eligible_tokens']:>12,}")
    for note in manifest.get("plan_notes", []) + manifest["anneal"].get("notes", []):
        lines.append(f"note: {note}")
    lines.append("filters (documents removed): " + ", ".join(f"{k} {v:,}" for k, v in manifest["filters"].items()))
    lines += _filter_details(manifest.get("counts", {}))
    lines.append(f"anneal: {manifest['anneal']['tokens']:,} tokens, quality >= {manifest['anneal']['quality_min']}, "
                 "weights " + ", ".join(f"{d}={w:.3f}" for d, w in manifest["anneal"]["weights"].items()))
    return "\n".join(lines)


def _filter_details(counts: dict) -> list[str]:
    """One line for decontamination, one for repeated-line stripping, one for the documents cut
    into pieces (when they are recorded)."""
    out = []
    sd = counts.get("split_documents")
    if sd and sd["by_domain"]:
        per = ", ".join(f"{d} {v['documents']:,} -> {v['pieces']:,}" for d, v in sorted(sd["by_domain"].items()))
        out.append(f"documents over {sd['max_piece_tokens']:,} tokens stored as pieces: {per}")
    dc = counts.get("decontamination")
    if dc:
        per = ", ".join(f"{b} {v['documents']:,} docs / {v['bytes']:,} B"
                        for b, v in sorted(dc["by_benchmark"].items()))
        out.append(f"decontamination: {dc['action']}" + (f" ({per})" if per else ""))
    rl = counts.get("repeated_lines")
    if rl:
        per = ", ".join(f"{d} {v['lines']:,} lines / {v['bytes']:,} B" for d, v in sorted(rl["by_domain"].items()))
        out.append(f"repeated lines: {rl['distinct_lines']:,} distinct lines held by more than {rl['min_docs']} "
                   f"documents stripped ({per or 'none in kept documents'}); {rl['documents_emptied']:,} "
                   "documents left empty")
    return out


def plots(manifest: dict, folder: str) -> list[str]:
    """shares.png (target vs realised), epochs.png, fertility.png; returns the paths written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    doms = list(manifest["domains"])
    x = np.arange(len(doms))
    paths = []

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, [manifest["domains"][d]["target"] for d in doms], 0.4, label="target")
    ax.bar(x + 0.2, [manifest["domains"][d]["share"] for d in doms], 0.4, label="realised (read back)")
    ax.set_xticks(x, doms)
    ax.set_ylabel("share of train tokens")
    ax.legend()
    ax.set_title("Target against realised shares")
    paths.append(_save(fig, folder, "shares.png"))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x, [manifest["domains"][d]["epochs"] for d in doms])
    cap = manifest.get("config", {}).get("max_epochs")
    if cap:
        ax.axhline(cap, color="red", linestyle="--", label=f"cap {cap:g}")
        ax.legend()
    ax.set_xticks(x, doms)
    ax.set_ylabel("epochs over eligible tokens")
    ax.set_title("Epochs per domain")
    paths.append(_save(fig, folder, "epochs.png"))

    fert = manifest.get("counts", {}).get("fertility", {})
    langs = sorted(fert.get("lang", {}).items(),
                   key=lambda kv: -manifest["counts"]["tokens"].get("lang", {}).get(kv[0], 0))[:15]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.bar(range(len(fert.get("domain", {}))), list(fert.get("domain", {}).values()))
    a1.set_xticks(range(len(fert.get("domain", {}))), list(fert.get("domain", {})))
    a1.set_ylabel("UTF-8 bytes per token")
    a1.set_title("Fertility by domain")
    a2.bar(range(len(langs)), [v for _, v in langs])
    a2.set_xticks(range(len(langs)), [k for k, _ in langs], rotation=60)
    a2.set_title("Fertility by language (top 15 by tokens)")
    paths.append(_save(fig, folder, "fertility.png"))
    return paths


def _save(fig, folder, name):
    path = os.path.join(folder, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path
