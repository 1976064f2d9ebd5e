"""Riva's realtime API (docs/realtime-api.md) on a gateway with API keys, per-key limits and TLS
on its HTTP port (gateway.http_tls with a throwaway self-signed certificate made by openssl),
against nats-server and parley-tts (PL_TTS: the tone-generator voice) on free 127.0.0.1 ports,
all stopped by PID. Synthesis sessions are the probe: they open a parley-tts SynthesizeOnline
stream at the first commit and keep it open until input_text.done.

1. TLS: the session POST and list_voices answer over https:// (without a key: the official
   clients send none there); a plaintext request to the port gets no HTTP answer.
2. Keys on wss://: a socket without a key gets an error event UNAUTHENTICATED saying how to send
   one, then the close 1008; a wrong key "invalid API key"; the right key in the query
   (api_key=, percent-encoded, as `--query-params "intent=synthesize&api_key=KEY"` sends it)
   or as Authorization: Bearer synthesizes audio.
3. Limits (gateway_limit.c) per key: alice (max_calls=1) with a stream open on one socket is
   refused a second stream on another (RESOURCE_EXHAUSTED naming the concurrency limit, the
   socket stays usable); once the first socket closes mid-stream the slot is free again.
   bob (rate=0.2, burst=1): a second stream right after the first is refused with the rate
   limit and a retry time.
4. A gateway without keys and with peer_max_calls=1 (plain ws://): the same concurrency limit
   per client address.
Environment: PL_TTS, PL_TTS_FAKE=1, PL_GATEWAY, PL_SOURCE_DIR.
"""
import asyncio
import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.parse

import dialog_stories as ds
import gwtest as g
from gwtest import check

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets missing (scripts/deps.sh installs it)")
    sys.exit(77)

ALICE, BOB = "alice-key-0123456789/+=", "bob-key-0123456789"


