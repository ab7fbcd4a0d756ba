"""WARC and WET input: reading web-archive records, and turning one record into a document.

Reading (`iter_warc`, called by pipeline.read.ReadFiles on a stream from Beam's FileSystems) uses
warcio's ArchiveIterator. A `.gz` file is decompressed first with Python's gzip module, which reads
every gzip member (one per record, or one for the whole file) and raises on a truncated file, where
warcio alone would stop quietly; a record whose block ends early (a truncated plain file) raises too.
pipeline.read runs through each file once that way before reading it for real, so a damaged file
becomes one `unreadable_file` reject. Offsets are byte offsets of the decompressed stream, as for
JSONL.

Kept as documents: `response` and `resource` records with a 2xx status (or none) and an HTML or
plain-text content type, and WET `conversion` records (text already extracted, used as is).
Everything else is skipped and counted per file in the summary's `skipped_records`, by cause:
the record type (`request`, `warcinfo`, `metadata`, `revisit`, ...), `response_not_ok` (non-2xx
status) or `unsupported_content_type` (images, PDFs, scripts, ...).

From record to document (`warc_document`, called by pipeline.parse on a spread-out worker): the
charset is the HTTP header's, else the HTML `<meta charset>`, else resiliparse's detection (uchardet),
else UTF-8, each tried strictly in turn; bytes no candidate decodes are replaced and counted, and a
page with too many is rejected `invalid_utf8` like JSONL. HTML goes through resiliparse's
`extract_plain_text(main_content=True)`, which drops navigation, headers, footers, cookie banners
and comment sections; an empty result is rejected `extraction_empty`. `id` is the WARC-Record-ID,
`source` the file's path relative to INPUT, and `meta` holds `url` (WARC-Target-URI, which URL
dedup reads), `fetch_date` (WARC-Date), `content_type`, `charset`, `title`, `warc_type`,
`warc_file` and `warc_offset`.

Why these libraries, measured on one core with 2,000 real HTML pages (46 MB, Debian handbook and
reference pages, written to a WARC by warcio): main-text extraction with resiliparse 2.0.0 ran at
1,830 pages/s (42 MB/s of HTML), trafilatura 2.3.1 at 79 pages/s (2.0 MB/s; 99 pages/s with
`fast=True`), so resiliparse is about 20 times faster at comparable output length. Reading the same
WARC gzipped: warcio 1.8.1 11,600 records/s (266 MB/s of HTML), fastwarc 2.0.0 30,000 records/s;
warcio took 0.2 of the 14 CPU-seconds the whole tag job spent on that WARC, so the
pure-Python reference library wins on its stable streaming API, which makes truncation checks
simple (fastwarc comes installed with resiliparse all the same). This module's whole path, reading,
charset and extraction, ran at 1,300 pages (30 MB of HTML) per CPU-second on those pages
(`python -m pipeline.bench_warc INPUT` measures it on any WARC).
"""
from __future__ import annotations

import codecs
import gzip

from pipeline.rejects import make_reject
from taggers.normalise import utf8_verdict

DRAIN_BYTES = 1 << 20
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain",)
DOCUMENT_RECORD_TYPES = ("response", "resource", "conversion")


def _raw(kind, file, offset, payload, detail=""):
    return {"kind": kind, "file": file, "line": None, "offset": offset, "payload": payload,
            "detail": detail}


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """`text/html; charset=UTF-8` -> ("text/html", "UTF-8")."""
    if not content_type:
        return "", None
    parts = content_type.split(";")
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return parts[0].strip().lower(), charset


def _drain(stream) -> int:
    """Reads a stream to its end in bounded chunks; returns the number of bytes read."""
    n = 0
    while chunk := stream.read(DRAIN_BYTES):
        n += len(chunk)
    return n


def _check_complete(record, relpath: str):
    """A record whose block holds fewer bytes than its Content-Length was cut off."""
    _drain(record.raw_stream)
    missing = getattr(record.raw_stream, "limit", 0)
    if missing:
        raise EOFError(f"{relpath}: WARC record {record.rec_headers.get_header('WARC-Record-ID')} "
                       f"ends {missing} bytes early (truncated file)")


def _skip_cause(record) -> tuple[str | None, str, str | None]:
    """(why the record is not a document or None, media type, declared charset)."""
    if record.rec_type not in DOCUMENT_RECORD_TYPES:
        return record.rec_type, "", None
    if record.rec_type == "conversion":
        media, charset = _media_type(record.rec_headers.get_header("Content-Type"))
        return None, media or "text/plain", charset
    http = record.http_headers
    if http is not None:
        status = http.get_statuscode()
        if status and not status.startswith("2"):
            return "response_not_ok", "", None
        media, charset = _media_type(http.get_header("Content-Type"))
    else:
        media, charset = _media_type(record.rec_headers.get_header("Content-Type"))
    if not media:
        media, _ = _media_type(record.rec_headers.get_header("WARC-Identified-Payload-Type"))
    if media not in HTML_TYPES + TEXT_TYPES:
        return "unsupported_content_type", media, charset
    return None, media, charset


