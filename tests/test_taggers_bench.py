"""`make bench`'s held-out section (taggers.bench.heldout_report): it prints the figures that
`make train-taggers` wrote beside the models, and says what to run when they are missing."""
import json

from taggers import bench


def test_heldout_report_prints_the_training_runs_figures(tmp_path, capsys):
    scores = {"topic_macro_f1": 0.8123, "topic_f1": {"code.go": 0.99, "general.sports": 0.5},
              "topic_n": {"code.go": 10, "general.sports": 4}, "code_language_accuracy": 0.97,
              "domain_macro_f1": 0.9}
    (tmp_path / "topic.eval.json").write_text(json.dumps(
        {"by_source": scores, "by_folder": dict(scores, topic_macro_f1=0.8555),
         "teacher_vs_student": {"n": 12, "teacher_macro_f1": 0.7, "student_macro_f1": 0.8}}))
    (tmp_path / "quality.eval.json").write_text(json.dumps(
        {"auc": 0.975, "heldout_sources": ["general/moby_dick"], "auc_per_kind": {"shuffled": 0.96}}))
    bench.heldout_report(str(tmp_path))
    out = capsys.readouterr().out
    assert "topic macro-F1 0.812" in out and "topic macro-F1 0.856" in out
    assert "general.sports 0.500 (4)" in out and "teacher" in out and "ROC-AUC 0.975" in out


def test_heldout_report_without_evaluation_files_says_how_to_make_them(tmp_path, capsys):
    bench.heldout_report(str(tmp_path))
    assert "make train-taggers" in capsys.readouterr().out