def make_cert():
    cert, key = os.path.join(g.TMP, "cert.pem"), os.path.join(g.TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


async def recv(ws, timeout=10.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def first_error(ws):
    """Events until an error (the error), or None at conversation.created."""
    ev = await recv(ws)
    return ev if ev["type"] == "error" else None


async def open_session(url, ctx, headers=None):
    """Connect, update the session (LINEAR_PCM at 16 kHz); returns the socket after
    synthesize_session.updated, or the first error event."""
    ws = await websockets.connect(url, ssl=ctx, extra_headers=headers or {})
    await ws.send(json.dumps({"type": "synthesize_session.update", "session": {
        "output_audio_params": {"sample_rate_hz": 16000, "audio_format": "LINEAR_PCM"}}}))
    seen = []
    while len(seen) < 2:
        ev = await recv(ws)
        if ev["type"] == "error":
            return ws, ev
        seen.append(ev["type"])
    check(set(seen) == {"conversation.created", "synthesize_session.updated"},
          "session opened (%s)" % seen)
    return ws, None


async def commit(ws, text):
    await ws.send(json.dumps({"type": "input_text.append", "text": text}))
    await ws.send(json.dumps({"type": "input_text.commit"}))


async def finish(ws):
    """input_text.done; the audio bytes until speech.completed, or the error event."""
    await ws.send(json.dumps({"type": "input_text.done"}))
    n = 0
    while True:
        ev = await recv(ws, 20)
        if ev["type"] == "error":
            return n, ev
        if ev["type"] == "conversation.item.speech.data":
            n += len(base64.b64decode(ev["audio"]))
        if ev["type"] == "conversation.item.speech.completed":
            return n, None


async def error_after_commit(ws, text="refused?"):
    """Commit; the error event that follows within 2 s, else None (speech data came)."""
    await commit(ws, text)
    try:
        while True:
            ev = await recv(ws, 2)
            if ev["type"] == "error":
                return ev
            if ev["type"] == "conversation.item.speech.data":
                return None
    except asyncio.TimeoutError:
        return None


async def synth_ok(url, ctx, what, headers=None):
    ws, err = await open_session(url, ctx, headers)
    check(err is None, "%s: session opened (%s)" % (what, err))
    await commit(ws, "the right key")
    n, err = await finish(ws)
    check(err is None and n > 16000, "%s: audio synthesized (%d bytes, %s)" % (what, n, err))
    await ws.close()


async def refused(url, ctx, expect, what, headers=None):
    ws = await websockets.connect(url, ssl=ctx, extra_headers=headers or {})
    ev = await first_error(ws)
    check(ev and ev["error"]["code"] == "UNAUTHENTICATED" and expect in ev["error"]["message"],
          "%s: error event UNAUTHENTICATED %r (%s)" % (what, expect, ev))
    try:
        await asyncio.wait_for(ws.recv(), 5)
        closed = None
    except websockets.ConnectionClosed as e:
        closed = e.code
    check(closed == 1008, "%s: the socket closes with 1008 (%s)" % (what, closed))


async def keyed(hport, ctx):
    base = "wss://127.0.0.1:%d/v1/realtime?intent=synthesize" % hport
    # 2. keys
    await refused(base, ctx, "api_key=", "no key")
    await refused(base + "&api_key=not-a-key-at-all", ctx, "invalid API key", "wrong key")
    await refused(base, ctx, "invalid API key", "wrong Bearer key",
                  {"Authorization": "Bearer not-a-key-at-all"})
    alice_url = base + "&api_key=" + urllib.parse.quote(ALICE, safe="")
    await synth_ok(alice_url, ctx, "alice's key in the query (percent-encoded)")
    await synth_ok(base, ctx, "alice's key as Authorization: Bearer",
                   {"Authorization": "Bearer " + ALICE})
    # 3. alice: one stream open at once
    a, err = await open_session(alice_url, ctx)
    await commit(a, "first stream stays open")
    b, err2 = await open_session(alice_url, ctx)
    check(err is None and err2 is None, "alice: two sessions configured")
    ev = await error_after_commit(b)
    check(ev and ev["error"]["code"] == "RESOURCE_EXHAUSTED"
          and "concurrency limit of API key user 'alice'" in ev["error"]["message"],
          "alice: a second stream while one is open is refused (%s)" % ev)
    # mid-stream: the gateway gives the slot back before it answers the close, so the next
    # stream may start as soon as close() returns
    await a.close()
    await b.close()
    await synth_ok(alice_url, ctx, "alice after the open stream's socket closed")
    # bob: rate 0.2/s, burst 1
    bob_url = base + "&api_key=" + BOB
    await synth_ok(bob_url, ctx, "bob's first stream")
    c, err = await open_session(bob_url, ctx)
    ev = await error_after_commit(c)
    check(ev and ev["error"]["code"] == "RESOURCE_EXHAUSTED"
          and "rate limit of API key user 'bob'" in ev["error"]["message"]
          and "retry after" in ev["error"]["message"],
          "bob: a second stream at once is refused by the rate limit (%s)" % ev)
    await c.close()


async def per_address(hport):
    url = "ws://127.0.0.1:%d/v1/realtime?intent=synthesize" % hport
    a, _ = await open_session(url, None)
    await commit(a, "first stream stays open")
    b, _ = await open_session(url, None)
    ev = await error_after_commit(b)
    check(ev and ev["error"]["code"] == "RESOURCE_EXHAUSTED"
          and "client 127.0.0.1" in ev["error"]["message"],
          "no keys, peer_max_calls=1: a second stream from the address is refused (%s)" % ev)
    await a.close()
    await b.close()
    await synth_ok(url, None, "the address after its open stream's socket closed")


def https(hport, ctx, method, path, body=None):
    c = http.client.HTTPSConnection("127.0.0.1", hport, timeout=10, context=ctx)
    c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return r.status, data


def main():
    cert, key = make_cert()
    keys = os.path.join(g.TMP, "keys.txt")
    with open(keys, "w") as f:
        f.write("%s alice max_calls=1\n%s bob rate=0.2 burst=1\n" % (ALICE, BOB))
    _, nats = g.start_nats()
    ds.start_tts(nats, 5)  # PL_TTS_FAKE=1: the tone-generator voice
    gw, _, hport = g.start_gateway(nats, env_extra={
        "PARLEY_GATEWAY_TLS_CERT": cert, "PARLEY_GATEWAY_TLS_KEY": key,
        "PARLEY_GATEWAY_HTTP_TLS": "true", "PARLEY_GATEWAY_API_KEYS_FILE": keys})
    ctx = ssl.create_default_context(cafile=cert)
    # 1. TLS on the HTTP port; the session endpoints stay open (no key)
    st, body = https(hport, ctx, "POST", "/v1/realtime/synthesis_sessions", "{}")
    check(st == 200 and json.loads(body)["id"].startswith("sess_"),
          "https POST synthesis_sessions without a key: 200 (%s)" % st)
    st, body = https(hport, ctx, "GET", "/v1/audio/list_voices")
    check(st == 200 and "fake-a" in body,
          "https list_voices: 200 with the voice (%s %s)" % (st, body))
    st, _ = https(hport, ctx, "GET", "/healthz")
    check(st == 200, "https /healthz: 200")
    plain = http.client.HTTPConnection("127.0.0.1", hport, timeout=5)
    try:
        plain.request("GET", "/healthz")
        answer = plain.getresponse().status
    except (http.client.HTTPException, OSError) as e:
        answer = type(e).__name__
    check(answer != 200, "plain HTTP to the TLS port gets no answer (%s)" % answer)
    asyncio.run(keyed(hport, ctx))
    check(g.stop(gw) == 0, "the TLS gateway exits 0 on SIGTERM")
    # 4. no keys, limits per client address
    gw, _, hport = g.start_gateway(nats, env_extra={"PARLEY_GATEWAY_PEER_MAX_CALLS": "1"})
    asyncio.run(per_address(hport))
    check(g.stop(gw) == 0, "the gateway exits 0 on SIGTERM")
    print("OK")


if __name__ == "__main__":
    main()
