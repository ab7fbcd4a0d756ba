"""`make report` (python -m report): a static HTML page over a run folder.

On a small real run (tests/run_fixtures.py: tag, mix with ablations, train) the page opens in
headless Chromium without console errors, every section is there and visible, every image loads
and its PNG is not empty, and every number the page takes from a run file equals the value in that
file (stats.json, manifest.json, fit.json, metrics.jsonl). A run holding only some stages gets a
page that says which sections are absent and why; a missing or empty run folder is a clear error.

The browser test needs Debian's `chromium` and `chromium-driver` (CI installs them); without them
it fails, unless MIXCURATE_SKIP_BROWSER=1.
"""
import json
import math
import os
import re
import shutil
import tempfile
from html.parser import HTMLParser
from urllib.parse import unquote, urlparse

import pytest

from report import html as report_html
from report.__main__ import main as report_main
from report.build import write_report
from report.load import ReportError, load_run
from run_fixtures import build_run

SECTION_IDS = [sid for sid, _ in report_html.SECTIONS]
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(str(tmp_path_factory.mktemp("report-run")))


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report") / "report")
    index, _ = write_report(run_dir, out)
    return index


class PageItems(HTMLParser):
    """Section ids, absent notes, image sources and tagged numbers of a page (stdlib parser)."""

    def __init__(self):
        super().__init__()
        self.sections, self.absent, self.images, self.numbers = [], [], [], []
        self._number = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"])
        if tag == "p" and "data-absent" in a:
            self.absent.append(a["data-absent"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "span" and "data-key" in a:
            self._number = {"source": a["data-source"], "key": a["data-key"], "value": a["data-value"], "text": ""}

    def handle_data(self, data):
        if self._number is not None:
            self._number["text"] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._number is not None:
            self.numbers.append(self._number)
            self._number = None


def parse_page(index):
    items = PageItems()
    with open(index, encoding="utf-8") as f:
        items.feed(f.read())
    return items


def run_files(run_dir):
    """What each data-source names, read by the test itself."""
    def load(rel):
        path = os.path.join(run_dir, rel)
        return json.load(open(path)) if os.path.exists(path) else None
    metrics_path = os.path.join(run_dir, "train", "metrics.jsonl")
    evals = ([json.loads(line) for line in open(metrics_path) if '"eval"' in line]
             if os.path.exists(metrics_path) else [])
    return {"tag/stats.json": load("tag/stats.json"), "mix/manifest.json": load("mix/manifest.json"),
            "mix/ablations/fit.json": load("mix/ablations/fit.json"),
            "train/metrics.jsonl#last_eval": evals[-1] if evals else None}


def lookup(data, path):
    for key in path:
        data = data[key]
    return data


def check_numbers(numbers, run_dir):
    """Each tagged number: its data-value is the file's value, and its visible text shows that
    value at the precision printed. Returns {(source, tuple(key))} of the numbers checked."""
    files = run_files(run_dir)
    seen = set()
    for n in numbers:
        path = json.loads(n["key"])
        expected = lookup(files[n["source"]], path)
        assert json.loads(n["value"]) == expected, (n, expected)
        text = n["text"].strip()
        if isinstance(expected, str):
            assert text == expected, (n, expected)
        else:
            shown = text.replace(",", "")
            scale = 100 if shown.endswith("%") else 1
            shown = shown.rstrip("%")
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            tolerance = 0.5 * 10 ** -decimals + 1e-9 * abs(expected) if isinstance(expected, float) else 0
            assert math.isclose(float(shown), expected * scale, abs_tol=tolerance * (1 + 1e-9)), (n, expected)
        seen.add((n["source"], tuple(path)))
    return seen


def test_every_section_is_on_the_page_with_its_plots(report, run_dir):
    items = parse_page(report)
    assert items.sections == SECTION_IDS and items.absent == []
    names = {os.path.basename(src) for src in items.images}
    assert {"composition_domain.png", "composition_topic.png", "composition_lang.png", "composition_source.png",
            "quality_score.png", "quality_model.png", "quality_flags.png", "dedup_clusters.png",
            "dedup_sources.png", "shares.png", "epochs.png", "fertility.png", "ablation_fit.png",
            "ablation_proposal.png", "training_loss.png", "training_bpb.png"} <= names
    for src in items.images:
        path = os.path.join(os.path.dirname(report), src)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000, src


def test_numbers_on_the_page_equal_the_run_files(report, run_dir):
    seen = check_numbers(parse_page(report).numbers, run_dir)
    stats = json.load(open(os.path.join(run_dir, "tag", "stats.json")))
    manifest = json.load(open(os.path.join(run_dir, "mix", "manifest.json")))
    required = {("tag/stats.json", ("tagged",)), ("tag/stats.json", ("inputs", "records")),
                ("tag/stats.json", ("rejected",)), ("tag/stats.json", ("duplicates", "removed")),
                ("mix/manifest.json", ("tokens_budget",)), ("mix/manifest.json", ("config", "quality")),
                ("mix/ablations/fit.json", ("verified_objective",)),
                ("mix/ablations/fit.json", ("paired_gain", "values", 0)),
                ("mix/ablations/fit.json", ("reproducibility", "ceiling")),
                ("mix/ablations/fit.json", ("reproducibility", "spearman_objective")),
                ("mix/ablations/fit.json", ("sweep", "design")),
                ("mix/ablations/fit.json", ("proxy", "vocab_size")), ("mix/ablations/fit.json", ("weights_spec",)),
                ("train/metrics.jsonl#last_eval", ("objective",))}
    required |= {("tag/stats.json", ("by_domain", d, "documents")) for d in stats["by_domain"]}
    required |= {("tag/stats.json", ("duplicates", "decontamination", b, "documents"))
                 for b in stats["duplicates"]["decontamination"]}
    for d in manifest["domains"]:
        required |= {("mix/manifest.json", ("domains", d, k)) for k in ("target", "share", "tokens", "epochs")}
        required |= {("mix/manifest.json", ("counts", "fertility", "domain", d)),
                     ("train/metrics.jsonl#last_eval", (d, "bpb"))}
    fit = json.load(open(os.path.join(run_dir, "mix", "ablations", "fit.json")))
    required |= {("mix/ablations/fit.json", ("regressors", fit["chosen"], "cv_spearman_per_domain", d))
                 for d in manifest["domains"]}
    required |= {("mix/ablations/fit.json", ("regressors", name, "cv_spearman"))
                 for name in fit["regressors"] if name != fit["chosen"]}
    required |= {("mix/ablations/fit.json", ("regressors", fit["chosen"], "cv_spearman_folds", k))
                 for k in ("min", "median", "max")}
    assert required <= seen, sorted(required - seen)
    assert stats["duplicates"]["decontamination"] and stats["duplicates"]["removed"] > 0  # the fixture has both


@pytest.fixture(scope="module")
def chromium():
    """(chromium, chromedriver) paths; fails with what to install when they are missing. Module
    scoped and listed first, so a skipped browser test does not build the run."""
    if os.environ.get("MIXCURATE_SKIP_BROWSER") == "1":
        pytest.skip("MIXCURATE_SKIP_BROWSER=1")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: run `make install` (it is a test dependency)")
    browser, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail("the report test needs headless Chromium: `apt-get install -y chromium chromium-driver` "
                    "(CI installs them), or set MIXCURATE_SKIP_BROWSER=1 to skip this test")
    return browser, driver


def _browser(paths, user_data_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROME_FLAGS + [f"--user-data-dir={user_data_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(paths[1]), options=options)


def test_the_page_renders_in_headless_chromium(chromium, report, run_dir, tmp_path):
    from selenium.webdriver.common.by import By

    browser = _browser(chromium, tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-"))
    try:
        browser.get("file://" + os.path.abspath(report))
        assert browser.execute_script("return document.readyState") == "complete"
        for sid in SECTION_IDS:
            section = browser.find_element(By.ID, sid)
            assert section.is_displayed() and section.size["height"] > 50, sid
            assert section.find_element(By.TAG_NAME, "h2").text.strip(), sid
        images = browser.find_elements(By.TAG_NAME, "img")
        assert len(images) >= 16
        for img in images:
            assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0, \
                img.get_attribute("src")
            path = unquote(urlparse(img.get_attribute("src")).path)
            assert path.startswith(os.path.dirname(os.path.abspath(report))) and os.path.getsize(path) > 0
        numbers = [{"source": e.get_attribute("data-source"), "key": e.get_attribute("data-key"),
                    "value": e.get_attribute("data-value"), "text": e.get_attribute("textContent")}
                   for e in browser.find_elements(By.CSS_SELECTOR, "[data-key]")]
        assert len(check_numbers(numbers, run_dir)) > 50
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == [], severe
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, min(height, 16000))
        shot = str(tmp_path / "report.png")
        assert browser.save_screenshot(shot) and os.path.getsize(shot) > 10_000
        print(f"report screenshot: {shot}")
    finally:
        browser.quit()


def _partial(run_dir, root, *stages, drop=()):
    """A run folder holding copies of some stages of the fixture run; `drop` paths removed after."""
    for stage in stages:
        shutil.copytree(os.path.join(run_dir, stage), os.path.join(root, stage),
                        ignore=shutil.ignore_patterns("runs", "checkpoints", "shards"))
    for rel in drop:
        path = os.path.join(root, rel)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    return str(root)


def test_a_tag_only_run_reports_which_sections_are_absent_and_why(run_dir, tmp_path):
    root = _partial(run_dir, tmp_path / "tag-only", "tag")
    run = load_run(root)
    assert run.stats is not None and run.quality.num_rows == run.stats["tagged"]
    assert set(run.missing) == {"mix", "ablations", "train"}
    assert "no mix/ folder" in run.missing["mix"] and "make mix" in run.missing["mix"]
    assert "no train/ folder" in run.missing["train"] and "make train-proxy" in run.missing["train"]
    assert report_main(["--run", root]) == 0
    index = os.path.join(root, "report", "index.html")
    items = parse_page(index)
    assert items.sections == SECTION_IDS
    assert items.absent == ["mix", "fertility", "ablations", "training"]
    assert {os.path.basename(s) for s in items.images} >= {"composition_domain.png", "quality_score.png"}
    drawn = os.listdir(os.path.join(root, "report", "img"))
    assert not any(name.startswith(("training", "ablation", "shares", "fertility")) for name in drawn), drawn
    check_numbers(items.numbers, root)
    page = open(index).read()
    assert "Absent: no mix/ folder in" in page and "the mix&#x27;s QUALITY threshold is not known" in page


def test_an_unfinished_stage_is_absent_and_named(run_dir, tmp_path):
    root = _partial(run_dir, tmp_path / "unfinished", "tag", "mix", drop=["tag/_SUCCESS", "mix/ablations"])
    run = load_run(root)
    assert run.stats is None and run.manifest is not None
    assert "has no _SUCCESS: the tag job did not finish" in run.missing["tag"]
    assert "ABLATIONS=0" in run.missing["ablations"]
    items = parse_page(write_report(root, str(tmp_path / "out"))[0])
    assert items.absent == ["composition", "quality", "dedup", "decontamination", "ablations", "training"]
    check_numbers(items.numbers, root)


def test_a_missing_or_empty_run_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ReportError, match="no such folder"):
        load_run(str(tmp_path / "nope"))
    assert report_main(["--run", str(tmp_path / "nope")]) == 2
    assert "report: error:" in capsys.readouterr().err
    (tmp_path / "empty" / "tag").mkdir(parents=True)
    with pytest.raises(ReportError, match=r"nothing to report .*tag: .*has no _SUCCESS.*mix: no mix/ folder"):
        load_run(str(tmp_path / "empty"))
    assert not (tmp_path / "empty" / "report").exists()


def test_every_text_is_escaped(run_dir, tmp_path):
    root = _partial(run_dir, tmp_path / "escape", "tag")
    stats_path = os.path.join(root, "tag", "stats.json")
    stats = json.load(open(stats_path))
    stats["by_source"]['<script>alert("x")</script>'] = {"documents": 10 ** 6, "chars": 1, "bytes": 1}
    json.dump(stats, open(stats_path, "w"))
    page = report_html.page(load_run(root), {}, model_threshold=0.5, removed_shares={})
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r"https?://", page)


def test_the_mix_section_shows_stripped_lines_and_topic_shares_from_the_manifest():
    man = {"counts": {"repeated_lines": {"rule": "lines held by more than 6 documents of the tagged corpus",
                                         "domains": ["general", "multilingual"], "distinct_lines": 1234,
                                         "documents_emptied": 7,
                                         "by_domain": {"general": {"documents": 55, "lines": 321, "bytes": 9876}}}},
           "domains": {"math": {"topics": {"math.algebra": {"named": True, "target": 0.4, "share": 0.4012,
                                                             "tokens": 40120},
                                            "math.geometry": {"named": False, "target": 0.6, "share": 0.5988,
                                                              "tokens": 59880}}},
                       "code": {}}}
    num = report_html.Numbers({"mix/manifest.json": man})
    page = "".join(report_html._stripped_lines(man, num, "mix/manifest.json")
                   + report_html._topic_shares(man, num, "mix/manifest.json"))
    from html import unescape
    values = {unescape(k): unescape(v) for k, v in re.findall(r'data-key="([^"]+)" data-value="([^"]+)"', page)}
    assert values['["counts", "repeated_lines", "by_domain", "general", "bytes"]'] == "9876"
    assert values['["counts", "repeated_lines", "distinct_lines"]'] == "1234"
    assert values['["domains", "math", "topics", "math.algebra", "share"]'] == "0.4012"
    assert "general, multilingual" in page and "&lt;span" not in page
    assert report_html._stripped_lines({"counts": {}}, num, "mix/manifest.json") == []
    assert report_html._topic_shares({"domains": {"code": {}}}, num, "mix/manifest.json") == []
