/*
 * gateway_check.c - checks of a request's bytes before the gateway forwards them:
 * the per-rpc size limit (gateway.max_text_request_bytes, max_audio_request_bytes,
 * rpc_max_bytes) and the names a client may give (model, voice, dialog, session and
 * context ids): no path separators, no "..", no NUL, no NATS wildcards or spaces, not
 * overlong - so that no name can reach a file path or change a NATS subject in any
 * process behind the gateway, however it is used there.
 *
 * Names are checked on the protobuf wire bytes, not on the unpacked message: protobuf-c
 * keeps a string only up to its first NUL, which would hide "voice\0../x".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gateway_impl.h"

#define NAME_MAX_BYTES 128
#define MAX_DEPTH 16

/* The string fields that name something the services look up: models, voices, dialog specs,
 * NLU domains, sessions and contexts. */
static const char *const name_fields[] = {"model",  "model_name", "voice_name", "asr_model",
                                          "dialog", "domain",     "domain_str", "session_id",
                                          "context_id"};

static bool is_name_field(const char *f) {
    for (size_t i = 0; i < sizeof name_fields / sizeof name_fields[0]; i++)
        if (strcmp(name_fields[i], f) == 0) return true;
    return false;
}

static bool name_char(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-' || ch == ':' || ch == '@' || ch == '+';
}

const char *pl__gw_name_problem(const char *s, size_t n, char *buf, size_t cap) {
    if (n == 0) return NULL; /* empty: the server's default */
    if (n > NAME_MAX_BYTES) {
        snprintf(buf, cap, "longer than %d bytes (%zu)", NAME_MAX_BYTES, n);
        return buf;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == 0) return "contains a NUL byte";
        if (ch == '/' || ch == '\\') return "contains a path separator";
        if (ch == ' ') return "contains a space";
        if (!name_char(ch)) {
            if (ch > ' ' && ch < 127)
                snprintf(buf, cap, "contains '%c'", ch);
            else
                snprintf(buf, cap, "contains the byte 0x%02x", ch);
            return buf;
        }
        if (ch == '.' && i + 1 < n && s[i + 1] == '.') return "contains '..'";
    }
    if (s[0] == '.') return "starts with '.'";
    return NULL;
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

/* Walk one message's wire bytes; false with why when a name field is bad. Bytes that are not
 * valid protobuf stop the walk with true: the type check or the worker reports them. */
static bool walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth,
                 const char *prefix, char *why, size_t cap) {
    const uint8_t *end = p + n;
    if (depth > MAX_DEPTH) return true;
    while (p < end) {
        uint64_t tag, len;
        if (!varint(&p, end, &tag)) return true;
        const ProtobufCFieldDescriptor *f =
            d ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3)) : NULL;
        switch (tag & 7) {
        case 0:
            if (!varint(&p, end, &len)) return true;
            break;
        case 1:
            if (end - p < 8) return true;
            p += 8;
            break;
        case 5:
            if (end - p < 4) return true;
            p += 4;
            break;
        case 2:
            if (!varint(&p, end, &len) || len > (uint64_t)(end - p)) return true;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && is_name_field(f->name)) {
                char buf[64];
                const char *bad = pl__gw_name_problem((const char *)p, (size_t)len, buf, sizeof buf);
                if (bad) {
                    snprintf(why, cap, "%s%s: %s (a name is 1-%d bytes of A-Z a-z 0-9 . _ - : @ +, "
                             "without '..' or a leading '.')", prefix, f->name, bad, NAME_MAX_BYTES);
                    return false;
                }
            } else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                char sub[128];
                snprintf(sub, sizeof sub, "%s%s.", prefix, f->name);
                if (!walk(f->descriptor, p, (size_t)len, depth + 1, sub, why, cap)) return false;
            }
            p += len;
            break;
        default:
            return true; /* groups (3, 4) and reserved types: not proto3 */
        }
    }
    return true;
}

bool pl__gw_names_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, char *why,
                     size_t cap) {
    if (!d) return true;
    return walk(d, p, n, 0, "", why, cap);
}

/* ---- size limits --------------------------------------------------------------------------- */

static bool audio_rpc(const struct pl_rpc_info *r) {
    static const char *const audio[] = {"recognize", "streaming_recognize", "converse",
                                        "streaming_translate_speech_to_text",
                                        "streaming_translate_speech_to_speech"};
    for (size_t i = 0; i < sizeof audio / sizeof audio[0]; i++)
        if (strcmp(r->rpc, audio[i]) == 0) return true;
    return false;
}

/* One "rpc=bytes" of gateway.rpc_max_bytes into limits[]. */
static pl_status override_one(const char *s, size_t n, struct gw_rpc_max *limits) {
    char item[96];
    if (n >= sizeof item)
        return PL_ERR(PL_E_INVALID_ARG, "gateway.rpc_max_bytes: '%.40s...' is too long", s);
    memcpy(item, s, n);
    item[n] = 0;
    char *eq = strchr(item, '=');
    char *end = NULL;
    long long v = eq ? strtoll(eq + 1, &end, 10) : -1;
    if (!eq || end == eq + 1 || *end || v < 64 || v > (1LL << 30))
        return PL_ERR(PL_E_INVALID_ARG,
                      "gateway.rpc_max_bytes: '%s': expected rpc=bytes with bytes 64..2^30", item);
    *eq = 0;
    bool found = false;
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        if (strcmp(pl_rpc_at(i)->rpc, item) == 0) {
            limits[i].bytes = v;
            limits[i].key = "rpc_max_bytes";
            found = true;
        }
    }
    if (!found)
        return PL_ERR(PL_E_INVALID_ARG,
                      "gateway.rpc_max_bytes: no rpc '%s' (snake-case names: punctuate_text, "
                      "recognize, synthesize, ...)", item);
    return PL_OK;
}

pl_status pl__gw_sizes_init(struct pl_gw *gw) {
    size_t n = pl_rpc_count();
    gw->rpc_max = pl_calloc(n, sizeof *gw->rpc_max);
    if (!gw->rpc_max) return PL_ERR(PL_E_NOMEM, "gateway: out of memory");
    for (size_t i = 0; i < n; i++) {
        bool audio = audio_rpc(pl_rpc_at(i));
        gw->rpc_max[i].bytes =
            audio ? gw->cfg.max_audio_request_bytes : gw->cfg.max_text_request_bytes;
        gw->rpc_max[i].key = audio ? "max_audio_request_bytes" : "max_text_request_bytes";
    }
    const char *s = gw->cfg.rpc_max_bytes;
    while (*s) {
        size_t len = strcspn(s, ",");
        while (len && (*s == ' ')) s++, len--;
        if (len) PL_TRY(override_one(s, len, gw->rpc_max));
        s += len;
        if (*s == ',') s++;
    }
    return PL_OK;
}

int64_t pl__gw_rpc_max(const struct pl_gw *gw, const struct pl_rpc_info *r, const char **key) {
    size_t i = (size_t)(r - pl_rpc_at(0));
    bool known = gw->rpc_max && i < pl_rpc_count();
    *key = known ? gw->rpc_max[i].key : "max_receive_bytes";
    return known ? gw->rpc_max[i].bytes : gw->cfg.max_receive_bytes;
}
