/*
 * backend.c - the backend registry and the pl_backend_*() wrappers.
 *
 * This is the only engine file outside engine/cuda/ that may test PL_CUDA
 * (STYLE.md section 1): it is compiled with PL_CUDA defined when the CUDA
 * backend library is linked.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend_impl.h"

pl_status pl_backend_create(const char *name, struct pl_backend **out) {
    return pl_backend_create_threads(name, 0, out);
}

pl_status pl_backend_create_threads(const char *name, int n_threads, struct pl_backend **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_backend_create: NULL out");
    *out = NULL;
    if (!name) return PL_ERR(PL_E_INVALID_ARG, "pl_backend_create: NULL name");
    if (n_threads < 0 || n_threads > 256)
        return PL_ERR(PL_E_INVALID_ARG, "pl_backend_create: %d threads (0..256)", n_threads);
    if (strcmp(name, "cpu") == 0) return pl__backend_cpu_create(false, n_threads, out);
    if (strcmp(name, "cpu-ref") == 0) return pl__backend_cpu_create(true, n_threads, out);
    if (strncmp(name, "cuda", 4) == 0 && (name[4] == '\0' || name[4] == ':')) {
        int dev = 0;
        if (name[4] == ':') {
            char *end;
            long v = strtol(name + 5, &end, 10);
            if (end == name + 5 || *end || v < 0 || v > 1024)
                return PL_ERR(PL_E_INVALID_ARG, "backend '%s': bad device number", name);
            dev = (int)v;
        }
#ifdef PL_CUDA
        return pl_backend_cuda_create(dev, out);
#else
        PL_UNUSED(dev);
        return PL_ERR(PL_E_UNSUPPORTED, "backend '%s': Parley was built without CUDA", name);
#endif
    }
    return PL_ERR(PL_E_INVALID_ARG, "unknown backend '%s' (cpu, cpu-ref, cuda[:N])", name);
}

void pl_backend_destroy(struct pl_backend *be) {
    if (be && be->iface.destroy) be->iface.destroy(be);
}

const char *pl_backend_name(const struct pl_backend *be) { return be->iface.name(be); }
bool pl_backend_is_host(const struct pl_backend *be) { return be->iface.is_host; }

pl_status pl_backend_buffer_alloc(struct pl_backend *be, size_t n, struct pl_buffer **out) {
    *out = NULL;
    return be->iface.buffer_alloc(be, n, out);
}

pl_status pl_backend_buffer_from_host(struct pl_backend *be, void *ptr, size_t n,
                                      struct pl_buffer **out) {
    *out = NULL;
    if (!be->iface.buffer_from_host)
        return PL_ERR(PL_E_UNSUPPORTED, "backend %s cannot wrap host memory", pl_backend_name(be));
    return be->iface.buffer_from_host(be, ptr, n, out);
}

void pl_buffer_free(struct pl_buffer *buf) {
    if (buf && buf->iface.free) buf->iface.free(buf);
}
size_t pl_buffer_size(const struct pl_buffer *buf) { return buf->size; }
void *pl_buffer_base(const struct pl_buffer *buf) { return buf->base; }

static pl_status check_range(const struct pl_tensor *t, size_t off, size_t n) {
    if (!t->buffer || !t->data) return PL_ERR(PL_E_INVALID_ARG, "tensor %s is not placed", t->name);
    size_t nb = pl_tensor_nbytes(t);
    if (off > nb || n > nb - off)
        return PL_ERR(PL_E_INVALID_ARG, "tensor %s: range %zu+%zu outside its %zu bytes", t->name,
                      off, n, nb);
    return PL_OK;
}

pl_status pl_backend_tensor_set(struct pl_backend *be, struct pl_tensor *t, const void *src,
                                size_t off, size_t n) {
    PL_TRY(check_range(t, off, n));
    if (n == 0) return PL_OK;
    return be->iface.tensor_set(be, t, src, off, n);
}

pl_status pl_backend_tensor_get(struct pl_backend *be, const struct pl_tensor *t, void *dst,
                                size_t off, size_t n) {
    PL_TRY(check_range(t, off, n));
    if (n == 0) return PL_OK;
    return be->iface.tensor_get(be, t, dst, off, n);
}

bool pl_backend_supports_op(const struct pl_backend *be, const struct pl_tensor *op) {
    return be->iface.supports_op(be, op);
}

pl_status pl_backend_graph_compute(struct pl_backend *be, struct pl_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct pl_tensor *t = g->nodes[i];
        if (!t->data) return PL_ERR(PL_E_INVALID_ARG, "graph node %d (%s) is not placed", i,
                                    pl_op_name(t->op));
        for (int s = 0; s < PL_MAX_SRC; s++)
            if (t->src[s] && !t->src[s]->data)
                return PL_ERR(PL_E_INVALID_ARG, "graph node %d (%s): source %d (%s) not placed", i,
                              pl_op_name(t->op), s, t->src[s]->name);
        if (!be->iface.supports_op(be, t))
            return PL_ERR(PL_E_UNSUPPORTED, "backend %s does not support op %s (node %d, %s)",
                          pl_backend_name(be), pl_op_name(t->op), i, t->name);
    }
    return be->iface.graph_compute(be, g);
}

pl_status pl_backend_synchronize(struct pl_backend *be) {
    return be->iface.synchronize ? be->iface.synchronize(be) : PL_OK;
}
