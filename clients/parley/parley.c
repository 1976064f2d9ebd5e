/*
 * parley - the command-line entry point.
 *
 *   parley <command> [args...]   runs parley-<command> [args...]
 *   parley help [command]        this overview, or the command's own --help
 *   parley completion bash       a bash completion script (eval it, or install it)
 *
 * Commands are separate executables next to this one (build/clients/), found
 * through /proc/self/exe, then on PATH; so `parley up`, `parley model` and
 * `parley perf` are built and tested by their own areas. The table below
 * describes the known ones; any other parley-* executable found next to this
 * one is listed too. A command's executable is parley-<command>, unless the
 * table names another (`parley nlu` runs parley-nlu-cli: parley-nlu is the
 * service).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name, *group, *what;
    const char *exe; /* the executable; NULL = parley-<name> */
};

static const struct command commands[] = {
    {"up", "run", "start NATS, the gateway and every service with the shipped models", NULL},
    {"status", "run", "is `parley up`'s stack, or a gateway (--server), up and ready?", NULL},
    {"transcribe", "speech", "speech to text: a file, or --stream it in real time", NULL},
    {"synthesize", "speech", "text to speech into a WAV or Ogg/Opus file; --list-voices", NULL},
    {"chat", "dialog", "talk to the dialog manager, one turn per line (or --audio)", NULL},
    {"ask", "language", "answer a question from a text or the knowledge base", NULL},
    {"nlu", "language", "intent and slots, entities, token tags, punctuation of text",
     "parley-nlu-cli"},
    {"kb", "language", "the knowledge base: add, list, rm, search documents", NULL},
    {"model", "tools", "run a model directory directly: forward pass, tokenize", NULL},
    {"bench", "tools", "engine benchmarks: encoder, GEMM, ASR (against PyTorch, ONNX Runtime)",
     NULL},
    {"perf", "tools", "load test a running gateway (unary RPCs, streams, dialog turns)", NULL},
    {"perf-server", "tools", "a gRPC echo server that `parley perf` measures itself against", NULL},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int valid_command(const char *c) {
    if (!*c || strlen(c) > 64) return 0;
    for (; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) return 0;
    return 1;
}

static int own_dir(char *dir, size_t n) {
    ssize_t len = readlink("/proc/self/exe", dir, n - 1);
    if (len <= 0) return -1;
    dir[len] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) return -1;
    *slash = '\0';
    return 0;
}

static const struct command *known(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

/* Whether file (parley-*) is the executable of a command of the table. */
static int known_exe(const char *file) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].exe ? !strcmp(commands[i].exe, file) : !strcmp(commands[i].name, file + 7))
            return 1;
    return 0;
}

/* Call fn for each parley-* executable next to us that the table does not describe. */
static void each_other(void (*fn)(const char *name, void *ud), void *ud) {
    char dir[PATH_MAX];
    if (own_dir(dir, sizeof dir) != 0) return;
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        char path[PATH_MAX + 256];
        if (strncmp(e->d_name, "parley-", 7) != 0 || known_exe(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (access(path, X_OK) == 0) fn(e->d_name + 7, ud);
    }
    closedir(d);
}

struct others {
    FILE *f;
    int n;
};

static void print_other(const char *name, void *ud) {
    struct others *o = ud;
    if (o->n++ == 0) fprintf(o->f, "\nother commands found next to this program:\n");
    fprintf(o->f, "  %s\n", name);
}

static void usage(FILE *f) {
    fprintf(f, "usage: parley <command> [options]     parley help <command>\n\n"
               "Parley: speech recognition, speech synthesis, language understanding, question\n"
               "answering and dialog, served over gRPC (Riva's API) by `parley up`.\n");
    const char *group = "";
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(group, commands[i].group)) {
            group = commands[i].group;
            fprintf(f, "\n%s:\n", group);
        }
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].what);
    }
    struct others o = {f, 0};
    each_other(print_other, &o);
    fprintf(f, "\nClients reach the gateway with --server HOST:PORT (default 127.0.0.1:50051)\n"
               "and --api-key KEY when it asks for one. Shell completion:\n"
               "  eval \"$(parley completion bash)\"\n");
}

