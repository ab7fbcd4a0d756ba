"""The topic taxonomy and the domain rule (taggers.taxonomy), checked at start-up by load_models."""
import pytest

import taggers
from taggers import taxonomy
from taggers.taxonomy import (DomainRule, TaxonomyError, TOPICS, check_taxonomy, domain_of,
                              home_of)

ISSUE_TOPICS = (
    "general.news_and_politics", "general.business_and_finance", "general.sports",
    "general.arts_and_entertainment", "general.science", "general.health_and_medicine",
    "general.technology_and_computing", "general.law_and_government",
    "general.religion_and_philosophy", "general.history", "general.fiction_and_literature",
    "general.education_and_howto", "general.forum_and_conversation", "general.reference",
    "math.word_problems", "math.algebra", "math.geometry", "math.number_theory",
    "math.calculus_and_analysis", "math.probability_and_statistics", "math.linear_algebra",
    "math.proofs_and_abstract", "math.math_software", "code.python", "code.c_cpp", "code.go",
    "code.rust", "code.java", "code.javascript_typescript", "code.shell", "code.sql",
    "code.markup_and_config", "code.other", "code.docs_about_code")


def test_at_least_32_fine_grained_topics_each_with_a_home_and_description():
    assert len(TOPICS) >= 32
    assert set(ISSUE_TOPICS) <= set(TOPICS)
    for name, desc in TOPICS.items():
        assert home_of(name) in taxonomy.HOMES and desc.strip()
    check_taxonomy()      # the shipped taxonomy is consistent


@pytest.mark.parametrize("bad, words", [
    ({"sport.football": "x", "general.a": "x", "math.a": "x", "code.a": "x"}, "no valid home"),
    ({"football": "x", "general.a": "x", "math.a": "x", "code.a": "x"}, "no valid home"),
    ({"general.Big Slug": "x", "math.a": "x", "code.a": "x"}, "snake_case"),
    ({"general.a": "", "math.a": "x", "code.a": "x"}, "no description"),
    ({"general.a": "x", "math.a": "x"}, "home 'code' has no topic"),
])
def test_inconsistent_taxonomy_is_a_clear_error(bad, words):
    with pytest.raises(TaxonomyError, match=words):
        check_taxonomy(bad)


def test_model_labels_outside_the_taxonomy_are_an_error():
    with pytest.raises(TaxonomyError, match="general.cooking"):
        check_taxonomy(labels=["general.sports", "general.cooking"])


def test_load_models_checks_the_taxonomy_at_start_up(monkeypatch):
    monkeypatch.setitem(taxonomy.TOPICS, "sport.football", "a topic without a valid home")
    with pytest.raises(TaxonomyError, match="sport.football"):
        taggers.load_models()


def test_domain_rule():
    assert domain_of("code.python", "de", 1.0) == "code"            # code whatever the language
    assert domain_of("math.algebra", "fr", 0.9) == "multilingual"
    assert domain_of("math.algebra", "fr", 0.4) == "math"           # mostly English letters
    assert domain_of("math.algebra", "en", 1.0) == "math"
    assert domain_of("general.sports", "und", 1.0) == "general"     # unsure is not foreign
    assert domain_of("general.sports", "de", 0.5) == "multilingual"  # the threshold is inclusive
    with pytest.raises(ValueError):
        domain_of("sports", "en", 1.0)


def test_domain_rule_is_configurable():
    assert domain_of("general.sports", "de", 0.6, min_share=0.7) == "general"
    rule = DomainRule(multilingual_min_share=0.7, english=("en", "und", "sco"))
    assert domain_of("general.sports", "de", 0.6, rule=rule) == "general"
    assert domain_of("general.sports", "sco", 1.0, rule=rule) == "general"
    assert domain_of("code.docs_about_code", "de", 1.0, rule=DomainRule(code_homes=())) == "multilingual"
