"""PyTorch CPU training throughput on the same llama shape as bench/train/train_bench.cc.

Usage: OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 torch_train_bench.py \
           --dim 256 --layers 8 --heads 8 --kv-heads 4 --ff 768 --vocab 512 --batch 4 --seq 1024 \
           --threads 2 --steps 5 --warmup 1 [--config]

The model is tests/train/torch_llama.py (the reference the tests compare against): manual causal
attention (torch 1.13 has no fused scaled_dot_product_attention), fp32, torch.optim.AdamW, one
forward + backward + step per batch. Prints one JSON line; --config adds torch.__config__.show().
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "train"))
import torch_llama  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for k, v in [("dim", 256), ("layers", 8), ("heads", 8), ("kv-heads", 4), ("ff", 768), ("vocab", 512),
                 ("batch", 4), ("seq", 1024), ("threads", 2), ("steps", 5), ("warmup", 1)]:
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--config", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    d, ff, V = a.dim, a.ff, a.vocab
    hd = d // a.heads
    dkv = hd * a.kv_heads
    tensors, off = [], 0

    def add(name, rows, cols, matrix=True):
        nonlocal off
        tensors.append({"name": name, "rows": rows, "cols": cols, "offset": off, "matrix": matrix})
        off += rows * cols

    add("token_embd.weight", V, d)
    for l in range(a.layers):
        b = f"blk.{l}."
        add(b + "attn_norm.weight", 1, d, False)
        add(b + "attn_q.weight", d, d)
        add(b + "attn_k.weight", dkv, d)
        add(b + "attn_v.weight", dkv, d)
        add(b + "attn_output.weight", d, d)
        add(b + "ffn_norm.weight", 1, d, False)
        add(b + "ffn_gate.weight", ff, d)
        add(b + "ffn_up.weight", ff, d)
        add(b + "ffn_down.weight", d, ff)
    add("output_norm.weight", 1, d, False)
    add("output.weight", V, d)
    cfg = {"n_vocab": V, "n_embd": d, "n_layer": a.layers, "n_head": a.heads, "n_head_kv": a.kv_heads,
           "rms_eps": 1e-5, "rope_base": 10000.0, "tied_output": False, "tensors": tensors}
    flat = (np.random.default_rng(1).standard_normal(off) * 0.02).astype(np.float32)
    for t in tensors:
        if not t["matrix"]:
            flat[t["offset"]:t["offset"] + t["cols"]] = 1.0
    model = torch_llama.Llama(cfg, flat)
    opt = torch_llama.make_optimizer(model, {"type": "adamw", "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
                                             "weight_decay": 0.1})
    torch_llama.set_lr(opt, 1e-3)
    g = torch.Generator().manual_seed(2)
    secs, loss = 0.0, 0.0
    for i in range(a.warmup + a.steps):
        x = torch.randint(0, V, (a.batch, a.seq + 1), generator=g)
        t0 = time.perf_counter()
        for p in model.params.values():
            p.grad = None
        _, l = model.loss(x[:, :-1], x[:, 1:])
        l.backward()
        torch.nn.utils.clip_grad_norm_(list(model.params.values()), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            secs += dt
        loss = l.item()
    out = {"engine": "torch", "torch": torch.__version__, "dim": d, "layers": a.layers, "heads": a.heads,
           "kv_heads": a.kv_heads, "ff": ff, "vocab": V, "params": off, "batch": a.batch, "seq": a.seq,
           "threads": a.threads, "steps": a.steps, "seconds": round(secs, 3),
           "tokens_per_s": round(a.batch * a.seq * a.steps / secs, 1), "loss": round(loss, 4)}
    if a.config:
        out["config"] = torch.__config__.show()
        out["parallel_info"] = torch.__config__.parallel_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
