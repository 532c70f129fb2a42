/*
 * cuda_decls.h - the subset of the CUDA driver API that cuda_hooks/ needs,
 * declared in our own words so that libckpt builds without the CUDA toolkit.
 *
 * Names, numeric values and signatures come from the public driver API
 * reference.  Our type names carry a ckcu_ prefix so that a consistency check
 * compiled against the toolkit's cuda.h can include both headers; only the
 * exported *function* names (cuMemAlloc_v2, ...) must be exact, because only
 * symbol names and the calling ABI matter at link and run time.
 *
 * Nothing here is ever linked against libcuda: the driver is found at run time
 * with dlopen("libcuda.so.1") (cuda_interpose.c).
 */
#ifndef CKPT_CUDA_DECLS_H
#define CKPT_CUDA_DECLS_H
#include <stddef.h>
#include <stdint.h>

/* ---- scalar and handle types ---------------------------------------------------- */
typedef int ckcu_result_t;                    /* CUresult (an enum passed as int) */
typedef int ckcu_device_t;                    /* CUdevice */
typedef unsigned long long ckcu_deviceptr_t;  /* CUdeviceptr: 8 bytes on x86-64 */
typedef uint64_t ckcu_u64_t;                  /* cuuint64_t */
typedef unsigned long long ckcu_memhandle_t;  /* CUmemGenericAllocationHandle */

/* Opaque handles: pointers to structures only the driver knows. */
typedef struct ckcu_ctx_st     *ckcu_ctx_t;      /* CUcontext */
typedef struct ckcu_mod_st     *ckcu_module_t;   /* CUmodule */
typedef struct ckcu_func_st    *ckcu_function_t; /* CUfunction */
typedef struct ckcu_lib_st     *ckcu_library_t;  /* CUlibrary */
typedef struct ckcu_kern_st    *ckcu_kernel_t;   /* CUkernel */
typedef struct ckcu_stream_st  *ckcu_stream_t;   /* CUstream */
typedef struct ckcu_event_st   *ckcu_event_t;    /* CUevent */
typedef struct ckcu_pool_st    *ckcu_mempool_t;  /* CUmemoryPool */

typedef struct ckcu_uuid { unsigned char bytes[16]; } ckcu_uuid_t;       /* CUuuid */
/* CUipcMemHandle / CUipcEventHandle: 64 opaque bytes, passed by value to the
 * Open functions (in memory, per the x86-64 ABI for a 64-byte aggregate). */
typedef struct ckcu_ipc_handle { char reserved[64]; } ckcu_ipc_handle_t;

/* The special stream handles. */
#define CKCU_STREAM_LEGACY     ((ckcu_stream_t)0x1)
#define CKCU_STREAM_PER_THREAD ((ckcu_stream_t)0x2)

/* ---- CUresult values we use ------------------------------------------------------ */
enum {
    CKCU_SUCCESS                 = 0,
    CKCU_ERROR_INVALID_VALUE     = 1,
    CKCU_ERROR_OUT_OF_MEMORY     = 2,
    CKCU_ERROR_NOT_INITIALIZED   = 3,
    CKCU_ERROR_DEINITIALIZED     = 4,
    CKCU_ERROR_STUB_LIBRARY      = 34,
    CKCU_ERROR_NO_DEVICE         = 100,
    CKCU_ERROR_INVALID_DEVICE    = 101,
    CKCU_ERROR_INVALID_IMAGE     = 200,
    CKCU_ERROR_INVALID_CONTEXT   = 201,
    CKCU_ERROR_OPERATING_SYSTEM  = 304,
    CKCU_ERROR_INVALID_HANDLE    = 400,
    CKCU_ERROR_ILLEGAL_STATE     = 401,
    CKCU_ERROR_NOT_FOUND         = 500,
    CKCU_ERROR_NOT_READY         = 600,
    CKCU_ERROR_ILLEGAL_ADDRESS   = 700,
    CKCU_ERROR_NOT_PERMITTED     = 800,
    CKCU_ERROR_NOT_SUPPORTED     = 801,
    CKCU_ERROR_TIMEOUT           = 909,
    CKCU_ERROR_UNKNOWN           = 999
};

/* ---- enums and flags ------------------------------------------------------------- */
/* cuGetProcAddress flags and the _v2 symbolStatus out-parameter. */
enum { CKCU_GPA_DEFAULT = 0, CKCU_GPA_LEGACY_STREAM = 1, CKCU_GPA_PER_THREAD_STREAM = 2 };
enum { CKCU_GPA_SUCCESS = 0, CKCU_GPA_SYMBOL_NOT_FOUND = 1, CKCU_GPA_VERSION_NOT_SUFFICIENT = 2 };

/* CUprocessState (cuCheckpointProcessGetState). */
enum { CKCU_PROCESS_RUNNING = 0, CKCU_PROCESS_LOCKED = 1, CKCU_PROCESS_CHECKPOINTED = 2,
       CKCU_PROCESS_FAILED = 3 };

