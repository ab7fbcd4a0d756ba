"""Learning-rate schedule, training phases and staged context length, as pure functions of the step.

Steps are numbered 0 .. steps-1 here (step s is the (s+1)-th optimiser update; metrics.jsonl
reports the count of finished updates, s + 1).

- warmup: the first `warmup_steps` updates rise linearly to the peak: lr = peak * (s + 1) / warmup.
- then `schedule`:
  - "cosine": cosine from the peak to `min_lr_frac * peak` at the start of the anneal (phase decay);
  - "wsd" (warmup-stable-decay): the peak (phase stable) until `decay_frac * steps` before the
    anneal, then linear down to `min_lr_frac * peak` at the anneal's start (phase decay).
- anneal: the last `anneal_frac` of the steps (Llama 3's final anneal). The data switch to the
  manifest's `anneal` shards and the LR falls linearly from its value at the anneal's first step to
  exactly 0 at the last step.

Staged context (`seq_stages`: [[fraction of steps where a stage starts, seq_len], ...]) keeps the
tokens per step constant: batch = tokens_per_step // seq_len, so batch halves when seq doubles.
The schedule holds no state beyond the step, which is what a checkpoint stores for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

PHASES = ("warmup", "stable", "decay", "anneal")


@dataclass
class Schedule:
    steps: int
    lr: float
    warmup_steps: int = 0
    schedule: str = "cosine"            # cosine | wsd
    min_lr_frac: float = 0.1
    decay_frac: float = 0.0              # wsd only: decay before the anneal, as a fraction of steps
    anneal_frac: float = 0.1
    seq_len: int = 256                   # final (longest) context
    batch_size: int = 8                  # rows per step at the final context
    seq_stages: tuple = ()               # ((start_fraction, seq_len), ...); empty = constant
    step: int = 0                        # the next update to take (checkpointed)

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"unknown schedule {self.schedule!r} (cosine | wsd)")
        if not 0.0 <= self.anneal_frac < 1.0:
            raise ValueError("anneal_frac must be in [0, 1)")
        self.anneal_steps = int(round(self.anneal_frac * self.steps))
        self.anneal_start = self.steps - self.anneal_steps
        self.warmup_steps = min(self.warmup_steps, self.anneal_start)
        self.decay_start = max(self.warmup_steps, self.anneal_start - int(round(self.decay_frac * self.steps)))
        stages = sorted((float(f), int(t)) for f, t in (self.seq_stages or [(0.0, self.seq_len)]))
        if stages[0][0] > 0.0:
            stages.insert(0, (0.0, stages[0][1]))
        self.stages = stages
        self.tokens_per_step = self.batch_size * self.seq_len
        for _, t in stages:
            if self.tokens_per_step % t:
                raise ValueError(f"tokens per step {self.tokens_per_step} is not divisible by stage seq_len {t}")

    # --- phase and LR -------------------------------------------------------------------------
    def phase(self, s: int) -> str:
        if s >= self.anneal_start:
            return "anneal"
        if s < self.warmup_steps:
            return "warmup"
        if self.schedule == "wsd" and s < self.decay_start:
            return "stable"
        return "decay"

    def _main_lr(self, s: int) -> float:
        """The warmup + cosine/wsd curve, before the anneal takes over."""
        peak, floor = self.lr, self.lr * self.min_lr_frac
        if s < self.warmup_steps:
            return peak * (s + 1) / self.warmup_steps
        start = self.warmup_steps if self.schedule == "cosine" else self.decay_start
        span = self.anneal_start - start
        if s < start or span <= 0:
            return peak
        t = min(1.0, (s - start) / span)
        if self.schedule == "cosine":
            return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
        return peak + (floor - peak) * t

    def lr_at(self, s: int) -> float:
        if s < self.anneal_start:
            return self._main_lr(s)
        start_lr = self._main_lr(self.anneal_start)
        last = self.steps - 1
        if last == self.anneal_start:
            return 0.0
        return start_lr * (last - s) / (last - self.anneal_start)

    # --- staged context -----------------------------------------------------------------------
    def seq_len_at(self, s: int) -> int:
        frac = s / self.steps
        t = self.stages[0][1]
        for start, length in self.stages:
            if frac >= start:
                t = length
        return t

    def batch_at(self, s: int) -> int:
        return self.tokens_per_step // self.seq_len_at(s)

    # --- checkpoint ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, d: dict) -> None:
        self.step = int(d["step"])
