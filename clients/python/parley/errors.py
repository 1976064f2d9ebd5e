"""Errors of the Parley SDK: every failed call raises a subclass of :class:`Error` that carries
the gRPC status code and the server's message.

    try:
        client.recognize("clip.wav", model="nope")
    except parley.NotFound as e:
        print(e.code, e.message)   # StatusCode.NOT_FOUND  model 'nope' is not loaded (...)

Mistakes found before a call is made (a bad argument, an unreadable file) raise Python's own
exceptions (ValueError, TypeError, OSError) instead.
"""
from typing import Dict, Optional, Type

import grpc


class Error(Exception):
    """A call the gateway (or the channel to it) ended with a status other than OK.

    Attributes: rpc (the method, e.g. "Recognize"), code (a grpc.StatusCode), status (its
    number, 0..16) and message (the server's words). str(e) is "RPC: CODE: message".
    """

    def __init__(self, rpc: str, code: grpc.StatusCode, message: str):
        self.rpc = rpc
        self.code = code
        self.status: int = code.value[0]
        self.message = message
        super().__init__("%s: %s: %s" % (rpc, code.name, message))


class InvalidArgument(Error):
    """INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE: the request was refused."""


class NotFound(Error):
    """NOT_FOUND: a model, voice, session or context that does not exist."""


class Unauthenticated(Error):
    """UNAUTHENTICATED: no API key, or one the gateway does not know."""


class PermissionDenied(Error):
    """PERMISSION_DENIED."""


class ResourceExhausted(Error):
    """RESOURCE_EXHAUSTED: a limit of the gateway (size, rate, streams) or a full disk."""


class Unavailable(Error):
    """UNAVAILABLE: the gateway or the service behind it is not there (connecting is lazy:
    a wrong address shows here, on the first call)."""


class DeadlineExceeded(Error):
    """DEADLINE_EXCEEDED: the call took longer than its timeout."""


class Cancelled(Error):
    """CANCELLED."""


class Unimplemented(Error):
    """UNIMPLEMENTED: the gateway does not serve this call."""


class Internal(Error):
    """INTERNAL, UNKNOWN, DATA_LOSS, ABORTED, ALREADY_EXISTS: anything else."""


_BY_CODE: Dict[grpc.StatusCode, Type[Error]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def from_rpc_error(rpc: str, e: grpc.RpcError) -> Error:
    """The Error subclass for a failed call's status."""
    code: Optional[grpc.StatusCode] = e.code() if hasattr(e, "code") else None
    if code is None:
        code = grpc.StatusCode.UNKNOWN
    details = e.details() if hasattr(e, "details") else str(e)
    return _BY_CODE.get(code, Internal)(rpc, code, details or "")
