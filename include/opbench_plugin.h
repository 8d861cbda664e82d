/*
 * opbench_plugin.h: the C ABI an external kernel implements to run inside OpBench.
 *
 * A plugin is a shared library exporting one function, `opbench_plugin_entry`, that returns a
 * static table: the ABI version it was built against, the plugin's name and one descriptor per
 * variant. OpBench loads it with `--plugin PATH.so` (or OPBENCH_PLUGIN=a.so:b.so) and its
 * variants appear everywhere the built-in ones do, as `<op>.<plugin>.<name>`: list, verify
 * (against the fp64 reference, same bounds), bench, compare, gate, report, model plans.
 *
 * Rules a kernel keeps:
 * - All matrices are fp32, row-major, with a row stride (in elements) >= the row length.
 *   Output never partly overlaps an input (softmax and the norms may get y == x exactly).
 * - `threads` is how many threads the case is measured at (1..256). The kernel makes that many
 *   run (its own pthreads, OpenMP, a vendor runtime) or declares `max_threads`; OpBench never
 *   calls it with more.
 * - Return OPBENCH_OK, or another status with a NUL-terminated message of at most
 *   `message_size` bytes (including the NUL) in `message`. OpBench reports it as
 *   `<op>.<plugin>.<name>: <message>` and exits 2; it never retries with another variant.
 * - The call may be repeated many times on the same buffers (that is how it is timed) and
 *   from any thread, never concurrently with itself.
 * - A kernel that crashes takes OpBench down with it: a plugin runs in OpBench's process.
 *
 * Versioning: OPBENCH_PLUGIN_ABI_VERSION changes whenever a struct below changes layout or
 * meaning; OpBench refuses a plugin whose table carries another version.
 */
#ifndef OPBENCH_PLUGIN_H
#define OPBENCH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OPBENCH_PLUGIN_ABI_VERSION 1

/* Return codes of a kernel call. */
#define OPBENCH_OK 0
#define OPBENCH_ERROR 1       /* failed: the message says why */
#define OPBENCH_UNSUPPORTED 2 /* this case is not implemented (a descriptor should have said so) */

/* What a variant supports (`opbench_variant.flags`); OpBench leaves other cases out. */
#define OPBENCH_MATMUL_KN (1u << 0)      /* C = A·B with B[K×N] */
#define OPBENCH_MATMUL_NK (1u << 1)      /* C = A·Wᵀ with W[N×K] (a linear layer's [out, in]) */
#define OPBENCH_MATMUL_BIAS (1u << 2)    /* bias[N] added to every row (model passes need it) */
#define OPBENCH_SOFTMAX_CAUSAL (1u << 3) /* the causal mask (softmax without it is always required) */

/* matmul: c[M×N] = a[M×K]·b (+ bias), b as `layout` says. */
#define OPBENCH_LAYOUT_KN 0
#define OPBENCH_LAYOUT_NK 1
typedef struct {
    int64_t m, k, n;
    const float *a; /* [M×K], row stride lda */
    int64_t lda;
    const float *b; /* [K×N] (LAYOUT_KN) or [N×K] (LAYOUT_NK), row stride ldb */
    int64_t ldb;
    int32_t layout;
    int32_t threads;
    const float *bias; /* NULL, or N values */
    float *c;          /* [M×N], row stride ldc */
    int64_t ldc;
} opbench_matmul_args;

/* softmax: y = softmax(scale·x) per row. With causal, row i sees columns j <= i + cols − rows
 * only (the last row sees all: the rows are the newest queries of a longer sequence) and the
 * other entries of y are 0. −inf entries are masked; a row with no finite allowed entry is all
 * zeros, not NaN. */
typedef struct {
    int64_t rows, cols;
    const float *x;
    int64_t ldx;
    float *y;
    int64_t ldy;
    float scale; /* finite, > 0 */
    int32_t causal;
    int32_t threads;
} opbench_softmax_args;

/* layernorm: y = (x − mean)/sqrt(var + eps)·gamma + beta per row (biased variance).
 * rmsnorm:   y = x/sqrt(mean(x²) + eps)·gamma per row (beta is NULL). */
typedef struct {
    int64_t rows, cols;
    const float *x;
    int64_t ldx;
    const float *gamma; /* cols values */
    const float *beta;  /* cols values (layernorm), NULL (rmsnorm) */
    float eps;          /* finite, > 0 */
    int32_t threads;
    float *y;
    int64_t ldy;
} opbench_norm_args;

typedef int (*opbench_matmul_fn)(const opbench_matmul_args *args, char *message, size_t message_size);
typedef int (*opbench_softmax_fn)(const opbench_softmax_args *args, char *message, size_t message_size);
typedef int (*opbench_norm_fn)(const opbench_norm_args *args, char *message, size_t message_size);

/* One variant. `op` is "matmul", "softmax", "layernorm" or "rmsnorm"; exactly the function of
 * that operator is set, the others are NULL. */
typedef struct {
    const char *op;
    const char *name;    /* 1-32 of [a-z0-9_-], unique in the plugin */
    const char *summary; /* one line, at most 200 bytes: what it does, how it threads */
    uint32_t flags;      /* OPBENCH_MATMUL_* / OPBENCH_SOFTMAX_* */
    int32_t max_threads; /* 0: any count; else the most it runs */
    opbench_matmul_fn matmul;
    opbench_softmax_fn softmax;
    opbench_norm_fn layernorm;
    opbench_norm_fn rmsnorm;
} opbench_variant;

typedef struct {
    uint32_t abi_version; /* OPBENCH_PLUGIN_ABI_VERSION */
    const char *name;     /* 1-32 of [a-z0-9_-]: the middle part of its variants' ids */
    uint32_t count;       /* 1-256 */
    const opbench_variant *variants;
} opbench_plugin;

/* The one symbol OpBench looks up. The table must stay valid while the library is loaded. */
const opbench_plugin *opbench_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* OPBENCH_PLUGIN_H */
