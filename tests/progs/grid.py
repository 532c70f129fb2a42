#!/usr/bin/python3
"""grid.py - a numpy relaxation over a large grid, for capture-choice tests.

Usage: /usr/bin/python3 grid.py MIB STEPS all|few

Allocates a float64 grid of MIB MiB (every page written), then runs STEPS
steps.  "all": each step relaxes the whole grid in place (every page is
rewritten, as a stencil code does).  "few": each step updates 4 scattered
elements (a few pages) and then sleeps 10 ms.  Prints one line per 10 steps
on stderr (progress) and, at the end, the exact bits of a checksum on stdout.
"""
import sys
import time

import numpy as np


def main():
    mib, steps, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    n = mib * (1 << 20) // 8
    g = np.random.default_rng(7).random(n)
    idx = np.random.default_rng(11).integers(0, n, 4)
    for s in range(steps):
        if mode == "all":
            g *= 0.999
            g += 1e-4 * (s % 7)
        else:
            g[idx] = g[idx] * 0.5 + s
            idx = (idx * 3 + 17) % n
            time.sleep(0.01)
        if s % 10 == 0:
            print(f"step {s}", file=sys.stderr, flush=True)
    print(float(np.add.reduce(g, dtype=np.float64)).hex(), float(g[n // 3]).hex())


main()
