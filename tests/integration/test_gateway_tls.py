"""Gateway with TLS (a throwaway self-signed certificate made by openssl): a TLS client is
answered, a plaintext client is not. Then mutual TLS (gateway.tls_client_ca): a CA, a server and
two client certificates made by openssl here; a client with a certificate that CA signed is
answered, one without a certificate or with one from another CA fails the handshake."""
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

# ---- mutual TLS ---------------------------------------------------------------------------------


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_ca(name):
    k, c = os.path.join(TMP, name + "-ca.key"), os.path.join(TMP, name + "-ca.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", k, "-out", c, "-days", "1",
            "-subj", "/CN=" + name + " test CA")
    return k, c


def make_cert(name, ca_key, ca_cert, server):
    k, csr, c = (os.path.join(TMP, name + e) for e in (".key", ".csr", ".pem"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", k, "-out", csr,
            "-subj", "/CN=" + ("localhost" if server else name))
    ext = os.path.join(TMP, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if server
                else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
            "-out", c, "-days", "1", "-extfile", ext)
    return k, c


ca_key, ca = make_ca("parley")
other_key, other_ca = make_ca("other")
srv_key, srv_cert = make_cert("server", ca_key, ca, True)
cli_key, cli_cert = make_cert("client", ca_key, ca, False)
bad_key, bad_cert = make_cert("intruder", other_key, other_ca, False)
gw, port, hport = start_gateway(url, env_extra={"PARLEY_GATEWAY_TLS_CERT": srv_cert,
                                                "PARLEY_GATEWAY_TLS_KEY": srv_key,
                                                "PARLEY_GATEWAY_TLS_CLIENT_CA": ca})
root = open(ca, "rb").read()


def mtls_channel(key=None, cert=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=root, private_key=open(key, "rb").read() if key else None,
        certificate_chain=open(cert, "rb").read() if cert else None)
    return grpc.secure_channel("127.0.0.1:%d" % port, creds)


ch = mtls_channel(cli_key, cli_cert)
check(list(punctuate(ch, ["mutual"], timeout=10).text) == ["mutual"],
      "mTLS: a client certificate signed by tls_client_ca: answered")
ch.close()
for what, k, c in (("no client certificate", None, None),
                   ("a certificate from another CA", bad_key, bad_cert)):
    ch = mtls_channel(k, c)
    code, d = code_of(lambda: punctuate(ch, ["x"], timeout=5))
    check(code == grpc.StatusCode.UNAVAILABLE, "mTLS: %s: UNAVAILABLE (%s)" % (what, d[:60]))
    ch.close()
plain = channel(port)
c, d = code_of(lambda: punctuate(plain, ["plain"], timeout=3))
check(c in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
      "mTLS: a plaintext client refused (%s)" % c)
plain.close()
check(stop(gw) == 0, "mTLS gateway exits 0 on SIGTERM")

# tls_client_ca without tls_cert, and a CA file that holds no certificate: start-up errors
for name, env in (("gw-ca-no-cert.log", {"PARLEY_GATEWAY_TLS_CLIENT_CA": ca}),
                  ("gw-ca-bad.log", {"PARLEY_GATEWAY_TLS_CERT": srv_cert,
                                     "PARLEY_GATEWAY_TLS_KEY": srv_key,
                                     "PARLEY_GATEWAY_TLS_CLIENT_CA": srv_key})):
    p = spawn([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--nats", url], name, env=dict(os.environ, **env))
    log = (p.wait(timeout=10), open(os.path.join(TMP, name)).read())
    check(log[0] != 0 and "tls_client_ca" in log[1],
          "%s: the gateway refuses to start naming tls_client_ca" % name)

# a missing certificate file is a start-up error, not a plaintext fallback
p = spawn([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
           "--nats", url], "gw-badtls.log",
          env=dict(os.environ, PARLEY_GATEWAY_TLS_CERT="/nonexistent.pem", PARLEY_GATEWAY_TLS_KEY=key))
check(p.wait(timeout=10) != 0, "missing TLS certificate: the gateway refuses to start")
print("PASS")
