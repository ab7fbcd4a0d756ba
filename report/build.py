"""Writing the report: loads the run (report.load), draws the plots each present section needs
(report.plots) into OUTPUT/img/, and writes OUTPUT/index.html (report.html) last, through a
temporary file, so a reader never sees a page whose images are not there yet."""
from __future__ import annotations

import os

from taggers.quality import QualityConfig

from . import html, plots
from .load import Run, load_run


def quality_thresholds(run: Run) -> dict[str, float]:
    """The thresholds drawn on the quality histogram: the mix's QUALITY and the anneal minimum."""
    if not run.manifest:
        return {}
    return {"mix QUALITY": run.manifest["config"]["quality"],
            "anneal quality_min": run.manifest["anneal"]["quality_min"]}


def draw(run: Run, img_dir: str) -> dict[str, str]:
    """Every plot the run's data allows: {name: path}."""
    paths = {}
    if run.stats:
        paths |= plots.composition(run.stats, img_dir)
        paths |= plots.dedup(run.stats, img_dir)
    if run.quality is not None:
        paths |= plots.quality(run.quality, quality_thresholds(run), QualityConfig().min_model_hq_prob, img_dir)
    if run.manifest:
        paths |= plots.mix(run.manifest, img_dir)
    if run.fit and run.ablation_runs:
        paths |= plots.ablations(run.ablation_runs, run.fit, run.manifest["target_weights"], img_dir)
    if run.train_lines:
        paths |= plots.training(run.train_lines, run.eval_lines, img_dir)
    return paths


def write_report(run_dir: str, output: str | None = None) -> tuple[str, Run]:
    """Builds the report of `run_dir` into `output` (default RUN/report); returns (index.html, run)."""
    run = load_run(run_dir)
    output = output or os.path.join(run.root, "report")
    img_dir = os.path.join(output, "img")
    os.makedirs(img_dir, exist_ok=True)
    paths = draw(run, img_dir)
    images = {name: os.path.relpath(path, output).replace(os.sep, "/") for name, path in paths.items()}
    page = html.page(run, images, model_threshold=QualityConfig().min_model_hq_prob,
                     removed_shares=plots.removed_shares(run.stats) if run.stats else None)
    index = os.path.join(output, "index.html")
    with open(index + ".tmp", "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(index + ".tmp", index)
    return index, run