def iter_warc(stream, path: str, relpath: str, max_record_bytes: int, summary: dict):
    """Yields one raw `warc` record (payload: headers and body bytes) per document-like record of a
    WARC or WET byte stream; other records are counted in summary["skipped_records"]. A body over
    max_record_bytes becomes a `too_large` error record without being held in memory."""
    from warcio.archiveiterator import ArchiveIterator

    if path.lower().endswith(".gz"):
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    skipped = summary.setdefault("skipped_records", {})
    records = ArchiveIterator(stream, ensure_http_headers=False)
    for record in records:
        cause, media, charset = _skip_cause(record)
        if cause is not None:
            _check_complete(record, relpath)
            skipped[cause] = skipped.get(cause, 0) + 1
            continue
        content = record.content_stream()
        body = content.read(max_record_bytes + 1)
        oversized = len(body) > max_record_bytes
        if oversized:
            _drain(content)
        _check_complete(record, relpath)
        offset = records.get_record_offset()
        summary["records"] += 1
        summary["bytes"] += len(body)
        if oversized:
            summary["oversized_lines"] += 1
            yield _raw("error", relpath, offset, body[:4096], "too_large")
            continue
        head = record.rec_headers
        yield _raw("warc", relpath, offset, {
            "record_id": head.get_header("WARC-Record-ID"),
            "warc_type": record.rec_type,
            "url": head.get_header("WARC-Target-URI"),
            "fetch_date": head.get_header("WARC-Date"),
            "content_type": media,
            "charset": charset,
            "body": body,
        })


def _python_codec(label: str | None) -> str | None:
    """A WHATWG or IANA charset label as a Python codec name, or None when Python has none."""
    if not label:
        return None
    from resiliparse.parse.encoding import map_encoding_to_html5

    name = map_encoding_to_html5(label) or label
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(body: bytes, declared: str | None, is_html: bool) -> tuple[str, str, int]:
    """(text, codec used, number of undecodable sequences replaced by U+FFFD)."""
    from resiliparse.parse.encoding import detect_encoding

    def candidates():  # lazily: detection runs only when the declared charset does not decode
        if body.startswith(codecs.BOM_UTF8):
            yield "utf-8-sig"
        yield _python_codec(declared)
        yield _python_codec(detect_encoding(body, from_html_meta=is_html))
        yield "utf-8"

    tried = []
    for codec in candidates():
        if not codec or codec in tried:
            continue
        tried.append(codec)
        try:
            return body.decode(codec), codec, 0
        except UnicodeDecodeError:
            continue
    text = body.decode(tried[0], errors="replace")
    return text, tried[0], text.count("\ufffd")


def extract_main_text(html: str) -> tuple[str, str]:
    """(main text, page title) of an HTML page, boilerplate removed by resiliparse."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, main_content=True, preserve_formatting=True, alt_texts=False,
                              comments=False, form_fields=False, noscript=False)
    return text, (tree.title or "").strip()


def warc_document(raw: dict, max_invalid_frac: float):
    """One raw `warc` record -> ("doc", {id, text, source, meta}, n_invalid) or
    ("reject", reject record, 0). The text is not normalised yet (pipeline.parse does it)."""
    file, offset, rec = raw["file"], raw["offset"], raw["payload"]
    body, media = rec["body"], rec["content_type"]
    is_html = media in HTML_TYPES
    text, codec, n_invalid = decode_body(body, rec["charset"], is_html)
    if n_invalid and utf8_verdict(n_invalid, len(text), max_invalid_frac) == "reject":
        return "reject", make_reject(file, None, offset, "invalid_utf8",
                                     f"{n_invalid} undecodable sequences as {codec} in {len(body)} bytes",
                                     body), 0
    title = ""
    if is_html:
        text, title = extract_main_text(text)
        if not text.strip():
            return "reject", make_reject(file, None, offset, "extraction_empty",
                                         f"no main text found in {len(body)} bytes of {media}", body), 0
    meta = {"url": rec["url"], "fetch_date": rec["fetch_date"], "content_type": media,
            "charset": codec, "warc_type": rec["warc_type"], "warc_file": file, "warc_offset": offset}
    if title:
        meta["title"] = title
    doc = {"id": rec["record_id"] or f"{file}:{offset}", "text": text, "source": file,
           "meta": {k: v for k, v in meta.items() if v is not None}}
    return "doc", doc, n_invalid
