// The chat page at "/": one static HTML file with its script inline (no CDN, nothing fetched but
// this server's /v1/chat/completions, streamed). The API key, if the server asks for one, is kept
// in the page's localStorage.
#include "server/server_impl.h"

namespace mnemo::server {

const char kChatPageHtml[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mnemo chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem;background:#fafafa}
#log{min-height:50vh}.msg{white-space:pre-wrap;margin:.5rem 0;padding:.5rem .75rem;border-radius:.5rem}
.user{background:#dbeafe}.assistant{background:#fff;border:1px solid #ddd}.error{background:#fee2e2}
form{display:flex;gap:.5rem}textarea{flex:1;min-height:3rem}#key{width:100%;margin-bottom:.5rem}
</style></head><body>
<h1>mnemo chat</h1>
<input id="key" type="password" placeholder="API key (only if the server asks for one)">
<div id="log"></div>
<form id="f"><textarea id="in" placeholder="Message"></textarea><button id="send">Send</button></form>
<script>
"use strict";
const log = document.getElementById("log"), input = document.getElementById("in"), key = document.getElementById("key");
key.value = localStorage.getItem("mnemo-key") || "";
const messages = [];
function add(role, text) {
  const d = document.createElement("div");
  d.className = "msg " + role; d.textContent = text; log.appendChild(d); return d;
}
async function send(text) {
  messages.push({role: "user", content: text}); add("user", text);
  const out = add("assistant", ""); let answer = "";
  localStorage.setItem("mnemo-key", key.value);
  const headers = {"Content-Type": "application/json"};
  if (key.value) headers["Authorization"] = "Bearer " + key.value;
  try {
    const r = await fetch("/v1/chat/completions", {method: "POST", headers,
      body: JSON.stringify({messages, stream: true})});
    if (!r.ok) { const e = await r.json(); throw new Error(e.error ? e.error.message : r.statusText); }
    const reader = r.body.getReader(), dec = new TextDecoder(); let buf = "";
    for (;;) {
      const {value, done} = await reader.read(); if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!ev.startsWith("data: ")) continue;
        const data = ev.slice(6); if (data === "[DONE]") continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        const d = j.choices[0].delta; if (d && d.content) { answer += d.content; out.textContent = answer; }
      }
    }
    messages.push({role: "assistant", content: answer});
  } catch (e) { out.className = "msg error"; out.textContent = String(e.message || e); messages.pop(); }
}
document.getElementById("f").addEventListener("submit", ev => {
  ev.preventDefault(); const t = input.value.trim(); if (!t) return; input.value = ""; send(t);
});
input.addEventListener("keydown", ev => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("f").requestSubmit(); }
});
</script></body></html>
)HTML";

}  // namespace mnemo::server
