# Two commands set everything up on a fresh machine:
#   make demo   runtime only (no PyTorch): stylise the bundled clip with the bundled mosaic style
#   make test   everything (runtime, studio, dev tools) and the test suite; .ci/run calls this
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the demo gets its own environment: runtime only, proving a user never needs PyTorch
RUN_VENV ?= .venv-run
RUN_BIN := $(RUN_VENV)/bin
# onnxruntime-gpu where an NVIDIA driver is present, else the CPU build (the two are exclusive)
RUNTIME ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
DEMO_OUT ?= out/big-buck-bunny-mosaic.mp4
# make test-runtime OTHER_PYTHON=python3.10: the runtime half's tests on another Python (no torch wheel there: the
# tiny test styles are exported by .venv's torch; the studio tests skip)
OTHER_PYTHON ?= python3.13
OTHER_VENV ?= .venv-py$(shell $(OTHER_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)

.PHONY: demo test test-runtime lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_BIN)/python:
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_BIN)/python -m pip install -q --upgrade pip

$(RUN_VENV)/.installed: $(RUN_BIN)/python pyproject.toml $(wildcard nstvideo/*.py nstvideo/*/*.py trained_models/*)
	$(RUN_BIN)/python -m pip install -q ".[$(RUNTIME)]"
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	# torch first, pinned: any other spec pulls several GB of CUDA wheels on this kind of machine
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[cpu,train,craft,dev,virtualcam]"
	touch $@

demo: $(RUN_VENV)/.installed
	mkdir -p $(dir $(DEMO_OUT))
	$(RUN_BIN)/nstvideo file samples/big-buck-bunny-12s.mp4 $(DEMO_OUT) --style mosaic --overwrite
	@echo "done: $(DEMO_OUT)"

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

test-runtime: $(VENV)/.dev
	$(OTHER_PYTHON) -m venv $(OTHER_VENV)
	$(OTHER_VENV)/bin/python -m pip install -q --upgrade pip
	$(OTHER_VENV)/bin/python -m pip install -q -e ".[cpu,dev]" onnx
	$(BIN)/python tests/conftest.py $(OTHER_VENV)/tiny-models
	NSTVIDEO_TEST_MODELS=$(OTHER_VENV)/tiny-models $(OTHER_VENV)/bin/python -m pytest -q

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(RUN_VENV) .venv-py* out build *.egg-info
