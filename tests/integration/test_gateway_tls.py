"""Gateway with TLS (a throwaway self-signed certificate made by openssl): a TLS client is
answered, a plaintext client is not."""
import os
import subprocess

from gwtest import *  # noqa: F403

cert, key = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
               check=True, capture_output=True)
nats, url = start_nats()
start_worker(url, service="nlu", wid="nlu")
gw, port, hport = start_gateway(url, env_extra={"PARLEY_GATEWAY_TLS_CERT": cert,
                                                "PARLEY_GATEWAY_TLS_KEY": key})
creds = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
ch = grpc.secure_channel("127.0.0.1:%d" % port, creds)
r = punctuate(ch, ["over tls"], timeout=10)
check(list(r.text) == ["over tls"], "TLS client: PunctuateText answered")
plain = channel(port)
c, d = code_of(lambda: punctuate(plain, ["plain"], timeout=3))
check(c in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
      "plaintext client to the TLS port refused (%s)" % c)
ch.close()
plain.close()
check(stop(gw) == 0, "gateway exits 0 on SIGTERM")

# a missing certificate file is a start-up error, not a plaintext fallback
p = spawn([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
           "--nats", url], "gw-badtls.log",
          env=dict(os.environ, PARLEY_GATEWAY_TLS_CERT="/nonexistent.pem", PARLEY_GATEWAY_TLS_KEY=key))
check(p.wait(timeout=10) != 0, "missing TLS certificate: the gateway refuses to start")
print("PASS")
