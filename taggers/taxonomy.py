"""The topic taxonomy and the rule that maps a topic and a language to one of the four mix domains.

Owns: `TOPICS` (34 fine-grained topics named `<home>.<slug>`, home in general|math|code, each with a
one-line description that also serves as the teacher's zero-shot prompt), its consistency check
(`check_taxonomy`, run at start-up by `taggers.load_models`: a topic without a valid home, a bad slug
or an empty description is a clear error), and the domain rule (`DomainRule`, `domain_of`).

Domain rule (DESIGN.md), one pure function of (topic, lang, lang_share), configurable through
`DomainRule`: a topic whose home is in `rule.code_homes` feeds `code`, whatever its language; else a
document whose language is not in `rule.english` (default `en`, plus `und` = unsure) with
`lang_share >= rule.multilingual_min_share` (default 0.5) feeds `multilingual`; else the topic's
home (`general` or `math`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DOMAINS = ("general", "math", "code", "multilingual")
HOMES = ("general", "math", "code")

TOPICS: dict[str, str] = {
    # general
    "general.news_and_politics": "news reports, politics, elections and current affairs",
    "general.business_and_finance": "companies, markets, the economy, money and finance",
    "general.sports": "sport results, players, teams and competitions",
    "general.arts_and_entertainment": "film, music, television, celebrities, games and reviews",
    "general.science": "natural sciences: physics, chemistry, biology, astronomy, earth sciences",
    "general.health_and_medicine": "health, medicine, disease, nutrition and fitness",
    "general.technology_and_computing": "computers, software, system administration, technology news",
    "general.law_and_government": "laws, courts, regulation, public administration and licences",
    "general.religion_and_philosophy": "religion, faith, ethics and philosophy",
    "general.history": "historical events, people and periods",
    "general.fiction_and_literature": "novels, stories, poetry and literary prose",
    "general.education_and_howto": "teaching, courses, tutorials and step-by-step instructions",
    "general.forum_and_conversation": "chat, forum posts, quotes, jokes and short informal text",
    "general.reference": "encyclopedia, glossary and dictionary entries",
    # math
    "math.word_problems": "word problems with worked solutions",
    "math.algebra": "equations, polynomials, groups, rings and fields",
    "math.geometry": "shapes, angles, areas, coordinates and geometric proofs",
    "math.number_theory": "primes, divisibility, congruences and integer sequences",
    "math.calculus_and_analysis": "limits, derivatives, integrals, series and differential equations",
    "math.probability_and_statistics": "probability, random variables, distributions and statistics",
    "math.linear_algebra": "vectors, matrices, determinants, eigenvalues and linear maps",
    "math.proofs_and_abstract": "definitions, theorems and proofs in abstract mathematics",
    "math.math_software": "manuals of computer algebra and numerical mathematics systems",
    # code
    "code.python": "Python source code",
    "code.c_cpp": "C and C++ source code",
    "code.go": "Go source code",
    "code.rust": "Rust source code",
    "code.java": "Java source code",
    "code.javascript_typescript": "JavaScript and TypeScript source code",
    "code.shell": "shell scripts",
    "code.sql": "SQL queries and schemas",
    "code.markup_and_config": "HTML, XML, YAML, JSON, TOML, Makefiles and other markup or config",
    "code.other": "source code in other languages (Perl, Ruby, assembly, ...)",
    "code.docs_about_code": "documentation written about code",
}

MULTILINGUAL_MIN_SHARE = 0.5
_SLUG = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


class TaxonomyError(ValueError):
    """The taxonomy (or a model's label set) is inconsistent."""


def home_of(topic: str) -> str:
    """The home (`general`, `math` or `code`) of a topic name; raises on a malformed name."""
    home, sep, slug = topic.partition(".")
    if not sep or not slug or home not in HOMES:
        raise ValueError(f"topic {topic!r} is not of the form <home>.<slug> with home in {HOMES}")
    return home


def check_taxonomy(topics: dict[str, str] | None = None, labels=None) -> None:
    """Raises TaxonomyError naming every problem: a topic without a valid home, a slug that is not
    lowercase snake_case, an empty description, a home without topics, or (with `labels`, e.g. a
    model's labels) a label that is not a topic of the taxonomy."""
    topics = TOPICS if topics is None else topics
    problems = []
    for name, desc in topics.items():
        home, sep, slug = name.partition(".")
        if not sep or home not in HOMES:
            problems.append(f"topic {name!r} has no valid home (expected <home>.<slug>, home in "
                            f"{'|'.join(HOMES)})")
        elif not _SLUG.fullmatch(slug):
            problems.append(f"topic {name!r}: slug {slug!r} is not lowercase snake_case")
        if not isinstance(desc, str) or not desc.strip():
            problems.append(f"topic {name!r} has no description")
    for home in HOMES:
        if not any(n.startswith(home + ".") for n in topics):
            problems.append(f"home {home!r} has no topic")
    if labels is not None:
        unknown = sorted(set(labels) - set(topics))
        if unknown:
            problems.append(f"labels not in the taxonomy: {', '.join(unknown)}")
    if problems:
        raise TaxonomyError("inconsistent taxonomy: " + "; ".join(problems))


@dataclass(frozen=True)
class DomainRule:
    """Settings of the domain rule (see the module docstring)."""
    multilingual_min_share: float = MULTILINGUAL_MIN_SHARE
    english: tuple[str, ...] = ("en", "und")
    code_homes: tuple[str, ...] = ("code",)


DEFAULT_RULE = DomainRule()


def domain_of(topic: str, lang: str, lang_share: float,
              min_share: float | None = None, rule: DomainRule = DEFAULT_RULE) -> str:
    """Mix domain of one document: code topics -> code; non-English (share >= min share) ->
    multilingual; else the topic's home. `min_share`, when given, overrides the rule's."""
    home = home_of(topic)
    if home in rule.code_homes:
        return "code"
    threshold = rule.multilingual_min_share if min_share is None else min_share
    if lang not in rule.english and lang_share >= threshold:
        return "multilingual"
    return home
