/*
 * regionprog.c - registers a named region for the CLI tests, then idles.
 *
 *     regionprog READYFILE
 *
 * Fills 1000 doubles with i * 1.5, registers them as "field" with
 * ckpt_register_region() (weak: the program also runs without libckpt), touches
 * READYFILE and sleeps until killed.  `ckpt extract --region field` on a
 * checkpoint of it must give those values back.
 */
#include "ckpt.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#pragma weak ckpt_register_region

int main(int argc, char **argv)
{
    static double field[1000];
    for (int i = 0; i < 1000; i++) field[i] = i * 1.5;
    if (ckpt_register_region && ckpt_register_region("field", field, sizeof field) != 0) {
        fprintf(stderr, "regionprog: ckpt_register_region failed\n");
        return 1;
    }
    if (argc > 1) close(open(argv[1], O_WRONLY | O_CREAT, 0644));
    for (;;) pause();
}
