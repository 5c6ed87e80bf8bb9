# melotag — two commands on a fresh Debian machine: `make run` and `make test`.
# `make setup` (run by both when something is missing) installs what is missing: Debian
# packages, the project venv (converter + reference pipeline), ONNX Runtime from the
# onnxruntime wheel, and the converted models.

SHELL       := /bin/bash
CARGO       ?= cargo
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
# TensorFlow (musicnn conversion + reference) lives in its own venv, keeping .venv light.
VENV_MN     := .venv-musicnn
PY_MN       := $(VENV_MN)/bin/python
ORT_DIR     := .cache/onnxruntime
ORT_LIB     := $(ORT_DIR)/libonnxruntime.so
MODELS      := models/choi2016_crnn.onnx models/choi2016_cnn.onnx models/musicnn_msd.onnx \
               models/musicnn_mtt.onnx
SHARED      ?= ../shared
BIN         := target/release/melotag
# `make install` target: ~/.local needs no root; `sudo make install PREFIX=/usr/local` works too.
PREFIX      ?= $(HOME)/.local

.PHONY: setup system-packages run test bench clean-models build install uninstall

setup: system-packages $(VENV)/.stamp $(VENV_MN)/.stamp $(ORT_LIB) $(MODELS)

system-packages:
	@tools/setup-system.sh

$(VENV)/.stamp: tools/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

# The ort crate's own binary download cannot be used: take the library from the wheel.
$(ORT_LIB): $(VENV)/.stamp
	@mkdir -p $(ORT_DIR)
	@lib=$$($(PY) -c 'import glob, os, onnxruntime; d = os.path.join(os.path.dirname(onnxruntime.__file__), "capi"); print(sorted(glob.glob(os.path.join(d, "libonnxruntime.so*")))[0])') && \
	  cp -f "$$lib" $@.tmp && mv -f $@.tmp $@ && echo "ONNX Runtime: $$lib -> $@"

models/choi2016_%.onnx: tools/convert_choi2016.py tools/converter_util.py | $(VENV)/.stamp
	$(PY) tools/convert_choi2016.py --model $* --src $(SHARED)/upstream/choi2016 --out models

# musicnn's metadata pins numpy<1.17 and TF 1.x: install it without dependencies, then what
# it really needs (TF 2.15 wheels exist for Python 3.9-3.11; Debian 12's python3 is 3.11).
$(VENV_MN)/.stamp: tools/requirements-musicnn.txt
	@test -x $(PY_MN) || $(PYTHON) -m venv $(VENV_MN)
	$(PY_MN) -m pip install --quiet --disable-pip-version-check --no-deps musicnn==0.1.0
	$(PY_MN) -m pip install --quiet --disable-pip-version-check -r tools/requirements-musicnn.txt
	@touch $@

# musicnn_msd (MSD_musicnn) and musicnn_mtt (MTT_musicnn); the self-check runs real audio patches.
models/musicnn_%.onnx: tools/convert_musicnn.py tools/converter_util.py | $(VENV_MN)/.stamp
	$(PY_MN) tools/convert_musicnn.py --model $* --audio $(SHARED)/upstream/choi2016/audio --out models

build: setup
	$(CARGO) build --release

# `make run` opens the desktop app; `make run ARGS="gui ~/Music"` opens a folder,
# `make run ARGS="tag ~/Music"` runs the command line.
run: build
	$(BIN) $(ARGS)

# Style and lints gate every change (cargo fmt, clippy -D warnings), then every test;
# tools/test-count.sh prints how many tests ran ("make test: N tests passed"), fails on any
# failure, ignored test or empty run, and keeps the count in .cache/test-count for .ci/run.
test: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	set -o pipefail; $(CARGO) test --release --no-fail-fast 2>&1 | tools/test-count.sh .cache/test-count

bench: build
	CARGO=$(CARGO) tools/bench.sh

# Installs the release binary, ONNX Runtime, the converted models, a desktop entry and an icon
# under PREFIX (README, "Installing"); PREFIX/share/melotag/installed-files.txt records them.
# Set-up runs only when the runtime or a model is missing, and the binary is rebuilt only when
# a source is newer: an up-to-date tree installs without cargo (or root's toolchain, with sudo).
# `make install BIN=FILE` installs that binary as it is (tests, packagers).
install: $(if $(filter-out $(wildcard $(ORT_LIB) $(MODELS)),$(ORT_LIB) $(MODELS)),setup) $(BIN)
	@tools/install.sh install "$(PREFIX)" "$(BIN)"

# Removes exactly what install recorded, then the folders it created if empty (never the
# user's analysis cache or undo journal, which may share PREFIX/share/melotag).
uninstall:
	@tools/install.sh uninstall "$(PREFIX)"

ifneq ($(origin BIN),command line)
$(BIN): $(shell find src -name '*.rs') Cargo.toml Cargo.lock
	$(CARGO) build --release
	@touch $@
endif

clean-models:
	rm -f $(MODELS)
