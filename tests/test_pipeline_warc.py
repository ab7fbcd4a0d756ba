"""WARC and WET input: web pages written by warcio's writer, with navigation menus, cookie banners,
sidebars and footers around real-looking articles, go through the tag job.

The article survives extraction and the boilerplate does not; `meta` keeps the URL and fetch date
and URL dedup uses them; records that are not documents (warcinfo, request, images, error pages)
are counted, not dropped silently; pages in windows-1251 or latin-1 decode correctly; a truncated
file becomes one `unreadable_file` reject while the other files go on.
"""
import glob
import gzip
import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline import inputs
from pipeline.parse import ParseConfig, parse_record
from pipeline.read import ReadFiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEADER = """<header class="site-header"><div class="logo">Harbour Gazette</div>
<nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li>
<li><a href="/business">Business and markets</a></li><li><a href="/sport">Sport results</a></li>
<li><a href="/login">Sign in to your account</a></li></ul></nav></header>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience on our site.
<button>Accept all cookies</button> <a href="/cookies">Manage cookie preferences</a></div>"""
FOOTER = """<aside class="sidebar"><h3>Most read</h3><ul>
<li><a href="/a">Ten gadgets you must buy this winter</a></li>
<li><a href="/b">Celebrity chef opens second restaurant</a></li></ul></aside>
<footer class="site-footer"><p>Subscribe to our newsletter for daily headlines.</p>
<p>&copy; 2026 Harbour Gazette Media Group. All rights reserved.</p>
<ul><li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul></footer>"""
# an older layout without semantic tags: menus and footer are plain divs with telling classes
DIV_HEADER = """<div id="top-menu" class="navbar"><a href="/">Home</a> | <a href="/weather">Weather radar</a> |
<a href="/jobs">Find local jobs</a> | <a href="/contact">Contact the newsroom</a></div>"""
DIV_FOOTER = """<div id="footer" class="footer">Copyright Valley Courier Ltd, all rights reserved.
<a href="/advertise">Advertise with us</a> <a href="/rss">RSS feeds</a></div>"""
BOILERPLATE = ["Harbour Gazette", "World news", "Sign in to your account", "Accept all cookies",
               "We use cookies", "Most read", "Ten gadgets you must buy", "Subscribe to our newsletter",
               "All rights reserved", "Privacy policy", "Terms of use", "Weather radar",
               "Find local jobs", "Contact the newsroom", "Advertise with us", "RSS feeds"]

ARTICLES = {
    "market-hall": ("Grain terminal to become market hall", [
        "The harbour authority confirmed on Monday that the old grain terminal will be turned into a "
        "public market hall, ending a decade of uncertainty about the future of the waterfront.",
        "Engineers found that the timber piles under the terminal are in better condition than expected, "
        "which means the building can be repaired rather than demolished. The authority expects the work "
        "to take two years and to cost less than half of the original estimate.",
        "Local traders welcomed the plan, although several fishermen said they worried that the market "
        "would take space from boats that still unload their catch at the northern quay every morning.",
    ]),
    "library-hours": ("Library extends its opening hours", [
        "From next month the central library will stay open until nine o'clock on weekdays, after a "
        "survey showed that most students could only visit in the evening.",
        "The longer hours are paid for by closing two rarely used reading rooms on the top floor and "
        "moving their collections to the ground floor, where the light is better and the heating cheaper.",
        "Volunteers from the reading club will run a homework corner for younger pupils on Tuesday and "
        "Thursday evenings, and the café on the first floor will serve soup until closing time.",
    ]),
    "orchard": ("Orchard growers count the cost of late frost", [
        "Apple growers in the valley lost a third of their blossom to a single night of frost at the end "
        "of April, the growers' cooperative said in its spring report.",
        "Trees on the higher slopes escaped the worst of the cold because the frost settled in the valley "
        "floor, and several farmers now plan to move young trees uphill when they replant.",
        "The cooperative has asked the regional government for help with the cost of frost fans, which "
        "stir warmer air down from above and can raise the temperature around the buds by a few degrees.",
    ]),
    "ferry": ("Night ferry returns after repairs", [
        "The night ferry to the islands returned to service on Friday after six weeks in dry dock, where "
        "a damaged propeller shaft was replaced and the passenger lounge was refitted.",
        "Islanders had relied on a smaller daytime boat during the repairs, and shopkeepers said that "
        "deliveries of fresh bread and newspapers had often arrived only in the afternoon.",
    ]),
}
RUSSIAN = ("Мост закроют на ремонт", [
    "Городской совет утвердил план реконструкции старого моста через реку. Работы начнутся весной "
    "и продлятся около двух лет.",
    "Жители прибрежных районов давно жаловались на пробки, которые возникают каждое утро у въезда на "
    "мост, и надеются, что после ремонта движение станет свободнее.",
])
FRENCH = ("Une piste cyclable le long du canal", [
    "Le conseil régional a présenté mardi un projet de piste cyclable le long du canal, entre la gare "
    "et le port de plaisance.",
    "Les élus espèrent que cet aménagement réduira la circulation automobile en été, quand les "
    "touristes sont nombreux à visiter la région et à chercher où garer leur voiture.",
])
WET_TEXTS = {
    "https://news.example.org/wet/choir": "The town choir will sing at the harbour on Saturday evening. "
    "Rehearsals have moved to the school hall because the church roof is being repaired.",
    "https://news.example.org/wet/bakery": "A bakery on Mill Street has won the regional bread prize for "
    "its rye loaf, baked overnight in a wood-fired oven that the owner built himself.",
}


