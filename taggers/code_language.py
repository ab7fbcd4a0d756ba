"""The programming-language stage of topic tagging: which `code.<language>` topic a source file gets.

The topic model (`taggers.topic`) reads words, so on a project it never saw it follows the project's
vocabulary: held out by folder, a fifth of unseen Python folders' files were called `code.other`.
A second fastText model, trained on source files only, re-decides the language of every document
the topic model called `code.<language>` (any code topic but `code.docs_about_code`). It reads
syntax (`syntax_inputs`): keywords and other short lower-case words, upper-case words, runs of
punctuation, line breaks (indented or not), and for every other identifier only its shape (snake_case,
camelCase, Capitalised, leading underscore, digits), so the names a project chose do not decide.
Indentation depth and tabs against spaces are left out: they are a project's convention (jpype1's
C++ is indented with tabs, like Go) more than a language's. The topic model still decides whether a
document is code at all; this stage never moves a document in or out of code, and it only
re-decides topics the topic model gave with a probability below `CONFIDENT_TOPIC` (0.95): held out
by folder, the topic model's confident code topics were as often right as this model's, and the
gate sends about an eighth of source files through the second model instead of all of them.
"""
from __future__ import annotations

import re

from taggers.taxonomy import TOPICS
from taggers.topic import LABEL_PREFIX, without_leading_comments

LANGUAGE_TOPICS: tuple[str, ...] = tuple(t for t in TOPICS if t.startswith("code.")
                                         and t != "code.docs_about_code")
MAX_SYNTAX_CHARS = 3000
CONFIDENT_TOPIC = 0.95      # a code.<language> topic at least this probable is not re-decided

_SYNTAX_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[^\w\s]{1,3}|\n[ \t]*")
_CAMEL = re.compile(r"[a-z][A-Z]")
_DIGIT = re.compile(r"[0-9]")


def _shape(token: str) -> str:
    """A word token as the model sees it: short lower-case words as they are (keywords, `self`,
    `nil`), short upper-case ones lower-cased with a mark, any other identifier as its shape."""
    if token.isdigit():
        return "0"
    if len(token) <= 10 and token.isalpha():
        if token.islower():
            return token
        if token.isupper():
            return token.lower() + "_U"
    return ("ID"
            + ("s" if "_" in token.strip("_") else "")             # snake_case
            + ("c" if _CAMEL.search(token) else "")                # camelCase
            + ("C" if token[0].isupper() else "")                  # Capitalised
            + ("u" if token[0] == "_" else "")                     # _private
            + ("d" if _DIGIT.search(token) else ""))


class _TokenMap(dict):
    """Raw token -> model token, filled on first sight (a dict hit costs no Python call, so a
    document's tokens map through C-level lookups); cleared when it grows past `max_size`."""
    max_size = 200_000

    def __missing__(self, raw: str) -> str:
        if raw[0] == "\n":
            out = "NL1" if len(raw) > 1 else "NL0"
        elif raw[0].isalpha() or raw[0] == "_":
            out = _shape(raw)
        elif raw[0].isdigit():
            out = "0"
        else:
            out = raw                       # punctuation: at most 3 characters, as they are
        if len(self) >= self.max_size:
            self.clear()
        self[raw] = out
        return out


_TOKENS = _TokenMap()


def syntax_input(text: str, max_chars: int = MAX_SYNTAX_CHARS) -> str:
    """The code-language model's fastText input for one text: the first `max_chars` characters after
    its leading comment block (`topic.without_leading_comments`) and the blank space after that, as
    space-separated syntax tokens."""
    body = without_leading_comments(text)[:2 * max_chars].lstrip()[:max_chars]
    return " ".join(map(_TOKENS.__getitem__, _SYNTAX_TOKEN.findall(body)))


def syntax_inputs(texts: list[str], max_chars: int = MAX_SYNTAX_CHARS) -> list[str]:
    """`syntax_input` of every text (a regular expression per text: only the code share of a batch
    comes here, and a token's mapping is cached)."""
    return [syntax_input(t, max_chars) for t in texts]


def predict_languages(texts: list[str], model) -> tuple[list[str], list[float]]:
    """Batch: the most probable `code.<language>` topic and its probability for each source file."""
    if not texts:
        return [], []
    labels, probs = model.predict(syntax_inputs(texts), k=1, threshold=0.0)
    return ([ls[0][len(LABEL_PREFIX):] for ls in labels],
            [float(min(1.0, max(0.0, ps[0]))) for ps in probs])


def refine_topics(texts: list[str], topics: list[str], scores: list[float], model,
                  gate: float | None = None) -> tuple[list[str], list[float]]:
    """Batch: `topics` with every `code.<language>` topic whose score is below `gate` (default
    CONFIDENT_TOPIC) re-decided by the code-language model (its probability becomes the score);
    other topics and their scores are returned unchanged."""
    gate = CONFIDENT_TOPIC if gate is None else gate
    idx = [i for i, (t, sc) in enumerate(zip(topics, scores)) if t in LANGUAGE_TOPICS and sc < gate]
    if model is None or not idx:
        return topics, scores
    topics, scores = list(topics), list(scores)
    langs, probs = predict_languages([texts[i] for i in idx], model)
    for i, lang, p in zip(idx, langs, probs):
        topics[i], scores[i] = lang, p
    return topics, scores
