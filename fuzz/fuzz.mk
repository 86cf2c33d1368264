# fuzz/fuzz.mk — libFuzzer harnesses (included by the Makefile; see
# docs/fuzzing.md). Everything is built with clang into build/fuzz/ with
# -fsanitize=fuzzer-no-link,address,undefined; each harness links the core/
# objects (and the scheduler's, or LuaJIT, as it needs).
#
#   make fuzz                 run every harness FUZZ_SECONDS (default 60) each
#   make fuzz FUZZ=frame      run one harness
#   make fuzz-build           build them only (build/fuzz/bin/fuzz_NAME)
#   make fuzz-regress         replay fuzz/regressions/ and the corpora once

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES := frame hello sched_ops worker_ops codec jsontape npy http
FUZZ         ?= $(FUZZ_HARNESSES)
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fPIC \
                -Icore -Iruntime/lib -iquote runtime/scheduler -iquote runtime/worker -iquote fuzz \
                $(PKG_CFLAGS) $(BLAS_CFLAGS) -DLDASK_PREFIX='"$(PREFIX)"' -DLDASK_SRC_ROOT='"$(CURDIR)"' $(FUZZ_SAN)
FUZZ_LIBS    := $(PKG_LIBS) $(BLAS_LIBS) -lpthread -lm -ldl -lhttp_parser
FUZZ_CORE    := $(CORE_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_RTLIB   := $(RTLIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SCHED   := $(filter-out $(FUZZ_BUILD)/runtime/scheduler/main.o,$(SCHED_SRC:%.c=$(FUZZ_BUILD)/%.o))
FUZZ_WORKER  := $(WORKER_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_COMMON  := $(FUZZ_BUILD)/fuzz/common.o $(FUZZ_BUILD)/fuzz/loopback.o
FUZZ_BINS    := $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/bin/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-regress

$(FUZZ_BUILD)/%.o: %.c $(HEADERS) $(wildcard fuzz/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# The worker's main() becomes ldask_worker_main: the harness runs it.
$(FUZZ_BUILD)/runtime/worker/main.o: runtime/worker/main.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC $< (main renamed)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Dmain=ldask_worker_main -c $< -o $@

FUZZ_LINK = @echo "  FUZZLD $@"; $(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@

$(FUZZ_BUILD)/bin/fuzz_frame $(FUZZ_BUILD)/bin/fuzz_jsontape $(FUZZ_BUILD)/bin/fuzz_npy: \
  $(FUZZ_BUILD)/bin/fuzz_%: $(FUZZ_BUILD)/fuzz/fuzz_%.o $(FUZZ_BUILD)/fuzz/common.o $(FUZZ_CORE)
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) $^ $(FUZZ_LIBS)

$(FUZZ_BUILD)/bin/fuzz_hello: $(FUZZ_BUILD)/fuzz/fuzz_hello.o $(FUZZ_COMMON) $(FUZZ_CORE)
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) $^ $(FUZZ_LIBS)

$(FUZZ_BUILD)/bin/fuzz_sched_ops $(FUZZ_BUILD)/bin/fuzz_http: \
  $(FUZZ_BUILD)/bin/fuzz_%: $(FUZZ_BUILD)/fuzz/fuzz_%.o $(FUZZ_COMMON) $(FUZZ_SCHED) $(FUZZ_CORE)
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) $^ $(FUZZ_LIBS)

# Harnesses that embed LuaJIT export the core symbols for its FFI (-Wl,-E).
$(FUZZ_BUILD)/bin/fuzz_codec: $(FUZZ_BUILD)/fuzz/fuzz_codec.o $(FUZZ_BUILD)/fuzz/common.o $(FUZZ_CORE) $(FUZZ_RTLIB)
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) -Wl,-E $^ $(FUZZ_LIBS)

# The worker's executors load ldask.native from ../lib/ldask/ of the
# program (runtime/worker/main.c): an instrumented build of it sits there.
# Like bin/ldask-worker, the harness links that one native.so (found
# through its rpath) instead of its own copy of core/ and runtime/lib/: two
# copies of core's exported globals (ld_pow10, ...) are an ASan
# odr-violation at start-up.
$(FUZZ_BUILD)/lib/ldask/native.so: $(FUZZ_CORE) $(FUZZ_RTLIB)
	@mkdir -p $(dir $@)
	@echo "  FUZZLD $@"
	@$(FUZZ_CC) -shared -Wl,-soname,native.so $(FUZZ_SAN) -o $@ $^ $(FUZZ_LIBS)

# (fuzz/fuzz.mk is a prerequisite so that a tree built before this rule
# changed relinks.)
$(FUZZ_BUILD)/bin/fuzz_worker_ops: $(FUZZ_BUILD)/fuzz/fuzz_worker_ops.o $(FUZZ_BUILD)/fuzz/common.o $(FUZZ_WORKER) $(FUZZ_BUILD)/lib/ldask/native.so fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) -Wl,-E $(filter-out fuzz/fuzz.mk,$^) -Wl,-rpath,'$$ORIGIN/../lib/ldask' $(FUZZ_LIBS) -ledit

fuzz-build: $(FUZZ_BINS)

# Each harness runs FUZZ_SECONDS on one core (-jobs=1) from its committed
# corpus (fuzz/corpus/NAME, read only) into a scratch corpus
# (build/fuzz/corpus/NAME, kept between runs); a crash, leak or sanitizer
# report stops it with a reproducer in build/fuzz/artifacts/ and fails.
fuzz: fuzz-build
	@sh fuzz/run.sh run $(FUZZ_SECONDS) $(FUZZ)

# Replays every regression input and the committed corpora once: fails on
# any crash, leak or sanitizer report.
fuzz-regress: fuzz-build
	@sh fuzz/run.sh regress 0 $(FUZZ_HARNESSES)