static void word(const char *name, void *ud) { fprintf(ud, " %s", name); }

/* Completes the command name, then each command's options as its --help lists them, and
 * after a command whose usage line starts with modes (`usage: parley nlu intent|entities|...`)
 * the mode. */
static void completion_bash(void) {
    printf("# bash completion for parley: eval \"$(parley completion bash)\"\n"
           "_parley() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} modes\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
           "        COMPREPLY=($(compgen -W \"help completion");
    for (size_t i = 0; i < N_COMMANDS; i++) printf(" %s", commands[i].name);
    each_other(word, stdout);
    printf("\" -- \"$cur\"))\n"
           "    elif [ \"${COMP_WORDS[1]}\" = help ] && [ \"$COMP_CWORD\" -eq 2 ]; then\n"
           "        COMPREPLY=($(compgen -W \"");
    for (size_t i = 0; i < N_COMMANDS; i++) printf("%s%s", i ? " " : "", commands[i].name);
    printf("\" -- \"$cur\"))\n"
           "    elif [ \"$COMP_CWORD\" -eq 2 ] && [[ \"$cur\" != -* ]] &&\n"
           "         modes=$(\"${COMP_WORDS[0]}\" \"${COMP_WORDS[1]}\" --help 2>&1 | sed -n "
           "'1s/^usage: parley [a-z-]* \\([a-z-]*|[a-z|-]*\\) .*/\\1/p' | tr '|' ' ') &&\n"
           "         [ -n \"$modes\" ]; then\n"
           "        COMPREPLY=($(compgen -W \"$modes\" -- \"$cur\"))\n"
           "    elif [[ \"$cur\" == -* ]]; then\n"
           "        local opts\n"
           "        opts=$(\"${COMP_WORDS[0]}\" \"${COMP_WORDS[1]}\" --help 2>&1 | "
           "grep -o -- '--[a-z][a-z0-9-]*' | sort -u)\n"
           "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "    else\n"
           "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
           "    fi\n"
           "}\n"
           "complete -o filenames -F _parley parley\n");
}

static int run(int argc, char **argv) {
    char dir[PATH_MAX], path[PATH_MAX + 80], name[80];
    const char *cmd = argv[1];
    const struct command *k = known(cmd);
    if (k && k->exe) snprintf(name, sizeof name, "%s", k->exe);
    else snprintf(name, sizeof name, "parley-%s", cmd);
    argv[1] = name;
    if (own_dir(dir, sizeof dir) == 0) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (access(path, X_OK) == 0) {
            execv(path, argv + 1);
            fprintf(stderr, "parley: cannot run %s: %s\n", path, strerror(errno));
            return 126;
        }
    }
    execvp(name, argv + 1);
    if (k)
        fprintf(stderr, "parley: '%s' is not built here (build the tree: make build)\n", cmd);
    else
        fprintf(stderr, "parley: unknown command '%s' (see 'parley help')\n", cmd);
    (void)argc;
    return 127;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "completion")) {
        if (argc == 3 && !strcmp(argv[2], "bash")) {
            completion_bash();
            return 0;
        }
        fprintf(stderr, "usage: parley completion bash\n");
        return 2;
    }
    if (!strcmp(argv[1], "help")) { /* parley help CMD -> parley CMD --help */
        if (!valid_command(argv[2])) {
            fprintf(stderr, "parley: '%s' is not a command (see 'parley help')\n", argv[2]);
            return 2;
        }
        char *args[] = {argv[0], argv[2], "--help", NULL};
        return run(3, args);
    }
    if (!valid_command(argv[1])) {
        fprintf(stderr, "parley: '%s' is not a command (see 'parley help')\n", argv[1]);
        return 2;
    }
    return run(argc, argv);
}
