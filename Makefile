# Parley: `make up` runs the stack, `make test` runs the test suite.
# Both install what is missing first (scripts/deps.sh) and build with CMake.
BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build up test test-unit test-san fuzz fuzz-smoke images deploy-prep compose-test helm-check kube-play-test clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

up: build
	scripts/up.sh $(BUILD)

# The unit suites under ASan+UBSan first, then the container image when it is missing or stale
# and the Helm tools (deploy-prep), then the whole suite on the Release build (so the last
# summary ctest prints is the whole suite's; the deploy tests run real containers).
test: build
	$(MAKE) --no-print-directory test-san
	$(MAKE) --no-print-directory deploy-prep
	ctest --test-dir $(BUILD) --output-on-failure --timeout 900 -j $(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit -j $(JOBS)

test-san: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON -DPARLEY_ENABLE_CUDA=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD_SAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_SAN) --output-on-failure -L 'unit|fuzz' -j $(JOBS)

# libFuzzer targets (tests/fuzz/README.md), built with clang in $(BUILD_FUZZ), each run for
# FUZZ_SECONDS; fails on any crash, leak or timeout. FUZZ_TARGETS="audio arpa" picks some.
fuzz: deps
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_FUZZ=ON \
	  -DPARLEY_ENABLE_CUDA=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target parley_fuzz
	tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The fuzz targets' seed and regression inputs replayed on the Release build (seconds).
fuzz-smoke: build
	ctest --test-dir $(BUILD) --output-on-failure -L fuzz -j $(JOBS)

# Container images (docker/build.sh: podman, base image from this machine's apt sources) and
# the compose stack run for real (docker/compose_test.sh); docs/deployment.md. These install
# their own packages (docker/deps.sh); make build and make test do not.
images:
	docker/build.sh

# What the deploy ctests need, made before ctest so that its timeouts do not count it: the image
# of the current sources (docker/ensure_images.sh; exit 77 = this machine cannot run containers,
# the container tests then skip and say why) and Helm with the schema packages (helm/tools.sh).
deploy-prep:
	@docker/ensure_images.sh; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]
	@helm/tools.sh >/dev/null

compose-test: build
	docker/compose_test.sh $(BUILD)

# The Helm chart offline (helm lint/template, Kubernetes schemas; helm/check.sh), and its
# rendered manifests run with podman kube play as far as podman goes (helm/kube_play_test.sh).
helm-check:
	helm/check.sh

kube-play-test: build images
	helm/kube_play_test.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
