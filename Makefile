# ldask build: libldask (core/ + runtime/lib/) as lib/ldask/native.so, the
# programs in bin/, specs, benchmarks. See README.md and docs/building.md.
#
#   make                      build bin/ldask and lib/ldask/native.so
#   make test                 install missing packages, build, run every spec
#   make SANITIZE=address,undefined test   the same, sanitized
#   make doc                  the API reference, docs/api/ (LDoc)
#   make demo | bench | format | lint | install PREFIX=... | clean

PREFIX   ?= /usr/local
CC       ?= cc
SANITIZE ?=
PKGS     := luajit libuv msgpack zlib libxxhash libssl libcrypto hdf5 blosc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
BLAS_CFLAGS := -I/usr/include/x86_64-linux-gnu/openblas-pthread
BLAS_LIBS   := -llapacke -lopenblas

OPT      ?= -O2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -g $(OPT) \
               -Icore -Iruntime/lib $(PKG_CFLAGS) $(BLAS_CFLAGS) \
               -DLDASK_PREFIX='"$(PREFIX)"'
ifneq ($(SANITIZE),)
  CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
  LDFLAGS_SAN := -fsanitize=$(SANITIZE)
  BUILD := build/san
  OUT := build/san/
else
  BUILD := build/rel
  OUT :=
endif
CFLAGS  := $(CFLAGS_BASE) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) $(BLAS_LIBS) -lpthread -lm -ldl

