/* graph.cu - capture a sequence of launches on the context's stream into a
 * CUDA graph and replay it: one launch instead of dozens of kernel and
 * cuBLAS launches, which is what bounds small-batch latency.
 *
 * Capture records device addresses, including pool blocks. Replays run on
 * the same stream as everything else, in order, so a pool block the graph
 * uses may serve other work between replays; but the pool must keep its
 * blocks, so pl_cuda_pool_trim() does nothing while a graph exists. Warm the
 * pool (run the same sequence once) before capturing: cudaMalloc is not
 * allowed during capture and fails the capture with PL_E_BACKEND. */
#include "cuda_impl.h"

struct pl_cuda_graph {
    struct pl_cuda_ctx *ctx;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
};

extern "C" pl_status pl_cuda_capture_begin(struct pl_cuda_ctx *ctx) {
    PL_TRY(pl__cuda_enter(ctx, PL_CUDA_F32, "capture_begin"));
    if (ctx->capturing) return PL_ERR(PL_E_INVALID_ARG, "cuda capture: already capturing");
    PL_CUDA_CHECK(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal));
    ctx->capturing = true;
    return PL_OK;
}

extern "C" pl_status pl_cuda_capture_end(struct pl_cuda_ctx *ctx, struct pl_cuda_graph **out) {
    struct pl_cuda_graph *g = NULL;
    cudaGraph_t graph = NULL;
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda capture_end: out is NULL");
    *out = NULL;
    PL_TRY(pl__cuda_enter(ctx, PL_CUDA_F32, "capture_end"));
    if (!ctx->capturing) return PL_ERR(PL_E_INVALID_ARG, "cuda capture_end: not capturing");
    ctx->capturing = false;
    cudaError_t e = cudaStreamEndCapture(ctx->stream, &graph);
    if (e != cudaSuccess || !graph) {
        (void)cudaGetLastError();
        if (graph) (void)cudaGraphDestroy(graph);
        return PL_ERR(PL_E_BACKEND, "cuda capture failed: %s (a launch inside it failed, or "
                      "it needed a cudaMalloc: warm the pool first)", cudaGetErrorString(e));
    }
    g = (struct pl_cuda_graph *)pl_calloc(1, sizeof *g);
    if (!g) {
        (void)cudaGraphDestroy(graph);
        return PL_ERR(PL_E_NOMEM, "cuda graph: out of memory");
    }
    g->ctx = ctx;
    g->graph = graph;
    e = cudaGraphInstantiate(&g->exec, graph, 0);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        (void)cudaGraphDestroy(graph);
        pl_free(g);
        return PL_ERR(PL_E_BACKEND, "cudaGraphInstantiate: %s", cudaGetErrorString(e));
    }
    ctx->n_graphs++;
    *out = g;
    return PL_OK;
}

extern "C" pl_status pl_cuda_graph_launch(struct pl_cuda_graph *g) {
    if (!g) return PL_ERR(PL_E_INVALID_ARG, "cuda graph_launch: graph is NULL");
    PL_TRY(pl__cuda_enter(g->ctx, PL_CUDA_F32, "graph_launch"));
    PL_CUDA_CHECK(cudaGraphLaunch(g->exec, g->ctx->stream));
    return PL_OK;
}

extern "C" void pl_cuda_graph_destroy(struct pl_cuda_graph *g) {
    if (!g) return;
    (void)cudaSetDevice(g->ctx->dev);
    (void)cudaStreamSynchronize(g->ctx->stream);
    if (g->exec) (void)cudaGraphExecDestroy(g->exec);
    if (g->graph) (void)cudaGraphDestroy(g->graph);
    g->ctx->n_graphs--;
    pl_free(g);
}