def page(title, paragraphs, header=HEADER, footer=FOOTER, head_extra='<meta charset="utf-8">'):
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head>{head_extra}<title>{title}</title>"
            f"<script>var tracking = 'analytics-id-123';</script></head><body>{header}"
            f"<main><article><h1>{title}</h1>{body}</article></main>{footer}</body></html>")


def div_page(title, paragraphs):
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title}</title></head><body>{DIV_HEADER}"
            f'<div id="content" class="story"><h2>{title}</h2>{body}</div>{DIV_FOOTER}</body></html>')


class Crawl:
    """Writes a WARC (or WET) file with warcio and remembers what it wrote."""

    def __init__(self, path, gzip=True):
        self.path, self.file = path, open(path, "wb")
        self.writer = WARCWriter(self.file, gzip=gzip)
        self.written = []   # (warc type, url, record id, warc date)
        self.ends = []      # file offset after each record (gzip: the end of its member)

    def _write(self, record):
        self.writer.write_record(record)
        self.ends.append(self.file.tell())
        h = record.rec_headers
        self.written.append((record.rec_type, h.get_header("WARC-Target-URI"),
                             h.get_header("WARC-Record-ID"), h.get_header("WARC-Date")))
        return h.get_header("WARC-Record-ID")

    def warcinfo(self):
        return self._write(self.writer.create_warcinfo_record(
            os.path.basename(self.path), {"software": "mixcurate tests", "format": "WARC File Format 1.1"}))

    def request(self, url):
        http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "news.example.org")], is_http_request=True)
        return self._write(self.writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                          http_headers=http))

    def response(self, url, body: bytes, content_type="text/html; charset=utf-8", status="200 OK",
                 date="2026-03-04T05:06:07Z"):
        http = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
        return self._write(self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http,
            warc_headers_dict={"WARC-Date": date}))

    def conversion(self, url, text, date="2026-03-04T08:00:00Z"):
        return self._write(self.writer.create_warc_record(
            url, "conversion", payload=io.BytesIO(text.encode("utf-8")), warc_content_type="text/plain",
            warc_headers_dict={"WARC-Date": date}))

    def close(self):
        self.file.close()


def url(slug):
    return f"https://news.example.org/2026/{slug}"


