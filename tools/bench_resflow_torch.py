#!/usr/bin/env python3
"""bench_resflow_torch.py - a PyTorch twin of flowgrad's MNIST Residual Flow training step.

The same model as flows/residual/resflow.h (residual-flows' architecture: logit transform, per
scale [ActNorm] blocks x [iResBlock(LipSwish SNConv3x3 LipSwish SNConv1x1 LipSwish SNConv3x3),
ActNorm], squeeze, an FC tail) and the same step: per block the log-det by the Russian roulette
(Poisson(2), 2 exact terms) with one Gaussian probe, the series' vector-Jacobian products without
a graph and the Neumann gradient from one differentiable product (residual-flows'
neumann_logdet_estimator), then backward, clipping at 1, Adam, and one power-iteration update of
every spectral norm (to tol 1e-3). It times steps and prints one JSON line like bench_models
("impl": "torch"). Run with Debian's interpreter:
  /usr/bin/python3 tools/bench_resflow_torch.py --blocks 4 --hidden 64 --fc 2 --batch 64 --threads 2
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def normalized(t):
    return t / (t.norm() + 1e-12)


class SNConv(nn.Module):
    def __init__(self, cin, cout, k, h, w, coeff):
        super().__init__()
        c = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.weight, self.bias = c.weight, c.bias
        self.k, self.coeff = k, coeff
        if k == 1:
            self.register_buffer("u", normalized(torch.randn(cout)))
            self.register_buffer("v", normalized(torch.randn(cin)))
        else:
            self.register_buffer("u", normalized(torch.randn(1, cout, h, w)))
            self.register_buffer("v", normalized(torch.randn(1, cin, h, w)))
        self.update(200)

    def sigma(self, w):
        if self.k == 1:
            return torch.dot(self.u, w.view(w.shape[0], -1) @ self.v)
        return (self.u * F.conv2d(self.v, w, padding=self.k // 2)).sum()

    @torch.no_grad()
    def update(self, iters=200, tol=1e-3):
        w = self.weight
        for _ in range(iters):
            if self.k == 1:
                m = w.view(w.shape[0], -1)
                un = normalized(m @ self.v)
                vn = normalized(m.t() @ un)
            else:
                un = normalized(F.conv2d(self.v, w, padding=self.k // 2))
                vn = normalized(F.conv_transpose2d(un, w, padding=self.k // 2))
            du = ((un - self.u) ** 2).mean().sqrt()
            dv = ((vn - self.v) ** 2).mean().sqrt()
            self.u.copy_(un)
            self.v.copy_(vn)
            if du < tol + tol * un.abs().max() and dv < tol + tol * vn.abs().max():
                break

    def forward(self, x):
        w = self.weight / torch.clamp(self.sigma(self.weight) / self.coeff, min=1.0)
        return F.conv2d(x, w, self.bias, padding=self.k // 2)


class SNLinear(nn.Module):
    def __init__(self, din, dout, coeff):
        super().__init__()
        l = nn.Linear(din, dout)
        self.weight, self.bias, self.coeff = l.weight, l.bias, coeff
        self.register_buffer("u", normalized(torch.randn(dout)))
        self.register_buffer("v", normalized(torch.randn(din)))
        self.update(200)

    @torch.no_grad()
    def update(self, iters=200, tol=1e-3):
        for _ in range(iters):
            un = normalized(self.weight @ self.v)
            vn = normalized(self.weight.t() @ un)
            du = ((un - self.u) ** 2).mean().sqrt()
            dv = ((vn - self.v) ** 2).mean().sqrt()
            self.u.copy_(un)
            self.v.copy_(vn)
            if du < tol + tol * un.abs().max() and dv < tol + tol * vn.abs().max():
                break

    def forward(self, x):
        sigma = torch.dot(self.u, self.weight @ self.v)
        return F.linear(x, self.weight / torch.clamp(sigma / self.coeff, min=1.0), self.bias)


class LipSwish(nn.Module):
    def __init__(self):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor([0.5]))

    def forward(self, x):
        return x * torch.sigmoid(x * F.softplus(self.beta)) / 1.1


class FCNet(nn.Module):
    def __init__(self, d, hidden, coeff):
        super().__init__()
        self.net = nn.Sequential(LipSwish(), SNLinear(d, hidden, coeff), LipSwish(), SNLinear(hidden, hidden, coeff),
                                 LipSwish(), SNLinear(hidden, d, coeff))

    def forward(self, x):
        return self.net(x.reshape(x.shape[0], -1)).reshape(x.shape)


def poisson_1mcdf(lamb, k, offset):
    if k <= offset:
        return 1.0
    k = k - offset
    s = 1.0
    for i in range(1, k):
        s += lamb ** i / math.factorial(i)
    return 1 - math.exp(-lamb) * s


class ResBlock(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.nnet = net

    def forward(self, x, ldj):
        n = np.random.poisson(2.0)
        terms = n + 2
        coeff = [1 / poisson_1mcdf(2.0, k, 2) for k in range(1, terms + 1)]
        x = x.requires_grad_(True) if not x.requires_grad else x
        g = self.nnet(x)
        v = torch.randn_like(x)
        vjp, w, value = v, v, 0.0
        with torch.no_grad():
            for k in range(1, terms + 1):
                vjp = torch.autograd.grad(g, x, vjp, retain_graph=True)[0]
                tr = (vjp * v).flatten(1).sum(1)
                value = value + (-1) ** (k + 1) / k * coeff[k - 1] * tr
                w = w + (-1) ** k * coeff[k - 1] * vjp
        s = (torch.autograd.grad(g, x, w, create_graph=True)[0] * v).flatten(1).sum(1)
        logdet = s + (value - s).detach()
        return x + g, ldj + logdet


class ActNorm(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(shape))
        self.logs = nn.Parameter(torch.zeros(shape))
        self.init = False

    def forward(self, x, ldj):
        if not self.init:
            with torch.no_grad():
                dims = [0] + [i for i in range(1, x.dim()) if self.loc.shape[i] == 1]
                self.loc.data = -x.mean(dims, keepdim=True)
                self.logs.data = -0.5 * torch.log(torch.clamp(x.var(dims, keepdim=True), min=0.2))
            self.init = True
        pos = x[0].numel() / self.loc.numel()
        return (x + self.loc) * torch.exp(self.logs), ldj + self.logs.sum() * pos


def squeeze(x):
    n, c, h, w = x.shape
    return x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


class ResFlow(nn.Module):
    def __init__(self, blocks, hidden, fc, fc_hidden, coeff=0.98):
        super().__init__()
        layers, c, h = [], 1, 28
        for s in range(3):
            if s == 0:
                layers.append(ActNorm((1, c, 1, 1)))
            for b in range(blocks):
                pre = [] if (s == 0 and b == 0) else [LipSwish()]
                net = nn.Sequential(*pre, SNConv(c, hidden, 3, h, h, coeff), LipSwish(),
                                    SNConv(hidden, hidden, 1, h, h, coeff), LipSwish(), SNConv(hidden, c, 3, h, h, coeff))
                layers += [ResBlock(net), ActNorm((1, c, 1, 1))]
            if s < 2:
                layers.append("squeeze")
                c, h = 4 * c, h // 2
        for _ in range(fc):
            layers += [ResBlock(FCNet(c * h * h, fc_hidden, coeff)), ActNorm((1, c, h, h))]
        self.layers = [l for l in layers]
        self.mods = nn.ModuleList([l for l in layers if l != "squeeze"])

    def bpd(self, imgs):
        x = (imgs + torch.rand_like(imgs)) / 256
        a = 1e-6
        s = a + (1 - 2 * a) * x
        z = torch.log(s) - torch.log(1 - s)
        ldj = (math.log(1 - 2 * a) - torch.log(s) - torch.log(1 - s)).flatten(1).sum(1) - 784 * math.log(256)
        for l in self.layers:
            if l == "squeeze":
                z = squeeze(z)
            else:
                z, ldj = l(z, ldj)
        logp = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1) + ldj
        return -logp.mean() / (784 * math.log(2))

    def update_lipschitz(self):
        for m in self.modules():
            if isinstance(m, (SNConv, SNLinear)):
                m.update()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--fc", type=int, default=2)
    ap.add_argument("--fc-hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    model = ResFlow(a.blocks, a.hidden, a.fc, a.fc_hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    imgs = torch.randint(0, 256, (a.batch, 1, 28, 28)).float()
    times, losses = [], []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = model.bpd(imgs)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.update_lipschitz()
        losses.append(loss.item())
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"impl": "torch", "model": "resflow", "cmd": "bench", "batch": a.batch, "threads": a.threads,
                      "params": params, "median_ms": statistics.median(times), "times_ms": times,
                      "loss_first": losses[0], "loss_last": losses[-1], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
