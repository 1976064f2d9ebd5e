"""Build step of the Parley Python SDK: the gRPC stubs of Parley's .proto files are generated
into the package (parley/_proto/...) while the package is built, by grpc_tools.protoc, so no
generated code lives in the repository.

The .proto files are looked for in $PARLEY_PROTO_DIR, then ../../proto (this folder inside a
Parley checkout), then ./proto (a source tree that carries them). The generated modules import
each other as `riva.proto.*` and `parley.dialog.v1.*`; those imports are rewritten to
`parley._proto.riva.proto.*` and `parley._proto.parley.dialog.v1.*`, so the SDK installs no
top-level `riva` package of its own. Metadata lives in pyproject.toml.
"""
import os
import re

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = [
    "riva/proto/riva_audio.proto",
    "riva/proto/riva_common.proto",
    "riva/proto/health.proto",
    "riva/proto/riva_asr.proto",
    "riva/proto/riva_nlp.proto",
    "riva/proto/riva_tts.proto",
    "parley/dialog/v1/dialog.proto",
]
IMPORT = re.compile(r"^from (riva\.proto|parley\.dialog\.v1) import ", re.M)


def proto_dir():
    for d in (os.environ.get("PARLEY_PROTO_DIR"), os.path.join(HERE, "..", "..", "proto"),
              os.path.join(HERE, "proto")):
        if d and all(os.path.exists(os.path.join(d, p)) for p in PROTOS):
            return os.path.abspath(d)
    raise SystemExit("parley: the .proto files (%s, ...) are not in $PARLEY_PROTO_DIR, "
                     "../../proto or ./proto" % PROTOS[0])


def generate(out):
    """Stubs for PROTOS under out/ (the package's _proto folder), imports rewritten."""
    try:
        from grpc_tools import protoc
    except ImportError:
        raise SystemExit("parley: grpc_tools is missing (Debian: apt-get install "
                         "python3-grpc-tools; elsewhere: pip install grpcio-tools)")
    src = proto_dir()
    os.makedirs(out, exist_ok=True)
    argv = ["grpc_tools.protoc", "-I" + src, "--python_out=" + out, "--grpc_python_out=" + out]
    if protoc.main(argv + PROTOS) != 0:
        raise SystemExit("parley: grpc_tools.protoc failed on %s" % src)
    for root, _, files in os.walk(out):
        if root != out:
            open(os.path.join(root, "__init__.py"), "a").close()
        for f in files:
            if f.endswith(".py") and f != "__init__.py":
                path = os.path.join(root, f)
                text = open(path).read()
                open(path, "w").write(IMPORT.sub(r"from parley._proto.\1 import ", text))
    open(os.path.join(out, "__init__.py"), "w").write(
        '"""gRPC stubs generated from Parley\'s .proto files at build time (setup.py)."""\n')


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate(os.path.join(self.build_lib, "parley", "_proto"))


setup(cmdclass={"build_py": BuildWithStubs})
