#!/usr/bin/python3
"""sim.py - a deterministic pure-Python simulation for checkpoint/restore tests.

Usage: /usr/bin/python3 sim.py [STEPS]   (default 600 steps of roughly 2.5 ms)

Agents wander on a toroidal grid held in a dict of cell -> list of agents;
each step they move by a seeded linear congruential generator, agents that
meet trade wealth, and a running history list grows.  Everything is
integers, dict iteration follows insertion order, and no set of strings is
ever iterated, so the run is the same with any PYTHONHASHSEED.  Only the
SHA-256 of the final state is printed, at the end.
"""
import hashlib
import sys

W, H, AGENTS = 96, 96, 3000


class Rng:
    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return self.s >> 33


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    rng = Rng(2024)
    agents = [{"id": i, "x": rng.next() % W, "y": rng.next() % H, "wealth": 100}
              for i in range(AGENTS)]
    history = []
    for step in range(steps):
        grid = {}
        for a in agents:
            a["x"] = (a["x"] + rng.next() % 3 - 1) % W
            a["y"] = (a["y"] + rng.next() % 3 - 1) % H
            grid.setdefault((a["x"], a["y"]), []).append(a)
        trades = 0
        for cell, here in grid.items():
            if len(here) < 2:
                continue
            here.sort(key=lambda a: a["id"])
            for i in range(len(here) - 1):
                give = here[i]["wealth"] // 10
                here[i]["wealth"] -= give
                here[i + 1]["wealth"] += give
                trades += 1
        richest = max(agents, key=lambda a: (a["wealth"], -a["id"]))
        history.append((step, trades, richest["id"], richest["wealth"]))
        # some busy work on big integers and strings
        acc = 1
        for a in agents[:400]:
            acc = (acc * (a["wealth"] + 1) + a["id"]) % (1 << 127)
        history.append(("acc", step, str(acc)[-12:]))
    h = hashlib.sha256()
    for a in agents:
        h.update(b"%d:%d:%d:%d;" % (a["id"], a["x"], a["y"], a["wealth"]))
    h.update(repr(history).encode())
    total = sum(a["wealth"] for a in agents)
    print("sim.py: steps=%d total=%d history=%d sha256=%s" % (steps, total, len(history), h.hexdigest()))


if __name__ == "__main__":
    main()
