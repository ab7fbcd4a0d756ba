"""The language-ID evaluation set (corpus.lid_eval) and its scoring (taggers.langid_eval)."""
import gzip
import json
import os
import shutil
import subprocess

import pytest

from corpus import lid_eval
from corpus.lid_eval import Page
from taggers import langid, langid_eval

# Hand-written paragraphs, each over MIN_PARAGRAPH_CHARS characters.
EN_PROSE = ("When the disk is full, the program stops writing and tells you which files it could "
            "not save, so that you can remove old logs and run it again from the place where it "
            "stopped without losing any of the work that was already done.")
DE_PROSE = ("Wenn die Festplatte voll ist, hört das Programm auf zu schreiben und nennt die Dateien, "
            "die es nicht sichern konnte, damit Sie alte Protokolle löschen und es an der Stelle "
            "fortsetzen können, an der es stehen geblieben ist.")
FR_PROSE = ("Lorsque le disque est plein, le programme cesse d'écrire et indique les fichiers qu'il "
            "n'a pas pu enregistrer, afin que vous puissiez supprimer les anciens journaux et le "
            "relancer à l'endroit où il s'était arrêté.")
RU_PROSE = ("Когда диск заполнен, программа прекращает запись и сообщает, какие файлы она не смогла "
            "сохранить, чтобы вы могли удалить старые журналы и запустить её снова с того места, "
            "где она остановилась, ничего не потеряв.")
OPTIONS = ("--output=DIR --cache=DIR --workers=N --force --seed=N --max-docs=N --max-bytes=N "
           "--lang=LL --source=NAME --dry-run --verbose --quiet --jobs=N --retries=N --timeout=S "
           "--log=FILE --config=FILE --profile=NAME --format=json|csv|parquet")


def test_every_paragraph_is_long_enough_for_the_fixtures():
    for p in (EN_PROSE, DE_PROSE, FR_PROSE, RU_PROSE, OPTIONS):
        assert len(p) >= lid_eval.MIN_PARAGRAPH_CHARS


def test_translations_keep_their_prose_and_lose_what_the_other_languages_share():
    pages = [Page("docs", "en", "en/a.html", [EN_PROSE, "Too short.", OPTIONS]),
             # German page: its own prose, an untranslated English paragraph, the same options
             Page("docs", "de", "de/a.html", [DE_PROSE, EN_PROSE, OPTIONS]),
             Page("docs", "fr", "fr/a.html", [FR_PROSE, OPTIONS])]
    rows, counts = lid_eval.label(pages)
    assert [(r["lang"], r["text"]) for r in rows] == [("en", EN_PROSE), ("de", DE_PROSE),
                                                      ("fr", FR_PROSE)]
    assert counts["docs"]["de"]["repeated_in_other_language"] == 2
    assert counts["docs"]["fr"]["repeated_in_other_language"] == 1
    assert counts["docs"]["en"]["short"] == 1
    # English is the original: its option list is dropped as not prose, not as repeated
    assert counts["docs"]["en"]["not_prose"] == 1 and counts["docs"]["en"]["kept"] == 1


def test_repetition_is_judged_within_a_source_and_across_languages_only():
    pages = [Page("manual", "de", "de/a", [DE_PROSE]), Page("manual", "de", "de/b", [DE_PROSE]),
             Page("guide", "fr", "fr/a", [DE_PROSE])]     # another source: not compared
    rows, counts = lid_eval.label(pages)
    assert [r["lang"] for r in rows] == ["de", "de", "fr"]


def test_an_untranslated_paragraph_no_other_language_has_is_caught_by_its_english_words():
    rows, counts = lid_eval.label([Page("manual", "pl", "pl/x", [EN_PROSE])])
    assert rows == [] and counts["manual"]["pl"]["english_words"] == 1
    assert lid_eval.english_word_share(EN_PROSE) >= lid_eval.MAX_ENGLISH_WORD_SHARE
    for p in (DE_PROSE, FR_PROSE, RU_PROSE):
        assert lid_eval.english_word_share(p) < lid_eval.MAX_ENGLISH_WORD_SHARE