@pytest.fixture(scope="module")
def crawl_dir(tmp_path_factory):
    """A folder with a gzipped WARC, a plain WARC, a WET file and a truncated WARC; returns
    (folder, expectations)."""
    root = tmp_path_factory.mktemp("crawl")
    expect = {"docs": {}, "skipped": {}}

    warc = Crawl(str(root / "crawl.warc.gz"), gzip=True)
    warc.warcinfo()
    for slug in ("market-hall", "library-hours"):
        warc.request(url(slug))
        rid = warc.response(url(slug), page(*ARTICLES[slug]).encode("utf-8"))
        expect["docs"][rid] = (url(slug), "2026-03-04T05:06:07Z", ARTICLES[slug][1])
    # the same URL fetched again a week later, with a new story on it: a URL duplicate only
    rid = warc.response(url("market-hall"), page(*ARTICLES["ferry"]).encode("utf-8"),
                        date="2026-03-11T05:06:07Z")
    expect["docs"][rid] = (url("market-hall"), "2026-03-11T05:06:07Z", ARTICLES["ferry"][1])
    rid = warc.response(url("most"), page(*RUSSIAN).encode("windows-1251"),
                        content_type="text/html; charset=windows-1251")
    expect["docs"][rid] = (url("most"), "2026-03-04T05:06:07Z", RUSSIAN[1])
    rid = warc.response(url("canal"), page(*FRENCH, head_extra='<meta charset="iso-8859-1">').encode("latin-1"),
                        content_type="text/html")  # charset only in the page's <meta>
    expect["docs"][rid] = (url("canal"), "2026-03-04T05:06:07Z", FRENCH[1])
    warc.response(url("logo.png"), b"\x89PNG\r\n\x1a\n" + bytes(range(256)), content_type="image/png")
    warc.response(url("gone"), page("Not found", ["This page does not exist any more."]).encode(),
                  status="404 Not Found")
    empty_id = warc.response(url("app"), b"<html><head><script>render()</script></head><body>"
                                         b"<div id='app'></div></body></html>")
    warc.close()
    expect["skipped"]["crawl.warc.gz"] = {"warcinfo": 1, "request": 2, "unsupported_content_type": 1,
                                          "response_not_ok": 1}
    expect["empty_id"] = empty_id

    (root / "old").mkdir()
    plain = Crawl(str(root / "old" / "valley.warc"), gzip=False)
    rid = plain.response("http://valley.example.com/orchard", div_page(*ARTICLES["orchard"]).encode("utf-8"))
    expect["docs"][rid] = ("http://valley.example.com/orchard", "2026-03-04T05:06:07Z", ARTICLES["orchard"][1])
    plain.close()

    wet = Crawl(str(root / "crawl.warc.wet.gz"), gzip=True)
    wet.warcinfo()
    for u, text in WET_TEXTS.items():
        rid = wet.conversion(u, text)
        expect["docs"][rid] = (u, "2026-03-04T08:00:00Z", [text])
    wet.close()

    broken = Crawl(str(root / "broken.warc.gz"), gzip=True)
    for i in range(30):
        broken.response(url(f"broken-{i}"), page(*ARTICLES["orchard"]).encode("utf-8"))
    broken.close()
    data = (root / "broken.warc.gz").read_bytes()
    # cut in the middle of the 16th record's gzip member: the 30 members are nearly the same size,
    # so half the file could end exactly between two members, which leaves a valid shorter file
    cut = (broken.ends[14] + broken.ends[15]) // 2
    (root / "broken.warc.gz").write_bytes(data[:cut])
    return root, expect


def _read(path):
    """ReadFiles on one file: (raw records, summary)."""
    (f,) = inputs.expand(str(path))
    out = list(ReadFiles(1 << 20).process(f))
    return [o for o in out if isinstance(o, dict)], [o.value for o in out if not isinstance(o, dict)][0]


def _parse_all(records):
    return [parse_record(r, ParseConfig()) for r in records]


def test_warc_and_wet_files_are_recognised_by_name():
    for name in ("a.warc", "a.warc.gz", "CC-MAIN-1.warc.wet.gz", "b.wet", "b.WET.GZ"):
        assert inputs.format_of(name) == "warc", name
    assert inputs.format_of("a.jsonl.gz") == "jsonl" and inputs.format_of("a.gz") == "jsonl"


def test_articles_survive_extraction_and_boilerplate_does_not(crawl_dir):
    root, expect = crawl_dir
    records, _ = _read(root / "crawl.warc.gz")
    docs = {d["id"]: d for kind, d in _parse_all(records) if kind == "doc"}
    plain = {d["id"]: d for kind, d in _parse_all(_read(root / "old" / "valley.warc")[0]) if kind == "doc"}
    docs.update(plain)
    checked = 0
    for rid, (_, _, paragraphs) in expect["docs"].items():
        if rid not in docs:
            continue
        for p in paragraphs:
            assert p in docs[rid]["text"], (rid, p)
        for junk in BOILERPLATE:
            assert junk not in docs[rid]["text"], (rid, junk)
        assert "analytics-id" not in docs[rid]["text"]
        checked += 1
    assert checked == 6


def test_meta_keeps_url_fetch_date_content_type_and_where_the_record_is(crawl_dir):
    root, expect = crawl_dir
    records, _ = _read(root / "crawl.warc.gz")
    docs = {d["id"]: d for kind, d in _parse_all(records) if kind == "doc"}
    assert len(docs) == 5
    flat = gzip.decompress((root / "crawl.warc.gz").read_bytes())
    for rid, doc in docs.items():
        meta = json.loads(doc["meta"])
        assert (meta["url"], meta["fetch_date"]) == expect["docs"][rid][:2]
        assert meta["content_type"] == "text/html" and meta["warc_type"] == "response"
        assert meta["warc_file"] == doc["source"] == "crawl.warc.gz"
        record_head = flat[meta["warc_offset"]:meta["warc_offset"] + 1000].split(b"\r\n\r\n")[0]
        assert record_head.startswith(b"WARC/1.") and f"WARC-Record-ID: {rid}".encode() in record_head
    assert json.loads(docs[next(iter(expect["docs"]))]["meta"])["title"] == ARTICLES["market-hall"][0]


