/*
 * driver.c - runs a fuzz target as a plain regression test.
 *
 * Usage: fuzz_X_regress DIR...   Every regular file in each directory (sorted,
 * so runs are reproducible) is passed to LLVMFuzzerTestOneInput once.  Prints
 * one TAP line per directory; a crash is the failure signal (the harness counts
 * a missing plan as a failure), so nothing else needs checking here.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Under SANITIZE=undefined a finding must fail the test, not scroll by. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (!f) return -1;
    if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return -1;
    }
    buf = malloc(len ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int t = 0, failed = 0, a;

    for (a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, cap = 0, i, ran = 0, bad = 0;

        if (!d) {
            printf("not ok %d - %s: cannot open directory\n", ++t, argv[a]);
            failed++;
            continue;
        }
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            if (n == cap) {
                char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
                if (!nn) break;
                names = nn;
            }
            names[n++] = strdup(de->d_name);
        }
        closedir(d);
        if (n) qsort(names, n, sizeof(*names), name_cmp);
        for (i = 0; i < n; i++) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", argv[a], names[i]);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path)) bad++;
                else ran++;
            }
            free(names[i]);
        }
        free(names);
        printf("%sok %d - %s: %zu inputs%s\n", bad ? "not " : "", ++t, argv[a], ran,
               bad ? " (some unreadable)" : "");
        if (bad) failed++;
    }
    printf("1..%d\n", t);
    return failed ? 1 : 0;
}
