"""Fixtures for the trainer tests, written by the tests themselves in DESIGN.md's `make mix` format:
a tiny byte-level BPE tokenizer (Hugging Face `tokenizers`), `shards/{train,val,anneal}/<domain>/
00000.bin` + `.idx.npy`, and `manifest.json`. Also tiny model configs and a subprocess runner."""
import json
import os
import random
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORDS = {
    "general": "the a city river people said about news market weather school music film game year day".split(),
    "math": "1 2 3 4 5 6 7 8 9 0 + - = x y integral sum prime theorem proof lemma ( ) ^".split(),
    "code": "def return if else for in range import class self print ( ) : = + [ ] , x y".split(),
    "multilingual": "la el der die und que est über été niño straße ça 東京 日本 cześć".split(),
}

TINY = {  # ~50k parameters: fast enough for many subprocess runs on 2 cores
    "name": "tiny", "vocab_size": None, "d_model": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2,
    "ffn_dim": 64, "seq_len": 32, "batch_size": 4, "seq_stages": [[0.0, 16], [0.5, 32]],
    "steps": 20, "lr": 3e-3, "warmup_frac": 0.1, "eval_tokens": 600, "eval_batch": 8,
    "eval_every": 10, "ckpt_every": 5, "keep_checkpoints": 0,
}


def docs_for(domain, n, seed):
    rng = random.Random(f"{domain}-{seed}")
    return [" ".join(rng.choice(WORDS[domain]) for _ in range(rng.randint(5, 40))) for _ in range(n)]


def train_tokenizer(path, vocab_size=320):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|pad|>", "<|bos|>", "<|eos|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([d for dom in WORDS for d in docs_for(dom, 50, 99)], trainer)
    tok.save(path)
    return tok


def write_shard(path, docs_ids, dtype="uint16"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    flat, starts = [], []
    for ids in docs_ids:
        starts.append(len(flat))
        flat.extend(ids)
    arr = np.asarray(flat, dtype=np.dtype(dtype).newbyteorder("<"))
    arr.tofile(path)
    np.save(path[:-4] + ".idx.npy", np.asarray(starts, dtype=np.int64))
    return arr


def make_mix(root, domains=("general", "math", "code", "multilingual"), docs=(60, 12, 30), seed=0,
             anneal=True, dtype="uint16"):
    """Write a tiny mix into `root`; returns the manifest dict."""
    os.makedirs(root, exist_ok=True)
    tok = train_tokenizer(os.path.join(root, "tokenizer.json"))
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")
    shards, dom_info = [], {}
    splits = [("train", docs[0]), ("val", docs[1])] + ([("anneal", docs[2])] if anneal else [])
    for split, n in splits:
        for k, dom in enumerate(domains):
            n_dom = max(2, n // (k + 1))
            texts = docs_for(dom, n_dom, f"{split}-{seed}")
            ids = [[bos] + tok.encode(t).ids + [eos] for t in texts]
            rel = f"shards/{split}/{dom}/00000.bin"
            arr = write_shard(os.path.join(root, rel), ids, dtype)
            shards.append({"path": rel, "split": split, "domain": dom, "tokens": int(arr.size),
                           "documents": len(ids), "bytes": int(arr.nbytes), "sha256": ""})
            if split == "train":
                dom_info[dom] = {"tokens": int(arr.size), "documents": len(ids)}
    total = sum(d["tokens"] for d in dom_info.values())
    for d in dom_info.values():
        d["share"] = d["tokens"] / total
    manifest = {
        "format_version": 1, "seed": seed, "input": "tests", "input_fingerprint": "",
        "tokenizer": {"path": "tokenizer.json", "vocab_size": tok.get_vocab_size(), "bos_id": bos,
                      "eos_id": eos, "dtype": dtype},
        "tokens_budget": total, "target_weights": {d: 1 / len(domains) for d in domains},
        "domains": dom_info, "anneal": {"weights": {}, "tokens": 0, "quality_min": 0.0},
        "validation": {"tokens_per_domain": 0}, "shards": shards, "filters": {}, "config": {},
    }
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def write_config(path, **changes):
    cfg = {**TINY, **changes}
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def trainer_cmd(mix, out, config, *extra):
    return [sys.executable, "-m", "trainer", "--mix", str(mix), "--output", str(out), "--config", str(config),
            "--device", "cpu", "--threads", "1", "--quiet", *extra]


def run_trainer(mix, out, config, *extra, check=True, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    p = subprocess.run(trainer_cmd(mix, out, config, *extra), cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"trainer failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p


def read_metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]
