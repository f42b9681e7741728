# One command each, idempotent, over a project-local virtual environment:
#   make demo   set everything up, then `mrl-eval recommend $(DEMO_ARGS)` on the bundled sample with the bundled model:
#               the smallest dim whose nDCG@10 is, with 95% confidence, at most 10% below the full size's
#   make test   set everything up, then run the test suite (tests/test_docs.py also runs `mkdocs build --strict`)
# Both install the package with every extra (`.[dev]` holds `[all]`); `pip install mrl-eval` alone is the small core.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch keeps the install lean (~200 MB instead of several GB of CUDA libraries). On a machine
# whose pip cannot find a CPU wheel for this pin, add TORCH_INDEX=https://download.pytorch.org/whl/cpu.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.mrl-eval-installed
# The demo's question (tests/test_first_run.py runs it on the sample's precomputed vectors of the same model).
DEMO_ARGS ?= --dims 32,64,96,128,192,256 --max-drop 10% --rule non-inferior

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mrl-eval recommend $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) reports/*.json reports/*.csv reports/*.md reports/*.png reports/*.svg reports/*.html