/* CUpointer_attribute values. */
enum {
    CKCU_POINTER_CONTEXT = 1, CKCU_POINTER_MEMORY_TYPE = 2, CKCU_POINTER_DEVICE_POINTER = 3,
    CKCU_POINTER_HOST_POINTER = 4, CKCU_POINTER_IS_MANAGED = 8, CKCU_POINTER_DEVICE_ORDINAL = 9,
    CKCU_POINTER_RANGE_START_ADDR = 11, CKCU_POINTER_RANGE_SIZE = 12, CKCU_POINTER_MAPPED = 13,
    CKCU_POINTER_MEMPOOL_HANDLE = 17, CKCU_POINTER_MAPPING_SIZE = 18,
    CKCU_POINTER_MAPPING_BASE_ADDR = 19
};
/* CUmemorytype. */
enum { CKCU_MEMORYTYPE_HOST = 1, CKCU_MEMORYTYPE_DEVICE = 2, CKCU_MEMORYTYPE_ARRAY = 3,
       CKCU_MEMORYTYPE_UNIFIED = 4 };

/* Device attributes we read. */
enum { CKCU_DEVATTR_PCI_BUS_ID = 33, CKCU_DEVATTR_PCI_DEVICE_ID = 34,
       CKCU_DEVATTR_COMPUTE_CAPABILITY_MAJOR = 75, CKCU_DEVATTR_COMPUTE_CAPABILITY_MINOR = 76 };

enum { CKCU_MEMHOSTALLOC_PORTABLE = 1, CKCU_MEMHOSTALLOC_DEVICEMAP = 2,
       CKCU_MEMHOSTALLOC_WRITECOMBINED = 4 };
enum { CKCU_MEM_ATTACH_GLOBAL = 1, CKCU_MEM_ATTACH_HOST = 2, CKCU_MEM_ATTACH_SINGLE = 4 };
enum { CKCU_STREAM_DEFAULT = 0, CKCU_STREAM_NON_BLOCKING = 1 };

/* VMM */
enum { CKCU_MEM_ALLOCATION_TYPE_PINNED = 1 };
enum { CKCU_MEM_LOCATION_TYPE_DEVICE = 1 };
enum { CKCU_MEM_ACCESS_FLAGS_PROT_READWRITE = 3 };
enum { CKCU_MEM_HANDLE_TYPE_NONE = 0, CKCU_MEM_HANDLE_TYPE_POSIX_FD = 1 };
enum { CKCU_MEM_ALLOC_GRANULARITY_MINIMUM = 0, CKCU_MEM_ALLOC_GRANULARITY_RECOMMENDED = 1 };

/* ---- structures (layouts asserted below) ----------------------------------------- */
typedef struct ckcu_mem_location { int type; int id; } ckcu_mem_location_t;

typedef struct ckcu_mem_alloc_prop {
    int type;
    int requested_handle_types;
    ckcu_mem_location_t location;
    void *win32_handle_meta_data;
    struct {
        unsigned char compression_type;
        unsigned char gpu_direct_rdma_capable;
        unsigned short usage;
        unsigned char reserved[4];
    } alloc_flags;
} ckcu_mem_alloc_prop_t;

typedef struct ckcu_mem_access_desc { ckcu_mem_location_t location; int flags; } ckcu_mem_access_desc_t;

typedef struct ckcu_ckpt_lock_args {
    unsigned int timeout_ms;   /* 0: no timeout */
    unsigned int reserved0;
    uint64_t reserved1[7];
} ckcu_ckpt_lock_args_t;
typedef struct ckcu_ckpt_checkpoint_args { uint64_t reserved[8]; } ckcu_ckpt_checkpoint_args_t;
typedef struct ckcu_ckpt_unlock_args { uint64_t reserved[8]; } ckcu_ckpt_unlock_args_t;
typedef struct ckcu_ckpt_gpu_pair { ckcu_uuid_t old_uuid; ckcu_uuid_t new_uuid; } ckcu_ckpt_gpu_pair_t;
typedef struct ckcu_ckpt_restore_args {
    ckcu_ckpt_gpu_pair_t *gpu_pairs;
    unsigned int gpu_pairs_count;
    char reserved[52 - sizeof(void *)];
    uint64_t reserved1;
} ckcu_ckpt_restore_args_t;

/* Sizes measured from the 13.0 header (research/cuda.md §0.1). */
_Static_assert(sizeof(ckcu_mem_alloc_prop_t) == 32, "CUmemAllocationProp is 32 bytes");
_Static_assert(offsetof(ckcu_mem_alloc_prop_t, location) == 8, "CUmemAllocationProp.location");
_Static_assert(offsetof(ckcu_mem_alloc_prop_t, win32_handle_meta_data) == 16, "win32HandleMetaData");
_Static_assert(offsetof(ckcu_mem_alloc_prop_t, alloc_flags) == 24, "allocFlags");
_Static_assert(sizeof(ckcu_mem_access_desc_t) == 12, "CUmemAccessDesc is 12 bytes");
_Static_assert(sizeof(ckcu_ckpt_lock_args_t) == 64, "CUcheckpointLockArgs is 64 bytes");
_Static_assert(sizeof(ckcu_ckpt_checkpoint_args_t) == 64, "CUcheckpointCheckpointArgs");
_Static_assert(sizeof(ckcu_ckpt_unlock_args_t) == 64, "CUcheckpointUnlockArgs");
_Static_assert(sizeof(ckcu_ckpt_gpu_pair_t) == 32, "CUcheckpointGpuPair");
_Static_assert(sizeof(ckcu_ckpt_restore_args_t) == 64, "CUcheckpointRestoreArgs");
_Static_assert(sizeof(ckcu_uuid_t) == 16, "CUuuid");
_Static_assert(sizeof(ckcu_deviceptr_t) == 8, "CUdeviceptr");
_Static_assert(sizeof(ckcu_ipc_handle_t) == 64, "CUipcMemHandle");

#endif