def test_a_paragraph_in_another_script_and_a_listing_are_dropped():
    latin_in_russian = Page("manual", "ru", "ru/x", [DE_PROSE, RU_PROSE, "_" * 240])
    rows, counts = lid_eval.label([latin_in_russian])
    assert [r["text"] for r in rows] == [RU_PROSE]
    assert counts["manual"]["ru"]["wrong_script"] == 2
    assert lid_eval.script_share(RU_PROSE, "ru") == 1.0
    assert lid_eval.script_share(DE_PROSE, "ru") == 0.0
    assert lid_eval.script_share(DE_PROSE, "sr") == 1.0     # Serbian: two scripts, no rule
    table = " ".join(f"{i:03o} {i} {i:02X} LETTER" for i in range(160, 200))
    rows, counts = lid_eval.label([Page("manual", "en", "man7/x", [table])])
    assert rows == [] and counts["manual"]["en"]["not_prose"] + counts["manual"]["en"]["symbols"] == 1
    assert lid_eval.symbol_word_share(OPTIONS) > lid_eval.MAX_SYMBOL_WORD_SHARE
    assert lid_eval.symbol_word_share(DE_PROSE) == 0.0


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man (man-db)")
def test_a_manual_page_is_rendered_into_unwrapped_paragraphs(tmp_path):
    page = tmp_path / "demo.1"
    page.write_text(".TH DEMO 1\n.SH BESCHREIBUNG\n.B demo\n" + DE_PROSE.replace(", ", ",\n")
                    + "\n.PP\nZweiter Absatz.\n", encoding="utf-8")
    subprocess.run(["gzip", str(page)], check=True)
    paras = [lid_eval.collapse(p) for p in lid_eval.man_paragraphs(str(page) + ".gz")]
    assert paras[1:4] == ["BESCHREIBUNG", "demo " + DE_PROSE, "Zweiter Absatz."], paras


def test_score_gives_accuracy_per_language_and_both_averages():
    truth = ["de"] * 8 + ["no"] * 2
    pred = ["de"] * 8 + ["da", "no"]
    s = langid_eval.score(truth, pred)
    assert s["per_language"] == {"de": {"n": 8, "accuracy": 1.0}, "no": {"n": 2, "accuracy": 0.5}}
    assert s["micro"] == pytest.approx(0.9) and s["macro"] == pytest.approx(0.75)
    assert s["confusions"] == [["no", "da", 1]]
    with pytest.raises(ValueError, match="2 labels but 1"):
        langid_eval.score(["de", "de"], ["de"])


def test_evaluate_and_card_on_real_lid(tmp_path, capsys):
    rows = [{"text": t, "lang": l, "source": s} for t, l, s in
            [(EN_PROSE, "en", "a"), (DE_PROSE, "de", "a"), (FR_PROSE, "fr", "b"),
             (RU_PROSE, "ru", "b")]]
    folder = tmp_path / "set"
    folder.mkdir()
    with gzip.open(folder / "paragraphs.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert langid_eval.main(["--eval", str(folder), "--card-dir", str(tmp_path / "card")]) == 0
    result = json.loads((tmp_path / "card" / "langid.eval.json").read_text())
    assert result["tagger"]["micro"] == 1.0 and result["lid176_top1"]["macro"] == 1.0
    assert set(result["per_source"]) == {"a", "b"}
    card = (tmp_path / "card" / "langid.md").read_text()
    assert "| ru | 1 | 1.0000 | 1.0000 |" in card
    assert "macro 1.0000" in capsys.readouterr().out


def test_a_missing_evaluation_set_says_how_to_build_it(tmp_path, capsys):
    assert langid_eval.main(["--eval", str(tmp_path / "nothing")]) == 2
    assert "make lid-eval" in capsys.readouterr().err


def test_the_packages_folders_become_pages_labelled_by_language(tmp_path):
    guide = tmp_path / lid_eval.GUIDE_HTML
    for folder, text in (("en", EN_PROSE), ("de", DE_PROSE), ("pt_BR", "Texto.")):
        (guide / folder).mkdir(parents=True)
        (guide / folder / "ch01.html").write_text(
            f"<html><head><title>t</title></head><body><h1>Kapitel</h1><p>{text}</p></body></html>",
            encoding="utf-8")
        (guide / folder / "index.html").write_text("<p>index pages are navigation</p>")
    pages = lid_eval.guide_pages(str(tmp_path))
    assert [(p.source, p.lang, p.page, p.paragraphs) for p in pages] == [
        ("installation_guide", "de", "de/ch01.html", [DE_PROSE]),
        ("installation_guide", "en", "en/ch01.html", [EN_PROSE]),
        ("installation_guide", "pt", "pt_BR/ch01.html", ["Texto."])]
