/* test_proto.h - helpers shared by the files of the `proto` test suite (test_proto*.c). */
#ifndef PL_TEST_PROTO_H
#define PL_TEST_PROTO_H

#include <check.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Test cases defined in test_proto_rpc.c and test_proto_c2py.c. */
TCase *pl__proto_rpc_tcase(void);
TCase *pl__proto_malformed_tcase(void);
TCase *pl__proto_c2py_tcase(void);

/* Run tests/proto/wire_vectors.py <mode> <arg> (PL_PYTHON, PYTHONPATH=$PARLEY_BINARY_DIR/python);
 * its exit status, or -1 when it could not run. */
int pl__proto_run_python(const char *mode, const char *arg);

/* mkdtemp under $TMPDIR or /tmp into out (n bytes); 0 on success. */
int pl__proto_make_tmpdir(char *out, size_t n);

/* Remove a directory of plain files. */
void pl__proto_remove_dir(const char *dir);

/* Write len bytes to path; 0 on success. */
int pl__proto_write_file(const char *path, const void *data, size_t len);

/* Lowercase hex of n bytes; caller frees with pl_free. */
char *pl__proto_hex(const uint8_t *p, size_t n);

/* Flattened view of every set field of m (same format as wire_vectors.py flatten()); caller
 * owns (json_decref). *unknown (if not NULL) = unknown fields found anywhere in the tree. */
json_t *pl__proto_flatten(const ProtobufCMessage *m, size_t *unknown);

/* snprintf into an array that must not truncate (paths, field paths). */
#define SNPRINTF(buf, ...)                                                                         \
    do {                                                                                           \
        int snp_r_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                                    \
        ck_assert(snp_r_ >= 0 && (size_t)snp_r_ < sizeof(buf));                                    \
    } while (0)

#endif
