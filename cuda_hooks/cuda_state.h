/*
 * cuda_state.h - payload of the CKF_T_CUDA chunk (one per checkpoint of a
 * process that used CUDA), and of the CKF_T_CUDA_DATA chunks.
 *
 * Written by ckpt_cuda_serialize() (cuda_ckpt.c); read by `ckpt inspect` and by
 * ckpt-restore's preflight.  Version 1.0.  All integers little-endian, all
 * structures naturally aligned with explicit reserved fields (no padding;
 * static asserts below).  Readers must honour the sizes stored in the header
 * (header_size, device_size, record_size) so that later minor versions can
 * append fields; they must bounds-check every offset.
 *
 *   offset 0                    struct ckcu_img_header      (header_size bytes)
 *   header_size                 ndevices x struct ckcu_img_device  (device_size each)
 *   records_off                 nrecords x struct ckcu_img_record  (record_size each)
 *   strings_off                 strings_len bytes of names (not NUL-terminated)
 *
 * A record describes one driver object that was live at the checkpoint:
 *
 *   kind              key                 size          aux0            aux1          name
 *   CTX               CUcontext value     -             refcount        flags         -
 *   ALLOC             device address      bytes         ckcu_alloc_sub  pitch/stream  -
 *   MANAGED           device address      bytes         attach flags    -             -
 *   HOST              host address        bytes         HostAlloc flags -             -
 *   HOST_REG          host address        bytes         Register flags  -             -
 *   VA_RESERVE        device address      bytes         alignment       hint          -
 *   VMM_HANDLE        handle value        bytes         req. handle types -           -
 *   VMM_MAP           device address      bytes         offset          handle value  -
 *   POOL              CUmemoryPool value  -             -               -             -
 *   MODULE / LIBRARY  handle value        image bytes   ckcu_load_src   -             file path
 *   FUNCTION          CUfunction value    -             -               parent handle entry name
 *   KERNEL            CUkernel value      -             -               library handle entry name
 *   GLOBAL            device address      bytes         -               parent handle variable name
 *   STREAM            CUstream value      -             flags           priority      -
 *   EVENT             CUevent value       -             flags           -             -
 *
 * `ctx` is the context that was current when the object was created (0 when
 * unknown or not applicable), `device` its ordinal (-1 when unknown).
 *
 * CKF_T_CUDA_DATA chunks (optional, CKPT_CUDA_DATA=1): chunk key = device
 * address of a tracked buffer (ALLOC or VMM_MAP record), payload = its bytes as
 * copied to the host after synchronising every tracked context.
 *
 * Changelog: 1.0 initial layout.
 */
#ifndef CKPT_CUDA_STATE_H
#define CKPT_CUDA_STATE_H
#include <stddef.h>
#include <stdint.h>

#define CKCU_IMG_MAGIC   "CKCUDA\0\0"   /* 8 bytes */
#define CKCU_IMG_MAJOR   1
#define CKCU_IMG_MINOR   0

/* header flags */
#define CKCU_IF_DRIVER_CKPT 0x1u   /* device state was moved to host memory by the driver's
                                      cuCheckpointProcessCheckpoint: restore must call
                                      cuCheckpointProcessRestore + Unlock */
#define CKCU_IF_DATA        0x2u   /* device buffers were copied to the host for this
                                      checkpoint (CKPT_CUDA_DATA=1); the writer stores
                                      them as CKF_T_CUDA_DATA chunks */
#define CKCU_IF_TRACK_ONLY  0x4u   /* CKPT_CUDA=track: metadata only, device state not saved */

/* gate bits (header gate_flags): why a checkpoint is or would be refused */
#define CKCU_GATE_MANAGED    0x01u  /* managed (unified) memory in use */
#define CKCU_GATE_IPC        0x02u  /* IPC or shareable-handle export/import used */
#define CKCU_GATE_MULTI_GPU  0x04u  /* more than one device in use, or peer access */
#define CKCU_GATE_MPS        0x08u  /* MPS client */
#define CKCU_GATE_MIG        0x10u  /* MIG instance */

typedef struct ckcu_img_header {      /* 96 bytes */
    char     magic[8];         /* CKCU_IMG_MAGIC */
    uint16_t version_major;    /* CKCU_IMG_MAJOR: a reader refuses other majors */
    uint16_t version_minor;
    uint32_t header_size;      /* sizeof(ckcu_img_header) of the writer */
    uint32_t device_size;      /* sizeof(ckcu_img_device) of the writer */
    uint32_t record_size;      /* sizeof(ckcu_img_record) of the writer */
    uint32_t ndevices;
    uint32_t nrecords;
    uint32_t flags;            /* CKCU_IF_* */
    uint32_t gate_flags;       /* CKCU_GATE_* observed at the checkpoint */
    int32_t  driver_version;   /* cuDriverGetVersion, e.g. 13000 */
    uint32_t pid;              /* pid that called cuCheckpointProcess* */
    uint64_t records_off;      /* byte offset of the first record */
    uint64_t strings_off;      /* byte offset of the string area */
    uint64_t strings_len;
    uint64_t device_bytes;     /* sum of live ALLOC + VMM_HANDLE sizes */
    uint64_t host_bytes;       /* sum of live HOST + HOST_REG sizes */
    uint64_t reserved;         /* 0 */
} ckcu_img_header;

