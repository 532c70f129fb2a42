# tests/fakecuda/extra.mk - the fake CUDA driver and the CUDA test programs.
#
#  $(O)/tests/fakecuda/libcuda.so.1     fake driver (tests/fakecuda/fakecuda.c), soname
#                                       libcuda.so.1, -Bsymbolic like the real one;
#                                       libcuda.so links -lcuda against it
#  $(O)/tests/fakecuda/libotherpreload.so  a second cuMemAlloc_v2 interposer
#  $(O)/tests/fakecuda/libnextplugin.so     a dlopen()ed RTLD_NEXT caller
#  $(O)/tests/fakecuda/libnvidia-ml.so.1    fake NVML (free memory for the restore preflight)
#  $(O)/tests/cudaprogs/<name>          tests/cudaprogs/*.c: *_dl.c use dlopen only (no
#                                       -lcuda); *_ckf.c read checkpoint files
#                                       (libckf.a); *_hooked.c are linked
#                                       with the cuda_hooks sources themselves (the
#                                       executable is the interposer), the others
#                                       with -lcuda against the fake; cuda_lcuda is
#                                       also built with -DTEST_PTDS as cuda_lcuda_ptds
#                                       and with -fsanitize=address as cuda_lcuda_asan
# Nothing here needs the CUDA toolkit.

FAKECUDA_DIR := $(O)/tests/fakecuda
FAKECUDA     := $(FAKECUDA_DIR)/libcuda.so.1
CUDAPROG_SRCS := $(wildcard tests/cudaprogs/*.c)
CUDAPROG_BINS := $(CUDAPROG_SRCS:tests/cudaprogs/%.c=$(O)/tests/cudaprogs/%) \
                 $(O)/tests/cudaprogs/cuda_lcuda_ptds $(O)/tests/cudaprogs/cuda_lcuda_asan
CUDA_TEST_CFLAGS := -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wno-unused-parameter -I.

$(FAKECUDA): tests/fakecuda/fakecuda.c cuda_hooks/cuda_decls.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -fPIC -shared -Wl,-soname,libcuda.so.1 -Wl,-Bsymbolic \
	    -o $@ $< -pthread
	$(Q)ln -sf libcuda.so.1 $(FAKECUDA_DIR)/libcuda.so

$(FAKECUDA_DIR)/libnvidia-ml.so.1: tests/fakecuda/fakenvml.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -fPIC -shared -Wl,-soname,libnvidia-ml.so.1 -o $@ $<

$(FAKECUDA_DIR)/libnextplugin.so: tests/fakecuda/nextplugin.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -fPIC -shared -o $@ $< -ldl

$(FAKECUDA_DIR)/libotherpreload.so: tests/fakecuda/other_interposer.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -fPIC -shared -o $@ $< -ldl

$(O)/tests/cudaprogs/%_hooked: tests/cudaprogs/%_hooked.c tests/cudaprogs/cuprog.h $(FAKECUDA) \
        $(wildcard cuda_hooks/*.c cuda_hooks/*.h cuda_hooks/*.def) preload/log.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -rdynamic -o $@ $< $(wildcard cuda_hooks/*.c) preload/log.c \
	    -L$(FAKECUDA_DIR) -lcuda -ldl -pthread

$(O)/tests/cudaprogs/%_dl: tests/cudaprogs/%_dl.c tests/cudaprogs/cuprog.h $(FAKECUDA)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -o $@ $< -ldl -pthread

$(O)/tests/cudaprogs/%_ckf: tests/cudaprogs/%_ckf.c cuda_hooks/cuda_state.h $(FORMATA)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -o $@ $< $(FORMATA) $(LIBS_FORMAT)

$(O)/tests/cudaprogs/cuda_lcuda_ptds: tests/cudaprogs/cuda_lcuda.c tests/cudaprogs/cuprog.h $(FAKECUDA)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -DTEST_PTDS -o $@ $< -L$(FAKECUDA_DIR) -lcuda -pthread

# The same program with AddressSanitizer: sanitizer runtimes resolve their
# interceptors through dlsym(RTLD_NEXT) at start-up, through libckpt's dlsym.
$(O)/tests/cudaprogs/cuda_lcuda_asan: tests/cudaprogs/cuda_lcuda.c tests/cudaprogs/cuprog.h $(FAKECUDA)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -fsanitize=address -o $@ $< -L$(FAKECUDA_DIR) -lcuda -ldl -pthread

$(O)/tests/cudaprogs/%: tests/cudaprogs/%.c tests/cudaprogs/cuprog.h $(FAKECUDA)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CUDA_TEST_CFLAGS) -o $@ $< -L$(FAKECUDA_DIR) -lcuda -ldl -pthread

TEST_EXTRA += $(FAKECUDA) $(FAKECUDA_DIR)/libotherpreload.so $(FAKECUDA_DIR)/libnextplugin.so \
               $(FAKECUDA_DIR)/libnvidia-ml.so.1 \
               $(CUDAPROG_BINS)
