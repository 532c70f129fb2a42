/* cuda_stub.c - placeholder implementation of cuda_ckpt.h (no CUDA support yet). */
#include "cuda_hooks/cuda_ckpt.h"
#include <errno.h>

__attribute__((visibility("hidden"))) int ckpt_cuda_active(void) { return 0; }
__attribute__((visibility("hidden"))) int ckpt_cuda_gate(char *w, size_t n) { return 0; }
__attribute__((visibility("hidden"))) int ckpt_cuda_before_checkpoint(unsigned t, char *w, size_t n) { return 0; }
__attribute__((visibility("hidden"))) int ckpt_cuda_after_checkpoint(char *w, size_t n) { return 0; }
__attribute__((visibility("hidden"))) int ckpt_cuda_after_restore(char *w, size_t n) { return 0; }
__attribute__((visibility("hidden"))) size_t ckpt_cuda_serialize(void *b, size_t c) { return 0; }
__attribute__((visibility("hidden"))) void ckpt_cuda_atfork_child(void) { }
