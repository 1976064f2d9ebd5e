#!/usr/bin/python3
"""Wire-compatibility vectors between Python protobuf and protobuf-c (tests/unit/test_proto.c).

Run with Debian's /usr/bin/python3 and PYTHONPATH=<build>/python (the stubs generated from
Parley's own .proto files at build time).

  wire_vectors.py write DIR   For each case: DIR/<case>.bin (the serialized message) and
                              DIR/<case>.json ({"module", "message", "fields"}), where "fields"
                              is the flattened view of every field that is set (see flatten()).
                              DIR/cases.txt lists the case names, one a line.
  wire_vectors.py rpcs FILE   Every RPC of every service of the .proto files, one a line:
                              "<path> <client_streaming 0/1> <server_streaming 0/1>".
  wire_vectors.py reference FILE
                              Compare the messages, fields, enums and RPCs of our Riva .proto
                              files with the golden transcription of Riva's API in FILE
                              (tests/proto/riva_reference.txt, see make_riva_reference.py).
  wire_vectors.py check DIR   For each DIR/<case>.json written by the C side: parse <case>.bin
                              with the named Python class, compare its flattened view with
                              "fields", check the "present"/"absent" field paths with HasField,
                              and require that Python re-serializes it (deterministic) to the
                              same bytes. Exit status 0 = all agree; 1 = mismatch (printed).

Flattened view (the C test builds the same from protobuf-c's descriptors):
  "a.b"        scalar value (int, float as the exact float32/double value, bool, enum number,
               string, bytes as lowercase hex); set when non-default, or when a oneof member
  "a.m"        "<msg>" for a present sub-message, whose fields follow as "a.m.x"
  "a.r#"       number of elements of a repeated field; elements are "a.r[0]", "a.r[1].x", ...
  "a.map{k}"   value of map key k (maps also get "a.map#")
"""
import importlib
import json
import math
import os
import struct
import sys

from google.protobuf.descriptor import FieldDescriptor

from riva.proto import health_pb2, riva_asr_pb2, riva_audio_pb2, riva_nlp_pb2, riva_tts_pb2
from parley.dialog.v1 import dialog_pb2


def scalar(fd, v):
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return v.hex()
    if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return float(v)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return bool(v)
    return v


def flatten(msg, prefix="", out=None):
    if out is None:
        out = {}
    for fd, value in msg.ListFields():
        path = prefix + fd.name
        is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
        if is_map:
            vfd = fd.message_type.fields_by_name["value"]
            out[path + "#"] = len(value)
            for k in value:
                kp = "%s{%s}" % (path, k)
                if vfd.message_type is not None:
                    out[kp] = "<msg>"
                    flatten(value[k], kp + ".", out)
                else:
                    out[kp] = scalar(vfd, value[k])
        elif fd.label == FieldDescriptor.LABEL_REPEATED:
            out[path + "#"] = len(value)
            for i, v in enumerate(value):
                ep = "%s[%d]" % (path, i)
                if fd.message_type is not None:
                    out[ep] = "<msg>"
                    flatten(v, ep + ".", out)
                else:
                    out[ep] = scalar(fd, v)
        elif fd.message_type is not None:
            out[path] = "<msg>"
            flatten(value, path + ".", out)
        else:
            out[path] = scalar(fd, value)
    return out


