"""mixcurate's pure taggers: normalisation, language ID, topic + domain, quality, PII, on batches.

Imports here stay light (numpy, fastText, stdlib; no Beam, pyarrow or pandas): `load_models` loads
lid.176, the topic, code-language and quality models once (checking the taxonomy and the models'
labels), `tag_batch` tags a list of texts into columns (optionally with PII-masked text).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from taggers.quality import QUALITY_SIGNAL_NAMES, QualityConfig
from taggers.taxonomy import DEFAULT_RULE, DomainRule, check_taxonomy, domain_of, home_of

TAG_COLUMNS: tuple[str, ...] = ("lang", "lang_score", "lang_share", "topic", "topic_score", "domain",
                                "quality", "quality_flags", "quality_signals")
MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
TOPIC_MODEL = "topic.ftz"
CODE_LANGUAGE_MODEL = "code_language.ftz"
QUALITY_MODEL = "quality.ftz"
REBUILD_HINT = ("rebuild it with `make train-taggers` (python -m taggers train-topic / "
                "train-quality)")

__all__ = ["TAG_COLUMNS", "QUALITY_SIGNAL_NAMES", "Models", "load_models", "model_files", "tag_batch"]


@dataclass
class Models:
    lid: Any
    topic: Any
    quality_model: Any
    paths: dict
    quality: QualityConfig
    domain_rule: DomainRule = DEFAULT_RULE
    code_language: Any = None       # None: the topic model's own code.<language> topics stand


def model_files(model_dir: str | None = None) -> dict[str, str]:
    """{"lid": path of lid.176.ftz, "topic": path of topic.ftz, "code_language": path of
    code_language.ftz, "quality": path of quality.ftz}; raises FileNotFoundError naming the missing
    file and how to rebuild it."""
    from taggers.langid import lid_model_path
    paths = {"lid": lid_model_path()}
    for key, name in (("topic", TOPIC_MODEL), ("code_language", CODE_LANGUAGE_MODEL),
                      ("quality", QUALITY_MODEL)):
        path = os.path.join(model_dir or MODEL_DIR, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{key} model {path} is missing; {REBUILD_HINT}")
        paths[key] = path
    return paths


def _load(path: str, what: str):
    """A fastText model, its quantised input matrix decoded to a dense one (`fasttext_dense`: the
    same predictions, 1.2-1.8 times faster)."""
    import fasttext

    from taggers.fasttext_dense import densify
    try:
        model = fasttext.load_model(path)
    except Exception as exc:     # fastText raises ValueError / RuntimeError on a corrupt file
        raise ValueError(f"{what} model {path} cannot be loaded ({exc}); {REBUILD_HINT}") from exc
    return densify(model, path, log=_warn)


def _warn(message: str) -> None:
    print(f"taggers: {message}", file=sys.stderr)


def load_models(model_dir: str | None = None, quality: QualityConfig | None = None,
                domain_rule: DomainRule | None = None) -> Models:
    """Loads lid.176, the topic, code-language and quality models once (share the result across
    batches). Checks the taxonomy and that the topic model knows only taxonomy topics (TaxonomyError
    otherwise) and the code-language model only `code.<language>` topics (ValueError); a missing
    file is FileNotFoundError, a corrupt one ValueError, each naming the file."""
    from taggers.code_language import LANGUAGE_TOPICS
    check_taxonomy()
    paths = model_files(model_dir)
    topic = _load(paths["topic"], "topic")
    check_taxonomy(labels=[lab[len("__label__"):] for lab in topic.get_labels()])
    code_language = _load(paths["code_language"], "code-language")
    foreign = sorted({lab[len("__label__"):] for lab in code_language.get_labels()}
                     - set(LANGUAGE_TOPICS))
    if foreign:
        raise ValueError(f"code-language model {paths['code_language']} has labels {foreign} that "
                         f"are not code.<language> topics; {REBUILD_HINT}")
    qmodel = _load(paths["quality"], "quality")
    qlabels = {lab for lab in qmodel.get_labels()}
    if qlabels != {"__label__hq", "__label__lq"}:
        raise ValueError(f"quality model {paths['quality']} has labels {sorted(qlabels)}, not hq/lq; "
                         f"{REBUILD_HINT}")
    return Models(lid=_load(paths["lid"], "language ID"), topic=topic, quality_model=qmodel,
                  paths=paths, code_language=code_language,
                  quality=quality or QualityConfig(), domain_rule=domain_rule or DEFAULT_RULE)


def tag_batch(texts: list[str], models: Models, mask_pii: bool = False,
              normalised: bool = False) -> dict[str, list]:
    """Tags a batch of texts: {column: list} for every name in TAG_COLUMNS. Texts are normalised
    (normalise_text) for tagging only; callers keep their own text. With `mask_pii`, the result
    also holds `masked_text`: each normalised text with e-mails, IP addresses and phone numbers
    replaced by placeholders (taggers.pii.MASKS), for callers that store masked text."""
    from taggers import code_language, langid, pii, quality, quality_model, topic
    from taggers.normalise import normalise_text
    # Callers that already hold normalise_text output (the Beam job) skip a second pass.
    norm = list(texts) if normalised else [normalise_text(t) for t in texts]
    langs, lang_scores, lang_shares = langid.identify(norm, models.lid)
    pre = topic.preprocess_batch(norm)
    topics, topic_scores = topic.topics_given_language(norm, models.topic, langs, lang_scores,
                                                       lang_shares, pre)
    topics, topic_scores = code_language.refine_topics(norm, topics, topic_scores,
                                                       models.code_language)
    is_code = [home_of(t) == "code" for t in topics]
    hq = quality_model.predict_hq(pre, models.quality_model)
    q, flags, signals = quality.score(norm, langs, is_code, models.quality, model_probs=hq)
    rule = models.domain_rule
    domains = [domain_of(t, l, s, rule=rule) for t, l, s in zip(topics, langs, lang_shares)]
    out = {"lang": langs, "lang_score": lang_scores, "lang_share": lang_shares, "topic": topics,
           "topic_score": topic_scores, "domain": domains, "quality": q, "quality_flags": flags,
           "quality_signals": signals}
    if mask_pii:
        out["masked_text"] = pii.mask_batch(norm)
    return out
