# IP early-warning bot — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 for Rasa (pyenv's copy when `python3.10` is not on PATH), Python 3.11 for the rest.
PY310 ?= $(shell for p in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10; do \
           $$p -c 'import sys; assert sys.version_info[:2]==(3,10)' >/dev/null 2>&1 && { echo $$p; break; }; done)
PY311 ?= $(shell for p in python3.11 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.11*/bin/python3.11; do \
           $$p -c 'import sys; assert sys.version_info[:2]==(3,11)' >/dev/null 2>&1 && { echo $$p; break; }; done)

VENV      := .venv
VENV_RASA := .venv-rasa
PY        := $(VENV)/bin/python
RASA      := $(VENV_RASA)/bin/rasa
export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

MODEL        := models/ipbot.tar.gz
BOT_SOURCES  := config.yml bot/domain.yml $(wildcard bot/data/*.yml) $(wildcard bot/jieba/*) \
                actions/language.py $(wildcard bot/components/*.py)
KNOWLEDGE    := $(shell find knowledge -name '*.md' -not -name README.md 2>/dev/null)
RASA_PATHS   := --config config.yml --domain bot/domain.yml

.PHONY: help run shell setup db venvs web browser index train check-knowledge knowledge-report lint format validate test test-unit test-quick \
        test-stories test-e2e test-scale scale-demo scale-packages bench bench-anchor fuzz soak soak-scale eval eval-retrieval postgres clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# ---- set-up: each step runs only when its inputs changed ----------------------------------------
$(VENV)/.installed: requirements.txt
	@test -n "$(PY311)" || { echo "Python 3.11 not found"; exit 1; }
	test -x $(PY) || $(PY311) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0   # the local CPU wheel; must come before sentence-transformers
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV_RASA)/.installed: requirements-rasa.txt
	@test -n "$(PY310)" || { echo "Python 3.10 not found (Rasa 3.6 needs it)"; exit 1; }
	test -x $(VENV_RASA)/bin/python || $(PY310) -m venv $(VENV_RASA)
	$(VENV_RASA)/bin/python -m pip install -q --upgrade pip
	$(VENV_RASA)/bin/python -m pip install -q -r requirements-rasa.txt
	touch $@

venvs: $(VENV)/.installed $(VENV_RASA)/.installed ## create or refresh both virtual environments

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web: web/node_modules/.installed ## install the web widget's files from npm (served locally, no CDN)

browser: ## make sure Debian's Chromium, ChromeDriver and a CJK font are installed (widget tests)
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver -a -n "$$(fc-list :lang=zh 2>/dev/null | head -1)" || \
	  { echo "installing Chromium, ChromeDriver and Noto CJK fonts for the widget tests"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk; }

.index/CURRENT: $(KNOWLEDGE) $(wildcard bot/jieba/*) actions/retrieval/text.py actions/knowledge.py actions/retrieval/passage.py actions/retrieval/build.py | $(VENV)/.installed
	$(PY) -m actions.cli index

index: $(VENV)/.installed ## (re)build the knowledge index; only changed passages are embedded again
	$(PY) -m actions.cli index

$(MODEL): $(BOT_SOURCES) | $(VENV_RASA)/.installed
	$(RASA) train $(RASA_PATHS) --data bot/data --out models --fixed-model-name ipbot

train: $(MODEL) ## train the Rasa model if bot data or config changed

db: $(VENV)/.installed ## create or upgrade the case database (DATABASE_URL; default SQLite in .data/)
	$(PY) -c "from actions.settings import get_settings as g; from actions.store import migrate; migrate(g().database_url)"

setup: venvs web .index/CURRENT $(MODEL) db ## everything `make run` needs

# ---- use ------------------------------------------------------------------------------------------
run: setup ## start Rasa (:5005), the action server (:5055), the notifier, the web page (:8080), the staff and expert console (:8090) and, with a Telegram token, the gateway; Ctrl-C stops them
	$(PY) -m bot.stack run

shell: setup ## chat with the bot in the terminal
	$(PY) -m bot.stack shell

check-knowledge: $(VENV)/.installed ## validate knowledge/ (prints file:line: field: message)
	$(PY) -m actions.cli check

knowledge-report: $(VENV)/.installed ## per document: official/secondary sources, unverified passages, review due, asks → .run/knowledge-report.md
	$(PY) -m actions.cli report

bench: setup ## benchmarks: input handling on adversarial text (~10 s), retrieval on a 10k-chunk corpus (~20 min), REST latency, Telegram gateway vs REST, this bot against the bare `rasa init` bot (~12 min), a full build against the raw embedder and answers during a build (~5 min)
	$(PY) -m eval.bench_input
	$(PY) -m eval.bench_retrieval
	$(PY) -m eval.bench_rest
	$(PY) -m eval.bench_gateway
	$(PY) -m eval.bench_anchor
	$(PY) -m eval.bench_build

bench-anchor: setup ## this bot against the bare `rasa init` bot, interleaved: p50/p95 and their ratios, CPU per message, memory (~12 min; ANCHOR_ARGS=--quick, --report …)
	$(PY) -m eval.bench_anchor $(ANCHOR_ARGS)

fuzz: setup ## hostile-input probe: 10,000 malformed requests and odd messages on REST and socket.io, on a private loopback stack (~11 min; FUZZ_ARGS=…)
	$(PY) -m eval.fuzz $(FUZZ_ARGS)

soak: setup ## reliability probes on a private supervised loopback stack: 100 conversations × 300 s, then faults (kill -9 of each process, read-only and missing database) (~30 min; SOAK_ARGS=…, FAULTS_ARGS=…)
	@rc=0; $(PY) -m eval.probes.soak $(SOAK_ARGS) || rc=1; $(PY) -m eval.probes.faults $(FAULTS_ARGS) || rc=1; exit $$rc

soak-scale: setup scale-packages ## the same probes on the scale-out set (nginx, two Rasa replicas, PostgreSQL, Redis, two notifiers): the soak, then Rasa killed at submission ×20, read-only and unavailable case database (~35 min; SCALE_SOAK_ARGS=…, SCALE_FAULTS_ARGS=…)
	@rc=0; $(PY) -m eval.probes.scale_soak $(SCALE_SOAK_ARGS) || rc=1; $(PY) -m eval.probes.scale_faults $(SCALE_FAULTS_ARGS) || rc=1; exit $$rc

eval: $(VENV)/.installed .index/CURRENT $(MODEL) ## evaluators' toolkit: conversation tests, answer quality, NLU CV, stories → eval/reports/evaluation.md (~20 min; EVAL_ARGS=…)
	$(PY) -m eval.run $(EVAL_ARGS)

eval-retrieval: $(VENV)/.installed ## Recall@1/@5 and MRR per language, topic, method and backend
	$(PY) -m eval.retrieval.run --markdown eval/reports/retrieval.md

# ---- quality -------------------------------------------------------------------------------------
lint: $(VENV)/.installed ## ruff check, format check and mypy (actions/, bot/, eval/; config in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed ## apply ruff's formatting and fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: $(VENV_RASA)/.installed ## rasa data validate, warnings are errors
	$(RASA) data validate --fail-on-warnings $(RASA_PATHS) --data bot/data

postgres: ## make sure a PostgreSQL server binary is installed (the case store is tested on it too)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { echo "installing PostgreSQL for the tests"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

test-unit: $(VENV)/.installed postgres ## pytest unit and integration tests (the real embedding model, SQLite and a throwaway PostgreSQL)
	$(PY) -m pytest -m "not e2e" -q

test-quick: $(VENV)/.installed ## the unit tests alone, for a quick loop: no embedding model, no PostgreSQL, no servers
	$(PY) -m pytest -m "not e2e and not integration" -q

test-stories: $(MODEL) ## rasa test on the dialogue test stories
	$(RASA) test core --model $(MODEL) --stories bot/tests --out results/stories --fail-on-prediction-errors

test-e2e: setup browser ## end-to-end tests against real Rasa and action servers on free ports (not the scale-out test)
	$(PY) -m pytest -m "e2e and not scale" -q

scale-packages: ## make sure PostgreSQL, Redis and nginx are installed from Debian's packages (the scale-out demo and test)
	@{ ls /usr/lib/postgresql/*/bin/initdb && command -v redis-server && { command -v nginx || test -x /usr/sbin/nginx; }; } >/dev/null 2>&1 || \
	  { echo "installing PostgreSQL, Redis and nginx"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server nginx; }

test-scale: $(VENV)/.installed $(VENV_RASA)/.installed .index/CURRENT $(MODEL) scale-packages ## the scale-out e2e test: two Rasa replicas behind nginx, PostgreSQL, Redis, two notifiers, index publishing (~2 min; not in `make test`)
	$(PY) -m pytest -m scale -q

scale-demo: $(VENV)/.installed $(VENV_RASA)/.installed .index/CURRENT $(MODEL) scale-packages ## two Rasa replicas and action servers behind nginx, two notifiers, PostgreSQL and Redis on 127.0.0.1: round robin, failover, exactly-once delivery (~2 min; SCALE_ARGS=…)
	$(PY) -m bot.scale demo $(SCALE_ARGS)

test: lint validate check-knowledge test-unit test-stories test-e2e ## everything CI runs

clean: ## remove build products (index, models, results), keep the venvs
	rm -rf .index models results .run
