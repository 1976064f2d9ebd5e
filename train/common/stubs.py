"""The build's generated gRPC stubs (riva.proto.*, made from proto/ into <build>/python).

They are build output, not part of this package, and their modules import each other as
`riva.proto.<name>`, so the `riva` package must resolve to the build's folder. load_stubs
registers that folder as the `riva` package through importlib instead of putting the
folder on sys.path: nothing else in it can shadow an installed or repository module.
With the folder on PYTHONPATH (or riva otherwise importable) it changes nothing.
"""
import importlib
import importlib.machinery
import importlib.util
import os
import sys


def load_stubs(stubs_dir):
    """Import riva.proto from stubs_dir (e.g. build/python); SystemExit when it is missing."""
    if "riva" not in sys.modules and importlib.util.find_spec("riva") is None:
        spec = importlib.machinery.PathFinder.find_spec("riva", [os.path.abspath(stubs_dir)])
        if spec is None:
            raise SystemExit("no generated gRPC stubs (riva/proto) under %s: build the tree first, "
                             "or name the folder with --stubs / --build" % stubs_dir)
        sys.modules["riva"] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module("riva.proto")
    except ImportError as err:
        raise SystemExit("cannot import the gRPC stubs from %s: %s" % (stubs_dir, err))
