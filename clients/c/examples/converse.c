/*
 * pl-sdk-converse: one text turn with a Parley assistant (parley.dialog.v1 Converse): prints
 * the NLU result, the bot's reply and the dialog's events.
 *
 *   pl-sdk-converse TEXT [--user U] [--session ID] [--dialog NAME] [connection options]
 *
 * Lines: "session ID", "intent NAME SCORE", "slot NAME=VALUE", "bot TEXT", "event N DETAIL".
 * Exit status: 0 ok, 1 the call failed (status and message on stderr), 2 bad usage.
 */
#include "example_common.h"

static int on_message(void *ud, const struct pl_client_converse_msg *m) {
    int *first = ud;
    if (*first) {
        printf("session %s\n", m->session_id);
        *first = 0;
    }
    switch (m->kind) {
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

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    struct pl_client_converse_config cfg = {.include_nlu = true};
    const char *text = NULL;
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--user") && i + 1 < argc) cfg.user_id = argv[++i];
        else if (!strcmp(argv[i], "--session") && i + 1 < argc) cfg.session_id = argv[++i];
        else if (!strcmp(argv[i], "--dialog") && i + 1 < argc) cfg.dialog = argv[++i];
        else if (!text && argv[i][0] != '-') text = argv[i];
        else text = NULL, i = argc;
    }
    if (!text) {
        fprintf(stderr, "usage: pl-sdk-converse TEXT [--user U] [--session ID] [--dialog NAME]\n"
                        CONNECT_USAGE);
        return 2;
    }
    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return report(argv[0], st);
    int first = 1;
    st = pl_client_converse_text(c, &cfg, text, on_message, &first);
    pl_client_close(c);
    return st == PL_OK ? 0 : report(argv[0], st);
}
