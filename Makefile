# Parley: `make up` runs the stack, `make test` runs the test suite.
# Both install what is missing first (scripts/deps.sh) and build with CMake.
BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build up test test-unit test-san clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

up: build
	scripts/up.sh $(BUILD)

# The unit suites under ASan+UBSan first, then the whole suite on the Release build
# (so the last summary ctest prints is the whole suite's).
test: build
	$(MAKE) --no-print-directory test-san
	ctest --test-dir $(BUILD) --output-on-failure --timeout 900 -j $(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit -j $(JOBS)

test-san: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON -DPARLEY_ENABLE_CUDA=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD_SAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_SAN) --output-on-failure -L unit -j $(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
