"""The GPU benchmark's CPU smoke path: the same code as on a GPU, a tiny model, no reference."""
import json

from trainer import gpu_bench


def test_gpu_bench_runs_the_real_trainer_and_profiles_bare_steps_on_cpu(tmp_path, capsys):
    prof = tmp_path / "profile.txt"
    assert gpu_bench.main(["--device", "cpu", "--tiny", "--warmup", "1", "--steps", "2",
                           "--ref", str(tmp_path / "absent.py"), "--profile", str(prof)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["card"] == "cpu" and result["ours_tok_s"] > 0
    assert result["ref_tok_s"] is None and result["ratio"] is None       # no reference: no ratio
    assert result["ours_bare_ms"] > 0 and "ref_bare_ms" not in result
    text = prof.read_text()
    assert text.startswith("=== ours: ") and "ms per bare step" in text and "aten::mm" in text


def test_synthetic_mix_follows_the_manifest_format(tmp_path):
    from trainer.data import Manifest, check_shards
    gpu_bench.write_synthetic_mix(str(tmp_path), vocab=1000, tokens=5000)
    m = Manifest(str(tmp_path))
    check_shards(m)
    assert m.vocab_size == 1000 and m.domains("train") == ["general"] and m.domains("val") == ["general"]
