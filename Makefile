# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
MNEMO_DATA ?= $(abspath $(CURDIR)/../shared/data)
export MNEMO_DATA
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
BUILD := build/release
MNEMO := $(BUILD)/tools/mnemo/mnemo

.PHONY: all bootstrap build demo test unit fuzz-build fuzz-smoke asan full clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# Generates a story with the default model (see scripts/demo.sh for how it is chosen). Builds only
# the mnemo binary (the one target scripts/demo.sh runs), not the tests, benchmarks and fuzzers.
demo: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target mnemo_cli
	@bash scripts/demo.sh $(MNEMO)

# What CI runs: unit and model tests, then every fuzz target for $(FUZZ_SECONDS) s.
test: build
	@ctest --preset release
	@$(MAKE) --no-print-directory fuzz-smoke

unit: build
	@ctest --preset unit

fuzz-build: bootstrap
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

fuzz-smoke: fuzz-build
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

# Run by hand before resolving an issue: the sanitizer suite and the full-length checks.
asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan

full: build
	@ctest --preset full

clean:
	rm -rf build
