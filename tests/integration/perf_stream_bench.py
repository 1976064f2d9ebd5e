"""Streaming ASR benchmark with the C client: nats-server + parley-asr + gateway on free
127.0.0.1 ports (as tests/integration/asr_stream_bench.py starts them), then
`parley perf --stream --target <gateway> ARGS...` (clients/perf/perf_stream.c).

  /usr/bin/python3 tests/integration/perf_stream_bench.py --build BUILD [--model-dir models]
      [--threads 4] [--clip LJ001-0010] -- [parley perf --stream options]

Without --audio in the perf options, the clip from PARLEY_DATA_DIR's LJ Speech subset is sent.
"""
import argparse
import os
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model-dir", default=os.path.join(SRC, "models"))
    ap.add_argument("--threads", type=int, default=4, help="parley-asr handler threads")
    ap.add_argument("--clip", default="LJ001-0010")
    ap.add_argument("perf", nargs=argparse.REMAINDER, help="-- then parley perf --stream options")
    a = ap.parse_args()
    perf_args = a.perf[1:] if a.perf[:1] == ["--"] else a.perf
    os.environ.setdefault("PL_ASR", os.path.join(a.build, "services", "asr", "parley-asr"))
    os.environ.setdefault("PL_GATEWAY", os.path.join(a.build, "services", "gateway", "parley-gateway"))
    os.environ.setdefault("PL_PYTHON_STUBS", os.path.join(a.build, "python"))
    os.environ.setdefault("PL_SOURCE_DIR", SRC)
    os.environ.setdefault("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
    import gwtest as g
    import asr_test_service as svc

    _, nats_url = g.start_nats()
    _, _, n_models, _ = svc.start_asr(nats_url, a.model_dir,
                                      {"PARLEY_ASR_HANDLER_THREADS": str(a.threads)})
    assert n_models >= 1, "no model in %s" % a.model_dir
    _, port, _ = g.start_gateway(nats_url)
    cmd = [os.path.join(a.build, "clients", "parley"), "perf", "--stream",
           "--target", "127.0.0.1:%d" % port]
    if "--audio" not in perf_args:
        cmd += ["--audio", os.path.join(os.environ["PARLEY_DATA_DIR"], "speech", "ljspeech-subset",
                                        "wavs", a.clip + ".flac")]
    rc = subprocess.call(cmd + perf_args)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # only the client has been waited for
    print("client CPU: %.2f s user + %.2f s system" % (ru.ru_utime, ru.ru_stime), flush=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