CORE_SRC := $(shell find core -name '*.c' -not -name '*_test.c' 2>/dev/null | sort)
RTLIB_SRC := $(shell find runtime/lib -name '*.c' 2>/dev/null | sort)
LDASK_SRC := $(shell find runtime/ldask -name '*.c' 2>/dev/null | sort)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
RTLIB_OBJ := $(RTLIB_SRC:%.c=$(BUILD)/%.o)
LDASK_OBJ := $(LDASK_SRC:%.c=$(BUILD)/%.o)
SCHED_SRC := $(shell find runtime/scheduler -name '*.c' 2>/dev/null | sort)
WORKER_SRC := $(shell find runtime/worker -name '*.c' 2>/dev/null | sort)
SCHED_OBJ := $(SCHED_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
CORE_LIBS := $(shell pkg-config --libs libuv msgpack zlib libxxhash libssl libcrypto hdf5 blosc 2>/dev/null) $(BLAS_LIBS) -lpthread -lm
HEADERS := $(shell find core runtime -name '*.h' 2>/dev/null)

# native.so has the soname native.so: programs find it through their rpath
# (build tree: ../lib/ldask; install and rock trees: ../lib/lua/5.1/ldask).
NATIVE := $(OUT)lib/ldask/native.so

.PHONY: soak all test demo bench doc format lint install rock-install clean deps
PROGRAMS := $(OUT)bin/ldask $(if $(SCHED_SRC),$(OUT)bin/ldask-scheduler) $(if $(WORKER_SRC),$(OUT)bin/ldask-worker) $(OUT)bin/ldask-ssh
all: $(PROGRAMS) $(NATIVE)

# Rebuild everything when the flags change (e.g. switching SANITIZE).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CFLAGS) $(LDFLAGS_SAN)' | cmp -s - $@ || echo '$(CFLAGS) $(LDFLAGS_SAN)' > $@
FORCE:

$(BUILD)/%.o: %.c $(HEADERS) $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(NATIVE): $(CORE_OBJ) $(RTLIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,native.so -o $@ $^ $(LDFLAGS_SAN) $(LDLIBS)

$(OUT)bin/ldask: $(LDASK_OBJ) $(NATIVE)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(LDASK_OBJ) $(LDFLAGS_SAN) -Wl,-E $(NATIVE) \
	  -Wl,-rpath,'$$ORIGIN/../lib/ldask:$$ORIGIN/../lib/lua/5.1/ldask' $(LDLIBS) -ledit

# ldask-ssh: a shell script that runs ldask.deploy.ssh_cli (docs/deploy.md).
$(OUT)bin/ldask-ssh: runtime/ssh/ldask-ssh.sh
	@mkdir -p $(dir $@)
	install -m755 $< $@

# The scheduler links core/ only: it never runs user code or needs Lua.
# Its dashboard parses HTTP with Debian's libhttp-parser (docs/dashboard.md).
$(OUT)bin/ldask-scheduler: $(SCHED_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS_SAN) $(CORE_LIBS) -lhttp_parser

$(OUT)bin/ldask-worker: $(WORKER_OBJ) $(NATIVE)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(WORKER_OBJ) $(LDFLAGS_SAN) -Wl,-E $(NATIVE) \
	  -Wl,-rpath,'$$ORIGIN/../lib/ldask:$$ORIGIN/../lib/lua/5.1/ldask' $(LDLIBS)

deps:
	@sh scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(SAN_ENV) $(OUT)bin/ldask spec/run.lua $(SPEC)

demo: deps
	@$(MAKE) --no-print-directory all
	bin/ldask examples/sum_blocks.lua

bench: all
	@for b in bench/*.lua; do [ $$b = bench/soak.lua ] && continue; echo "== $$b"; bin/ldask $$b || exit 1; done

# The 24/7 soak (30 minutes; docs/distributed.md, "24/7 operation").
soak: all
	bin/ldask bench/soak.lua --minutes 30

# The API reference: markdown pages in docs/api/ made by LDoc (Debian's
# lua-ldoc) from the `---` doc comments of lua/ldask/ (docs/ldoc/config.ld
# lists the files). The pages are committed, so they read on any checkout;
# spec/functional/api_doc_spec.lua fails when they are stale.
doc:
	@command -v ldoc >/dev/null || sh scripts/deps.sh
	@rm -rf docs/api
	@cd docs/ldoc && ldoc -c config.ld .

format:
	clang-format -i $(CORE_SRC) $(RTLIB_SRC) $(LDASK_SRC) $(SCHED_SRC) $(WORKER_SRC) $(HEADERS)

lint:
	clang-format --dry-run -Werror $(CORE_SRC) $(RTLIB_SRC) $(LDASK_SRC) $(SCHED_SRC) $(WORKER_SRC) $(HEADERS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance \
	  --suppress=missingIncludeSystem -Icore -Iruntime/lib $(CORE_SRC) $(RTLIB_SRC) $(LDASK_SRC) $(SCHED_SRC) $(WORKER_SRC)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.1/ldask \
	  $(DESTDIR)$(PREFIX)/share/lua/5.1
	install -m755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m755 $(NATIVE) $(DESTDIR)$(PREFIX)/lib/lua/5.1/ldask/
	cp -r lua/ldask $(DESTDIR)$(PREFIX)/share/lua/5.1/
	install -d $(DESTDIR)$(PREFIX)/share/ldask
	cp -r share/ldask/dashboard $(DESTDIR)$(PREFIX)/share/ldask/

clean:
	rm -rf build bin lib

ifneq ($(findstring address,$(SANITIZE)),)
  SAN_ENV := ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
endif

# Used by the rockspec: LUADIR/LIBDIR/BINDIR come from luarocks. luarocks
# deploys only those three folders, so the dashboard's files go with the Lua
# modules there (TREE/share/lua/5.1/ldask/dashboard; `make install` puts them
# in PREFIX/share/ldask/dashboard).
rock-install: all
	install -d $(LUADIR) $(LIBDIR)/ldask $(BINDIR)
	cp -r lua/ldask $(LUADIR)/
	cp -r share/ldask/dashboard $(LUADIR)/ldask/
	install -m755 $(NATIVE) $(LIBDIR)/ldask/
	install -m755 $(PROGRAMS) $(BINDIR)/

# libFuzzer harnesses: make fuzz, fuzz-build, fuzz-regress (docs/fuzzing.md).
include fuzz/fuzz.mk
