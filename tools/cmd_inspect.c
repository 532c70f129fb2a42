/*
 * cmd_inspect.c - `ckpt inspect FILE|DIR [--json]`: what a checkpoint holds.
 *
 * Text output is for people; --json output is for programs and its keys are
 * part of the interface (documented in ckpt(1), section "INSPECT JSON"): keys
 * are only ever added, never renamed or removed, within a major version.
 *
 * A chunk that cannot be read (bad checksum, malformed payload) is reported on
 * stderr and skipped; the rest is still shown and the exit status is 1.
 */
#include "tools/tool.h"
#include "cuda_hooks/cuda_state.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/ucontext.h>

static const char usage_text[] =
    "usage: ckpt inspect FILE|DIR [--json]\n"
    "\n"
    "Describes a checkpoint: program (argv, executable, build-id), when and why it was\n"
    "taken, the memory map with stored/zero/file-backed sizes and compression ratio,\n"
    "threads with registers and backtraces, open files, signal handlers, timers,\n"
    "resource limits, CUDA state, named regions and notes.  A directory means the\n"
    "checkpoint its 'latest' link names.\n"
    "\n"
    "  --json     machine-readable output (keys documented in ckpt(1))\n"
    "  -h, --help this text\n"
    "\n"
    "Exit: 0 ok, 1 unreadable or partly corrupt checkpoint, 2 usage.\n";

typedef struct insp {
    ck_image im;
    ck_json j;
    int json;
    int errors;
    FILE *o;
} insp;

static void chunk_err(insp *s, size_t i, int err)
{
    const ckf_index_entry *e = ckf_reader_entry(s->im.r, i);
    ck_err("%s: %s chunk %zu: %s", s->im.path, ck_chunk_type_name(e->type), i,
           ckf_strerror(err));
    s->errors++;
}

static void malformed(insp *s, size_t i, const char *what)
{
    const ckf_index_entry *e = ckf_reader_entry(s->im.r, i);
    ck_err("%s: %s chunk %zu is malformed (%s)", s->im.path, ck_chunk_type_name(e->type), i,
           what);
    s->errors++;
}

static const char *reason_name(uint32_t r)
{
    switch (r) {
    case CKC_REASON_SIGNAL: return "signal";
    case CKC_REASON_INTERVAL: return "interval";
    case CKC_REASON_API: return "api";
    case CKC_REASON_EXIT: return "exit";
    }
    return "unknown";
}

/* The executable's FILEIDS entry: the one whose path is the process exe. */
static const ckc_fileid *exe_fileid(const ck_image *im)
{
    size_t el = 0, fl = 0;
    const char *exe;
    if (!im->nfids) return NULL;
    if (!im->has_proc) return &im->fids[0];
    exe = ck_sref(&im->pstr, im->proc.exe, &el);
    for (uint32_t i = 0; i < im->nfids; i++) {
        const char *p = ck_sref(&im->fstr, im->fids[i].path, &fl);
        if (fl == el && memcmp(p, exe, el) == 0) return &im->fids[i];
    }
    return NULL;
}

static const char *build_id_hex(const ckc_fileid *f, char buf[65])
{
    if (!f || f->build_id_len == 0) return NULL;
    return ck_hex(f->build_id, f->build_id_len > 32 ? 32 : f->build_id_len, buf);
}

/* ---- header, program, when ------------------------------------------------------- */

static void show_format(insp *s)
{
    const ckf_file_header *h = s->im.hdr;
    char id[33], par[33], t[40], hb[32], vers[16];
    ck_hex(h->id, 16, id);
    ck_hex(h->parent_id, 16, par);
    snprintf(vers, sizeof vers, "%u.%u", h->version_major, h->version_minor);
    if (s->json) {
        cj_str(&s->j, "file", s->im.path);
        cj_obj(&s->j, "format");
        cj_str(&s->j, "version", vers);
        cj_str(&s->j, "id", id);
        if (ck_is_zero_id(h->parent_id)) cj_null(&s->j, "parent_id");
        else cj_str(&s->j, "parent_id", par);
        cj_u64(&s->j, "created_ns", h->created_ns);
        cj_u64(&s->j, "block_size", h->block_size);
        cj_u64(&s->j, "file_size", ckf_reader_file_size(s->im.r));
        cj_u64(&s->j, "chunks", ckf_reader_count(s->im.r));
        cj_obj_end(&s->j);
        return;
    }
    fprintf(s->o, "checkpoint  %s\n", s->im.path);
    fprintf(s->o, "  format    %s, %s, block size %u, %zu chunks\n", vers,
            ck_human(ckf_reader_file_size(s->im.r), hb), h->block_size,
            ckf_reader_count(s->im.r));
    fprintf(s->o, "  id        %s\n", id);
    fprintf(s->o, "  parent    %s\n", ck_is_zero_id(h->parent_id) ? "none (full checkpoint)" : par);
    fprintf(s->o, "  created   %s\n", ck_time_iso(h->created_ns, t));
}

