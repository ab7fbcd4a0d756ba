"""A small but real run folder, as `make demo OUTPUT=<run>` lays it out, built by the tests
themselves in about 15 CPU-seconds: the Beam tag job on a corpus written here (four domains,
exact copies, one bad line, one benchmark item to find), the mix job with a 4-run ablation sweep
of tiny proxies on its proxy mix (the same mix at a 300-token vocabulary; 2 of them trained again
with another seed), and a 20-step proxy training through the trainer's API."""
import json
import os
import random

from test_mix_job import FAST, WORDS
from test_trainer_helpers import write_config

DOCS_PER_DOMAIN = {"general": 160, "math": 80, "code": 80, "multilingual": 60}
COPIES = 5


def write_corpus(folder: str, seed: int = 0) -> dict:
    """docs.jsonl (random words of each domain's vocabulary, COPIES exact copies, one line that is
    not JSON) and bench.jsonl (one benchmark item that is a corpus document). Returns the counts."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    texts = []
    with open(os.path.join(folder, "docs.jsonl"), "w") as f:
        for domain, n in DOCS_PER_DOMAIN.items():
            for i in range(n):
                texts.append(" ".join(rng.choice(WORDS[domain]) for _ in range(rng.randint(40, 120))))
                f.write(json.dumps({"id": f"{domain}-{i}", "text": texts[-1], "source": f"{domain}/s{i % 3}"}) + "\n")
        for i in range(COPIES):
            f.write(json.dumps({"id": f"copy-{i}", "text": texts[7 * i], "source": "copies"}) + "\n")
        f.write("this line is not JSON\n")
    bench = os.path.join(os.path.dirname(folder), "bench.jsonl")
    with open(bench, "w") as f:
        f.write(json.dumps({"question": texts[3], "answer": "A"}) + "\n")
    return {"records": sum(DOCS_PER_DOMAIN.values()) + COPIES + 1, "bench": bench}


def build_run(root: str) -> str:
    """Writes `root`/corpus and the run `root`/run/{tag,mix,train}; returns the run folder."""
    from pipeline import mix_job, tag_job
    from trainer.api import train_proxy

    corpus = write_corpus(os.path.join(root, "corpus"))
    run = os.path.join(root, "run")
    beam_local = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    assert tag_job.main(["--input", os.path.join(root, "corpus"), "--output", os.path.join(run, "tag"),
                         "--decontaminate", corpus["bench"], *beam_local]) == 0
    proxy = write_config(os.path.join(root, "proxy.json"), eval_tokens=300, steps=6, eval_every=6, ckpt_every=6)
    assert mix_job.main(["--input", os.path.join(run, "tag"), "--output", os.path.join(run, "mix"), *FAST,
                         "--tokens", "20000", "--val-tokens", "600", "--quality", "0.45",
                         "--anneal-tokens", "2000", "--anneal-quality", "0.6",
                         "--ablations", "4", "--ablation-config", proxy, "--ablation-steps", "6",
                         "--ablation-workers", "1", "--verify-seeds", "2", "--ablation-replicates", "2",
                         "--ablation-vocab-size", "300"]) == 0
    train = write_config(os.path.join(root, "train.json"), eval_tokens=300, steps=20, eval_every=10, ckpt_every=10)
    train_proxy(os.path.join(run, "mix"), os.path.join(run, "train"), train, seed=0, threads=1)
    return run
