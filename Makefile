# ckpt - top-level Makefile.
#
# Targets:  all (default)  test  bench  fuzz  install  uninstall  clean  deps  lint
# Variables (override on the command line):
#   CC        C compiler (default gcc)
#   V=1       show full commands
#   SANITIZE  e.g. SANITIZE=address,undefined (builds into build-san/)
#   PREFIX    install prefix (default /usr/local);  DESTDIR  staging root
#   O         output directory (default build, or build-san with SANITIZE)
#
# Dependency order (see README): format/ <- preload/, restore/, tools/ ; cuda_hooks/ is
# linked into libckpt.so.  Sources are picked up by wildcard per directory.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
ifeq ($(SANITIZE),)
O        ?= build
else
O        ?= build-san
endif

Q := @
ifeq ($(V),1)
Q :=
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wno-unused-parameter -Werror=implicit-function-declaration -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -fno-strict-aliasing -D_GNU_SOURCE -I. -Iinclude -MMD -MP
LDFLAGS ?=
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif

# Debian packages the build and the tests need (installed by `make deps` as root).
BUILD_DEPS := gcc libc6-dev libzstd-dev libxxhash-dev libunwind-dev libelf-dev
TEST_DEPS  := bats zstd python3 libgomp1 bc sqlite3 xz-utils perl python3-numpy util-linux
FUZZ_DEPS  := clang libclang-rt-14-dev

LIBS_FORMAT := -lzstd -lxxhash

FORMAT_SRCS  := $(wildcard format/*.c)
PRELOAD_SRCS := $(wildcard preload/*.c) $(wildcard preload/*.S) $(wildcard cuda_hooks/*.c)
RESTORE_SRCS := $(filter-out restore/pie_%.c,$(wildcard restore/*.c))
PIE_SRCS     := $(wildcard restore/pie_*.c)
TOOLS_SRCS   := $(wildcard tools/*.c)

FORMAT_OBJS_PIC := $(FORMAT_SRCS:%.c=$(O)/pic/%.o)
FORMAT_OBJS     := $(FORMAT_SRCS:%.c=$(O)/obj/%.o)
PRELOAD_OBJS    := $(patsubst %.S,$(O)/pic/%.o,$(PRELOAD_SRCS:%.c=$(O)/pic/%.o))
RESTORE_OBJS    := $(RESTORE_SRCS:%.c=$(O)/obj/%.o)
TOOLS_OBJS      := $(TOOLS_SRCS:%.c=$(O)/obj/%.o)

LIB     := $(O)/lib/libckpt.so
RESTORE := $(O)/bin/ckpt-restore
TOOL    := $(O)/bin/ckpt
FORMATA := $(O)/lib/libckf.a

all: $(LIB) $(RESTORE) $(TOOL) $(FORMATA)

$(O)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  CC(pic) $<" || true
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(O)/pic/%.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) -fPIC -c $< -o $@

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  CC      $<" || true
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(FORMATA): $(FORMAT_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The preload exports only its hooks (version script); it is never sanitized
# (a sanitizer runtime cannot be preloaded into arbitrary programs).
$(LIB): CFLAGS += -ftls-model=initial-exec
$(LIB): SANFLAGS :=
$(LIB): $(PRELOAD_OBJS) $(FORMAT_OBJS_PIC) preload/libckpt.map
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  LD      $@" || true
	$(Q)$(CC) -shared -o $@ $(PRELOAD_OBJS) $(FORMAT_OBJS_PIC) \
	    -Wl,--version-script=preload/libckpt.map -Wl,-z,defs -Wl,-z,now \
	    $(LDFLAGS) $(LIBS_FORMAT) -lunwind -ldl -lpthread

# The restorer blob: libc-free position-independent code copied to a free spot of
# the address space by ckpt-restore and entered after the launcher is torn down.
PIE_CFLAGS := -std=gnu11 -O2 -fPIC -fno-stack-protector -fno-builtin -nostdlib \
              -ffreestanding -fno-asynchronous-unwind-tables -fno-exceptions \
              -mno-sse -mno-mmx -mno-avx -mgeneral-regs-only -fno-jump-tables \
              -D_GNU_SOURCE -I. -Wall -Wextra -Wno-unused-parameter
$(O)/pie/restorer.bin: $(PIE_SRCS) restore/pie.lds $(wildcard restore/*.h)
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  PIE     $@" || true
	$(Q)$(CC) $(PIE_CFLAGS) -c $(PIE_SRCS) -o $(O)/pie/restorer.o
	$(Q)ld -T restore/pie.lds -o $(O)/pie/restorer.elf $(O)/pie/restorer.o
	$(Q)objcopy -O binary -j .text $(O)/pie/restorer.elf $@
	$(Q)nm $(O)/pie/restorer.elf | awk '$$2 ~ /[Tt]/ && $$3 ~ /^pie_/ {printf "#define %s_OFF 0x%s\n", toupper($$3), $$1}' > $(O)/pie/restorer_syms.h.tmp
	$(Q)mv $(O)/pie/restorer_syms.h.tmp $(O)/pie/restorer_syms.h

$(O)/pie/restorer_blob.c: $(O)/pie/restorer.bin
	$(Q)(echo '#include <stddef.h>'; echo 'const unsigned char ckpt_restorer_blob[] __attribute__((aligned(4096))) = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; \
	  echo 'const size_t ckpt_restorer_blob_size = sizeof(ckpt_restorer_blob);') > $@

ifneq ($(PIE_SRCS),)
RESTORE_EXTRA := $(O)/pie/restorer_blob.c
$(RESTORE_OBJS): $(O)/pie/restorer.bin
$(RESTORE_OBJS): CFLAGS += -I$(O)/pie
endif

$(RESTORE): $(RESTORE_OBJS) $(FORMATA) $(RESTORE_EXTRA)
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  LD      $@" || true
	$(Q)$(CC) $(SANFLAGS) -o $@ $(RESTORE_OBJS) $(RESTORE_EXTRA) $(FORMATA) \
	    $(LDFLAGS) $(LIBS_FORMAT) -lpthread

$(TOOL): $(TOOLS_OBJS) $(FORMATA)
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  LD      $@" || true
	$(Q)$(CC) $(SANFLAGS) -o $@ $(TOOLS_OBJS) $(FORMATA) $(LDFLAGS) $(LIBS_FORMAT) -lm

-include tests/module.mk
-include bench/module.mk

deps:
	@tools/deps.sh $(BUILD_DEPS)

test-deps:
	@tools/deps.sh $(BUILD_DEPS) $(TEST_DEPS)

fuzz-deps:
	@tools/deps.sh $(FUZZ_DEPS)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(RESTORE) $(TOOL) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 include/ckpt.h $(DESTDIR)$(PREFIX)/include/
	for m in docs/man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/ || true; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libckpt.so $(DESTDIR)$(PREFIX)/bin/ckpt-restore \
	    $(DESTDIR)$(PREFIX)/bin/ckpt $(DESTDIR)$(PREFIX)/include/ckpt.h
	for m in docs/man/*.1; do rm -f $(DESTDIR)$(PREFIX)/share/man/man1/$$(basename $$m); done

lint:
	cppcheck --quiet --enable=warning,portability --std=c11 -I. format preload restore tools cuda_hooks

clean:
	rm -rf build build-san

.PHONY: all deps test-deps fuzz-deps install uninstall lint clean test bench fuzz
.DELETE_ON_ERROR:

-include $(shell find $(O) -name '*.d' 2>/dev/null)