static void show_process(insp *s)
{
    const ckc_process *p = &s->im.proc;
    const ck_strtab *st = &s->im.pstr;
    size_t n;
    const char *v;
    char bid[65], t[40], comm[17], host[65];
    const ckc_fileid *fid = exe_fileid(&s->im);

    if (!s->im.has_proc) {
        if (s->json) { cj_null(&s->j, "program"); cj_null(&s->j, "process"); cj_null(&s->j, "checkpoint"); }
        else fprintf(s->o, "program     (no process chunk)\n");
        return;
    }
    memcpy(comm, p->comm, 16); comm[16] = '\0';
    memcpy(host, p->hostname, 64); host[64] = '\0';
    if (s->json) {
        cj_obj(&s->j, "program");
        v = ck_sref(st, p->exe, &n); cj_strn(&s->j, "exe", v, n);
        cj_arr(&s->j, "argv");
        v = ck_sref(st, p->argv, &n);
        for (size_t a = 0; a < n;) {
            size_t l = strnlen(v + a, n - a);
            cj_strn(&s->j, NULL, v + a, l);
            a += l + 1;
        }
        cj_arr_end(&s->j);
        v = ck_sref(st, p->cwd, &n); cj_strn(&s->j, "cwd", v, n);
        cj_str(&s->j, "build_id", build_id_hex(fid, bid));
        cj_str(&s->j, "comm", comm);
        cj_str(&s->j, "hostname", host);
        v = ck_sref(st, p->ckpt_version, &n); cj_strn(&s->j, "ckpt_version", v, n);
        cj_obj_end(&s->j);
        cj_obj(&s->j, "process");
        cj_u64(&s->j, "pid", p->pid);
        cj_u64(&s->j, "ppid", p->ppid);
        cj_u64(&s->j, "uid", p->uid);
        cj_u64(&s->j, "gid", p->gid);
        cj_u64(&s->j, "umask", p->umask);
        cj_hex(&s->j, "personality", p->personality);
        cj_u64(&s->j, "nthreads", p->nthreads);
        cj_hex(&s->j, "start_brk", p->start_brk);
        cj_hex(&s->j, "brk", p->brk);
        cj_obj_end(&s->j);
        cj_obj(&s->j, "checkpoint");
        cj_u64(&s->j, "realtime_ns", p->realtime_ns);
        cj_str(&s->j, "time", ck_time_iso(p->realtime_ns, t));
        cj_u64(&s->j, "monotonic_ns", p->monotonic_ns);
        cj_u64(&s->j, "pause_ns", p->pause_ns);
        cj_str(&s->j, "reason", reason_name(p->reason));
        cj_u64(&s->j, "seq", p->seq);
        cj_u64(&s->j, "generation", p->generation);
        cj_obj_end(&s->j);
        return;
    }
    v = ck_sref(st, p->exe, &n);
    fputs("program     ", s->o); ck_put_safe(s->o, v, n); fputc('\n', s->o);
    fputs("  argv     ", s->o);
    v = ck_sref(st, p->argv, &n);
    for (size_t a = 0; a < n;) {
        size_t l = strnlen(v + a, n - a);
        fputc(' ', s->o);
        ck_put_safe(s->o, v + a, l);
        a += l + 1;
    }
    fputc('\n', s->o);
    fprintf(s->o, "  build-id  %s\n", build_id_hex(fid, bid) ? bid : "none");
    v = ck_sref(st, p->cwd, &n);
    fputs("  cwd       ", s->o); ck_put_safe(s->o, v, n); fputc('\n', s->o);
    fprintf(s->o, "  pid       %u (ppid %u), uid %u, gid %u, umask %03o, %u threads, comm \"",
            p->pid, p->ppid, p->uid, p->gid, p->umask, p->nthreads);
    ck_put_safe(s->o, comm, strlen(comm));
    fputs("\"\n  host      ", s->o);
    ck_put_safe(s->o, host, strlen(host));
    fputc('\n', s->o);
    fprintf(s->o, "when        %s, reason %s, seq %u, generation %u, pause %.3f ms\n",
            ck_time_iso(p->realtime_ns, t), reason_name(p->reason), p->seq, p->generation,
            p->pause_ns / 1e6);
    v = ck_sref(st, p->ckpt_version, &n);
    fputs("  by        ", s->o); ck_put_safe(s->o, v, n); fputc('\n', s->o);
}

/* ---- memory ------------------------------------------------------------------------ */

typedef struct vstat { uint64_t data_raw, disk, zero_raw, parent_raw, nblocks, nzpages; } vstat;

