"""mixcurate's pure taggers: normalisation, language ID, topic + domain, quality, on batches of texts.

Imports here stay light (numpy, fastText, stdlib; no Beam, pyarrow or pandas): `load_models` loads
lid.176 and the topic model once, `tag_batch` tags a list of texts into columns.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from taggers.quality import QUALITY_SIGNAL_NAMES, QualityConfig
from taggers.taxonomy import domain_of, home_of

TAG_COLUMNS: tuple[str, ...] = ("lang", "lang_score", "lang_share", "topic", "topic_score", "domain",
                                "quality", "quality_flags", "quality_signals")
MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
TOPIC_MODEL = "topic.ftz"
# A document whose letters are confidently a natural language other than English (lid score and
# share at least this) is prose, never code: the topic model, trained mostly on English, tends to
# send unknown-vocabulary prose to a code class; such documents get their best non-code topic.
PROSE_LANG_MIN_SCORE = 0.8
PROSE_LANG_MIN_SHARE = 0.8
REBUILD_HINT = "rebuild it with `make train-taggers` (python -m taggers train-topic)"

__all__ = ["TAG_COLUMNS", "QUALITY_SIGNAL_NAMES", "Models", "load_models", "model_files", "tag_batch"]


@dataclass
class Models:
    lid: Any
    topic: Any
    paths: dict
    quality: QualityConfig


def model_files(model_dir: str | None = None) -> dict[str, str]:
    """{"lid": path of lid.176.ftz, "topic": path of topic.ftz}; raises FileNotFoundError naming
    the missing file and how to rebuild it."""
    from taggers.langid import lid_model_path
    topic = os.path.join(model_dir or MODEL_DIR, TOPIC_MODEL)
    if not os.path.isfile(topic):
        raise FileNotFoundError(f"topic model {topic} is missing; {REBUILD_HINT}")
    return {"lid": lid_model_path(), "topic": topic}


def load_models(model_dir: str | None = None, quality: QualityConfig | None = None) -> Models:
    """Loads lid.176 and the topic model once (share the result across batches)."""
    import fasttext
    paths = model_files(model_dir)
    return Models(lid=fasttext.load_model(paths["lid"]), topic=fasttext.load_model(paths["topic"]),
                  paths=paths, quality=quality or QualityConfig())


def tag_batch(texts: list[str], models: Models) -> dict[str, list]:
    """Tags a batch of texts: {column: list} for every name in TAG_COLUMNS. Texts are normalised
    (normalise_text) for tagging only; callers keep their own text."""
    from taggers import langid, quality, topic
    from taggers.normalise import normalise_text
    norm = [normalise_text(t) for t in texts]
    langs, lang_scores, lang_shares = langid.identify(norm, models.lid)
    topics, topic_scores = topic.predict_topics(norm, models.topic)
    prose = [i for i, (t, l, sc, sh) in enumerate(zip(topics, langs, lang_scores, lang_shares))
             if t.startswith("code.") and l not in ("en", "und")
             and sc >= PROSE_LANG_MIN_SCORE and sh >= PROSE_LANG_MIN_SHARE]
    if prose:
        alt, alt_scores = topic.best_non_code_topics([norm[i] for i in prose], models.topic)
        for i, t, sc in zip(prose, alt, alt_scores):
            topics[i], topic_scores[i] = t, sc
    is_code = [home_of(t) == "code" for t in topics]
    q, flags, signals = quality.score(norm, langs, is_code, models.quality)
    domains = [domain_of(t, l, s) for t, l, s in zip(topics, langs, lang_shares)]
    return {"lang": langs, "lang_score": lang_scores, "lang_share": lang_shares, "topic": topics,
            "topic_score": topic_scores, "domain": domains, "quality": q, "quality_flags": flags,
            "quality_signals": signals}