def test_records_that_are_not_documents_are_counted_per_file(crawl_dir):
    root, expect = crawl_dir
    records, summary = _read(root / "crawl.warc.gz")
    assert summary["skipped_records"] == expect["skipped"]["crawl.warc.gz"]
    assert summary["records"] == len(records) == 6  # 5 pages and the page with no text
    assert summary["error"] is None
    _, wet_summary = _read(root / "crawl.warc.wet.gz")
    assert wet_summary["skipped_records"] == {"warcinfo": 1} and wet_summary["records"] == 2


def test_a_page_with_no_main_text_is_rejected_as_extraction_empty(crawl_dir):
    root, expect = crawl_dir
    records, _ = _read(root / "crawl.warc.gz")
    rejects = [v for kind, v in _parse_all(records) if kind == "reject"]
    assert [r["reason"] for r in rejects] == ["extraction_empty"]
    assert rejects[0]["file"] == "crawl.warc.gz" and rejects[0]["offset"] > 0
    assert "<script>render()" in rejects[0]["raw"]


def test_pages_in_windows_1251_and_latin_1_decode_correctly(crawl_dir):
    root, _ = crawl_dir
    records, _ = _read(root / "crawl.warc.gz")
    docs = {json.loads(d["meta"])["url"]: d for kind, d in _parse_all(records) if kind == "doc"}
    ru, fr = docs[url("most")], docs[url("canal")]
    assert RUSSIAN[1][0] in ru["text"] and json.loads(ru["meta"])["charset"] == "cp1251"
    assert FRENCH[1][1] in fr["text"] and "régional" in fr["text"]
    assert json.loads(fr["meta"])["charset"] == "cp1252"  # WHATWG: iso-8859-1 means windows-1252
    assert ru["_invalid_utf8"] == fr["_invalid_utf8"] == 0


def test_wet_conversion_text_is_used_as_is(crawl_dir):
    root, expect = crawl_dir
    records, _ = _read(root / "crawl.warc.wet.gz")
    docs = [d for kind, d in _parse_all(records) if kind == "doc"]
    assert {json.loads(d["meta"])["url"]: d["text"] for d in docs} == WET_TEXTS
    assert {json.loads(d["meta"])["warc_type"] for d in docs} == {"conversion"}


def test_a_truncated_plain_warc_yields_an_unreadable_file_reject(tmp_path):
    crawl = Crawl(str(tmp_path / "cut.warc"), gzip=False)
    for slug in ("market-hall", "library-hours", "orchard"):
        crawl.response(url(slug), page(*ARTICLES[slug]).encode("utf-8"))
    crawl.close()
    data = (tmp_path / "cut.warc").read_bytes()
    (tmp_path / "cut.warc").write_bytes(data[: len(data) - 500])
    records, summary = _read(tmp_path / "cut.warc")
    assert [r["kind"] for r in records] == ["error"]
    assert records[0]["detail"].startswith("unreadable_file") and "truncated" in records[0]["detail"]
    assert summary["error"]


def test_an_undeclared_or_misdeclared_charset_is_detected_and_binary_garbage_is_rejected(tmp_path):
    crawl = Crawl(str(tmp_path / "c.warc.gz"))
    crawl.response(url("most-2"), page(*RUSSIAN, head_extra="").encode("windows-1251"), content_type="text/html")
    crawl.response(url("most-3"), page(*RUSSIAN, head_extra="").encode("windows-1251"),
                   content_type="text/html; charset=utf-8")  # the header is wrong
    crawl.response(url("noise"), b"<html><body><p>" + bytes(range(128, 256)) * 40 + b"</p></body></html>",
                   content_type="text/html; charset=utf-8")
    crawl.close()
    records, _ = _read(tmp_path / "c.warc.gz")
    (k1, undeclared), (k2, misdeclared), (k3, noise) = _parse_all(records)
    assert k1 == k2 == "doc"
    assert RUSSIAN[1][1] in undeclared["text"] and RUSSIAN[1][1] in misdeclared["text"]
    assert k3 == "reject" and noise["reason"] == "invalid_utf8" and "undecodable" in noise["detail"]