static void show_memory(insp *s)
{
    ck_image *im = &s->im;
    vstat *vs = calloc(im->nvmas + 1u, sizeof *vs);   /* [nvmas] = outside every VMA */
    vstat tot = { 0 };
    uint64_t mapped = 0, stored = 0, zero = 0, file = 0;
    char a[32], b[32], c[32], d[32], perm[5];

    if (!vs) return;
    for (size_t k = 0; k < im->nblocks; k++) {
        const ckf_index_entry *e = im->blocks[k];
        long vi = ck_image_vma_at(im, e->key);
        vstat *v = &vs[vi < 0 ? im->nvmas : (size_t)vi];
        v->nblocks++;
        switch (e->codec) {
        case CKF_C_ZERO: v->zero_raw += e->raw_len; break;
        case CKF_C_PARENT: v->parent_raw += e->raw_len; break;
        case CKF_C_ZPAGES: v->nzpages++; /* fall through */
        default: v->data_raw += e->raw_len; v->disk += e->stored_len; break;
        }
    }
    for (uint32_t i = 0; i <= im->nvmas; i++) {
        tot.data_raw += vs[i].data_raw; tot.disk += vs[i].disk;
        tot.zero_raw += vs[i].zero_raw; tot.parent_raw += vs[i].parent_raw;
        tot.nblocks += vs[i].nblocks;
        tot.nzpages += vs[i].nzpages;
    }
    for (uint32_t i = 0; i < im->nvmas; i++) {
        mapped += im->vmas[i].end - im->vmas[i].start;
        stored += im->vmas[i].stored_bytes;
        zero += im->vmas[i].zero_bytes;
        file += im->vmas[i].file_bytes;
    }

    if (s->json) {
        cj_obj(&s->j, "memory");
        cj_u64(&s->j, "page_size", im->page_size);
        cj_u64(&s->j, "mapped_bytes", mapped);
        cj_u64(&s->j, "stored_bytes", stored);
        cj_u64(&s->j, "zero_bytes", zero);
        cj_u64(&s->j, "file_bytes", file);
        cj_u64(&s->j, "blocks", tot.nblocks);
        cj_u64(&s->j, "zpages_blocks", tot.nzpages);
        cj_u64(&s->j, "block_raw_bytes", tot.data_raw);
        cj_u64(&s->j, "block_disk_bytes", tot.disk);
        cj_u64(&s->j, "block_zero_bytes", tot.zero_raw);
        cj_u64(&s->j, "block_parent_bytes", tot.parent_raw);
        cj_u64(&s->j, "unmapped_blocks", vs[im->nvmas].nblocks);
        if (tot.disk) cj_double(&s->j, "ratio", (double)tot.data_raw / (double)tot.disk, 2);
        else cj_null(&s->j, "ratio");
        cj_arr(&s->j, "regions");
        for (uint32_t i = 0; i < im->nvmas; i++) {
            const ckc_vma *m = &im->vmas[i];
            size_t n;
            const char *p = ck_sref(&im->vstr, m->path, &n);
            cj_obj(&s->j, NULL);
            cj_hex(&s->j, "start", m->start);
            cj_hex(&s->j, "end", m->end);
            cj_str(&s->j, "perms", ck_vma_perms(m->flags, perm));
            cj_hex(&s->j, "flags", m->flags);
            cj_strn(&s->j, "path", p, n);
            cj_hex(&s->j, "offset", m->pgoff);
            cj_u64(&s->j, "size", m->end - m->start);
            cj_u64(&s->j, "stored_bytes", m->stored_bytes);
            cj_u64(&s->j, "zero_bytes", m->zero_bytes);
            cj_u64(&s->j, "file_bytes", m->file_bytes);
            cj_u64(&s->j, "blocks", vs[i].nblocks);
            cj_u64(&s->j, "block_raw_bytes", vs[i].data_raw);
            cj_u64(&s->j, "block_disk_bytes", vs[i].disk);
            if (vs[i].disk) cj_double(&s->j, "ratio", (double)vs[i].data_raw / (double)vs[i].disk, 2);
            else cj_null(&s->j, "ratio");
            cj_obj_end(&s->j);
        }
        cj_arr_end(&s->j);
        cj_obj_end(&s->j);
        free(vs);
        return;
    }
    fprintf(s->o, "\nmemory: %u regions, %s mapped: %s stored, %s zero, %s left to files\n",
            im->nvmas, ck_human(mapped, a), ck_human(stored, b), ck_human(zero, c),
            ck_human(file, d));
    fprintf(s->o, "  %llu blocks: %s of data in %s on disk", (unsigned long long)tot.nblocks,
            ck_human(tot.data_raw, a), ck_human(tot.disk, b));
    if (tot.disk) fprintf(s->o, " (ratio %.2f)", (double)tot.data_raw / (double)tot.disk);
    if (tot.nzpages) fprintf(s->o, ", %llu stored without their zero pages", (unsigned long long)tot.nzpages);
    if (tot.zero_raw) fprintf(s->o, ", %s zero blocks", ck_human(tot.zero_raw, c));
    if (tot.parent_raw) fprintf(s->o, ", %s in the parent", ck_human(tot.parent_raw, d));
    fputc('\n', s->o);
    if (vs[im->nvmas].nblocks)
        fprintf(s->o, "  warning: %llu blocks lie outside every region\n",
                (unsigned long long)vs[im->nvmas].nblocks);
    fprintf(s->o, "  %-16s %-16s %-4s %10s %10s %10s %10s %6s  %s\n", "START", "END", "PERM",
            "SIZE", "STORED", "ZERO", "FILE", "RATIO", "PATH");
    for (uint32_t i = 0; i < im->nvmas; i++) {
        const ckc_vma *m = &im->vmas[i];
        char ratio[16], e[32];
        size_t n;
        const char *p = ck_sref(&im->vstr, m->path, &n);
        if (vs[i].disk) snprintf(ratio, sizeof ratio, "%.2f", (double)vs[i].data_raw / (double)vs[i].disk);
        else snprintf(ratio, sizeof ratio, "-");
        fprintf(s->o, "  %016llx %016llx %-4s %10s %10s %10s %10s %6s  ",
                (unsigned long long)m->start, (unsigned long long)m->end,
                ck_vma_perms(m->flags, perm), ck_human(m->end - m->start, a),
                ck_human(m->stored_bytes, b), ck_human(m->zero_bytes, c),
                ck_human(m->file_bytes, e), ratio);
        if (n) ck_put_safe(s->o, p, n);
        else fputs("[anon]", s->o);
        fputc('\n', s->o);
    }
    free(vs);
}

/* ---- threads ----------------------------------------------------------------------- */

static const struct { const char *name; int reg; } regnames[] = {
    { "rip", REG_RIP }, { "rsp", REG_RSP }, { "rbp", REG_RBP }, { "rax", REG_RAX },
    { "rbx", REG_RBX }, { "rcx", REG_RCX }, { "rdx", REG_RDX }, { "rsi", REG_RSI },
    { "rdi", REG_RDI }, { "r8", REG_R8 }, { "r9", REG_R9 }, { "r10", REG_R10 },
    { "r11", REG_R11 }, { "r12", REG_R12 }, { "r13", REG_R13 }, { "r14", REG_R14 },
    { "r15", REG_R15 }, { "eflags", REG_EFL },
};

