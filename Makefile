# The two set-up commands: `make demo` and `make test`. Both create .venv and install
# the project on a fresh machine; a second run reuses .venv while pyproject.toml is
# unchanged (the install stamp is named after its hash).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS_HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
DEMO_CLIP ?= sample_videos/moving
DEMO_OUT ?= demo_out

.PHONY: demo test lint install clean browser

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/samvideo track $(DEMO_CLIP)/video.mp4 --prompts $(DEMO_CLIP)/prompts.json \
		-o $(DEMO_OUT) --overwrite
	@echo "overlay: $(DEMO_OUT)/overlay.mp4   masks: $(DEMO_OUT)/masks/   tracks: $(DEMO_OUT)/tracks.jsonl"

# Chromium for the browser UI tests: Debian's package (Playwright's own browser download
# does not work everywhere). Never fails the build: without it those tests skip, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  echo "installing Chromium (apt-get) for the browser UI tests" && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 \
	   apt-get install -y -qq --no-install-recommends chromium fonts-liberation) >/dev/null 2>&1; } || \
	echo "note: Chromium is not installed and could not be: the browser UI tests will skip"

test: $(STAMP) browser
	$(VENV)/bin/ruff check samvideo tests tools
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check samvideo tests tools

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
