/*
 * perf_stream.h - `parley perf --stream`: N parallel StreamingRecognize streams of one
 * recording through the gateway, per-chunk and final latency, and the largest N that stays
 * real time (perf_stream.c; the measurements are defined in perf_stats.h).
 */
#ifndef PL_PERF_STREAM_H
#define PL_PERF_STREAM_H

/* Run the streaming benchmark with the command line of `parley perf --stream ...` (argv[0] is
 * the program; "--stream" may appear anywhere). Prints a table on stdout, errors on stderr.
 * Returns the exit status: 0 every stream ended OK, 1 a stream failed (its gRPC status and
 * message are printed) or the run could not start, 2 bad arguments or unusable audio.
 * Not thread-safe (call once, from main); calls grpc_init()/grpc_shutdown() itself. */
int pl_perf_stream_main(int argc, char **argv);

#endif