static void show_thread(insp *s, size_t idx, const char *buf, size_t len)
{
    ckc_thread t;
    ck_strtab st;
    char name[17];
    if (len < sizeof t) { malformed(s, idx, "short"); return; }
    memcpy(&t, buf, sizeof t);
    if ((uint64_t)t.nframes * sizeof(ckc_frame) > len - sizeof t || t.nframes > 4096) {
        malformed(s, idx, "frame count");
        return;
    }
    const ckc_frame *fr = (const ckc_frame *)(buf + sizeof t);
    st.p = buf + sizeof t + t.nframes * sizeof(ckc_frame);
    st.len = len - sizeof t - t.nframes * sizeof(ckc_frame);
    memcpy(name, t.name, 16); name[16] = '\0';

    if (s->json) {
        cj_obj(&s->j, NULL);
        cj_u64(&s->j, "tid", t.tid);
        cj_str(&s->j, "name", name);
        cj_bool(&s->j, "main", t.flags & CKC_THR_MAIN);
        cj_bool(&s->j, "manager", t.flags & CKC_THR_MANAGER);
        cj_obj(&s->j, "registers");
        for (size_t r = 0; r < sizeof regnames / sizeof regnames[0]; r++)
            cj_hex(&s->j, regnames[r].name, t.gregs[regnames[r].reg]);
        cj_hex(&s->j, "fs_base", t.fs_base);
        cj_hex(&s->j, "gs_base", t.gs_base);
        cj_obj_end(&s->j);
        cj_hex(&s->j, "sigmask", t.sigmask);
        if (t.altstack_size) {
            cj_obj(&s->j, "altstack");
            cj_hex(&s->j, "sp", t.altstack_sp);
            cj_u64(&s->j, "size", t.altstack_size);
            cj_hex(&s->j, "flags", t.altstack_flags);
            cj_obj_end(&s->j);
        } else {
            cj_null(&s->j, "altstack");
        }
        cj_arr(&s->j, "backtrace");
        for (uint32_t f = 0; f < t.nframes; f++) {
            size_t n;
            const char *sym = ck_sref(&st, fr[f].sym, &n);
            cj_obj(&s->j, NULL);
            cj_hex(&s->j, "pc", fr[f].pc);
            cj_hex(&s->j, "sp", fr[f].sp);
            if (n) cj_strn(&s->j, "symbol", sym, n); else cj_null(&s->j, "symbol");
            cj_hex(&s->j, "offset", fr[f].off);
            cj_obj_end(&s->j);
        }
        cj_arr_end(&s->j);
        cj_obj_end(&s->j);
        return;
    }
    fprintf(s->o, "  thread %u \"", t.tid);
    ck_put_safe(s->o, name, strlen(name));
    fprintf(s->o, "\"%s%s: rip %llx rsp %llx rbp %llx fs %llx sigmask %llx\n",
            t.flags & CKC_THR_MAIN ? " (main)" : "",
            t.flags & CKC_THR_MANAGER ? " (ckpt manager)" : "",
            (unsigned long long)t.gregs[REG_RIP], (unsigned long long)t.gregs[REG_RSP],
            (unsigned long long)t.gregs[REG_RBP], (unsigned long long)t.fs_base,
            (unsigned long long)t.sigmask);
    for (uint32_t f = 0; f < t.nframes; f++) {
        size_t n;
        const char *sym = ck_sref(&st, fr[f].sym, &n);
        fprintf(s->o, "    #%-2u %016llx ", f, (unsigned long long)fr[f].pc);
        if (n) {
            ck_put_safe(s->o, sym, n);
            fprintf(s->o, "+0x%llx\n", (unsigned long long)fr[f].off);
        } else {
            fputs("??\n", s->o);
        }
    }
}

static void show_threads(insp *s)
{
    size_t n = 0;
    for (long i = ckf_reader_find(s->im.r, CKF_T_THREAD, 0); i >= 0;
         i = ckf_reader_find(s->im.r, CKF_T_THREAD, (size_t)i + 1))
        n++;
    if (s->json) cj_arr(&s->j, "threads");
    else fprintf(s->o, "\nthreads: %zu\n", n);
    for (long i = ckf_reader_find(s->im.r, CKF_T_THREAD, 0); i >= 0;
         i = ckf_reader_find(s->im.r, CKF_T_THREAD, (size_t)i + 1)) {
        size_t len = 0;
        int err = 0;
        char *buf = ck_image_read(&s->im, (size_t)i, &len, &err);
        if (!buf) { chunk_err(s, (size_t)i, err); continue; }
        show_thread(s, (size_t)i, buf, len);
        free(buf);
    }
    if (s->json) cj_arr_end(&s->j);
}

/* ---- files ------------------------------------------------------------------------- */

