"""The code-language stage of topic tagging (taggers.code_language): its syntax input, how it
re-decides code.<language> topics, the committed model, loading errors and training.

Runs against the committed taggers/models/code_language.ftz (rebuilt by `make train-taggers`)."""
import gzip
import json
import os
import random
import shutil

import pytest

import taggers
from taggers import code_language as cl
from taggers import topic_training

PYTHON = '''import os


def read_config_file(config_path, default_values=None):
    """Read a key=value file into a dict."""
    result = dict(default_values or {})
    with open(config_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


class ConfigError(Exception):
    pass
'''

GO = '''package config

import (
	"bufio"
	"os"
	"strings"
)

// ReadConfigFile reads a key=value file into a map.
func ReadConfigFile(configPath string) (map[string]string, error) {
	f, err := os.Open(configPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	result := make(map[string]string)
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), "=")
		if ok {
			result[strings.TrimSpace(key)] = strings.TrimSpace(value)
		}
	}
	return result, scanner.Err()
}
'''

RUST = '''use std::collections::HashMap;
use std::fs;
use std::io;

/// Reads a key=value file into a map.
pub fn read_config_file(config_path: &str) -> io::Result<HashMap<String, String>> {
    let contents = fs::read_to_string(config_path)?;
    let mut result = HashMap::new();
    for line in contents.lines() {
        if let Some((key, value)) = line.split_once('=') {
            result.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_an_error() {
        assert!(read_config_file("/no/such/file").is_err());
    }
}
'''

# C indented with tabs, like Go: indentation style must not make it Go.
C_TABS = '''#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config_entry {
	char *key;
	char *value;
	struct config_entry *next;
};

static struct config_entry *read_config_file(const char *config_path)
{
	FILE *fp = fopen(config_path, "r");
	struct config_entry *head = NULL;
	char line[1024];

	if (fp == NULL)
		return NULL;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\\0';
		struct config_entry *entry = malloc(sizeof(*entry));
		entry->key = strdup(line);
		entry->value = strdup(eq + 1);
		entry->next = head;
		head = entry;
	}
	fclose(fp);
	return head;
}
'''

SQL = '''CREATE TABLE config_entries (
    entry_id INTEGER PRIMARY KEY,
    entry_key VARCHAR(255) NOT NULL,
    entry_value TEXT,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_config_entries_key ON config_entries (entry_key);

INSERT INTO config_entries (entry_key, entry_value) VALUES ('timeout', '30');
INSERT INTO config_entries (entry_key, entry_value) VALUES ('retries', '5');

SELECT entry_key, entry_value
FROM config_entries
WHERE updated_at > CURRENT_DATE - INTERVAL '7 days'
ORDER BY entry_key;
'''

SPORTS = ("Arsenal beat Chelsea 2-1 at the Emirates Stadium on Saturday, with the striker scoring "
          "twice in the second half. The win lifts the team to second place in the league.")


@pytest.fixture(scope="module")
def models():
    return taggers.load_models()


def test_identifiers_become_their_shape_and_keywords_stay():
    out = cl.syntax_input("def read_config_file(configPath, MaxRetries, _cache, x2, HTTP):").split()
    assert out == ["def", "IDs", "(", "IDc", ",", "IDcC", ",", "IDu", ",", "IDd", ",", "http_U",
                   "):"]
    assert cl.syntax_input("count = 123456") == "count = 0"


def test_renamed_identifiers_give_the_same_input():
    renamed = (PYTHON.replace("read_config_file", "load_settings_table")
               .replace("config_path", "settings_file").replace("ConfigError", "SettingsFault"))
    assert renamed != PYTHON
    assert cl.syntax_input(renamed) == cl.syntax_input(PYTHON)


def test_tabs_and_spaces_and_indentation_depth_look_the_same():
    spaces = C_TABS.replace("\t", "    ")
    assert cl.syntax_input(spaces) == cl.syntax_input(C_TABS)
    assert cl.syntax_input("a\n        b\nc") == "a NL1 b NL0 c"


def test_the_leading_licence_block_is_not_read_and_input_is_capped():
    header = "/*\n * Licensed under the Apache License, Version 2.0; see the LICENSE file.\n */\n"
    assert cl.syntax_input(header + C_TABS) == cl.syntax_input(C_TABS)
    assert cl.syntax_input("x " * 5000, max_chars=100).split() == ["x"] * 50
    assert cl.syntax_inputs(["", PYTHON]) == ["", cl.syntax_input(PYTHON)]


def test_committed_model_is_small_and_knows_only_code_languages(models):
    assert os.path.getsize(models.paths["code_language"]) <= 3 * 1024 * 1024
    labels = {l[len("__label__"):] for l in models.code_language.get_labels()}
    assert len(labels) >= 8 and labels <= set(cl.LANGUAGE_TOPICS)
    assert "code.docs_about_code" not in cl.LANGUAGE_TOPICS


def test_committed_model_names_the_language_of_source_files(models):
    langs, probs = cl.predict_languages([PYTHON, GO, RUST, C_TABS, SQL], models.code_language)
    assert langs == ["code.python", "code.go", "code.rust", "code.c_cpp", "code.sql"]
    assert all(0.0 < p <= 1.0 for p in probs)
    assert cl.predict_languages([], models.code_language) == ([], [])


