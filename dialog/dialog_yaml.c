/*
 * dialog_yaml.c - YAML (or JSON) text -> a tree of maps, sequences and scalars, each with the
 * line it starts on, so that the spec loader can name file, line and key in its errors.
 * Built on libyaml's event parser. Anchors, aliases and tags other than the plain ones are
 * refused: a dialog spec has no use for them and refusing keeps the tree a tree.
 */
#include <string.h>
#include <yaml.h>

#include "alloc.h"
#include "dialog_impl.h"

#define MAX_DEPTH 64

void pl__dy_free(struct pl__dy *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        pl__dy_free(n->items[i]);
        if (n->keys) pl_free(n->keys[i]);
    }
    pl_free(n->items);
    pl_free(n->keys);
    pl_free(n->key_lines);
    pl_free(n->scalar);
    pl_free(n);
}

struct pl__dy *pl__dy_get(const struct pl__dy *m, const char *key) {
    if (!m || m->type != PL__DY_MAP) return NULL;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->items[i];
    return NULL;
}

struct parser {
    yaml_parser_t p;
    const char *name;
};

static pl_status perr(struct parser *ps, int line, const char *what) {
    return PL_ERR(PL_E_FORMAT, "%s:%d: %s", ps->name, line, what);
}

static pl_status next_event(struct parser *ps, yaml_event_t *ev) {
    if (yaml_parser_parse(&ps->p, ev)) return PL_OK;
    return PL_ERR(PL_E_FORMAT, "%s:%d: invalid YAML: %s", ps->name,
                  (int)ps->p.problem_mark.line + 1, ps->p.problem ? ps->p.problem : "?");
}

/* Append child (and key for maps) to parent. */
static pl_status add_child(struct pl__dy *parent, char *key, int key_line, struct pl__dy *child) {
    struct pl__dy **items = pl_realloc(parent->items, (size_t)(parent->n + 1) * sizeof *items);
    if (!items) return PL_ERR(PL_E_NOMEM, "yaml");
    parent->items = items;
    if (parent->type == PL__DY_MAP) {
        char **keys = pl_realloc(parent->keys, (size_t)(parent->n + 1) * sizeof *keys);
        if (!keys) return PL_ERR(PL_E_NOMEM, "yaml");
        parent->keys = keys;
        int *kl = pl_realloc(parent->key_lines, (size_t)(parent->n + 1) * sizeof *kl);
        if (!kl) return PL_ERR(PL_E_NOMEM, "yaml");
        parent->key_lines = kl;
        keys[parent->n] = key;
        kl[parent->n] = key_line;
    }
    items[parent->n++] = child;
    return PL_OK;
}

static pl_status parse_node(struct parser *ps, yaml_event_t *ev, int depth, struct pl__dy **out);

/* The children of a sequence or map whose start event was just read. */
static pl_status parse_children(struct parser *ps, struct pl__dy *n, int depth) {
    for (;;) {
        yaml_event_t ev;
        PL_TRY(next_event(ps, &ev));
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return PL_OK;
        }
        char *key = NULL;
        int key_line = (int)ev.start_mark.line + 1;
        if (n->type == PL__DY_MAP) {
            if (t != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                return perr(ps, key_line, "a map key must be a plain word");
            }
            key = pl_strdup((const char *)ev.data.scalar.value);
            yaml_event_delete(&ev);
            if (!key) return PL_ERR(PL_E_NOMEM, "yaml");
            if (pl__dy_get(n, key)) {
                pl_status st = PL_ERR(PL_E_FORMAT, "%s:%d: %s: duplicate key", ps->name, key_line,
                                      key);
                pl_free(key);
                return st;
            }
            pl_status est = next_event(ps, &ev); /* a syntax error after the key */
            if (est != PL_OK) {
                pl_free(key);
                return est;
            }
        }
        struct pl__dy *child = NULL;
        pl_status st = parse_node(ps, &ev, depth + 1, &child);
        yaml_event_delete(&ev);
        if (st == PL_OK) st = add_child(n, key, key_line, child);
        if (st != PL_OK) {
            pl_free(key);
            pl__dy_free(child);
            return st;
        }
    }
}

/* A node from its first event ev (borrowed; the caller deletes it). */
static pl_status parse_node(struct parser *ps, yaml_event_t *ev, int depth, struct pl__dy **out) {
    *out = NULL;
    int line = (int)ev->start_mark.line + 1;
    if (depth > MAX_DEPTH) return perr(ps, line, "nested too deep");
    if (ev->type == YAML_ALIAS_EVENT) return perr(ps, line, "aliases (*name) are not supported");
    struct pl__dy *n = pl_calloc(1, sizeof *n);
    if (!n) return PL_ERR(PL_E_NOMEM, "yaml");
    n->line = line;
    pl_status st = PL_OK;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor) {
            st = perr(ps, line, "anchors (&name) are not supported");
            break;
        }
        n->type = PL__DY_SCALAR;
        n->scalar = pl_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->scalar) st = PL_ERR(PL_E_NOMEM, "yaml");
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if ((ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                                   : ev->data.mapping_start.anchor)) {
            st = perr(ps, line, "anchors (&name) are not supported");
            break;
        }
        n->type = ev->type == YAML_SEQUENCE_START_EVENT ? PL__DY_SEQ : PL__DY_MAP;
        st = parse_children(ps, n, depth);
        break;
    default:
        st = perr(ps, line, "unexpected YAML event");
    }
    if (st != PL_OK) {
        pl__dy_free(n);
        return st;
    }
    *out = n;
    return PL_OK;
}

/* Skip to the first event of the document's root node. */
static pl_status root_event(struct parser *ps, yaml_event_t *ev) {
    for (;;) {
        PL_TRY(next_event(ps, ev));
        if (ev->type == YAML_STREAM_START_EVENT || ev->type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(ev);
            continue;
        }
        if (ev->type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(ev);
            return PL_ERR(PL_E_FORMAT, "%s: empty document", ps->name);
        }
        return PL_OK;
    }
}

/* After the root node: the end of the document and of the stream (one document only). */
static pl_status end_of_stream(struct parser *ps) {
    yaml_event_t ev;
    PL_TRY(next_event(ps, &ev));
    if (ev.type == YAML_DOCUMENT_END_EVENT) {
        yaml_event_delete(&ev);
        PL_TRY(next_event(ps, &ev));
    }
    pl_status st = PL_OK;
    if (ev.type != YAML_STREAM_END_EVENT)
        st = perr(ps, (int)ev.start_mark.line + 1, "more than one document");
    yaml_event_delete(&ev);
    return st;
}

pl_status pl__dy_parse(const char *name, const char *text, size_t len, struct pl__dy **out) {
    *out = NULL;
    struct parser ps = {.name = name};
    if (!yaml_parser_initialize(&ps.p)) return PL_ERR(PL_E_NOMEM, "yaml parser");
    yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
    yaml_event_t ev;
    struct pl__dy *root = NULL;
    pl_status st = root_event(&ps, &ev);
    if (st == PL_OK) {
        st = parse_node(&ps, &ev, 0, &root);
        yaml_event_delete(&ev);
    }
    if (st == PL_OK) st = end_of_stream(&ps);
    yaml_parser_delete(&ps.p);
    if (st != PL_OK) {
        pl__dy_free(root);
        return st;
    }
    *out = root;
    return PL_OK;
}
