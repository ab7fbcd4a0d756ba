"""Reading a run folder for the report: `<run>/tag` (stats.json, per-document quality columns of
docs/), `<run>/mix` (manifest.json, ablations/runs.csv and fit.json) and `<run>/train`
(config.json, metrics.jsonl), as `make demo OUTPUT=<run>` writes them.

Any stage may be missing: `Run.missing` says, per stage, why it is absent. A run folder that does
not exist, or that holds no usable stage at all, is a `ReportError`; so is a file that cannot be read.
"""
from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.dataset as ds

SUCCESS = "_SUCCESS"
STAGES = ("tag", "mix", "ablations", "train")


class ReportError(ValueError):
    """A run folder the report cannot be built from (missing, empty, unreadable files)."""


@dataclass
class Run:
    root: str
    stats: dict | None = None                # tag/stats.json
    quality: pa.Table | None = None          # tag/docs: domain, quality, [model_hq_prob], [quality_flags]
    manifest: dict | None = None             # mix/manifest.json
    ablation_runs: list[dict] | None = None  # mix/ablations/runs.csv, numbers as floats
    fit: dict | None = None                  # mix/ablations/fit.json
    metrics: list[dict] | None = None        # train/metrics.jsonl, in step order
    train_config: dict | None = None         # train/config.json
    checkpoints: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # stage -> why it is absent

    @property
    def train_lines(self) -> list[dict]:
        return [m for m in self.metrics or [] if "eval" not in m]

    @property
    def eval_lines(self) -> list[dict]:
        return [m for m in self.metrics or [] if m.get("eval") == "val"]

    @property
    def last_eval(self) -> dict | None:
        evals = self.eval_lines
        return evals[-1] if evals else None


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc


def _finished_stage(root: str, name: str, required: str, make_hint: str) -> tuple[str | None, str | None]:
    """(folder, None) for a finished stage, else (None, why it is absent)."""
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
        return None, f"no {name}/ folder in {root} (run `{make_hint}`)"
    if name != "train" and not os.path.exists(os.path.join(folder, SUCCESS)):
        return None, f"{folder} has no {SUCCESS}: the {name} job did not finish (run `{make_hint}`)"
    if not os.path.exists(os.path.join(folder, required)):
        return None, f"{folder} has no {required} (run `{make_hint}`)"
    return folder, None


def read_quality(docs_dir: str) -> pa.Table:
    """Per-document `domain`, `quality` and, where the shards have them, `model_hq_prob` (from
    `quality_signals`) and `quality_flags`; reads only those columns."""
    files = sorted(glob.glob(os.path.join(docs_dir, "part-*.parquet")))
    if not files:
        raise ReportError(f"{docs_dir} holds no part-*.parquet files")
    try:
        dataset = ds.dataset(files, format="parquet")
        names = set(dataset.schema.names)
        missing = {"domain", "quality"} - names
        if missing:
            raise ReportError(f"{docs_dir}: the documents have no {sorted(missing)} column")
        columns = {"domain": ds.field("domain"), "quality": ds.field("quality")}
        signals = dataset.schema.field("quality_signals").type if "quality_signals" in names else None
        if signals is not None and pa.types.is_struct(signals) and signals.get_field_index("model_hq_prob") >= 0:
            columns["model_hq_prob"] = ds.field("quality_signals", "model_hq_prob")
        if "quality_flags" in names:
            columns["quality_flags"] = ds.field("quality_flags")
        return dataset.to_table(columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"cannot read the documents in {docs_dir}: {exc}") from exc


def _read_runs_csv(path: str) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc
    out = []
    for line, row in enumerate(rows, 2):
        try:
            out.append({k: (v if k == "run" else float(v)) for k, v in row.items()})
        except (TypeError, ValueError) as exc:
            raise ReportError(f"{path}:{line}: not a finished run line ({exc})") from exc
    return out


def _read_metrics(path: str) -> list[dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line, text in enumerate(f, 1):
                if text.strip():
                    try:
                        out.append(json.loads(text))
                    except ValueError as exc:
                        raise ReportError(f"{path}:{line}: not JSON ({exc})") from exc
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc
    return out


def load_run(root: str) -> Run:
    """Everything the report shows, read from `root`; raises ReportError when there is nothing."""
    root = os.path.normpath(root)
    if not os.path.isdir(root):
        raise ReportError(f"{root}: no such folder; give a run folder holding tag/, mix/ and/or train/ "
                          f"(as `make demo OUTPUT={root}` writes)")
    run = Run(root=root)

    tag, why = _finished_stage(root, "tag", "stats.json", f"make tag OUTPUT={root}/tag")
    if tag:
        run.stats = _read_json(os.path.join(tag, "stats.json"))
        run.quality = read_quality(os.path.join(tag, "docs"))
    else:
        run.missing["tag"] = why

    mix, why = _finished_stage(root, "mix", "manifest.json", f"make mix INPUT={root}/tag OUTPUT={root}/mix")
    if mix:
        run.manifest = _read_json(os.path.join(mix, "manifest.json"))
        abl = os.path.join(mix, "ablations")
        if os.path.exists(os.path.join(abl, "fit.json")) and os.path.exists(os.path.join(abl, "runs.csv")):
            run.fit = _read_json(os.path.join(abl, "fit.json"))
            run.ablation_runs = _read_runs_csv(os.path.join(abl, "runs.csv"))
        elif os.path.isdir(abl):
            run.missing["ablations"] = (f"{abl} has no fit.json and runs.csv: the ablation sweep did not "
                                        "finish (run `make mix` again with the same ABLATIONS to resume)")
        else:
            run.missing["ablations"] = ("the mix ran without ablations (ABLATIONS=0); "
                                        f"`make mix INPUT={root}/tag OUTPUT={root}/mix ABLATIONS=16` "
                                        "(same other settings) adds them to the finished mix")
    else:
        run.missing["mix"] = why
        run.missing["ablations"] = "no finished mix, so no ablations"

    train, why = _finished_stage(root, "train", "metrics.jsonl",
                                 f"make train-proxy MIX={root}/mix OUTPUT={root}/train")
    if train:
        run.metrics = _read_metrics(os.path.join(train, "metrics.jsonl"))
        if os.path.exists(os.path.join(train, "config.json")):
            run.train_config = _read_json(os.path.join(train, "config.json"))
        run.checkpoints = sorted(os.path.basename(p) for p in
                                 glob.glob(os.path.join(train, "checkpoints", "step_*.pt")))
        if not run.metrics:
            run.metrics = None
            run.missing["train"] = f"{train}/metrics.jsonl is empty: the training has not logged a step yet"
    else:
        run.missing["train"] = why

    if run.stats is None and run.manifest is None and run.metrics is None:
        reasons = "; ".join(f"{stage}: {why}" for stage, why in run.missing.items() if stage != "ablations")
        raise ReportError(f"nothing to report in {root}: {reasons}")
    return run
