/*
 * ckpt.c - the `ckpt` command: dispatch to subcommands, shared error output.
 *
 * One binary, one subcommand per file (cmd_*.c).  Every subcommand accepts
 * --help; errors are one line on stderr and a documented exit code (tool.h,
 * ckpt(1)).
 */
#include "tools/tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_TOOL_VERSION "ckpt 0.1"

const char *ck_cmd = NULL;

void ck_err(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    if (ck_cmd) fprintf(stderr, "ckpt %s: ", ck_cmd);
    else fputs("ckpt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ck_usage_err(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "ckpt %s: ", ck_cmd ? ck_cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'ckpt %s --help')\n", ck_cmd ? ck_cmd : "");
    return EX_USAGE;
}

int ck_opt_err(char **argv)
{
    const char *bad = optind > 0 ? argv[optind - 1] : "?";
    if (optopt && bad[0] == '-' && bad[1] != '-' && bad[1] != '\0' && bad[2] == '\0' &&
        strchr("dikslrloastwfn", optopt))
        return ck_usage_err("option '%s' needs an argument", bad);
    return ck_usage_err("unknown option or missing argument: '%s'", bad);
}

int ck_help_requested(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} cmds[] = {
    { "run",     cmd_run,     "run a program with checkpointing enabled" },
    { "signal",  cmd_signal,  "ask a running program for a checkpoint (--wait: until durable)" },
    { "inspect", cmd_inspect, "describe a checkpoint (program, memory, threads, files, ...)" },
    { "verify",  cmd_verify,  "check every checksum of a checkpoint" },
    { "ls",      cmd_ls,      "list the checkpoints of a directory" },
    { "diff",    cmd_diff,    "compare the memory of two checkpoints" },
    { "gc",      cmd_gc,      "delete old checkpoints of a directory" },
    { "extract", cmd_extract, "copy memory out of a checkpoint (raw or .npy)" },
};

static void usage(FILE *f)
{
    fputs("usage: ckpt COMMAND [ARGS...]\n"
          "       ckpt COMMAND --help\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
    fputs("\nexit codes: 0 ok, 1 failure (I/O, corrupt or invalid checkpoint), 2 usage,\n"
          "            3 timeout, 4 process gone; run: 126/127 program not executable/found\n"
          "See ckpt(1).\n", f);
}

int main(int argc, char **argv)
{
    opterr = 0;     /* our own one-line messages (ck_opt_err) */
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        if (strcmp(c, "help") == 0 && argc > 2) {
            /* "ckpt help inspect" == "ckpt inspect --help" */
            char *hv[] = { argv[2], (char *)"--help", NULL };
            for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
                if (strcmp(cmds[i].name, argv[2]) == 0) {
                    ck_cmd = cmds[i].name;
                    return cmds[i].fn(2, hv);
                }
            fprintf(stderr, "ckpt: unknown command '%s'\n", argv[2]);
            return EX_USAGE;
        }
        usage(stdout);
        return EX_OK;
    }
    if (strcmp(c, "--version") == 0 || strcmp(c, "version") == 0) {
        printf("%s (container format %d.%d)\n", CKPT_TOOL_VERSION, CKF_VERSION_MAJOR,
               CKF_VERSION_MINOR);
        return EX_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmds[i].name, c) == 0) {
            ck_cmd = cmds[i].name;
            return cmds[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ckpt: unknown command '%s' (try 'ckpt --help')\n", c);
    return EX_USAGE;
}
