#!/usr/bin/env python3
"""PyTorch peer for bench/dlnlab/bench/gd.clj: the full-batch gradient-descent
training loop of a deep linear network, written the way a researcher would write
it in PyTorch, float64 on one thread.

Model: K pathways of L layers, f(x) = sum_k (a_L W_L^k) ... (a_1 W_1^k) x, where
the multipliers a_l come from the parameterization (1 for :standard). Loss
(SCIENCE.md section 2):
  factorization:  l = 1/2 ||F - M||_F^2 with F the end-to-end product;
  samples:        l = 1/(2n) sum_i ||f(x_i) - y_i||^2 by a forward pass on the
                  n x d batch (form "samples"), or the same from precomputed
                  second moments, 1/2 tr(F Sxx F^T) - tr(Syx F^T) + tr(Syy)/2
                  (form "moments").
Each step: loss, gradient by backward, record loss.item(), then W <- W - lr grad.
On a step where the sharpness is due (every `every` steps and at the last one,
as dlnlab records it), the gradient is taken with create_graph=True and the top
Hessian eigenvalue is estimated by Lanczos with full reorthogonalization on
Hessian-vector products by double backward (PyHessian's
autograd.grad(grads, params, grad_outputs=v)), warm-started from the previous
Ritz vector, with exactly as many products as dlnlab used for that measurement
(the driver passes the counts). After the last step the loss is recorded once
more, at the final weights.

Instances are JSON files written by the driver (weights, multipliers, data,
learning rate, steps, HVP counts). The peer reads them all, prints one line
{:op :info ...} (EDN) and one {:op :ready}, then answers requests read from
stdin, one JSON object per line:
  {"case": id, "every": 0|10|100, "form": "samples"|"moments", "trajectory": bool}
with one EDN map per line: {:seconds s :cpu_seconds c :losses [...] :sharpness
[...] :hvps n}, the losses and sharpness values only when "trajectory" is true.
The wall time (and the process CPU time) covers the whole training loop,
including copying the start weights into fresh leaf tensors; not the loading of
the instance.

Example: OMP_NUM_THREADS=1 python3 bench/torch_gd.py --instances DIR
"""

import argparse
import glob
import json
import math
import os
import sys
import time

import torch


# ----------------------------------------------------------------- EDN out

