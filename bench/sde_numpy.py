#!/usr/bin/python3
"""Peer for dlnlab.bench.sde: Euler-Maruyama on the per-mode SDE of SCIENCE.md section 7,
vectorized over paths x modes with numpy, the same loop as dlnlab.kernel.Sde:

    da = a^(L-1) (s - a^L) dt + sqrt(lr/B) a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2) dW,

absorbing at a = 0, divergence check |a| <= bound, state recorded every `record_every`
steps. Gaussians from numpy's Generator (PCG64 + ziggurat), drawn into a preallocated
buffer; every array operation is in place. Prints one JSON line with mode-steps/s
(median over repeats) and the median wall and process CPU seconds.

usage: sde_numpy.py [paths modes steps depth repeats]
"""
import json
import sys
import time

import numpy as np


def run(paths, modes, steps, depth, lr=0.05, batch=4.0, sigma=0.5, dt=1e-3,
        record_every=100, seed=1):
    rng = np.random.default_rng(seed)
    s = np.linspace(1.0, 3.0, modes)[None, :]
    a = np.full((paths, modes), 0.1)
    c = np.sqrt(lr / batch)
    sig2 = sigma * sigma
    bound = 1e3
    sqdt = np.sqrt(dt)
    z = np.empty((paths, modes))
    m = np.empty_like(a)
    e = np.empty_like(a)
    g = np.empty_like(a)
    records = np.empty((steps // record_every + 1, paths, modes))
    records[0] = a
    for n in range(steps):
        rng.standard_normal(out=z)
        # m = a^(L-1) by repeated multiplication (integer powers only)
        np.copyto(m, a)
        for _ in range(depth - 2):
            np.multiply(m, a, out=m)
        np.multiply(m, a, out=e)
        np.subtract(e, s, out=e)                  # e = a^L - s
        np.multiply(e, e, out=g)
        np.multiply(g, 2.0, out=g)
        np.add(g, sig2, out=g)
        np.sqrt(g, out=g)
        np.multiply(g, m, out=g)
        np.multiply(g, c * sqdt, out=g)           # g dW / z
        np.multiply(g, z, out=g)
        np.multiply(m, e, out=m)
        np.multiply(m, dt, out=m)                 # -drift dt
        np.subtract(a, m, out=a)
        np.add(a, g, out=a)
        np.maximum(a, 0.0, out=a)                 # absorbing at 0
        np.minimum(a, bound, out=a)               # divergence clamp
        if (n + 1) % record_every == 0:
            records[(n + 1) // record_every] = a
    return records


def main():
    args = [int(x) for x in sys.argv[1:]]
    paths, modes, steps, depth, repeats = (args + [2000, 8, 1000, 3, 5][len(args):])[:5]
    run(paths, modes, min(steps, 50), depth)  # warm-up
    times, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run(paths, modes, steps, depth)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    times.sort()
    cpus.sort()
    med = times[len(times) // 2]
    cpu = cpus[len(cpus) // 2]
    print(json.dumps({"peer": "numpy", "numpy": np.__version__, "paths": paths, "modes": modes,
                      "steps": steps, "depth": depth, "repeats": repeats,
                      "median_seconds": med, "median_cpu_seconds": cpu,
                      "mode_steps_per_second": paths * modes * steps / med}))


if __name__ == "__main__":
    main()
