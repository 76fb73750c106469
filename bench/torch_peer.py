#!/usr/bin/env python3
"""PyTorch peer for bench/dlnlab/bench/engine.clj.

Times the loss gradient, the Hessian-vector product (double backward) and the top
Hessian eigenvalue (fixed-iteration Lanczos with full reorthogonalization) of a
multi-pathway deep linear network on a regression batch, in float64 on one thread,
the way a researcher would write them in PyTorch:

    f(W) = 1/(2n) sum_i || sum_k W_L^k ... W_1^k x_i - y_i ||^2

computed by a forward pass through the layers on the n x d data batch. A second
formulation from precomputed second moments (Sxx = X^T X/n, Syx = Y^T X/n) is
timed too, so the comparison with dlnlab's moment-based objective is transparent.

Output: an "info" line, then one JSON line per (operation, width) on stdout:
    {"op": ..., "width": W, "median_s": ..., "samples": ..., "inner": ...}
each a median over `samples` timed samples of `inner` calls, after warm-up.

Instances: with --instances DIR, width W is read from DIR/instance-W.json
(written by the Clojure side: weights, data and a direction as row-major nested
lists), and the peer also writes DIR/result-W.json with the loss, gradient, HVP
and top Ritz value it computes on that instance, for the agreement check. Without
it, a random instance of the same distribution is generated. With --serve the
peer times what it is asked on stdin instead (see --help).

Example: OMP_NUM_THREADS=1 python3 bench/torch_peer.py --widths 16,64 --samples 11
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", default="16,64,256",
                   help="comma-separated widths (default 16,64,256)")
    p.add_argument("--samples", default="15",
                   help="timed samples per operation, one count per width or one for all")
    p.add_argument("--min-sample-seconds", type=float, default=0.005,
                   help="calls are grouped so one timed sample lasts at least this long")
    p.add_argument("--warmup-seconds", type=float, default=0.3,
                   help="warm-up time per operation before timing (at least one call)")
    p.add_argument("--max-op-seconds", type=float, default=3.0,
                   help="time budget per operation; lowers the sample count, never below 3 "
                        "(an operation whose first call exceeds the budget is timed by that "
                        "one call)")
    p.add_argument("--pathways", type=int, default=2)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--n", type=int, default=512, help="samples in the regression batch")
    p.add_argument("--lanczos-steps", type=int, default=20)
    p.add_argument("--ops", default="all",
                   help="comma-separated subset of operations (default all)")
    p.add_argument("--instances", default=None,
                   help="directory with instance-W.json files to time on")
    p.add_argument("--check", action="store_true",
                   help="with --instances: write loss, gradient, HVP and top Ritz value "
                        "on each instance to result-W.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--serve", action="store_true",
                   help="after loading the instances (and the check), answer timing requests "
                        "read from stdin, one JSON object {op, width, samples} per line, so a "
                        "driver can interleave its own measurements with the peer's")
    return p.parse_args(argv)


# ----------------------------------------------------------------- instances

def random_instance(width, pathways, depth, n, seed):
    g = torch.Generator().manual_seed(seed + width)
    std = width ** -0.5
    def gauss(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale
    x = gauss(n, width)
    teacher = gauss(width, width, scale=std)
    y = x @ teacher.T + gauss(n, width, scale=0.1)
    weights = [[gauss(width, width, scale=std) for _ in range(depth)] for _ in range(pathways)]
    direction = [[gauss(width, width) for _ in range(depth)] for _ in range(pathways)]
    return {"x": x, "y": y, "weights": weights, "direction": direction}


def load_instance(path):
    with open(path) as fh:
        raw = json.load(fh)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    return {"x": t(raw["x"]), "y": t(raw["y"]),
            "weights": [[t(w) for w in path_] for path_ in raw["weights"]],
            "direction": [[t(w) for w in path_] for path_ in raw["direction"]],
            "lanczos_steps": raw.get("lanczos_steps")}


# ----------------------------------------------------------------- the model

class Problem:
    """Parameters (leaf tensors), data, and the two loss formulations."""

    def __init__(self, inst):
        self.x, self.y = inst["x"], inst["y"]
        self.n = self.x.shape[0]
        self.shape = [[w.shape for w in path] for path in inst["weights"]]
        self.params = [w.clone().requires_grad_(True) for path in inst["weights"] for w in path]
        self.depth = len(inst["weights"][0])
        self.direction = [v.clone() for path in inst["direction"] for v in path]
        self.sxx = self.x.T @ self.x / self.n
        self.syx = self.y.T @ self.x / self.n
        self.tyy = (self.y * self.y).sum() / self.n

    def pathways(self):
        d = self.depth
        return [self.params[k:k + d] for k in range(0, len(self.params), d)]

    def loss_samples(self):
        """1/(2n) sum_i ||f(x_i) - y_i||^2 by a forward pass on the batch."""
        pred = None
        for layers in self.pathways():
            h = self.x
            for w in layers:
                h = h @ w.T
            pred = h if pred is None else pred + h
        r = pred - self.y
        return 0.5 * (r * r).sum() / self.n

    def loss_moments(self):
        """The same loss from second moments: 1/2 tr(F Sxx F^T) - tr(Syx F^T) + tyy/2."""
        f = None
        for layers in self.pathways():
            p = layers[0]
            for w in layers[1:]:
                p = w @ p
            f = p if f is None else f + p
        return 0.5 * ((f @ self.sxx) * f).sum() - (self.syx * f).sum() + 0.5 * self.tyy

    def loss(self, form):
        return self.loss_samples() if form == "samples" else self.loss_moments()


def gradient(prob, form):
    return torch.autograd.grad(prob.loss(form), prob.params)


def dot(xs, ys):
    return sum((a * b).sum() for a, b in zip(xs, ys))


def hvp(prob, form, v):
    """H v by double backward, from scratch (forward, first and second backward)."""
    gs = torch.autograd.grad(prob.loss(form), prob.params, create_graph=True)
    return torch.autograd.grad(dot(gs, v), prob.params)


def prepared_hvp(prob, form):
    """A function v -> H v reusing one first-order graph (built once here)."""
    gs = torch.autograd.grad(prob.loss(form), prob.params, create_graph=True)
    def apply(v):
        return torch.autograd.grad(dot(gs, v), prob.params, retain_graph=True)
    return apply


def split(prob, flat):
    out, off = [], 0
    for p in prob.params:
        m = p.numel()
        out.append(flat[off:off + m].view(p.shape))
        off += m
    return out


def lanczos_top(prob, form, start, steps):
    """Top Ritz value after `steps` HVPs of Lanczos with full reorthogonalization."""
    apply = prepared_hvp(prob, form)
    size = sum(p.numel() for p in prob.params)
    q = torch.zeros(steps, size, dtype=torch.float64)
    alpha = torch.zeros(steps, dtype=torch.float64)
    beta = torch.zeros(steps, dtype=torch.float64)
    v = torch.cat([s.reshape(-1) for s in start])
    q[0] = v / torch.linalg.norm(v)
    m = steps
    for j in range(steps):
        w = torch.cat([h.reshape(-1) for h in apply(split(prob, q[j]))])
        alpha[j] = torch.dot(q[j], w)
        w = w - alpha[j] * q[j]
        if j > 0:
            w = w - beta[j - 1] * q[j - 1]
        for _ in range(2):  # full reorthogonalization, twice
            w = w - q[:j + 1].T @ (q[:j + 1] @ w)
        beta[j] = torch.linalg.norm(w)
        if j + 1 < steps:
            if beta[j] <= 1e-14 * abs(alpha[j]):
                m = j + 1
                break
            q[j + 1] = w / beta[j]
    t = torch.diag(alpha[:m]) + torch.diag(beta[:m - 1], 1) + torch.diag(beta[:m - 1], -1)
    return float(torch.linalg.eigvalsh(t)[-1])


def eigsh_top(prob, form):
    """Top Hessian eigenvalue as edge-of-stability code computes it: scipy's
    eigsh(which='LA', default tolerance: machine precision) on a LinearOperator
    whose matvec is a torch double-backward HVP (on a graph built once per call).
    Returns (eigenvalue, matvecs)."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh
    apply = prepared_hvp(prob, form)
    size = sum(p.numel() for p in prob.params)
    calls = [0]

    def matvec(x):
        calls[0] += 1
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return torch.cat([h.reshape(-1) for h in apply(split(prob, v))]).numpy()

    op = LinearOperator((size, size), matvec=matvec, dtype=np.float64)
    vals = eigsh(op, k=1, which="LA", return_eigenvectors=False)
    return float(vals[-1]), calls[0]


