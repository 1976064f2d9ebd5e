"""Parley's Python SDK: speech recognition, speech synthesis, language understanding, question
answering and dialog, over the gRPC API of Parley's gateway.

    import parley
    with parley.Client("127.0.0.1:50051") as c:
        print(c.analyze_intent("book a table for four in boston").intent)

Errors: every failed call raises a parley.Error (code, status, message); see parley.errors.
"""
from .client import DEFAULT_TARGET, Client
from .dialog import Conversation
from .errors import (Cancelled, DeadlineExceeded, Error, Internal, InvalidArgument, NotFound,
                     PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable,
                     Unimplemented)
from .results import (Answer, Audio, Encoding, Entity, Event, EventType, Intent, Message,
                      NluResult, RecognitionResult, Slot, Transcript, Turn, Word)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TARGET", "Client", "Conversation",
    "Error", "InvalidArgument", "NotFound", "Unauthenticated", "PermissionDenied",
    "ResourceExhausted", "Unavailable", "DeadlineExceeded", "Cancelled", "Unimplemented",
    "Internal",
    "Answer", "Audio", "Encoding", "Entity", "Event", "EventType", "Intent", "Message",
    "NluResult", "RecognitionResult", "Slot", "Transcript", "Turn", "Word",
]
