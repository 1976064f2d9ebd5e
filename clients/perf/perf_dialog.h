/*
 * perf_dialog.h - `parley perf --dialog`: N users, each with its own session on one Converse
 * stream, say the turns of a conversation through the gateway to parley-dialog; turns/s and
 * turn latency percentiles (perf_dialog.c).
 */
#ifndef PL_PERF_DIALOG_H
#define PL_PERF_DIALOG_H

/* Run the dialog benchmark with the command line of `parley perf --dialog ...` (argv[0] is the
 * program; "--dialog" may appear anywhere). Prints a summary and a "RESULT key=value ..." line
 * on stdout. Returns the exit status: 0 when turns were answered, 1 when none was (the first
 * error is printed) or the run could not start, 2 on bad arguments.
 * Not thread-safe (call once, from main); calls grpc_init()/grpc_shutdown() itself. */
int pl_perf_dialog_main(int argc, char **argv);

#endif