static const char *fd_kind(uint32_t k)
{
    static const char *names[] = { "?", "reg", "dir", "pipe", "socket", "tty", "chr",
                                   "eventfd", "epoll", "memfd", "timerfd", "signalfd",
                                   "fifo", "other" };
    return k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static const char *open_mode(uint32_t fl, char buf[64])
{
    int acc = fl & 3;
    snprintf(buf, 64, "%s%s%s%s", acc == 0 ? "r" : acc == 1 ? "w" : acc == 2 ? "rw" : "?",
             fl & 02000 ? ",append" : "", fl & 04000 ? ",nonblock" : "",
             fl & 040000 ? ",direct" : "");
    return buf;
}

static void show_files(insp *s)
{
    long i = ckf_reader_find(s->im.r, CKF_T_FILES, 0);
    size_t len = 0;
    int err = 0;
    char *buf;
    ckc_files h;
    if (i < 0) {
        if (s->json) cj_arr(&s->j, "files"), cj_arr_end(&s->j);
        else fprintf(s->o, "\nfiles: none recorded\n");
        return;
    }
    buf = ck_image_read(&s->im, (size_t)i, &len, &err);
    if (!buf) { chunk_err(s, (size_t)i, err); return; }
    memcpy(&h, buf, len >= sizeof h ? sizeof h : 0);
    if (len < sizeof h || (uint64_t)h.count * sizeof(ckc_fd) > len - sizeof h) {
        malformed(s, (size_t)i, "count");
        free(buf);
        return;
    }
    const ckc_fd *fds = (const ckc_fd *)(buf + sizeof h);
    ck_strtab st = { buf + sizeof h + h.count * sizeof(ckc_fd),
                     len - sizeof h - h.count * sizeof(ckc_fd) };
    if (s->json) cj_arr(&s->j, "files");
    else fprintf(s->o, "\nfiles: %u\n  %4s %-8s %-14s %12s  %s\n", h.count, "FD", "KIND",
                 "MODE", "OFFSET", "PATH");
    for (uint32_t k = 0; k < h.count; k++) {
        const ckc_fd *f = &fds[k];
        char m[64];
        size_t n;
        const char *p = ck_sref(&st, f->path, &n);
        if (s->json) {
            cj_obj(&s->j, NULL);
            cj_i64(&s->j, "fd", f->fd);
            cj_str(&s->j, "kind", fd_kind(f->kind));
            cj_str(&s->j, "mode", open_mode(f->open_flags, m));
            cj_hex(&s->j, "open_flags", f->open_flags);
            cj_bool(&s->j, "cloexec", f->flags & CKC_FD_CLOEXEC);
            cj_bool(&s->j, "internal", f->flags & CKC_FD_INTERNAL);
            cj_bool(&s->j, "deleted", f->flags & CKC_FD_DELETED);
            if (f->kind == CKC_FD_SOCKET) {
                cj_bool(&s->j, "listening", f->flags & CKC_FD_LISTEN);
                cj_bool(&s->j, "socketpair", f->flags & CKC_FD_SOCKPAIR);
            }
            cj_u64(&s->j, "offset", f->pos);
            cj_u64(&s->j, "size", f->size);
            cj_strn(&s->j, "path", p, n);
            cj_obj_end(&s->j);
            continue;
        }
        fprintf(s->o, "  %4d %-8s %-14s %12llu  ", f->fd, fd_kind(f->kind),
                open_mode(f->open_flags, m), (unsigned long long)f->pos);
        ck_put_safe(s->o, p, n);
        if (f->flags & CKC_FD_DELETED) fputs(" (deleted)", s->o);
        if (f->flags & CKC_FD_INTERNAL) fputs(" (libckpt)", s->o);
        if (f->flags & CKC_FD_CLOEXEC) fputs(" [cloexec]", s->o);
        if (f->flags & CKC_FD_LISTEN) fputs(" [listening]", s->o);
        if (f->flags & CKC_FD_SOCKPAIR) fputs(" [socketpair]", s->o);
        fputc('\n', s->o);
    }
    if (s->json) cj_arr_end(&s->j);
    free(buf);
}

/* ---- signals, timers, rlimits ----------------------------------------------------- */

static const char *sa_flags(uint64_t f, char buf[128])
{
    static const struct { uint64_t bit; const char *n; } fl[] = {
        { 0x00000001, "NOCLDSTOP" }, { 0x00000002, "NOCLDWAIT" }, { 0x00000004, "SIGINFO" },
        { 0x04000000, "RESTORER" }, { 0x08000000, "ONSTACK" }, { 0x10000000, "RESTART" },
        { 0x40000000, "NODEFER" }, { 0x80000000, "RESETHAND" },
    };
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        if (f & fl[i].bit) {
            if (buf[0]) strcat(buf, "|");
            strcat(buf, fl[i].n);
        }
    if (!buf[0]) strcpy(buf, "0");
    return buf;
}

static void show_signals(insp *s)
{
    long i = ckf_reader_find(s->im.r, CKF_T_SIGNALS, 0);
    size_t len = 0;
    int err = 0;
    ckc_signals sg;
    char *buf;
    char sn[24], fb[128];
    if (i < 0) {
        if (s->json) cj_null(&s->j, "signals");
        return;
    }
    buf = ck_image_read(&s->im, (size_t)i, &len, &err);
    if (!buf) { chunk_err(s, (size_t)i, err); return; }
    if (len < sizeof sg) { malformed(s, (size_t)i, "short"); free(buf); return; }
    memcpy(&sg, buf, sizeof sg);
    free(buf);
    if (s->json) {
        cj_obj(&s->j, "signals");
        cj_str(&s->j, "trigger", sg.ckpt_signal ? ck_signame((int)sg.ckpt_signal, sn) : NULL);
        cj_str(&s->j, "private", sg.private_signal ? ck_signame((int)sg.private_signal, sn) : NULL);
        cj_arr(&s->j, "handlers");
    } else {
        fprintf(s->o, "\nsignals: trigger %s", sg.ckpt_signal ? ck_signame((int)sg.ckpt_signal, sn) : "none");
        fprintf(s->o, ", private %s\n", sg.private_signal ? ck_signame((int)sg.private_signal, sn) : "none");
    }
    for (int k = 0; k < 64; k++) {
        const ckc_sigaction *a = &sg.act[k];
        if (a->handler == 0) continue;             /* SIG_DFL */
        if (s->json) {
            cj_obj(&s->j, NULL);
            cj_str(&s->j, "signal", ck_signame(k + 1, sn));
            cj_u64(&s->j, "number", (uint64_t)k + 1);
            if (a->handler == 1) cj_str(&s->j, "handler", "ignore");
            else cj_hex(&s->j, "handler", a->handler);
            cj_str(&s->j, "flags", sa_flags(a->flags, fb));
            cj_hex(&s->j, "mask", a->mask);
            cj_obj_end(&s->j);
        } else if (a->handler == 1) {
            fprintf(s->o, "  %-12s ignored\n", ck_signame(k + 1, sn));
        } else {
            fprintf(s->o, "  %-12s handler 0x%llx flags %s mask 0x%llx\n", ck_signame(k + 1, sn),
                    (unsigned long long)a->handler, sa_flags(a->flags, fb),
                    (unsigned long long)a->mask);
        }
    }
    if (s->json) { cj_arr_end(&s->j); cj_obj_end(&s->j); }
}

static void show_timers(insp *s)
{
    static const char *names[3] = { "real", "virtual", "prof" };
    long i = ckf_reader_find(s->im.r, CKF_T_TIMERS, 0);
    size_t len = 0;
    int err = 0, any = 0;
    ckc_timers tm;
    char *buf;
    if (s->json) cj_arr(&s->j, "timers");
    if (i >= 0) {
        buf = ck_image_read(&s->im, (size_t)i, &len, &err);
        if (!buf) chunk_err(s, (size_t)i, err);
        else if (len < sizeof tm) { malformed(s, (size_t)i, "short"); free(buf); }
        else {
            memcpy(&tm, buf, sizeof tm);
            free(buf);
            for (int k = 0; k < 3; k++) {
                const ckc_itimer *t = &tm.itimer[k];
                if (!t->interval_sec && !t->interval_usec && !t->value_sec && !t->value_usec)
                    continue;
                double iv = (double)t->interval_sec + t->interval_usec / 1e6;
                double vv = (double)t->value_sec + t->value_usec / 1e6;
                if (s->json) {
                    cj_obj(&s->j, NULL);
                    cj_str(&s->j, "timer", names[k]);
                    cj_double(&s->j, "interval_s", iv, 6);
                    cj_double(&s->j, "value_s", vv, 6);
                    cj_obj_end(&s->j);
                } else {
                    if (!any) fputs("\ntimers:\n", s->o);
                    fprintf(s->o, "  ITIMER_%-8s interval %.6f s, next in %.6f s\n",
                            k == 0 ? "REAL" : k == 1 ? "VIRTUAL" : "PROF", iv, vv);
                }
                any = 1;
            }
        }
    }
    if (s->json) cj_arr_end(&s->j);
}

static void show_rlimits(insp *s)
{
    static const char *names[16] = { "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC",
        "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
        "RTTIME" };
    long i = ckf_reader_find(s->im.r, CKF_T_RLIMITS, 0);
    size_t len = 0;
    int err = 0, any = 0;
    ckc_rlimits rl;
    char *buf;
    if (s->json) cj_arr(&s->j, "rlimits");
    if (i >= 0) {
        buf = ck_image_read(&s->im, (size_t)i, &len, &err);
        if (!buf) chunk_err(s, (size_t)i, err);
        else if (len < sizeof rl) { malformed(s, (size_t)i, "short"); free(buf); }
        else {
            memcpy(&rl, buf, sizeof rl);
            free(buf);
            for (int k = 0; k < 16; k++) {
                if (rl.cur[k] == (uint64_t)RLIM_INFINITY && rl.max[k] == (uint64_t)RLIM_INFINITY)
                    continue;
                if (s->json) {
                    cj_obj(&s->j, NULL);
                    cj_str(&s->j, "resource", names[k]);
                    if (rl.cur[k] == (uint64_t)RLIM_INFINITY) cj_null(&s->j, "soft");
                    else cj_u64(&s->j, "soft", rl.cur[k]);
                    if (rl.max[k] == (uint64_t)RLIM_INFINITY) cj_null(&s->j, "hard");
                    else cj_u64(&s->j, "hard", rl.max[k]);
                    cj_obj_end(&s->j);
                    continue;
                }
                if (!any) fputs("\nrlimits (not unlimited):\n", s->o);
                any = 1;
                fprintf(s->o, "  %-10s soft ", names[k]);
                if (rl.cur[k] == (uint64_t)RLIM_INFINITY) fputs("unlimited", s->o);
                else fprintf(s->o, "%llu", (unsigned long long)rl.cur[k]);
                fputs(" hard ", s->o);
                if (rl.max[k] == (uint64_t)RLIM_INFINITY) fputs("unlimited\n", s->o);
                else fprintf(s->o, "%llu\n", (unsigned long long)rl.max[k]);
            }
        }
    }
    if (s->json) cj_arr_end(&s->j);
}

/* ---- CUDA ---------------------------------------------------------------------------
 * The CKF_T_CUDA payload is defined by cuda_hooks/cuda_state.h (written by
 * ckpt_cuda_serialize).  decode_cuda() honours the sizes stored in its header so
 * that later minor versions (longer structs) still decode; anything it does not
 * recognise is reported as "not decoded" with its size. */

static void flag_list(insp *s, const char *key, uint32_t f, const char *const *names, int n,
                      char *text, size_t cap)
{
    text[0] = '\0';
    if (s->json) cj_arr(&s->j, key);
    for (int b = 0; b < n; b++) {
        if (!(f & (1u << b))) continue;
        if (s->json) cj_str(&s->j, NULL, names[b]);
        else {
            if (text[0]) strncat(text, "|", cap - strlen(text) - 1);
            strncat(text, names[b], cap - strlen(text) - 1);
        }
    }
    if (s->json) cj_arr_end(&s->j);
    else if (!text[0]) snprintf(text, cap, "none");
}

static void decode_cuda(insp *s, const char *buf, size_t len)
{
    static const char *const ifl[] = { "driver-checkpoint", "data", "track-only" };
    static const char *const gfl[] = { "managed", "ipc", "multi-gpu", "mps", "mig" };
    ckcu_img_header h;
    char t1[128], t2[128], hb[32], hc[32];
    uint64_t cnt[CKCU_K_LAST] = { 0 }, bytes[CKCU_K_LAST] = { 0 };

    if (ckcu_img_check(buf, len) < 0) {
        if (s->json) cj_bool(&s->j, "decoded", 0);
        else fprintf(s->o, "  state: %zu bytes (layout not recognised)\n", len);
        return;
    }
    memcpy(&h, buf, sizeof h);
    const char *strs = buf + h.strings_off;
    if (s->json) {
        char v[16];
        snprintf(v, sizeof v, "%u.%u", h.version_major, h.version_minor);
        cj_bool(&s->j, "decoded", 1);
        cj_str(&s->j, "version", v);
        cj_i64(&s->j, "driver_version", h.driver_version);
        cj_u64(&s->j, "pid", h.pid);
        flag_list(s, "flags", h.flags, ifl, 3, t1, sizeof t1);
        flag_list(s, "gate", h.gate_flags, gfl, 5, t2, sizeof t2);
        cj_u64(&s->j, "device_memory_bytes", h.device_bytes);
        cj_u64(&s->j, "host_memory_bytes", h.host_bytes);
        cj_arr(&s->j, "devices");
    } else {
        flag_list(s, NULL, h.flags, ifl, 3, t1, sizeof t1);
        flag_list(s, NULL, h.gate_flags, gfl, 5, t2, sizeof t2);
        fprintf(s->o, "  state: %zu bytes, layout %u.%u, driver %d, pid %u, flags %s\n", len,
                h.version_major, h.version_minor, h.driver_version, h.pid, t1);
        fprintf(s->o, "  memory: %s on devices, %s pinned on the host; refusal reasons: %s\n",
                ck_human(h.device_bytes, hb), ck_human(h.host_bytes, hc), t2);
    }
    for (uint32_t i = 0; i < h.ndevices; i++) {
        ckcu_img_device d;
        char name[49], uuid[33];
        memcpy(&d, buf + h.header_size + (size_t)i * h.device_size, sizeof d);
        memcpy(name, d.name, 48);
        name[48] = '\0';
        ck_hex(d.uuid, 16, uuid);
        if (s->json) {
            cj_obj(&s->j, NULL);
            cj_i64(&s->j, "ordinal", d.ordinal);
            cj_strn(&s->j, "name", name, strnlen(name, 48));
            cj_str(&s->j, "uuid", uuid);
            cj_i64(&s->j, "cc_major", d.cc_major);
            cj_i64(&s->j, "cc_minor", d.cc_minor);
            cj_u64(&s->j, "total_mem", d.total_mem);
            cj_u64(&s->j, "free_mem", d.free_mem);
            cj_obj_end(&s->j);
        } else {
            fprintf(s->o, "  device %d: ", d.ordinal);
            ck_put_safe(s->o, name, strnlen(name, 48));
            fprintf(s->o, ", compute %d.%d, %s, uuid %s\n", d.cc_major, d.cc_minor,
                    ck_human(d.total_mem, hb), uuid);
        }
    }
    if (s->json) { cj_arr_end(&s->j); cj_arr(&s->j, "objects"); }
    for (uint32_t i = 0; i < h.nrecords; i++) {
        ckcu_img_record r;
        memcpy(&r, buf + h.records_off + (size_t)i * h.record_size, sizeof r);
        unsigned k = r.kind < CKCU_K_LAST ? r.kind : 0;
        cnt[k]++;
        bytes[k] += r.size;
        if (!s->json) continue;
        int name_ok = (uint64_t)r.name_off + r.name_len <= h.strings_len;
        cj_obj(&s->j, NULL);
        cj_str(&s->j, "kind", ckcu_kind_name(r.kind));
        cj_i64(&s->j, "device", r.device);
        cj_hex(&s->j, "key", r.key);
        cj_u64(&s->j, "size", r.size);
        cj_hex(&s->j, "ctx", r.ctx);
        if (r.name_len && name_ok) cj_strn(&s->j, "name", strs + r.name_off, r.name_len);
        else cj_null(&s->j, "name");
        cj_obj_end(&s->j);
    }
    if (s->json) { cj_arr_end(&s->j); return; }
    fprintf(s->o, "  objects:");
    int first = 1;
    for (unsigned k = 0; k < CKCU_K_LAST; k++) {
        if (!cnt[k]) continue;
        fprintf(s->o, "%s %llu %s", first ? "" : ",", (unsigned long long)cnt[k], ckcu_kind_name(k));
        if (bytes[k] && (k == CKCU_K_ALLOC || k == CKCU_K_HOST || k == CKCU_K_HOST_REG ||
                         k == CKCU_K_MANAGED || k == CKCU_K_VMM_HANDLE))
            fprintf(s->o, " (%s)", ck_human(bytes[k], hb));
        first = 0;
    }
    fprintf(s->o, "%s\n", first ? " none" : "");
}

static void show_cuda(insp *s)
{
    size_t ndata = 0;
    uint64_t data_bytes = 0;
    long ci = ckf_reader_find(s->im.r, CKF_T_CUDA, 0);
    for (long i = ckf_reader_find(s->im.r, CKF_T_CUDA_DATA, 0); i >= 0;
         i = ckf_reader_find(s->im.r, CKF_T_CUDA_DATA, (size_t)i + 1)) {
        ndata++;
        data_bytes += ckf_reader_entry(s->im.r, (size_t)i)->raw_len;
    }
    if (ci < 0 && !ndata) {
        if (s->json) cj_null(&s->j, "cuda");
        return;
    }
    if (s->json) cj_obj(&s->j, "cuda");
    else fputs("\ncuda:\n", s->o);
    if (s->json) {
        cj_u64(&s->j, "data_chunks", ndata);
        cj_u64(&s->j, "data_bytes", data_bytes);
    }
    if (ci >= 0) {
        size_t len = 0;
        int err = 0;
        void *buf = ck_image_read(&s->im, (size_t)ci, &len, &err);
        if (!buf) chunk_err(s, (size_t)ci, err);
        if (s->json) cj_u64(&s->j, "state_bytes", buf ? len : 0);
        if (buf) decode_cuda(s, buf, len);
        else if (s->json) cj_bool(&s->j, "decoded", 0);
        free(buf);
    } else if (s->json) {
        cj_null(&s->j, "state_bytes");
        cj_bool(&s->j, "decoded", 0);
    }
    if (s->json) {
        cj_obj_end(&s->j);
    } else if (ndata) {
        char h[32];
        fprintf(s->o, "  device buffers saved: %zu, %s\n", ndata, ck_human(data_bytes, h));
    }
}

/* ---- regions, notes, other chunks ------------------------------------------------- */

static void show_regions(insp *s)
{
    int any = 0;
    char h[32];
    if (s->json) cj_arr(&s->j, "regions");
    for (long i = ckf_reader_find(s->im.r, CKF_T_REGION, 0); i >= 0;
         i = ckf_reader_find(s->im.r, CKF_T_REGION, (size_t)i + 1)) {
        size_t len = 0;
        int err = 0;
        ckc_region rg;
        char *buf = ck_image_read(&s->im, (size_t)i, &len, &err);
        uint64_t addr = ckf_reader_entry(s->im.r, (size_t)i)->key;
        if (!buf) { chunk_err(s, (size_t)i, err); continue; }
        if (len < sizeof rg) { malformed(s, (size_t)i, "short"); free(buf); continue; }
        memcpy(&rg, buf, sizeof rg);
        size_t nl;
        const char *name = ckc_region_name(buf, len, &nl);
        if (s->json) {
            cj_obj(&s->j, NULL);
            cj_strn(&s->j, "name", name, nl);
            cj_hex(&s->j, "address", addr);
            cj_u64(&s->j, "length", rg.len);
            cj_obj_end(&s->j);
        } else {
            if (!any) fputs("\nregions:\n", s->o);
            fputs("  ", s->o);
            ck_put_safe(s->o, name, nl);
            fprintf(s->o, " at 0x%llx, %llu bytes (%s)\n", (unsigned long long)addr,
                    (unsigned long long)rg.len, ck_human(rg.len, h));
        }
        any = 1;
        free(buf);
    }
    if (s->json) cj_arr_end(&s->j);
}

static void show_notes(insp *s)
{
    int any = 0;
    if (s->json) cj_arr(&s->j, "notes");
    for (long i = ckf_reader_find(s->im.r, CKF_T_NOTE, 0); i >= 0;
         i = ckf_reader_find(s->im.r, CKF_T_NOTE, (size_t)i + 1)) {
        size_t len = 0;
        int err = 0;
        char *buf = ck_image_read(&s->im, (size_t)i, &len, &err);
        if (!buf) { chunk_err(s, (size_t)i, err); continue; }
        for (size_t a = 0; a < len;) {
            char *nl = memchr(buf + a, '\n', len - a);
            size_t l = nl ? (size_t)(nl - (buf + a)) : len - a;
            char *eq = memchr(buf + a, '=', l);
            if (l) {
                size_t kl = eq ? (size_t)(eq - (buf + a)) : l;
                if (s->json) {
                    cj_obj(&s->j, NULL);
                    cj_strn(&s->j, "key", buf + a, kl);
                    cj_strn(&s->j, "value", eq ? eq + 1 : "", eq ? l - kl - 1 : 0);
                    cj_obj_end(&s->j);
                } else {
                    if (!any) fputs("\nnotes:\n", s->o);
                    fputs("  ", s->o);
                    ck_put_safe(s->o, buf + a, l);
                    fputc('\n', s->o);
                }
                any = 1;
            }
            a += l + 1;
        }
        free(buf);
    }
    if (s->json) cj_arr_end(&s->j);
}

static void show_chunks(insp *s)
{
    /* Chunk census by type, in first-appearance order. */
    uint16_t types[64];
    uint64_t cnt[64], raw[64], stored[64];
    size_t nt = 0, n = ckf_reader_count(s->im.r);
    for (size_t i = 0; i < n; i++) {
        const ckf_index_entry *e = ckf_reader_entry(s->im.r, i);
        size_t k;
        for (k = 0; k < nt; k++) if (types[k] == e->type) break;
        if (k == nt) {
            if (nt == 64) continue;
            types[nt] = e->type; cnt[nt] = raw[nt] = stored[nt] = 0; nt++;
        }
        cnt[k]++; raw[k] += e->raw_len; stored[k] += e->stored_len;
    }
    if (s->json) {
        cj_arr(&s->j, "chunks");
        for (size_t k = 0; k < nt; k++) {
            cj_obj(&s->j, NULL);
            cj_str(&s->j, "type", ck_chunk_type_name(types[k]));
            cj_u64(&s->j, "count", cnt[k]);
            cj_u64(&s->j, "raw_bytes", raw[k]);
            cj_u64(&s->j, "stored_bytes", stored[k]);
            cj_obj_end(&s->j);
        }
        cj_arr_end(&s->j);
        return;
    }
    fputs("\nchunks:", s->o);
    for (size_t k = 0; k < nt; k++)
        fprintf(s->o, "%s %s %llu", k ? "," : "", ck_chunk_type_name(types[k]),
                (unsigned long long)cnt[k]);
    fputc('\n', s->o);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    insp s;
    int c;
    char *path;
    memset(&s, 0, sizeof s);
    s.o = stdout;
    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        if (c == 'j') s.json = 1;
        else return ck_opt_err(argv);
    }
    if (optind + 1 != argc) return ck_usage_err("expected one FILE or DIR");
    path = ck_resolve_ckpt(argv[optind]);
    if (!path) return EX_FAIL;
    if (ck_image_open(&s.im, path) < 0) { free(path); return EX_FAIL; }
    s.errors = s.im.errors;

    if (s.json) { cj_init(&s.j, s.o); cj_obj(&s.j, NULL); }
    show_format(&s);
    show_process(&s);
    show_memory(&s);
    show_threads(&s);
    show_files(&s);
    show_signals(&s);
    show_timers(&s);
    show_rlimits(&s);
    show_cuda(&s);
    show_regions(&s);
    show_notes(&s);
    show_chunks(&s);
    if (s.json) {
        cj_u64(&s.j, "errors", (uint64_t)s.errors);
        cj_obj_end(&s.j);
        cj_end(&s.j);
    }
    ck_image_close(&s.im);
    free(path);
    if (fflush(stdout) != 0) { ck_err("write error on standard output"); return EX_FAIL; }
    return s.errors ? EX_FAIL : EX_OK;
}
