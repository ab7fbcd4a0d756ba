"""The Python API the mixture planner calls: many tiny proxy runs in one process, no subprocess each.

    from trainer.api import train_proxy
    res = train_proxy("runs/mix", "runs/ablations/run_007", "cpu-demo", steps=100, seed=7,
                      threads=1, domain_weights={"general": 0.4, "math": 0.3, "code": 0.2, "multilingual": 0.1})
    res["objective"], res["code"]["bpb"]

`domain_weights` override the manifest's train mixing (the realised token counts) for this run
only; weights need not sum to one; a weight of 0 leaves a domain out of training (it is still
evaluated). `threads` calls torch.set_num_threads, which is process-wide: to run two single-thread
proxies side by side, run them in two processes (e.g. a multiprocessing pool), each with threads=1.
The run folder is the same as the CLI's, so a repeated call resumes or returns the finished result.
`init_from` (a checkpoint file or a run folder) starts from that run's model weights and reads its
train data on from where that run stopped (trainer/loop.py): an anneal from a base checkpoint;
`init_skip_tokens` starts that many tokens further on in each domain.
"""
from __future__ import annotations

from .loop import train


def train_proxy(mix_dir: str, output_dir: str, config="cpu-demo", steps: int | None = None, seed: int = 0,
                device: str = "cpu", threads: int | None = None, domain_weights: dict | None = None,
                progress: bool = False, byte_lengths=None, overrides: dict | None = None,
                init_from: str | None = None, init_skip_tokens: int = 0) -> dict:
    """Train one proxy and return its final evaluation:
    {"eval": "val", "step", "tokens", "<domain>": {"loss", "bpb", "tokens"}, ..., "objective"}."""
    return train(mix_dir, output_dir, config=config, steps=steps, seed=seed, device=device, threads=threads,
                 domain_weights=domain_weights, byte_lengths=byte_lengths, progress=progress,
                 overrides=overrides, init_from=init_from, init_skip_tokens=init_skip_tokens)
