"""Test-only fulfilment for the dialog's external actions (dialog_stories.py): an HTTP server on
a free 127.0.0.1 port for the webhooks, and a NATS responder speaking the NATS client protocol
over a plain socket (there is no Python NATS client here; the protocol is lines of text).

HTTP paths: /weather and /screenings answer like an operator's service would (JSON with the
variables of the demo spec's responses), /slow never answers (until stop), /sleepy answers after
1.5 s (and not before release() while hold() is on; the monotonic time of each answer is kept
in .sleepy_answers), /garbage answers 200
with HTML, /failing answers 503. Every request body is kept in .requests (path, JSON).
NATS subjects: parley.action.order_status answers text, vars and slots; parley.action.order_garbage
answers a JSON list; parley.action.sleepy answers after 1.5 s (each request on its own thread, so
that many wait at once); parley.action.hang never answers. Every request is kept in .requests
(subject, headers, JSON). SlowQa stands in for parley-qa on parley.qa.natural_query: each
question answered after a delay, one that names "hang" never.
"""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        srv = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            req = json.loads(body)
        except ValueError:
            req = None
        srv.requests.append((self.path, req, dict(self.headers)))
        if self.path == "/slow":
            srv.stopping.wait(30)
            return
        if self.path == "/sleepy":
            t0, gate = time.monotonic(), srv.gate
            if gate is not None:
                gate.wait(30)
            srv.stopping.wait(max(0.0, 1.5 - (time.monotonic() - t0)))
            srv.sleepy_answers.append(time.monotonic())
            return self._send(200, json.dumps({"text": "Done after a nap."}).encode())
        if self.path == "/failing":
            return self._send(503, b'{"error": "down for maintenance"}')
        if self.path == "/garbage":
            return self._send(200, b"<html><body>Internal error</body></html>")
        if self.path == "/weather":
            return self._send(200, json.dumps({"vars": {"summary": "sunny",
                                                        "temperature": "21 degrees"}}).encode())
        if self.path == "/screenings":
            return self._send(200, json.dumps({"vars": {"listings": "6:30 pm and 9 pm"}}).encode())
        self._send(404, b"{}")

    def _send(self, code, data):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many calls at once (dialog_webhook_load.py)


class HttpFulfilment:
    def __init__(self, backlog=128):
        self.requests = []
        self.sleepy_answers = []
        self.gate = None
        self.stopping = threading.Event()
        _Server.request_queue_size = backlog
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hold(self):
        """/sleepy answers no call (those waiting and those to come) before release()."""
        self.gate = threading.Event()

    def release(self):
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.set()

    def stop(self):
        self.stopping.set()
        self.release()
        self.httpd.shutdown()


class NatsResponder:
    """Subscribes to subjects (queue group `fulfil`) and answers each request by its subject."""

    def __init__(self, nats_url, subjects):
        host, port = nats_url.rsplit("/", 1)[-1].split(":")
        self.sock = socket.create_connection((host, int(port)), 5)
        self.sock.settimeout(None)
        self.buf = b""
        self.requests = []
        self.lock = threading.Lock()  # one writer at a time: answers come from many threads
        self._readline()  # INFO
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                   b'"no_responders":true,"protocol":1,"name":"test-fulfil"}\r\n')
        for i, s in enumerate(subjects, 1):
            self._send(("SUB %s fulfil %d\r\n" % (s, i)).encode())
        self._send(b"PING\r\n")
        while self._readline() != b"PONG":  # subscriptions are in place
            pass
        threading.Thread(target=self._loop, daemon=True).start()

    def _send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _publish(self, reply, data):
        if reply:
            self._send(b"PUB " + reply + b" %d\r\n" % len(data) + data + b"\r\n")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def _readline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _loop(self):
        try:
            while True:
                line = self._readline()
                if line == b"PING":
                    self._send(b"PONG\r\n")
                    continue
                parts = line.split()
                if not parts or parts[0] not in (b"MSG", b"HMSG"):
                    continue
                if parts[0] == b"MSG":  # MSG subject sid [reply] bytes
                    subject, reply = parts[1], parts[3] if len(parts) == 5 else None
                    hdr, payload = b"", self._read(int(parts[-1]))
                else:  # HMSG subject sid [reply] hdr_bytes total_bytes
                    subject, reply = parts[1], parts[3] if len(parts) == 6 else None
                    data = self._read(int(parts[-1]))
                    hdr, payload = data[:int(parts[-2])], data[int(parts[-2]):]
                self._answer(subject.decode(), reply, hdr, payload)
        except (EOFError, OSError):
            pass

    def _answer(self, subject, reply, hdr, payload):
        headers = {}
        for h in hdr.decode(errors="replace").split("\r\n")[1:]:
            if ":" in h:
                k, v = h.split(":", 1)
                headers[k.strip()] = v.strip()
        try:
            req = json.loads(payload)
        except ValueError:
            req = None
        self.requests.append((subject, headers, req))
        if subject.endswith(".hang"):
            return
        if subject.endswith(".sleepy"):
            def later():
                time.sleep(1.5)
                try:
                    self._publish(reply, json.dumps({"text": "Done after a nap."}).encode())
                except OSError:
                    pass  # stopped meanwhile
            threading.Thread(target=later, daemon=True).start()
            return
        if subject.endswith(".order_status"):
            out = {"text": "Order 42 is on its way.", "vars": {"eta": "tomorrow morning"},
                   "slots": {"order": "42"}}
        else:
            out = [1, 2, 3]
        self._publish(reply, json.dumps(out).encode())

    def stop(self):
        self.sock.close()


class SlowQa(NatsResponder):
    """parley-qa's subject (parley.qa.natural_query) answered after delay_s seconds with one
    answer, each question on its own thread; a question with "hang" in it is never answered.
    For the action pool's test with a slow knowledge base (dialog_action_load.py)."""

    def __init__(self, nats_url, delay_s=1.5, answer="Forty-two."):
        self.delay_s = delay_s
        self.answer = answer
        super().__init__(nats_url, ["parley.qa.natural_query"])

    def _answer(self, subject, reply, hdr, payload):
        from riva.proto import riva_nlp_pb2 as nlp
        q = nlp.NaturalQueryRequest.FromString(payload)
        self.requests.append((subject, {}, q.query))
        if "hang" in q.query:
            return
        data = nlp.NaturalQueryResponse(
            results=[nlp.NaturalQueryResult(answer=self.answer, score=0.9)]).SerializeToString()

        def later():
            time.sleep(self.delay_s)
            try:
                self._publish(reply, data)
            except OSError:
                pass
        threading.Thread(target=later, daemon=True).start()
