/*
 * parley - the command-line entry point.
 *
 *   parley <command> [args...]   runs parley-<command> [args...]
 *
 * Commands are separate executables next to this one (build/clients/), found
 * through /proc/self/exe, then on PATH; so `parley up`, `parley model` and
 * `parley perf` are built and tested by their own areas.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* List parley-* executables next to us so `parley help` shows what exists. */
static void list_commands(FILE *f) {
    char dir[PATH_MAX];
    if (own_dir(dir, sizeof dir) != 0) return;
    DIR *d = opendir(dir);
    if (!d) return;
    fprintf(f, "commands:\n");
    for (struct dirent *e; (e = readdir(d));) {
        char path[PATH_MAX + 256];
        if (strncmp(e->d_name, "parley-", 7) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (access(path, X_OK) == 0) fprintf(f, "  %s\n", e->d_name + 7);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: parley <command> [args...]\n");
        list_commands(f);
        return argc < 2 ? 2 : 0;
    }
    if (!valid_command(argv[1])) {
        fprintf(stderr, "parley: '%s' is not a command (see 'parley help')\n", argv[1]);
        return 2;
    }

    char dir[PATH_MAX], path[PATH_MAX + 80], name[80];
    snprintf(name, sizeof name, "parley-%s", argv[1]);
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
    fprintf(stderr, "parley: unknown command '%s' (see 'parley help')\n", name + 7);
    return 127;
}
