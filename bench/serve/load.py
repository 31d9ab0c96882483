#!/usr/bin/env python3
"""Bounded loopback load generator for OpenAI-compatible servers (`mnemo serve`, llama-server).

Runs C concurrent clients (1..64) for a fixed number of requests or seconds, each streaming
/v1/completions (or /v1/chat/completions with --chat) and timing every server-sent event.
Reports requests/s, generated tokens/s (events with text; one token per event, as both servers
send), time to first token and inter-token latency p50/p95/p99, and errors.

  bench/serve/load.py --url http://127.0.0.1:8080 --concurrency 1,4,16,64 --requests 64 --max-tokens 128
  bench/serve/load.py ... --json > out.json

Loopback only (the URL must name 127.0.0.1 or localhost), bounded (--requests and --seconds):
it is a measurement tool, not a stress tool. Figures belong in docs/BENCHMARKS.md with the
command, machine and date, run side by side with llama-server on the same file, threads and slots.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from urllib.parse import urlparse

PROMPTS = ["Once upon a time", "The little dog", "Lily and Tom went to the park", "One day, a big bear",
           "The sun was shining and", "Tim had a red ball"]


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def one_request(host, port, args, i, key):
    """Streams one completion; returns (ttft, [inter-token gaps], n_tokens) or raises."""
    if args.chat:
        path = "/v1/chat/completions"
        body = {"messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]}
    else:
        path = "/v1/completions"
        body = {"prompt": PROMPTS[i % len(PROMPTS)]}
    body.update({"max_tokens": args.max_tokens, "temperature": args.temperature, "stream": True, "seed": i})
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    c = http.client.HTTPConnection(host, port, timeout=120)
    t0 = time.perf_counter()
    c.request("POST", path, body=json.dumps(body), headers=headers)
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    times = []
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        j = json.loads(line[6:])
        if "error" in j:
            raise RuntimeError(j["error"].get("message", "error event"))
        ch = j["choices"][0]
        text = ch.get("text") if not args.chat else ch.get("delta", {}).get("content")
        if text:
            times.append(time.perf_counter())
    c.close()
    if not times:
        return None
    gaps = [b - a for a, b in zip(times, times[1:])]
    return times[0] - t0, gaps, len(times)


def run_level(host, port, args, concurrency, key):
    lock = threading.Lock()
    next_i = [0]
    ttft, itl, tokens, errors = [], [], [0], []
    deadline = time.perf_counter() + args.seconds

    def worker():
        while True:
            with lock:
                if next_i[0] >= args.requests or time.perf_counter() > deadline:
                    return
                i = next_i[0]
                next_i[0] += 1
            try:
                res = one_request(host, port, args, i, key)
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(str(e))
                continue
            if res:
                with lock:
                    ttft.append(res[0])
                    itl.extend(res[1])
                    tokens[0] += res[2]

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = lambda xs, p: percentile(xs, p) * 1000  # noqa: E731
    return {"concurrency": concurrency, "requests": next_i[0], "errors": len(errors),
            "first_error": errors[0] if errors else None, "seconds": wall,
            "requests_per_s": (next_i[0] - len(errors)) / wall, "tokens_per_s": tokens[0] / wall,
            "ttft_ms": {p: ms(ttft, p) for p in (50, 95, 99)}, "itl_ms": {p: ms(itl, p) for p in (50, 95, 99)},
            "ttft_mean_ms": statistics.mean(ttft) * 1000 if ttft else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--concurrency", default="1,4,16", help="comma-separated levels, each 1..64")
    ap.add_argument("--requests", type=int, default=64, help="requests per level (at most 10000)")
    ap.add_argument("--seconds", type=float, default=300, help="at most this long per level (at most 600)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--chat", action="store_true", help="stream /v1/chat/completions instead")
    ap.add_argument("--api-key", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    u = urlparse(args.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("load.py: --url: expected a loopback address (127.0.0.1, localhost), found " + str(u.hostname))
    levels = [int(x) for x in args.concurrency.split(",")]
    if any(c < 1 or c > 64 for c in levels) or not 1 <= args.requests <= 10000 or not 0 < args.seconds <= 600:
        sys.exit("load.py: expected concurrency 1..64, requests 1..10000, seconds in (0, 600]")
    results = [run_level(u.hostname, u.port or 80, args, c, args.api_key) for c in levels]
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return
    print("conc  reqs  err   req/s   tok/s   ttft p50/p95/p99 ms        itl p50/p95/p99 ms")
    for r in results:
        t, i = r["ttft_ms"], r["itl_ms"]
        print(f"{r['concurrency']:4d} {r['requests']:5d} {r['errors']:4d} {r['requests_per_s']:7.2f} {r['tokens_per_s']:7.1f}"
              f"   {t[50]:7.1f} {t[95]:7.1f} {t[99]:7.1f}   {i[50]:7.2f} {i[95]:7.2f} {i[99]:7.2f}")
        if r["first_error"]:
            print("     first error:", r["first_error"])


if __name__ == "__main__":
    main()
