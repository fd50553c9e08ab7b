# Short commands over CMake. `make demo` and `make test` are the two
# commands the README gives a new user; .ci/run calls `make test`.
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build demo run test test-release test-asan format format-check fuzz bench clean

all: build

deps:
	scripts/install-deps

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Install, build, and run the main job on the embedded origin.
demo: deps build
	./$(BUILD)/spate demo

run: demo

# The whole suite, then again under AddressSanitizer + UBSan.
test: deps format-check test-release test-asan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSPATE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS)

format:
	clang-format -i src/*.c src/*.h tests/*.c tests/*.h fuzz/*.c fuzz/*.h bench/*.c

format-check:
	clang-format --dry-run --Werror src/*.c src/*.h tests/*.c tests/*.h fuzz/*.c fuzz/*.h bench/*.c

fuzz:
	scripts/fuzz $(SECONDS)

bench: build
	bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
