/*
 * A deliberately broken OpBench plugin, one defect per build (-DDEFECT=n), for the loader's
 * tests: each must give one clear error naming the plugin (or a failed verification), never a
 * crash of OpBench. DEFECT 0 is a correct (if slow) plugin: plain-loop matmul and rmsnorm.
 *
 *  1 ABI version 99            2 NULL table                3 matmul function NULL
 *  4 two functions set         5 unknown operator          6 bad name "Bad Name"
 *  7 a variant declared twice  8 no layout flag            9 kernel returns an error
 * 10 kernel writes NaN        11 count 0                  12 summary without NUL in 201 bytes
 * 13 undefined flag bits      14 kernel returns UNSUPPORTED 15 no entry symbol at all
 * 16 kernel crashes (writes through a null pointer): what only --isolate contains
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "opbench_plugin.h"

#ifndef DEFECT
#define DEFECT 0
#endif

static int matmul(const opbench_matmul_args *g, char *message, size_t size) {
    if (DEFECT == 9) {
        snprintf(message, size, "deliberate failure at m=%lld", (long long)g->m);
        return OPBENCH_ERROR;
    }
    if (DEFECT == 14) {
        snprintf(message, size, "no such case here");
        return OPBENCH_UNSUPPORTED;
    }
    if (DEFECT == 16) {
        volatile float *nowhere = NULL;
        *nowhere = (float)g->m;
    }
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++) {
            double s = g->bias ? g->bias[j] : 0;
            for (int64_t p = 0; p < g->k; p++) {
                float b = g->layout == OPBENCH_LAYOUT_KN ? g->b[p * g->ldb + j] : g->b[j * g->ldb + p];
                s += (double)g->a[i * g->lda + p] * b;
            }
            g->c[i * g->ldc + j] = DEFECT == 10 && i == 0 && j == 0 ? NAN : (float)s;
        }
    return OPBENCH_OK;
}

static int rmsnorm(const opbench_norm_args *g, char *message, size_t size) {
    (void)message, (void)size;
    for (int64_t i = 0; i < g->rows; i++) {
        double ss = 0;
        for (int64_t j = 0; j < g->cols; j++) ss += (double)g->x[i * g->ldx + j] * g->x[i * g->ldx + j];
        double r = 1 / sqrt(ss / g->cols + g->eps);
        for (int64_t j = 0; j < g->cols; j++) g->y[i * g->ldy + j] = (float)(g->x[i * g->ldx + j] * r * g->gamma[j]);
    }
    return OPBENCH_OK;
}

static const char long_summary[201] = {[0 ... 200] = 'x'};

static const opbench_variant variants[] = {
    {
        .op = DEFECT == 5 ? "convolution" : "matmul",
        .name = DEFECT == 6 ? "Bad Name" : "loops",
        .summary = DEFECT == 12 ? long_summary : "plain loops in C, fp64 accumulation; one thread",
        .flags = DEFECT == 8 ? 0 : (OPBENCH_MATMUL_KN | OPBENCH_MATMUL_NK | OPBENCH_MATMUL_BIAS | (DEFECT == 13 ? 1u << 20 : 0)),
        .max_threads = 1,
        .matmul = DEFECT == 3 ? NULL : matmul,
        .rmsnorm = DEFECT == 4 ? rmsnorm : NULL,
    },
    {
        .op = DEFECT == 7 ? "matmul" : "rmsnorm",
        .name = "loops",
        .summary = "plain loops in C, fp64 accumulation; one thread",
        .max_threads = 1,
        .matmul = DEFECT == 7 ? matmul : NULL,
        .rmsnorm = DEFECT == 7 ? NULL : rmsnorm,
    },
};

static const opbench_plugin plugin = {
    .abi_version = DEFECT == 1 ? 99 : OPBENCH_PLUGIN_ABI_VERSION,
    .name = "broken",
    .count = DEFECT == 11 ? 0 : sizeof variants / sizeof variants[0],
    .variants = variants,
};

#if DEFECT != 15
const opbench_plugin *opbench_plugin_entry(void) { return DEFECT == 2 ? NULL : &plugin; }
#else
int opbench_something_else(void) { return 0; }
#endif
