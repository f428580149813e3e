# A thin front to CMake, busted and luacheck. Every target first installs the
# Debian packages it needs (setup/deps.sh) when they have not been checked
# yet, so each works on a fresh machine.

BUILD      := build
ASAN_BUILD := build-asan
FUZZ_BUILD := build-fuzz
JOBS       := 2
MAKEFLAGS  += --no-print-directory
# CI builds with -Werror; a developer's tree is not stopped by a new warning.
WERROR     := $(if $(CI),ON,OFF)

# make fuzz [SEED=n] [N=calls] [RUNS=n]: differential runs of the exchange
# against the model in spec/fuzz (SEED defaults to the time).
# make fuzz-c [TIME=seconds] [FUZZER=book|text]: a libFuzzer target, the
# C book's or the text encoders'.
SEED :=
N    := 100000
RUNS := 1
TIME := 60
FUZZER := book

.PHONY: all deps build test test-plain test-asan lint bench demo clean fuzz fuzz-c fuzz-c-build fuzz-c-smoke

all: build

# The package check runs once per build tree, and again when setup/deps.sh
# or the npm packages it installs (setup/web) change: the stamp records that
# every package was there. A node_modules that went missing is installed
# again too (its copy of the lock file is gone with it).
DEPS_STAMP := $(BUILD)/.deps-checked

deps: $(DEPS_STAMP)

$(DEPS_STAMP): setup/deps.sh setup/web/package.json setup/web/package-lock.json \
		setup/web/node_modules/.asx-lock.json
	@sh setup/deps.sh
	@mkdir -p $(@D) && touch $@

# Missing (a fresh clone, or node_modules removed): the stamp is out of date.
setup/web/node_modules/.asx-lock.json:

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
	@$(MAKE) fuzz-c-smoke
	@echo "make test: all tests passed, plain and under ASan/UBSan"

lint: deps
	luacheck --quiet lua strategies studies spec bench

fuzz: build
	@LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
		luajit spec/fuzz/run.lua "$(SEED)" "$(N)" "$(RUNS)"

fuzz-c-build: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DASX_FUZZ=ON \
		-DASX_WERROR=$(WERROR) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_book fuzz_text

# The corpus grows in build-fuzz/corpus (corpus-text for FUZZER=text); a
# failing input is saved as build-fuzz/crash-*, and `build-fuzz/fuzz_book
# FILE` replays it.
fuzz-c: fuzz-c-build
	@mkdir -p $(FUZZ_BUILD)/corpus$(if $(filter text,$(FUZZER)),-text)
	cd $(FUZZ_BUILD) && ./fuzz_$(FUZZER) -max_total_time=$(TIME) -max_len=4096 \
		-print_final_stats=1 corpus$(if $(filter text,$(FUZZER)),-text)

# A fixed, short run of each for make test (a few seconds), so the targets
# cannot rot.
fuzz-c-smoke: fuzz-c-build
	@echo "== libFuzzer targets, 100000 runs each from seed 1"
	@cd $(FUZZ_BUILD) && ./fuzz_book -seed=1 -runs=100000 -max_len=512 \
		>smoke.log 2>&1 || { tail -30 smoke.log; exit 1; }
	@cd $(FUZZ_BUILD) && ./fuzz_text -seed=1 -runs=100000 -max_len=512 \
		>smoke-text.log 2>&1 || { tail -30 smoke-text.log; exit 1; }

bench: build
	@sh bench/run.sh $(BUILD)

demo: build
	@sh setup/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
