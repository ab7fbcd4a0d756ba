"""mixcurate's proxy trainer: a small Llama-3-style model trained on `make mix` shards.

model.py (architecture), data.py (manifest, shards, packing loader), schedule.py (LR, phases,
staged context), loop.py (training), evaluate.py (per-domain loss and bits per byte),
checkpoint.py (atomic checkpoints, resume), api.py (train_proxy for the planner), config.py and
configs/ (named configurations), bench.py and gpu_bench.py (throughput). Imports torch and numpy
only (the `tokenizers` package only when reading a tokenizer file for bytes per token).
"""