# ----------------------------------------------------------------- timing

def median_seconds(fn, samples, min_sample_s, warmup_s, max_op_s):
    t0 = time.perf_counter()
    calls = 0
    while True:
        fn()
        calls += 1
        if time.perf_counter() - t0 >= warmup_s:
            break
    per_call = (time.perf_counter() - t0) / calls
    if calls == 1 and per_call > max_op_s:
        # torch has no JIT to warm: an operation slower than the whole budget
        # is timed once, by its first call
        return per_call, 1, 1
    inner = max(1, int(min_sample_s / max(per_call, 1e-9)))
    budget = int(max_op_s / (per_call * inner))
    samples = max(min(samples, budget), 1 if per_call > max_op_s else 3)
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return statistics.median(times), samples, inner


def operations(prob, steps):
    v = prob.direction
    ops = {}
    for form in ("samples", "moments"):
        ops["gradient_" + form] = (lambda f=form: gradient(prob, f))
        ops["hvp_" + form] = (lambda f=form: hvp(prob, f, v))
    apply = prepared_hvp(prob, "samples")
    ops["hvp_prepared_samples"] = lambda: apply(v)
    ops["lanczos_samples"] = lambda: lanczos_top(prob, "samples", v, steps)
    ops["eigsh_samples"] = lambda: eigsh_top(prob, "samples")
    return ops


