"""The browser socket's protocol errors (docs/web-protocol.md, "Errors"), spoken as a raw client
over python3-websockets against nats-server, parley-dialog (the shipped specs, state in a
temporary SQLite file) and the gateway on free 127.0.0.1 ports, stopped by PID.

1. Before `start`: bad JSON, a frame without `type`, an unknown `type`, `switch_context`,
   an odd-length audio frame each get one non-fatal `error` naming the problem; twenty audio
   frames get exactly one FAILED_PRECONDITION (a live microphone sends fifty a second), and the
   socket still takes a `start`.
2. After `stop` has ended the conversation with `end` OK, the gateway's /metrics counts it
   already, audio frames again get exactly one error, and a second `start` on the same socket
   opens a conversation again.
3. parley-dialog killed mid-conversation: the `end` names UNAVAILABLE, and the audio the
   microphone keeps sending after it brings one error, not one per frame (the demo page shows
   the last error: a flood would hide why the conversation ended); a contexts call that was in
   flight at the kill may add its own UNAVAILABLE error.
Environment: PL_DIALOG, PL_GATEWAY, PL_SOURCE_DIR.
"""
import asyncio
import json
import os
import signal
import sys

import dialog_stories as ds
import gwtest as g
from gwtest import check

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets missing (scripts/deps.sh installs it)")
    sys.exit(77)

FRAME = bytes(640)  # 20 ms of silence at 16 kHz


async def recv(ws, timeout=10.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws, kind, timeout=30.0):
    """Messages until one of type kind; returns (that message, the ones before it)."""
    seen = []
    while True:
        m = await recv(ws, timeout)
        if m["type"] == kind:
            return m, seen
        seen.append(m)


async def errors_then_marker(ws):
    """Sends an unknown type as a marker and returns the errors that came before its error."""
    await ws.send(json.dumps({"type": "marker-after-audio"}))
    out = []
    while True:
        m = await recv(ws)
        if m["type"] == "error" and "marker-after-audio" in m["message"]:
            return out
        if m["type"] == "error":
            out.append(m)


async def start(ws, user, session_id=""):
    await ws.send(json.dumps({"type": "start", "protocol": 1, "user": user, "session_id": session_id,
                              "input_audio": {"sample_rate_hz": 16000,
                                              "endpointing": "push_to_talk"}}))
    ready, before = await until(ws, "ready")
    check(ready["protocol"] == 1 and not [m for m in before if m["type"] == "error"],
          "%s: ready after start (%s)" % (user, [m["type"] for m in before]))


async def run(stack, port):
    url = "ws://127.0.0.1:%d/v1/converse" % port
    async with websockets.connect(url, subprotocols=["parley.converse.v1"]) as ws:
        # 1. before start
        cases = [("{not json", "INVALID_ARGUMENT"), (json.dumps({"text": "hi"}), "INVALID_ARGUMENT"),
                 (json.dumps({"type": "dance"}), "INVALID_ARGUMENT"),
                 (json.dumps({"type": "switch_context", "context_id": "x"}), "FAILED_PRECONDITION")]
        for frame, code in cases:
            await ws.send(frame)
            m = await recv(ws)
            check(m["type"] == "error" and m["code"] == code and not m["fatal"] and m["message"],
                  "before start: %r -> %s %r" % (frame[:24], m.get("code"), m.get("message")))
        await ws.send(b"\x00\x01\x02")
        m = await recv(ws)
        check(m["type"] == "error" and "16-bit" in m["message"],
              "odd-length audio frame: %s %r" % (m.get("code"), m.get("message")))
        for _ in range(20):
            await ws.send(FRAME)
        errs = await errors_then_marker(ws)
        check(len(errs) == 1 and errs[0]["code"] == "FAILED_PRECONDITION" and
              "start" in errs[0]["message"],
              "20 audio frames before start: one error (%s)" % [e["message"] for e in errs])
        # 2. after a clean end, and a second start on the same socket
        await start(ws, "ada")
        await ws.send(json.dumps({"type": "stop"}))
        end, _ = await until(ws, "end")
        check(end["code"] == "OK", "stop: end OK (%s %s)" % (end["code"], end["message"]))
        # counted before the page reads its end (as its place in the limits is given back)
        st, text = g.http_get(port, "/metrics")
        n = g.metric(text, "parley_gateway_requests_total", rpc="converse_web", code="OK")
        check(st == 200 and n == 1, "the ended conversation is in /metrics at once (%s)" % n)
        for _ in range(20):
            await ws.send(FRAME)
        errs = await errors_then_marker(ws)
        check(len(errs) == 1 and errs[0]["code"] == "FAILED_PRECONDITION",
              "20 audio frames after end: one error (%s)" % [e["message"] for e in errs])
        await start(ws, "ada", end.get("session_id", ""))
        for _ in range(5):
            await ws.send(FRAME)
        errs = await errors_then_marker(ws)
        check(not errs, "audio after the second start is taken (%s)" % [e["message"] for e in errs])
        # 3. parley-dialog killed while the microphone streams
        stack_dialog = stack["dialog"]
        stack_dialog.send_signal(signal.SIGKILL)
        stack_dialog.wait()
        sent = 0
        end = None
        while end is None and sent < 50 * 30:  # 30 s of microphone at most
            await ws.send(FRAME)
            sent += 1
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 0.02))
                if m["type"] == "end":
                    end = m
            except asyncio.TimeoutError:
                pass
        check(end is not None and end["code"] == "UNAVAILABLE",
              "parley-dialog killed: end UNAVAILABLE (%s)" % (end and end["message"]))
        for _ in range(50):
            await ws.send(FRAME)
        errs = await errors_then_marker(ws)
        # a contexts refresh the gateway asked of parley-dialog just before the kill may end
        # UNAVAILABLE here too ("worker stopped responding"): one call's answer, not the audio's
        audio = [e for e in errs if e["code"] == "FAILED_PRECONDITION"]
        other = [e for e in errs if e["code"] != "FAILED_PRECONDITION"]
        check(len(audio) == 1 and len(other) <= 2 and all(e["code"] == "UNAVAILABLE" for e in other),
              "a second of audio after that end: one error (%s)"
              % [(e["code"], e["message"]) for e in errs])


def main():
    _, nats = g.start_nats()
    store = os.path.join(g.TMP, "dialog.sqlite")
    dialog = ds.start([os.environ["PL_DIALOG"], "--nats", nats, "--http-port", "-1", "--model-dir",
                       os.path.join(ds.SRC, "dialog", "specs")], "dialog",
                      {"PARLEY_DIALOG_STORE_PATH": store, "PARLEY_DIALOG_DEFAULT_DIALOG": "assistant",
                       "PARLEY_DIALOG_LOG_LEVEL": "warn"}, r"specs=[1-9]")
    gw, _, hport = g.start_gateway(nats, env_extra={"PARLEY_GATEWAY_STREAM_TIMEOUT_MS": "3000"})
    asyncio.run(run({"dialog": dialog}, hport))
    check(gw.poll() is None, "the gateway still runs")
    check(g.stop(gw) == 0, "the gateway exits 0 on SIGTERM")
    print("OK")


if __name__ == "__main__":
    main()
