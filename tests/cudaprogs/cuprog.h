/*
 * cuprog.h - what the CUDA test programs need: driver prototypes under their
 * exact exported names (our own declarations, cuda_hooks/cuda_decls.h types),
 * the PTX module the fake driver understands, and a checking macro.
 *
 * Built with -DTEST_PTDS the programs call the per-thread-default-stream entry
 * points, the way cuda.h maps names under CUDA_API_PER_THREAD_DEFAULT_STREAM.
 */
#ifndef CUPROG_H
#define CUPROG_H
#include "cuda_hooks/cuda_decls.h"
#include <stdio.h>
#include <stdlib.h>

#define CK(call) do { int rc_ = (call); if (rc_) { \
    fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #call, rc_); exit(1); } } while (0)

#ifdef TEST_PTDS
#define cuMemcpyHtoD_v2 cuMemcpyHtoD_v2_ptds
#define cuMemcpyDtoH_v2 cuMemcpyDtoH_v2_ptds
#define cuMemcpyHtoDAsync_v2 cuMemcpyHtoDAsync_v2_ptsz
#define cuLaunchKernel cuLaunchKernel_ptsz
#define cuStreamSynchronize cuStreamSynchronize_ptsz
#define cuMemAllocAsync cuMemAllocAsync_ptsz
#define cuMemFreeAsync cuMemFreeAsync_ptsz
#endif

typedef ckcu_result_t CUr;
CUr cuInit(unsigned);
CUr cuDriverGetVersion(int *);
CUr cuDeviceGet(ckcu_device_t *, int);
CUr cuDevicePrimaryCtxRetain(ckcu_ctx_t *, ckcu_device_t);
CUr cuDevicePrimaryCtxRelease_v2(ckcu_device_t);
CUr cuCtxCreate_v4(ckcu_ctx_t *, void *, unsigned, ckcu_device_t);
CUr cuCtxSetCurrent(ckcu_ctx_t);
CUr cuCtxSynchronize(void);
CUr cuMemAlloc_v2(ckcu_deviceptr_t *, size_t);
CUr cuMemAllocPitch_v2(ckcu_deviceptr_t *, size_t *, size_t, size_t, unsigned);
CUr cuMemFree_v2(ckcu_deviceptr_t);
CUr cuMemAllocManaged(ckcu_deviceptr_t *, size_t, unsigned);
CUr cuMemHostAlloc(void **, size_t, unsigned);
CUr cuMemFreeHost(void *);
CUr cuMemAllocAsync(ckcu_deviceptr_t *, size_t, ckcu_stream_t);
CUr cuMemFreeAsync(ckcu_deviceptr_t, ckcu_stream_t);
CUr cuMemAddressReserve(ckcu_deviceptr_t *, size_t, size_t, ckcu_deviceptr_t, unsigned long long);
CUr cuMemCreate(ckcu_memhandle_t *, size_t, const ckcu_mem_alloc_prop_t *, unsigned long long);
CUr cuMemMap(ckcu_deviceptr_t, size_t, size_t, ckcu_memhandle_t, unsigned long long);
CUr cuMemSetAccess(ckcu_deviceptr_t, size_t, const ckcu_mem_access_desc_t *, size_t);
CUr cuMemcpyHtoD_v2(ckcu_deviceptr_t, const void *, size_t);
CUr cuMemcpyDtoH_v2(void *, ckcu_deviceptr_t, size_t);
CUr cuMemcpyHtoDAsync_v2(ckcu_deviceptr_t, const void *, size_t, ckcu_stream_t);
CUr cuModuleLoadData(ckcu_module_t *, const void *);
CUr cuModuleGetFunction(ckcu_function_t *, ckcu_module_t, const char *);
CUr cuModuleGetGlobal_v2(ckcu_deviceptr_t *, size_t *, ckcu_module_t, const char *);
CUr cuLaunchKernel(ckcu_function_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                   unsigned, ckcu_stream_t, void **, void **);
CUr cuStreamCreate(ckcu_stream_t *, unsigned);
CUr cuStreamSynchronize(ckcu_stream_t);
CUr cuEventCreate(ckcu_event_t *, unsigned);
CUr cuCheckpointProcessGetState(int, int *);

/* A vector add and a counter bump, with a module global, as PTX text; the fake
 * driver runs host implementations chosen by entry name. */
static const char cuprog_ptx[] =
    ".version 8.0\n.target sm_90\n.address_size 64\n"
    ".global .align 4 .u32 counter;\n"
    ".visible .entry vadd(.param .u64 a, .param .u64 b, .param .u64 c, .param .u32 n)\n{ ret; }\n"
    ".visible .entry incr(.param .u64 buf, .param .u32 n)\n{ ret; }\n"
    ".visible .entry slow_fill(.param .u64 buf, .param .u32 n, .param .u32 v)\n{ ret; }\n";

#endif
