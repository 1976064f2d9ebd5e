"""Mutual TLS on the gateway's HTTP port (gateway.http_tls with gateway.http_tls_client_ca;
docs/security.md): certificates made here by openssl: a CA, the gateway's certificate and a
client's signed by it, and a second CA with a client certificate of its own. Against
nats-server and a gateway on free 127.0.0.1 ports, stopped by PID:

1. the good client certificate gets the demo page (GET /), /healthz, and the page's WebSocket
   (parley.converse.v1 over wss://: a start naming protocol 2 is answered with the error
   event naming protocol 1, so messages go both ways);
2. no client certificate, and a certificate of the other CA: the TLS handshake fails (no HTTP
   answer, no WebSocket);
3. http_tls_client_ca without http_tls: the gateway refuses to start, naming both keys.
Environment: PL_GATEWAY, PL_SOURCE_DIR.
"""
import asyncio
import http.client
import json
import os
import ssl
import subprocess
import sys

import gwtest as g
from gwtest import check

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets missing (scripts/deps.sh installs it)")
    sys.exit(77)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_ca(name):
    crt, key = os.path.join(g.TMP, name + ".crt"), os.path.join(g.TMP, name + ".key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
            "-days", "1", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def make_cert(name, ca, server):
    """A certificate for name signed by ca (crt, key): a server's (SAN localhost, 127.0.0.1)
    or a client's."""
    key, csr = os.path.join(g.TMP, name + ".key"), os.path.join(g.TMP, name + ".csr")
    crt, ext = os.path.join(g.TMP, name + ".crt"), os.path.join(g.TMP, name + ".ext")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=" + name)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                if server else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
            "-out", crt, "-days", "1", "-extfile", ext)
    return crt, key


def client_ctx(ca_crt, cert=None):
    ctx = ssl.create_default_context(cafile=ca_crt)
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def https_get(port, ctx, path):
    """(status, body) or the name of the error that ended the attempt."""
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    except (ssl.SSLError, OSError, http.client.HTTPException) as e:
        return type(e).__name__ + ": " + str(e), ""
    finally:
        c.close()


async def socket_talks(port, ctx):
    """The page's WebSocket: the error event for a start with protocol 2, or why it failed."""
    try:
        ws = await websockets.connect("wss://127.0.0.1:%d/v1/converse" % port, ssl=ctx,
                                      subprotocols=["parley.converse.v1"], open_timeout=5)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the answer
        return "%s: %s" % (type(e).__name__, e)
    try:
        await ws.send(json.dumps({"type": "start", "protocol": 2}))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))
    except Exception as e:  # noqa: BLE001
        return "%s: %s" % (type(e).__name__, e)
    finally:
        await ws.close()


def main():
    ca = make_ca("ca-parley")
    other_ca = make_ca("ca-other")
    server = make_cert("gateway", ca, True)
    good = make_cert("client-good", ca, False)
    stranger = make_cert("client-other", other_ca, False)
    _, nats = g.start_nats()
    gw, _, hport = g.start_gateway(nats, env_extra={
        "PARLEY_GATEWAY_TLS_CERT": server[0], "PARLEY_GATEWAY_TLS_KEY": server[1],
        "PARLEY_GATEWAY_HTTP_TLS": "true", "PARLEY_GATEWAY_HTTP_TLS_CLIENT_CA": ca[0]})
    # 1. the good certificate
    st, body = https_get(hport, client_ctx(ca[0], good), "/")
    check(st == 200 and "<html" in body.lower(), "client certificate of the CA: GET / 200, the "
          "page (%s)" % st)
    st, _ = https_get(hport, client_ctx(ca[0], good), "/healthz")
    check(st == 200, "client certificate of the CA: /healthz 200 (%s)" % st)
    ev = asyncio.run(socket_talks(hport, client_ctx(ca[0], good)))
    check(isinstance(ev, dict) and ev.get("type") == "error" and
          "protocol 1" in ev.get("message", "") + ev.get("code", "") + json.dumps(ev),
          "client certificate of the CA: the WebSocket over wss:// answers (%s)" % ev)
    # 2. no certificate, another CA's
    for what, cert in (("no client certificate", None), ("a certificate of another CA", stranger)):
        st, _ = https_get(hport, client_ctx(ca[0], cert), "/healthz")
        check(st != 200 and isinstance(st, str), "%s: no HTTP answer (%s)" % (what, st))
        ev = asyncio.run(socket_talks(hport, client_ctx(ca[0], cert)))
        check(isinstance(ev, str), "%s: no WebSocket (%s)" % (what, ev))
    check(g.stop(gw) == 0, "the mTLS gateway exits 0 on SIGTERM")
    # 3. a client CA for the HTTP port without TLS there
    env = dict(os.environ, PARLEY_GATEWAY_TLS_CERT=server[0], PARLEY_GATEWAY_TLS_KEY=server[1],
               PARLEY_GATEWAY_HTTP_TLS_CLIENT_CA=ca[0])
    p = subprocess.run([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:0", "--http",
                        "127.0.0.1:0", "--nats", nats], env=env, capture_output=True, text=True,
                       timeout=20)
    check(p.returncode != 0 and "http_tls_client_ca needs gateway.http_tls" in p.stderr + p.stdout,
          "http_tls_client_ca without http_tls: the gateway does not start (exit %d: %s)" % (
              p.returncode, (p.stderr + p.stdout).strip()[-200:]))
    print("OK")


if __name__ == "__main__":
    main()
