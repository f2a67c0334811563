# Quick start:  make run   (build, then serve on 1883 with conf/strata.conf)
#               make test  (build, then run every test: unit, end-to-end, fuzz)
# Both install the Debian packages they need first (tools/install-deps).

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build fuzz-build test-env run test clean

all: build

deps:
	tools/install-deps

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# The libFuzzer target needs clang, so it has its own build tree.
fuzz-build: deps
	cmake -S . -B $(BUILD)/fuzz -G Ninja -DSTRATA_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD)/fuzz -j $(JOBS)

test-env: deps
	tools/test-env $(BUILD)

run: build
	$(BUILD)/bin/strata -c conf/strata.conf

test: build fuzz-build test-env
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
