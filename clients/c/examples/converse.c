/*
 * pl-sdk-converse: one turn with a Parley assistant (parley.dialog.v1 Converse): prints the
 * NLU result, the bot's reply and the dialog's events. The turn is TEXT, or with --audio a WAV
 * file spoken push-to-talk (streamed in 100 ms chunks, then END_OF_UTTERANCE), the reply coming
 * as audio too.
 *
 *   pl-sdk-converse TEXT [--user U] [--session ID] [--dialog NAME] [connection options]
 *   pl-sdk-converse --audio FILE.wav [--user U] [--session ID] [...]
 *
 * Lines: "session ID", "you TRANSCRIPT", "intent NAME SCORE", "slot NAME=VALUE", "bot TEXT",
 * "event N DETAIL", and after an audio turn "reply audio N bytes".
 * Exit status: 0 ok, 1 the call failed (status and message on stderr), 2 bad usage.
 */
#include "example_common.h"

struct turn {
    int first;
    size_t audio_bytes;
};

static int on_message(void *ud, const struct pl_client_converse_msg *m) {
    struct turn *t = ud;
    if (t->first) {
        printf("session %s\n", m->session_id);
        t->first = 0;
    }
    switch (m->kind) {
    case PL_CLIENT_MSG_TRANSCRIPT:
        if (m->is_final) printf("you %s\n", m->text);
        break;
    case PL_CLIENT_MSG_BOT_AUDIO: t->audio_bytes += m->n_audio; break;
    case PL_CLIENT_MSG_NLU:
        printf("intent %s %.3f\n", *m->intent ? m->intent : "-", m->score);
        for (size_t i = 0; i < m->n_slots; i++)
            printf("slot %s=%s\n", m->slots[i].name, m->slots[i].value);
        break;
    case PL_CLIENT_MSG_BOT_TEXT: printf("bot %s\n", m->text); break;
    case PL_CLIENT_MSG_EVENT: printf("event %d %s\n", (int)m->event, m->text); break;
    default: break;
    }
    fflush(stdout);
    return 0;
}

/* A spoken turn: the WAV in 100 ms chunks (its header in the first), what has arrived printed
 * between chunks, then the end of the utterance and the rest of the reply. */
static pl_status audio_turn(struct pl_client *c, struct pl_client_converse_config *cfg,
                            const char *prog, const char *path, struct turn *t) {
    size_t n;
    unsigned char *wav = read_all(prog, path, &n);
    if (!wav) return PL_E_IO;
    cfg->audio_in = true;     /* encoding AUTO: a WAV stream */
    cfg->audio_out = true;
    cfg->out_sample_rate_hz = 16000;
    struct pl_client_stream *s;
    pl_status st = pl_client_converse_open(c, cfg, on_message, t, &s);
    if (st == PL_OK) {
        const size_t chunk = 1600; /* 100 ms of 8 kHz 16-bit mono; more of a faster rate */
        for (size_t off = 0; off < n && st == PL_OK; off += chunk) {
            st = pl_client_stream_send_audio(s, wav + off, n - off < chunk ? n - off : chunk);
            if (st == PL_OK) st = pl_client_stream_poll(s, 0);
        }
        if (st == PL_OK) st = pl_client_stream_end_utterance(s);
        pl_status fin = pl_client_stream_finish(s);
        if (st == PL_OK) st = fin;
        pl_client_stream_destroy(s);
    }
    free(wav);
    return st;
}

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    struct pl_client_converse_config cfg = {.include_nlu = true};
    const char *text = NULL, *audio = NULL;
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--user") && i + 1 < argc) cfg.user_id = argv[++i];
        else if (!strcmp(argv[i], "--session") && i + 1 < argc) cfg.session_id = argv[++i];
        else if (!strcmp(argv[i], "--dialog") && i + 1 < argc) cfg.dialog = argv[++i];
        else if (!strcmp(argv[i], "--audio") && i + 1 < argc) audio = argv[++i];
        else if (!text && argv[i][0] != '-') text = argv[i];
        else text = NULL, i = argc;
    }
    if (!text == !audio) {
        fprintf(stderr, "usage: pl-sdk-converse TEXT|--audio FILE.wav [--user U] [--session ID] "
                        "[--dialog NAME]\n" CONNECT_USAGE);
        return 2;
    }
    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return report(argv[0], st);
    struct turn t = {.first = 1};
    if (audio) {
        st = audio_turn(c, &cfg, argv[0], audio, &t);
        if (st == PL_OK) printf("reply audio %zu bytes\n", t.audio_bytes);
    } else {
        st = pl_client_converse_text(c, &cfg, text, on_message, &t);
    }
    pl_client_close(c);
    if (st == PL_E_IO) return 2;
    return st == PL_OK ? 0 : report(argv[0], st);
}
