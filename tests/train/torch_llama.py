"""PyTorch reference for mnemo's training layer (tests and benchmarks only; never at run time).

A llama model written directly in torch with the conventions of src/train (RMSNorm, RoPE with
GPT-J / llama pairing, GQA, SwiGLU, untied or tied output head, mean cross-entropy), torch's own
autograd, torch.optim.AdamW, clip_grad_norm_, and a GaLore optimizer written from the paper and the
galore_torch reference (adamw.py, galore_projector.py; "std" and "reverse_std" projections).

As a script: `/usr/bin/python3 torch_llama.py DIR` reads DIR/config.json, DIR/params.f32 (the flat
parameter buffer in mnemo's layout), DIR/inputs.i32 and DIR/targets.i32 ((steps, B, T) int32), runs
`steps` optimizer steps, and writes DIR/logits.f32 (first step), DIR/grads.f32 (first step, flat
layout), DIR/losses.f64 (the loss of each step, before its update) and DIR/params_final.f32.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def rope_tables(T, hd, base):
    i = np.arange(hd // 2, dtype=np.float64)
    freq = base ** (-2.0 * i / hd)
    ang = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]
    return (torch.from_numpy(np.cos(ang).astype(np.float32)), torch.from_numpy(np.sin(ang).astype(np.float32)))


def apply_rope(x, cos, sin):
    # x: (B, T, H, hd); rotates pairs (2i, 2i+1) by angle pos * base^(-2i/hd).
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Llama:
    """Parameters are a dict name -> leaf tensor, views of nothing: grads are per tensor."""

    def __init__(self, cfg, flat):
        self.cfg = cfg
        self.params = {}
        for t in cfg["tensors"]:
            n = t["rows"] * t["cols"]
            a = flat[t["offset"]:t["offset"] + n]
            shape = (t["rows"], t["cols"]) if t["matrix"] else (t["cols"],)
            self.params[t["name"]] = torch.tensor(a.reshape(shape), requires_grad=True)
        self.cos, self.sin = None, None

    def forward(self, idx):
        c, p = self.cfg, self.params
        B, T = idx.shape
        H, Hkv = c["n_head"], c["n_head_kv"]
        hd = c["n_embd"] // H
        if self.cos is None or self.cos.shape[0] != T:
            self.cos, self.sin = rope_tables(T, hd, c["rope_base"])
        x = F.embedding(idx, p["token_embd.weight"])
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        for l in range(c["n_layer"]):
            b = f"blk.{l}."
            h = rmsnorm(x, p[b + "attn_norm.weight"], c["rms_eps"])
            q = (h @ p[b + "attn_q.weight"].t()).view(B, T, H, hd)
            k = (h @ p[b + "attn_k.weight"].t()).view(B, T, Hkv, hd)
            v = (h @ p[b + "attn_v.weight"].t()).view(B, T, Hkv, hd)
            q, k = apply_rope(q, self.cos, self.sin), apply_rope(k, self.cos, self.sin)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            if Hkv != H:
                k = k.repeat_interleave(H // Hkv, dim=1)
                v = v.repeat_interleave(H // Hkv, dim=1)
            s = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
            s = s.masked_fill(mask, float("-inf"))
            a = torch.softmax(s, dim=-1) @ v
            a = a.transpose(1, 2).reshape(B, T, H * hd)
            x = x + a @ p[b + "attn_output.weight"].t()
            h = rmsnorm(x, p[b + "ffn_norm.weight"], c["rms_eps"])
            g = h @ p[b + "ffn_gate.weight"].t()
            u = h @ p[b + "ffn_up.weight"].t()
            x = x + (F.silu(g) * u) @ p[b + "ffn_down.weight"].t()
        x = rmsnorm(x, p["output_norm.weight"], c["rms_eps"])
        w_out = p["token_embd.weight"] if c["tied_output"] else p["output.weight"]
        return x @ w_out.t()

    def loss(self, idx, targets):
        logits = self.forward(idx)
        return logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class GaLoreAdamW:
    """GaLore on the attention/MLP matrices, torch AdamW semantics for the rest (as src/train)."""

    def __init__(self, model, o):
        self.o = o
        self.t = 0
        self.gal = {}
        self.plain = []
        for name, p in model.params.items():
            if p.dim() == 2 and name.startswith("blk."):
                self.gal[name] = {"p": p, "P": None, "m": None, "v": None}
            else:
                self.plain.append((name, p))
        decay = [p for n, p in self.plain if p.dim() == 2]
        nodecay = [p for n, p in self.plain if p.dim() != 2]
        self.adamw = torch.optim.AdamW([{"params": decay, "weight_decay": o["weight_decay"]},
                                        {"params": nodecay, "weight_decay": 0.0}],
                                       lr=1.0, betas=(o["beta1"], o["beta2"]), eps=o["eps"])

    @torch.no_grad()
    def step(self, lr):
        o = self.o
        r, T, scale = o["rank"], o["update_interval"], o["scale"]
        refresh = self.t % T == 0
        self.t += 1
        b1, b2 = o["beta1"], o["beta2"]
        for name, s in self.gal.items():
            p, G = s["p"], s["p"].grad
            tall = G.shape[0] >= G.shape[1]
            left = (not tall) if o["proj_type"] == "std" else tall
            if refresh:
                U, S, Vh = torch.linalg.svd(G, full_matrices=False)
                s["P"] = U[:, :r].clone() if left else Vh[:r, :].clone()
            P = s["P"]
            R = P.t() @ G if left else G @ P.t()
            if s["m"] is None:
                s["m"], s["v"] = torch.zeros_like(R), torch.zeros_like(R)
            s["m"].mul_(b1).add_(R, alpha=1.0 - b1)
            s["v"].mul_(b2).addcmul_(R, R, value=1.0 - b2)
            N = s["m"] / (s["v"].sqrt() + o["eps"])
            bc1, bc2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
            step_size = lr * math.sqrt(bc2) / bc1
            upd = (P @ N if left else N @ P) * scale
            p.add_(upd, alpha=-step_size)
            if o["weight_decay"] > 0:
                p.add_(p, alpha=-lr * o["weight_decay"])
        for g in self.adamw.param_groups:
            g["lr"] = lr
        self.adamw.step()


def lr_at(sched, step):
    mx, mn, warm, total = sched["max"], sched["min"], sched["warmup"], sched["total"]
    if step < warm:
        return mx * (step + 1) / warm
    if sched.get("kind", "cosine") == "constant":
        return mx
    ratio = min(1.0, (step - warm) / max(1, total - warm))
    return mn + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (mx - mn)


def make_optimizer(model, o):
    if o["type"] == "galore":
        return GaLoreAdamW(model, o)
    params = list(model.params.items())
    decay = [p for n, p in params if p.dim() == 2]
    nodecay = [p for n, p in params if p.dim() != 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": o["weight_decay"]},
                              {"params": nodecay, "weight_decay": 0.0}],
                             lr=1.0, betas=(o["beta1"], o["beta2"]), eps=o["eps"])


def set_lr(opt, lr):
    if isinstance(opt, GaLoreAdamW):
        return
    for g in opt.param_groups:
        g["lr"] = lr


def flat_grads(model, cfg, n_params):
    out = np.zeros(n_params, dtype=np.float32)
    for t in cfg["tensors"]:
        g = model.params[t["name"]].grad
        n = t["rows"] * t["cols"]
        out[t["offset"]:t["offset"] + n] = g.detach().numpy().reshape(-1)
    return out


def flat_params(model, cfg, n_params):
    out = np.zeros(n_params, dtype=np.float32)
    for t in cfg["tensors"]:
        n = t["rows"] * t["cols"]
        out[t["offset"]:t["offset"] + n] = model.params[t["name"]].detach().numpy().reshape(-1)
    return out


def main(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    torch.set_num_threads(cfg.get("threads", 1))
    n_params = cfg["n_params"]
    flat = np.fromfile(os.path.join(d, "params.f32"), dtype=np.float32)
    assert flat.size == n_params
    steps, B, T = cfg["steps"], cfg["B"], cfg["T"]
    inputs = torch.from_numpy(np.fromfile(os.path.join(d, "inputs.i32"), dtype=np.int32).astype(np.int64)).view(steps, B, T)
    targets = torch.from_numpy(np.fromfile(os.path.join(d, "targets.i32"), dtype=np.int32).astype(np.int64)).view(steps, B, T)
    model = Llama(cfg, flat)
    opt = make_optimizer(model, cfg["optimizer"])
    losses = []
    for s in range(steps):
        for p in model.params.values():
            p.grad = None
        logits, loss = model.loss(inputs[s], targets[s])
        loss.backward()
        losses.append(loss.item())
        if s == 0:
            logits.detach().numpy().astype(np.float32).tofile(os.path.join(d, "logits.f32"))
            flat_grads(model, cfg, n_params).tofile(os.path.join(d, "grads.f32"))
        clip = cfg["optimizer"]["grad_clip"]
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(list(model.params.values()), clip)
        lr = lr_at(cfg["schedule"], s)
        set_lr(opt, lr)
        opt.step(lr) if isinstance(opt, GaLoreAdamW) else opt.step()
    np.array(losses, dtype=np.float64).tofile(os.path.join(d, "losses.f64"))
    flat_params(model, cfg, n_params).tofile(os.path.join(d, "params_final.f32"))


if __name__ == "__main__":
    main(sys.argv[1])