def test_gzip_content_encoding_and_chunked_transfer_are_undone(tmp_path):
    html = page(*ARTICLES["library-hours"]).encode("utf-8")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(html[i:i + 700]), html[i:i + 700])
                       for i in range(0, len(html), 700)) + b"0\r\n\r\n"
    crawl = Crawl(str(tmp_path / "enc.warc.gz"))
    for body, headers in ((gzip.compress(html), [("Content-Encoding", "gzip")]),
                          (chunked, [("Transfer-Encoding", "chunked")])):
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")] + headers, protocol="HTTP/1.1")
        crawl.writer.write_record(crawl.writer.create_warc_record(
            url("enc"), "response", payload=io.BytesIO(body), http_headers=http))
    crawl.close()
    docs = _parse_all(_read(tmp_path / "enc.warc.gz")[0])
    assert [kind for kind, _ in docs] == ["doc", "doc"]
    assert docs[0][1]["text"] == docs[1][1]["text"]
    assert docs[0][1]["text"].startswith(ARTICLES["library-hours"][0] + "\n\n" + ARTICLES["library-hours"][1][0])


def test_a_record_over_the_size_limit_is_too_large_without_being_read_whole(tmp_path):
    crawl = Crawl(str(tmp_path / "big.warc"), gzip=False)
    crawl.response(url("big"), page("Big", ["word " * 400_000]).encode())
    crawl.response(url("small"), page(*ARTICLES["ferry"]).encode())
    crawl.close()
    (f,) = inputs.expand(str(tmp_path))
    out = [o for o in ReadFiles(1 << 20).process(f) if isinstance(o, dict)]
    assert [(r["kind"], r["detail"]) for r in out] == [("error", "too_large"), ("warc", "")]
    assert len(out[0]["payload"]) <= 4096
    assert parse_record(out[0], ParseConfig())[1]["reason"] == "too_large"


def run_tag(*args):
    cmd = [sys.executable, "-m", "pipeline.tag_job", *args, "--direct_num_workers=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"tag job failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def tagged(crawl_dir, tmp_path_factory):
    root, expect = crawl_dir
    out = tmp_path_factory.mktemp("runs") / "tag"
    run_tag("--input", str(root), "--output", str(out))
    docs = pq.read_table(sorted(glob.glob(str(out / "docs" / "part-*.parquet")))).to_pylist()
    rejects = [json.loads(line) for path in glob.glob(str(out / "rejects" / "part-*.jsonl"))
               for line in open(path, encoding="utf-8") if line.strip()]
    return docs, rejects, json.loads((out / "stats.json").read_text()), expect


def test_tag_job_tags_every_page_with_its_url_and_date(tagged):
    docs, _, _, expect = tagged
    by_id = {d["id"]: d for d in docs}
    assert set(by_id) == set(expect["docs"])
    for rid, (u, date, paragraphs) in expect["docs"].items():
        meta = json.loads(by_id[rid]["meta"])
        assert (meta["url"], meta["fetch_date"]) == (u, date)
        assert paragraphs[0] in by_id[rid]["text"]
        assert not any(junk in by_id[rid]["text"] for junk in BOILERPLATE)
    assert by_id[next(iter(expect["docs"]))]["lang"] == "en"
    assert by_id[[r for r, e in expect["docs"].items() if e[0] == url("most")][0]]["lang"] == "ru"


def test_two_fetches_of_one_url_are_url_duplicates(tagged):
    docs, _, stats, _ = tagged
    same = [d for d in docs if json.loads(d["meta"])["url"] == url("market-hall")]
    assert len(same) == 2 and same[0]["text"] != same[1]["text"]
    assert same[0]["dup_cluster"] == same[1]["dup_cluster"]
    assert sorted(d["is_dup"] for d in same) == [False, True]
    assert stats["duplicates"]["url"] == 1 and stats["duplicates"]["exact"] == 0


def test_a_truncated_warc_gz_is_one_unreadable_file_while_other_files_proceed(tagged):
    docs, rejects, stats, expect = tagged
    assert sorted((r["file"], r["reason"]) for r in rejects) == [
        ("broken.warc.gz", "unreadable_file"), ("crawl.warc.gz", "extraction_empty")]
    assert stats["inputs"]["files"] == 4 and stats["inputs"]["unreadable_files"] == 1
    assert stats["inputs"]["records"] == stats["tagged"] + stats["rejected"] == len(expect["docs"]) + 2


def test_skipped_records_are_summed_by_cause_in_stats_json(tagged):
    _, _, stats, expect = tagged
    skipped = stats["inputs"]["skipped_records"]
    for cause, n in expect["skipped"]["crawl.warc.gz"].items():
        assert skipped.get(cause, 0) >= n
    assert skipped["warcinfo"] >= expect["skipped"]["crawl.warc.gz"]["warcinfo"] + 1   # + the WET file's
