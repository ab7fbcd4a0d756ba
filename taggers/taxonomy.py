"""The topic taxonomy and the rule that maps a topic and a language to one of the four mix domains.

Topics are named `<home>.<slug>` with home in general|math|code. `domain` is a pure function of
topic and language (DESIGN.md): code topics feed `code`; otherwise text that is mostly not English
feeds `multilingual`; otherwise the topic's home.
"""
from __future__ import annotations

DOMAINS = ("general", "math", "code", "multilingual")
HOMES = ("general", "math", "code")

# Provisional taxonomy (issue 2): topics the first tagger learns from the structure of real sources.
# Issue 3 widens it to the full fine-grained list.
TOPICS: dict[str, str] = {
    "general.news_and_politics": "news reports, politics and current affairs",
    "general.business_and_finance": "companies, markets, economy and finance",
    "general.sports": "sport results, players, teams and competitions",
    "general.arts_and_entertainment": "film, music, television, celebrities and reviews",
    "general.technology_and_computing": "computers, software, system administration, technology news",
    "general.fiction_and_literature": "novels, stories and literary prose",
    "general.reference": "encyclopedia and dictionary entries",
    "general.forum_and_conversation": "chat, forum posts, quotes and short informal text",
    "math.math_software": "manuals of computer algebra and numerical mathematics systems",
    "math.word_problems": "word problems with worked solutions",
    "math.proofs_and_abstract": "definitions, theorems and proofs",
    "code.python": "Python source code",
    "code.c_cpp": "C and C++ source code",
    "code.go": "Go source code",
    "code.rust": "Rust source code",
    "code.java": "Java source code",
    "code.javascript_typescript": "JavaScript and TypeScript source code",
    "code.shell": "shell scripts",
    "code.other": "source code in other languages (Perl, Ruby, assembly, ...)",
    "code.docs_about_code": "documentation written about code",
}

MULTILINGUAL_MIN_SHARE = 0.5


def home_of(topic: str) -> str:
    """The home (`general`, `math` or `code`) of a topic name; raises on a malformed name."""
    home, sep, slug = topic.partition(".")
    if not sep or not slug or home not in HOMES:
        raise ValueError(f"topic {topic!r} is not of the form <home>.<slug> with home in {HOMES}")
    return home


def domain_of(topic: str, lang: str, lang_share: float,
              min_share: float = MULTILINGUAL_MIN_SHARE) -> str:
    """Mix domain of one document: code.* -> code; non-English (share >= min_share) -> multilingual;
    else the topic's home. `und` (unsure) language counts as not non-English."""
    home = home_of(topic)
    if home == "code":
        return "code"
    if lang not in ("en", "und") and lang_share >= min_share:
        return "multilingual"
    return home