def edn(v):
    if isinstance(v, dict):
        return "{" + " ".join(":" + k + " " + edn(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(edn(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    if isinstance(v, float):
        if math.isnan(v):
            return "##NaN"
        if math.isinf(v):
            return "##Inf" if v > 0 else "##-Inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


def say(v):
    print(edn(v), flush=True)


# ----------------------------------------------------------------- problems

class Problem:
    """Start weights, multipliers, data and the loss of one instance."""

    def __init__(self, raw):
        t = lambda a: torch.tensor(a, dtype=torch.float64)
        self.id = raw["case"]
        self.lr = float(raw["lr"])
        self.steps = int(raw["steps"])
        self.weights = [[t(w) for w in path] for path in raw["weights"]]
        self.alphas = [[float(a) for a in path] for path in raw["alphas"]]
        self.hvps = {int(k): v for k, v in raw["hvps"].items()}
        self.start = torch.cat([t(w).reshape(-1) for path in raw["lanczos_start"] for w in path])
        self.kind = raw["kind"]
        if self.kind == "factorization":
            self.target = t(raw["target"])
        else:
            self.x = t(raw["x"])
            self.y = t(raw["y"])
            self.n = self.x.shape[0]
            self.sxx = self.x.T @ self.x / self.n
            self.syx = self.y.T @ self.x / self.n
            self.tyy = float((self.y * self.y).sum()) / self.n

    def fresh_params(self):
        return [[w.clone().requires_grad_(True) for w in path] for path in self.weights]

    def end_to_end(self, paths):
        f = None
        for layers, alphas in zip(paths, self.alphas):
            p = layers[0] if alphas[0] == 1.0 else alphas[0] * layers[0]
            for w, a in zip(layers[1:], alphas[1:]):
                p = (w @ p) if a == 1.0 else a * (w @ p)
            f = p if f is None else f + p
        return f

    def loss(self, paths, form):
        if self.kind == "factorization":
            e = self.end_to_end(paths) - self.target
            return 0.5 * (e * e).sum()
        if form == "moments":
            f = self.end_to_end(paths)
            return 0.5 * ((f @ self.sxx) * f).sum() - (self.syx * f).sum() + 0.5 * self.tyy
        pred = None
        for layers, alphas in zip(paths, self.alphas):
            h = self.x
            for w, a in zip(layers, alphas):
                h = (h @ w.T) if a == 1.0 else a * (h @ w.T)
            pred = h if pred is None else pred + h
        r = pred - self.y
        return 0.5 * (r * r).sum() / self.n


def flat(ts):
    return torch.cat([t.reshape(-1) for t in ts])


def split(vec, like):
    out, off = [], 0
    for p in like:
        m = p.numel()
        out.append(vec[off:off + m].view(p.shape))
        off += m
    return out


def lanczos_top(grads, params, start, steps):
    """Top Ritz value and vector after `steps` HVPs (double backward through the
    retained gradient graph), full reorthogonalization twice per step."""
    size = start.numel()
    q = torch.zeros(steps, size, dtype=torch.float64)
    alpha = torch.zeros(steps, dtype=torch.float64)
    beta = torch.zeros(steps, dtype=torch.float64)
    q[0] = start / torch.linalg.norm(start)
    m = steps
    for j in range(steps):
        hv = torch.autograd.grad(grads, params, grad_outputs=split(q[j], params), retain_graph=True)
        w = flat(hv)
        alpha[j] = torch.dot(q[j], w)
        w = w - alpha[j] * q[j]
        if j > 0:
            w = w - beta[j - 1] * q[j - 1]
        for _ in range(2):
            w = w - q[:j + 1].T @ (q[:j + 1] @ w)
        beta[j] = torch.linalg.norm(w)
        if j + 1 < steps:
            if beta[j] <= 1e-14 * abs(alpha[j]):
                m = j + 1
                break
            q[j + 1] = w / beta[j]
    t = torch.diag(alpha[:m]) + torch.diag(beta[:m - 1], 1) + torch.diag(beta[:m - 1], -1)
    vals, vecs = torch.linalg.eigh(t)
    return float(vals[-1]), q[:m].T @ vecs[:, -1], m


def train(prob, every, form):
    """The training loop; returns (losses, sharpness values, HVPs used)."""
    paths = prob.fresh_params()
    params = [w for path in paths for w in path]
    lr, steps = prob.lr, prob.steps
    counts = iter(prob.hvps.get(every, []))
    losses, sharp = [], []
    start = prob.start
    hvps = 0
    for step in range(steps + 1):
        due = every > 0 and (step % every == 0 or step == steps)
        if step == steps and not due:
            with torch.no_grad():
                losses.append(prob.loss(paths, form).item())
            break
        loss = prob.loss(paths, form)
        if due:
            grads = torch.autograd.grad(loss, params, create_graph=True)
            value, start, used = lanczos_top(grads, params, start, next(counts))
            hvps += used
            sharp.append(value)
            grads = [g.detach() for g in grads]
        else:
            grads = torch.autograd.grad(loss, params)
        losses.append(loss.item())
        if step == steps:
            break
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(g, alpha=lr)
    return losses, sharp, hvps


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


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", required=True, help="directory with case-*.json files")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    say({"op": "info", "torch": torch.__version__, "threads": torch.get_num_threads(),
         "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "blas": blas_in_use()})
    problems = {}
    for path in sorted(glob.glob(os.path.join(args.instances, "case-*.json"))):
        with open(path) as fh:
            prob = Problem(json.load(fh))
        problems[prob.id] = prob
    say({"op": "ready", "cases": sorted(problems)})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        prob = problems[req["case"]]
        c0 = time.process_time()
        t0 = time.perf_counter()
        losses, sharp, hvps = train(prob, int(req.get("every", 0)), req.get("form", "samples"))
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        out = {"seconds": seconds, "cpu_seconds": cpu, "hvps": hvps, "final_loss": losses[-1]}
        if req.get("trajectory"):
            out["losses"] = losses
            out["sharpness"] = sharp
        say(out)


if __name__ == "__main__":
    main(sys.argv[1:])