typedef struct ckcu_img_device {      /* 96 bytes */
    int32_t  ordinal;
    uint32_t flags;            /* reserved, 0 */
    uint8_t  uuid[16];         /* cuDeviceGetUuid */
    uint64_t total_mem;        /* cuDeviceTotalMem */
    uint64_t free_mem;         /* cuMemGetInfo at the checkpoint (0 if unknown) */
    int32_t  cc_major, cc_minor;
    char     name[48];         /* NUL-padded */
} ckcu_img_device;

enum ckcu_kind {
    CKCU_K_CTX = 1, CKCU_K_ALLOC = 2, CKCU_K_MANAGED = 3, CKCU_K_HOST = 4, CKCU_K_HOST_REG = 5,
    CKCU_K_VA_RESERVE = 6, CKCU_K_VMM_HANDLE = 7, CKCU_K_VMM_MAP = 8, CKCU_K_POOL = 9,
    CKCU_K_MODULE = 10, CKCU_K_LIBRARY = 11, CKCU_K_FUNCTION = 12, CKCU_K_KERNEL = 13,
    CKCU_K_GLOBAL = 14, CKCU_K_STREAM = 15, CKCU_K_EVENT = 16,
    CKCU_K_LAST
};
/* ALLOC aux0 */
enum ckcu_alloc_sub { CKCU_A_LINEAR = 0, CKCU_A_PITCH = 1, CKCU_A_ASYNC = 2, CKCU_A_POOL_ASYNC = 3 };
/* MODULE/LIBRARY aux0 */
enum ckcu_load_src { CKCU_L_FILE = 0, CKCU_L_DATA = 1, CKCU_L_FATBIN = 2 };
/* record flags */
#define CKCU_RF_PRIMARY 0x1u   /* CTX: the device's primary context */
#define CKCU_RF_MANAGED 0x2u   /* GLOBAL: a __managed__ variable */

typedef struct ckcu_img_record {      /* 64 bytes */
    uint16_t kind;             /* enum ckcu_kind */
    uint16_t flags;            /* CKCU_RF_* */
    int32_t  device;
    uint64_t key;
    uint64_t size;
    uint64_t ctx;
    uint64_t aux0;
    uint64_t aux1;
    uint32_t name_off;         /* into the string area */
    uint32_t name_len;
    uint64_t reserved;         /* 0 */
} ckcu_img_record;

_Static_assert(sizeof(ckcu_img_header) == 96, "ckcu_img_header layout");
_Static_assert(sizeof(ckcu_img_device) == 96, "ckcu_img_device layout");
_Static_assert(sizeof(ckcu_img_record) == 64, "ckcu_img_record layout");

static inline const char *ckcu_kind_name(unsigned k)
{
    static const char *const n[CKCU_K_LAST] = {
        "?", "ctx", "alloc", "managed", "host", "host_reg", "va_reserve", "vmm_handle",
        "vmm_map", "pool", "module", "library", "function", "kernel", "global", "stream", "event"
    };
    return k < CKCU_K_LAST ? n[k] : "?";
}

/* Bounds check of a payload: 0 if the header and every table lie inside
 * len bytes and the version is understood, else -1.  Tools call this before
 * looking at anything else. */
static inline int ckcu_img_check(const void *buf, size_t len)
{
    const ckcu_img_header *h = (const ckcu_img_header *)buf;
    if (len < sizeof *h) return -1;
    for (int i = 0; i < 8; i++) if (h->magic[i] != CKCU_IMG_MAGIC[i]) return -1;
    if (h->version_major != CKCU_IMG_MAJOR) return -1;
    if (h->header_size < sizeof *h || h->header_size > len) return -1;
    if (h->device_size < sizeof(ckcu_img_device) || h->record_size < sizeof(ckcu_img_record))
        return -1;
    uint64_t dev_end = (uint64_t)h->header_size + (uint64_t)h->ndevices * h->device_size;
    if (dev_end > len || h->records_off < dev_end || h->records_off > len) return -1;
    if ((uint64_t)h->nrecords * h->record_size > len - h->records_off) return -1;
    if (h->strings_off > len || h->strings_len > len - h->strings_off) return -1;
    return 0;
}

#endif
