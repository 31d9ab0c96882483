#!/usr/bin/env python3
"""End-to-end test of the `mnemo serve` binary with a Python-stdlib OpenAI-style client.

The issue asks for the `openai` npm package; it is not in Debian and the tests may not fetch it, so
this client speaks the same wire protocol with http.client: Bearer key, a streamed chat
completion read event by event as the SDK does, a greedy completion compared with `mnemo run
--temp 0`, and SIGTERM stopping the server cleanly.

usage: serve_cli_test.py MNEMO_BIN MODEL
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

KEY = "sk-test"


def start(binary, model):
    p = subprocess.Popen([binary, "serve", "-m", model, "--port", "0", "-t", "1", "-c", "256", "--parallel", "2",
                          "--api-key", KEY, "--chat-template", "chatml"],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    line = ""
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"on http://[^:]+:(\d+)", line)
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
    p.kill()
    sys.exit(f"FAIL: the server did not start: {line}")


def request(port, method, path, body=None, key=KEY):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    return c, c.getresponse()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    binary, model = sys.argv[1], sys.argv[2]
    p, port = start(binary, model)
    try:
        c, r = request(port, "GET", "/v1/models", key="sk-wrong")
        check(r.status == 401, f"wrong key: {r.status}")
        check(json.loads(r.read())["error"]["type"] == "authentication_error", "401 error object")

        # A streamed chat completion, read one server-sent event at a time.
        body = {"model": "mnemo-stories", "messages": [{"role": "user", "content": "Tell me a story."}],
                "max_tokens": 16, "temperature": 0, "stream": True}
        c, r = request(port, "POST", "/v1/chat/completions", body)
        check(r.status == 200 and r.getheader("Content-Type") == "text/event-stream", f"stream: {r.status}")
        text, events, done = "", 0, False
        while True:
            line = r.readline().decode()
            if not line:
                break
            line = line.rstrip("\n")
            if not line:
                continue
            check(line.startswith("data: "), f"SSE line: {line!r}")
            if line == "data: [DONE]":
                done = True
                continue
            chunk = json.loads(line[6:])
            check(chunk["object"] == "chat.completion.chunk", "chunk object")
            text += chunk["choices"][0]["delta"].get("content", "")
            events += 1
        check(done and events >= 2, f"[DONE] after {events} events")

        # A greedy completion equals `mnemo run --temp 0`.
        prompt = "Once upon a time"
        c, r = request(port, "POST", "/v1/completions", {"prompt": prompt, "max_tokens": 32, "temperature": 0})
        check(r.status == 200, f"completion: {r.status}")
        got = json.loads(r.read())["choices"][0]["text"]
        run = subprocess.run([binary, "run", "-m", model, "-p", prompt, "-n", "32", "--temp", "0", "-c", "256",
                              "-t", "1", "-q"], capture_output=True, text=True, check=True)
        check(run.stdout == prompt + got + "\n", f"server {got!r} vs run {run.stdout!r}")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("the server did not stop on SIGTERM")
    check(rc == 0, f"exit code {rc}")
    print("ok: 401, streamed chat (%d events), greedy completion == mnemo run, SIGTERM" % events)


if __name__ == "__main__":
    main()