class AlwaysRust:
    """A stand-in model that calls every input Rust, to see which documents reach the model."""
    def __init__(self):
        self.seen = []

    def predict(self, inputs, k=1, threshold=0.0):
        self.seen += inputs
        return [["__label__code.rust"] for _ in inputs], [[0.75] for _ in inputs]


def test_only_code_language_topics_below_the_gate_are_re_decided():
    model = AlwaysRust()
    texts = [PYTHON, GO, "about code", SPORTS]
    topics, scores = cl.refine_topics(
        texts, ["code.python", "code.go", "code.docs_about_code", "general.sports"],
        [0.9, cl.CONFIDENT_TOPIC, 0.8, 0.7], model)
    assert topics == ["code.rust", "code.go", "code.docs_about_code", "general.sports"]
    assert scores == [0.75, cl.CONFIDENT_TOPIC, 0.8, 0.7]
    assert model.seen == [cl.syntax_input(PYTHON)]
    topics, _ = cl.refine_topics(texts[:2], ["code.python", "code.go"], [0.9, 0.99], model, gate=1.01)
    assert topics == ["code.rust", "code.rust"]
    assert cl.refine_topics(texts, ["code.go"] * 4, [0.5] * 4, None) == (["code.go"] * 4, [0.5] * 4)


def test_tag_batch_runs_the_code_language_stage(models, monkeypatch):
    monkeypatch.setattr(cl, "CONFIDENT_TOPIC", 1.01)         # every code.<language> topic re-decided
    stub = AlwaysRust()
    swapped = taggers.Models(lid=models.lid, topic=models.topic, quality_model=models.quality_model,
                             paths=models.paths, quality=models.quality, code_language=stub)
    out = taggers.tag_batch([PYTHON, SPORTS], swapped)
    assert out["topic"] == ["code.rust", "general.sports"] and out["domain"][0] == "code"
    assert len(stub.seen) == 1
    assert taggers.tag_batch([GO], models)["topic"] == ["code.go"]


def _models_dir(tmp_path, code_model_from=None):
    for name in ("topic.ftz", "quality.ftz"):
        shutil.copy(os.path.join(taggers.MODEL_DIR, name), tmp_path / name)
    if code_model_from:
        shutil.copy(os.path.join(taggers.MODEL_DIR, code_model_from), tmp_path / "code_language.ftz")
    return str(tmp_path)


def test_a_missing_code_language_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"code_language\.ftz.*make train-taggers"):
        taggers.load_models(_models_dir(tmp_path))


def test_a_code_language_model_with_other_labels_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"code-language model .*'general\."):
        taggers.load_models(_models_dir(tmp_path, code_model_from="topic.ftz"))


def test_a_corrupt_code_language_model_is_a_clear_error(tmp_path):
    d = _models_dir(tmp_path)
    (tmp_path / "code_language.ftz").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"code-language model .*cannot be loaded"):
        taggers.load_models(d)


def _code_text(kind: str, rng: random.Random) -> str:
    name = "_".join(rng.choice(["read", "parse", "load", "write", "value", "table", "entry", "item"])
                    for _ in range(3))
    if kind == "code.python":
        return (f"def {name}(items, limit=None):\n    result = []\n    for item in items:\n"
                f"        if item is None:\n            continue\n        result.append(item)\n"
                f"    return result\n\n\nclass {name.title().replace('_', '')}:\n    pass\n")
    return (f"package main\n\nfunc {name.title().replace('_', '')}(items []string) []string {{\n"
            f"\tresult := []string{{}}\n\tfor _, item := range items {{\n\t\tif item != \"\" {{\n"
            f"\t\t\tresult = append(result, item)\n\t\t}}\n\t}}\n\treturn result\n}}\n")


def test_training_writes_the_code_language_model_and_its_card(tmp_path, monkeypatch):
    from taggers import code_language_training
    for module in (topic_training, code_language_training):      # small tables: a fast test
        monkeypatch.setitem(module.TRAIN_SETTINGS, "bucket", 20_000)
        monkeypatch.setitem(module.QUANTIZE_SETTINGS, "cutoff", 5_000)
    rng = random.Random(0)
    sample = tmp_path / "sample" / "code"
    sample.mkdir(parents=True)
    recs = []
    for label in ("code.python", "code.go"):
        for k in range(2):                                       # two sources per language
            for i in range(30):
                recs.append({"id": f"{label}-{k}-{i}", "text": _code_text(label, rng),
                             "source": f"{label.split('.')[1]}{k}",
                             "meta": {"label": label, "lang": "en", "path": f"d{i % 5}/f{i}"}})
    with gzip.open(sample / "code.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "models" / "topic.ftz"
    topic_training.train(str(tmp_path / "sample"), str(out), seed=0, log=lambda m: None)
    model_path = tmp_path / "models" / "code_language.ftz"
    assert model_path.exists()
    card = (tmp_path / "models" / "code_language.md").read_text()
    assert "## Held-out accuracy, this model alone" in card and "## Both stages together" in card
    assert "| code.go | source go" in card and "| code.python | source python" in card
    import fasttext
    labels = set(fasttext.load_model(str(model_path)).get_labels())
    assert labels == {"__label__code.python", "__label__code.go"}