def f32(x):
    """x rounded to float32, as Python sees it after a float field stores it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def pcm_sine(n, freq=440.0, rate=16000):
    return b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate)))
                    for i in range(n))


def recognition_config():
    c = riva_asr_pb2.RecognitionConfig(
        encoding=riva_audio_pb2.LINEAR_PCM,
        sample_rate_hertz=16000,
        language_code="en-US",
        max_alternatives=3,
        profanity_filter=True,
        audio_channel_count=1,
        enable_word_time_offsets=True,
        enable_automatic_punctuation=True,
        model="parley-asr-en",
        verbatim_transcripts=True,
    )
    c.speech_contexts.add(phrases=["Parley", "NATS server"], boost=12.5)
    c.speech_contexts.add(phrases=["Zürich"], boost=4.0)
    c.diarization_config.enable_speaker_diarization = True
    c.diarization_config.max_speaker_count = 2
    c.custom_configuration["beam_size"] = "8"
    c.custom_configuration["lm.weight"] = "0.5"
    ep = c.endpointing_config
    ep.start_history = 0          # explicitly 0: presence must survive
    ep.start_threshold = 0.0      # explicitly 0.0
    ep.stop_history = 800
    ep.stop_threshold = 0.9
    ep.stop_threshold_eou = 0.25  # stop_history_eou stays unset
    return c


def cases():
    out = {}

    m = riva_asr_pb2.StreamingRecognizeRequest()
    m.streaming_config.config.CopyFrom(recognition_config())
    m.streaming_config.interim_results = True
    m.id.value = "3f2a9c1e-0b6d-4e57-9a41-5d0c2b7e8f10"
    out["asr_streaming_config"] = m

    # A map entry whose value is the default (""): Python writes the value field inside the
    # entry, protobuf-c leaves it out. Both are valid encodings of the same map, so protobuf-c's
    # re-pack is 2 bytes shorter: this case is compared by value, not byte for byte.
    m = riva_asr_pb2.StreamingRecognizeRequest()
    m.streaming_config.config.custom_configuration["left_context"] = ""
    m.streaming_config.config.custom_configuration["beam_size"] = "8"
    out["asr_map_empty_value"] = m

    m = riva_asr_pb2.StreamingRecognizeRequest(audio_content=pcm_sine(1600))
    out["asr_streaming_audio"] = m

    # audio_content explicitly empty: a oneof member, so still present on the wire
    out["asr_streaming_audio_empty"] = riva_asr_pb2.StreamingRecognizeRequest(audio_content=b"")

    m = riva_asr_pb2.RecognizeRequest(audio=b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)))
    m.config.CopyFrom(recognition_config())
    m.config.ClearField("endpointing_config")
    m.id.value = "req-100"
    out["asr_recognize"] = m

    m = riva_asr_pb2.StreamingRecognizeResponse()
    r = m.results.add(is_final=False, stability=0.5, channel_tag=0, audio_processed=1.28)
    r.alternatives.add(transcript="to be a", confidence=0.0)
    r.pipeline_states.vad_probabilities.extend([0.0, 0.125, 0.9, 1.0])
    r = m.results.add(is_final=True, audio_processed=2.56)
    a = r.alternatives.add(transcript="to be or not to be", confidence=-1.5)
    a.words.add(start_time=0, end_time=200, word="to", confidence=-0.1, speaker_tag=1)
    a.words.add(start_time=200, end_time=410, word="be", confidence=-0.2, language_code="en-US")
    a.language_code.append("en-US")
    r.alternatives.add(transcript="two bee or knot two bee", confidence=-3.25)
    m.id.value = "resp-1"
    out["asr_streaming_response"] = m

    m = riva_asr_pb2.RivaSpeechRecognitionConfigResponse()
    c = m.model_config.add(model_name="parley-asr-en")
    c.parameters["type"] = "online"
    c.parameters["language_code"] = "en-US"
    m.model_config.add(model_name="empty-model")
    out["asr_config_response"] = m

    m = riva_nlp_pb2.AnalyzeIntentRequest(query="book a flight to Paris tomorrow")
    m.options.previous_intent = "greet"
    m.options.domain = "travel"
    m.options.lang = "en-US"
    m.id.value = "nlu-7"
    out["nlp_analyze_intent"] = m

    # context oneof set to an empty message: only its presence is on the wire
    m = riva_nlp_pb2.AnalyzeIntentRequest(query="and in Berlin?")
    m.options.vectors.SetInParent()
    out["nlp_analyze_intent_vectors"] = m

    # a oneof string member set to "": present, zero length
    m = riva_nlp_pb2.AnalyzeIntentRequest(query="yes")
    m.options.previous_intent = ""
    out["nlp_analyze_intent_empty_previous"] = m

    m = riva_nlp_pb2.TokenClassResponse()
    seq = m.results.add()
    v = seq.results.add(token="Paris")
    v.label.add(class_name="LOC", score=0.98)
    v.span.add(start=17, end=22)
    v = seq.results.add(token="tomorrow")
    v.label.add(class_name="DATE", score=0.7)
    v.label.add(class_name="O", score=0.2)
    v.span.add(start=23, end=31)
    m.results.add()  # a text with no entities: an empty sequence still counts
    m.id.value = "ner-1"
    out["nlp_token_class_response"] = m

    m = riva_nlp_pb2.NaturalQueryRequest(query="Who wrote it?", top_n=2,
                                         context="It was written by Ada in 1843.")
    out["nlp_natural_query"] = m

    m = riva_tts_pb2.SynthesizeSpeechRequest(
        text="Hello, world. ¿Qué tal?", language_code="en-US",
        encoding=riva_audio_pb2.LINEAR_PCM, sample_rate_hz=44100, voice_name="parley-en.Female-1",
        custom_dictionary="Parley  P AA1 R L IY0,NATS  N AE1 T S")
    m.zero_shot_data.audio_prompt = pcm_sine(320, 220.0)
    m.zero_shot_data.sample_rate_hz = 22050
    m.zero_shot_data.encoding = riva_audio_pb2.OGGOPUS
    m.zero_shot_data.quality = 20
    m.zero_shot_data.transcript = "a prompt"
    m.id.value = "tts-1"
    out["tts_synthesize_request"] = m

    m = riva_tts_pb2.SynthesizeSpeechResponse(audio=pcm_sine(2000, 330.0, 22050))
    m.meta.text = "Dr. Smith paid $5."
    m.meta.processed_text = "doctor smith paid five dollars."
    m.meta.predicted_durations.extend([3.0, 1.5, 0.0, 7.25, 12.0])
    m.id.value = "tts-1"
    out["tts_synthesize_response"] = m

    out["health_request"] = health_pb2.HealthCheckRequest(service="nvidia.riva.asr.RivaSpeechRecognition")
    out["health_response"] = health_pb2.HealthCheckResponse(
        status=health_pb2.HealthCheckResponse.SERVING)

    m = dialog_pb2.ConverseRequest()
    c = m.config
    c.session_id = ""
    c.user_id = "alice"
    c.dialog = "travel"
    c.language_code = "en-GB"
    c.context_id = "9d0c5a2b7e1f4c3a8b6d0e2f1a3c5b7d"
    c.input_audio.encoding = riva_audio_pb2.LINEAR_PCM
    c.input_audio.sample_rate_hertz = 48000
    c.input_audio.server_endpointing = True
    c.output_audio.encoding = riva_audio_pb2.LINEAR_PCM
    c.output_audio.sample_rate_hz = 22050
    c.output_audio.voice_name = "parley-en"
    c.interim_results = True
    c.include_nlu = True
    m.id.value = "dlg-1"
    out["dialog_converse_config"] = m

    out["dialog_converse_text"] = dialog_pb2.ConverseRequest(
        text=dialog_pb2.TextInput(text="book a table for two"))

    m = dialog_pb2.ConverseResponse(session_id="s1", context_id="c1", turn=3)
    m.nlu.text = "book a flight to Paris tomorrow"
    m.nlu.intent.name = "book_flight"
    m.nlu.intent.score = 0.93
    m.nlu.alternatives.add(name="book_hotel", score=0.04)
    m.nlu.slots.add(name="destination", value="Paris", score=0.97, start=17, end=22)
    m.nlu.slots.add(name="date", value="tomorrow", score=0.88, start=23, end=31)
    out["dialog_converse_nlu"] = m

    m = dialog_pb2.ConverseResponse(session_id="s1", context_id="c1", turn=3)
    m.event.type = dialog_pb2.EVENT_SLOT_SET
    m.event.detail = "destination = Paris"
    m.event.attributes["slot"] = "destination"
    m.event.attributes["value"] = "Paris"
    out["dialog_converse_event"] = m
    return out


# Cases whose protobuf-c re-pack is a different (equally valid) encoding; see cases().
REPACK_DIFFERS = {"asr_map_empty_value"}


def write(outdir):
    names = []
    for name, msg in cases().items():
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(msg.SerializeToString())
        meta = {
            "full_name": msg.DESCRIPTOR.full_name,
            "module": type(msg).__module__,
            "message": type(msg).__name__,
            "fields": flatten(msg),
            "repack_identical": name not in REPACK_DIFFERS,
        }
        with open(os.path.join(outdir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1, sort_keys=True)
        names.append(name)
    with open(os.path.join(outdir, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    return 0


def has_path(msg, path):
    """HasField along a dotted path of singular fields ("a.b.c")."""
    parts = path.split(".")
    for p in parts[:-1]:
        if not msg.HasField(p):
            return False
        msg = getattr(msg, p)
    return msg.HasField(parts[-1])


def check(indir):
    bad = 0
    names = sorted(f[:-5] for f in os.listdir(indir) if f.endswith(".json"))
    if not names:
        print("no C vectors in", indir)
        return 1
    for name in names:
        bad_before = bad
        with open(os.path.join(indir, name + ".json"), encoding="utf-8") as f:
            meta = json.load(f)
        with open(os.path.join(indir, name + ".bin"), "rb") as f:
            data = f.read()
        cls = getattr(importlib.import_module(meta["module"]), meta["message"])
        msg = cls()
        try:
            msg.ParseFromString(data)
        except Exception as e:  # DecodeError
            print("%s: Python cannot parse the C bytes: %s" % (name, e))
            bad += 1
            continue
        got = flatten(msg)
        want = meta["fields"]
        for k in sorted(set(got) | set(want)):
            if got.get(k) != want.get(k):
                print("%s: %s: python %r, C %r" % (name, k, got.get(k), want.get(k)))
                bad += 1
        for p in meta.get("present", []):
            if not has_path(msg, p):
                print("%s: %s should be present" % (name, p))
                bad += 1
        for p in meta.get("absent", []):
            if has_path(msg, p):
                print("%s: %s should be absent" % (name, p))
                bad += 1
        again = msg.SerializeToString(deterministic=True)
        if again != data:
            print("%s: Python re-serializes to different bytes (%d vs %d bytes)"
                  % (name, len(again), len(data)))
            bad += 1
        print("%s: %s" % (name, "ok" if bad == bad_before else "MISMATCH"))
    return 1 if bad else 0


def rpcs(outfile):
    from riva.proto import riva_nmt_pb2
    lines = []
    for mod in (riva_asr_pb2, riva_nlp_pb2, riva_tts_pb2, riva_nmt_pb2, health_pb2, dialog_pb2):
        for svc in mod.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                lines.append("/%s/%s %d %d" % (svc.full_name, m.name, m.client_streaming,
                                                m.server_streaming))
    with open(outfile, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double", FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64", FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32", FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32", FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64", FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}


def type_name(fd):
    if fd.message_type is not None:
        return fd.message_type.full_name
    if fd.enum_type is not None:
        return fd.enum_type.full_name
    return SCALARS[fd.type]


def describe_message(md, out):
    """Lines of the reference format for md and its nested types (map entries excluded)."""
    out.add("message %s" % md.full_name)
    for fd in md.fields:
        typ, label = type_name(fd), "-"
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            k = fd.message_type.fields_by_name["key"]
            v = fd.message_type.fields_by_name["value"]
            typ, label = "map<%s,%s>" % (type_name(k), type_name(v)), "map"
        elif fd.label == FieldDescriptor.LABEL_REPEATED:
            label = "repeated"
        elif fd.containing_oneof is not None:
            o = fd.containing_oneof
            # our rewrite of proto3 `optional T f`: a one-field oneof named _f
            if o.name == "_" + fd.name and len(o.fields) == 1:
                label = "optional"
            else:
                label = "oneof:" + o.name
        out.add("field %s %d %s %s %s" % (md.full_name, fd.number, fd.name, typ, label))
    for nested in md.nested_types:
        if not nested.GetOptions().map_entry:
            describe_message(nested, out)
    for ed in md.enum_types:
        for v in ed.values:
            out.add("enum %s %s=%d" % (ed.full_name, v.name, v.number))


def normalize(line):
    # `optional` on a message-typed field is presence the field has anyway: our files drop it
    p = line.split()
    if p[0] == "field" and p[5] == "optional" and "." in p[4] and p[4] not in ENUMS:
        p[5] = "-"
    return " ".join(p)


ENUMS = {"nvidia.riva.AudioEncoding", "grpc.health.v1.HealthCheckResponse.ServingStatus"}


def reference(golden):
    from riva.proto import riva_common_pb2, riva_nmt_pb2
    ours = set()
    for mod in (riva_audio_pb2, riva_common_pb2, health_pb2, riva_asr_pb2, riva_nlp_pb2,
                riva_tts_pb2, riva_nmt_pb2):
        fdesc = mod.DESCRIPTOR
        for md in fdesc.message_types_by_name.values():
            describe_message(md, ours)
        for ed in fdesc.enum_types_by_name.values():
            for v in ed.values:
                ours.add("enum %s %s=%d" % (ed.full_name, v.name, v.number))
        for svc in fdesc.services_by_name.values():
            for m in svc.methods:
                kind = {(False, False): "unary", (False, True): "server-streaming",
                        (True, False): "client-streaming", (True, True): "bidi-streaming"}[
                    (m.client_streaming, m.server_streaming)]
                ours.add("rpc /%s/%s %s %s %s" % (svc.full_name, m.name, m.input_type.full_name,
                                                  m.output_type.full_name, kind))
    with open(golden, encoding="utf-8") as f:
        want = {normalize(l.strip()) for l in f if l.strip() and not l.startswith("#")}
    ours = {normalize(l) for l in ours}
    bad = 0
    for l in sorted(want - ours):
        print("missing or different in our .proto files: " + l)
        bad += 1
    for l in sorted(ours - want):
        print("not in Riva's API: " + l)
        bad += 1
    print("reference: %d lines compared, %d differences" % (len(want), bad))
    return 1 if bad else 0


def main(argv):
    modes = {"write": write, "check": check, "rpcs": rpcs, "reference": reference}
    if len(argv) != 3 or argv[1] not in modes:
        print(__doc__)
        return 2
    return modes[argv[1]](argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