def check(prob, steps):
    """Loss, gradient, HVP along the direction, top Ritz value and eigsh's top
    eigenvalue (with its matvec count) on the instance."""
    rows = lambda ts: [[t.tolist() for t in ts[k:k + prob.depth]]
                       for k in range(0, len(ts), prob.depth)]
    loss = prob.loss_samples()
    return {"loss": float(loss),
            "gradient": rows(gradient(prob, "samples")),
            "hvp": rows(hvp(prob, "samples", prob.direction)),
            "top_eigenvalue": lanczos_top(prob, "samples", prob.direction, steps),
            "eigsh": eigsh_top(prob, "samples")}


def blas_in_use():
    """Real paths of the BLAS libraries mapped into this process after a matmul."""
    a = torch.ones(64, 64, dtype=torch.float64)
    a @ a
    libs = set()
    with open("/proc/self/maps") as fh:
        for line in fh:
            path = line.split()[-1]
            if "blas" in os.path.basename(path):
                libs.add(os.path.realpath(path))
    return ", ".join(sorted(libs))


def measure(ops, name, width, samples, args):
    med, k, inner = median_seconds(ops[name], samples, args.min_sample_seconds,
                                   args.warmup_seconds, args.max_op_seconds)
    return {"op": name, "width": width, "median_s": med, "samples": k, "inner": inner}


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    widths = [int(w) for w in args.widths.split(",")]
    counts = [int(c) for c in args.samples.split(",")]
    if len(counts) == 1:
        counts = counts * len(widths)
    if len(counts) != len(widths):
        sys.exit("--samples needs one count per width or a single count")
    print(json.dumps({"op": "info", "torch": torch.__version__,
                      "threads": torch.get_num_threads(),
                      "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                      "blas": blas_in_use()}), flush=True)
    problems = {}
    for width in widths:
        steps = args.lanczos_steps
        if args.instances:
            inst = load_instance(os.path.join(args.instances, f"instance-{width}.json"))
            steps = inst.get("lanczos_steps") or steps
        else:
            inst = random_instance(width, args.pathways, args.depth, args.n, args.seed)
        prob = Problem(inst)
        if args.instances and args.check:
            with open(os.path.join(args.instances, f"result-{width}.json"), "w") as fh:
                json.dump(check(prob, steps), fh)
        problems[width] = operations(prob, steps)
    if args.serve:
        # one request per stdin line: {"op": name, "width": W, "samples": k}
        print(json.dumps({"op": "ready"}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            print(json.dumps(measure(problems[req["width"]], req["op"], req["width"],
                                     req.get("samples", counts[0]), args)), flush=True)
        return
    for width, samples in zip(widths, counts):
        ops = problems[width]
        wanted = list(ops) if args.ops == "all" else args.ops.split(",")
        for name in wanted:
            print(json.dumps(measure(ops, name, width, samples, args)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
