# A thin front to CMake, busted and luacheck. Every target first installs the
# Debian packages it needs (setup/deps.sh), so each works on a fresh machine.

BUILD      := build
ASAN_BUILD := build-asan
JOBS       := 2
MAKEFLAGS  += --no-print-directory
# CI builds with -Werror; a developer's tree is not stopped by a new warning.
WERROR     := $(if $(CI),ON,OFF)

.PHONY: all deps build test test-plain test-asan lint bench demo clean

all: build

deps:
	@sh setup/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DASX_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The whole suite, then the whole suite again under ASan and UBSan.
test: build lint
	@sh spec/run.sh $(BUILD)
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DASX_SANITIZE=ON \
		-DASX_WERROR=$(WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@sh spec/run.sh $(ASAN_BUILD) sanitize
	@echo "make test: all tests passed, plain and under ASan/UBSan"

lint: deps
	luacheck --quiet lua strategies spec bench

bench: build
	@sh bench/run.sh $(BUILD)

demo: build
	@sh setup/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
