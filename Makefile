# One command each, idempotent, over a project-local virtual environment:
#   make demo   set everything up, then `mrl-eval recommend $(DEMO_ARGS)` on the bundled sample with the bundled model:
#               the smallest dim whose nDCG@10 is, with 95% confidence, at most 10% below the full size's
#   make test   set everything up, then run the test suite (tests/test_docs.py also runs `mkdocs build --strict`)
# Both install the package with every extra (`.[dev]` holds `[all]`); `pip install mrl-eval` alone is the small core.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch (about 750 MB in the venv; the default build adds several GB of CUDA libraries). On a machine
# whose pip cannot find a CPU wheel for this pin, add TORCH_INDEX=https://download.pytorch.org/whl/cpu.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.mrl-eval-installed
# The demo's question (tests/test_first_run.py runs it on the sample's precomputed vectors of the same model).
DEMO_ARGS ?= --dims 32,64,96,128,192,256 --max-drop 10% --rule non-inferior

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@echo "Setting up $(VENV): every extra, about 3 GB (torch's CPU build alone is about 750 MB); pip shows its progress."
	@echo "[1/3] the virtual environment and pip"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	@echo "[2/3] torch, CPU build ($(TORCH_SPEC))"
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	@echo "[3/3] mrl-eval with every extra and the test tools (.[dev])"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)
	@echo "Set up: $(VENV) is ready."

demo: $(STAMP)
	$(BIN)/mrl-eval recommend $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

# The venv and the demo's own report set, by name: other files in reports/ (your runs, a committed baseline) stay.
# The embedding cache ($$XDG_CACHE_HOME/mrl-eval, else ~/.cache/mrl-eval) is shared with your other runs: not removed.
DEMO_REPORTS := $(foreach s,json csv md html png svg losses.csv deltas.png deltas.svg,reports/cranfield__all-minilm-l6-v2.$(s))

clean:
	rm -rf $(VENV)
	rm -f $(DEMO_REPORTS)
