// ggml's CPU matmul of quantized weights, timed the way `opbench bench` times int4: y[M×N] =
// x[M×K]·dequant(W[N×K])ᵀ, W quantized by ggml (Q4_0 or Q8_0) from seeded uniform values,
// placed in the CPU backend's repacking buffer type ("CPU_REPACK", llama.cpp's default for
// weights) when it has a layout for the type, else in a plain CPU buffer, as llama.cpp's loader
// does; x and y in a plain CPU buffer. Built against the libggml that llama-cpp-python installs
// (peer-llamacpp.sh); prints one line per repetition:
//   ggml TYPE MxKxN threads=T buffer=NAME seconds=S
//
//   peer-ggml-matmul TYPE M K N THREADS REPETITIONS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s q4_0|q8_0 M K N THREADS REPETITIONS\n", argv[0]);
        return 2;
    }
    enum ggml_type type = strcmp(argv[1], "q8_0") == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q4_0;
    long m = atol(argv[2]), k = atol(argv[3]), n = atol(argv[4]);
    int threads = atoi(argv[5]), reps = atoi(argv[6]);
    if (m <= 0 || k <= 0 || n <= 0 || k % 32 != 0 || threads <= 0 || reps <= 0) {
        fprintf(stderr, "peer-ggml-matmul: bad arguments\n");
        return 2;
    }
    ggml_backend_load_all();
    ggml_backend_t cpu = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(cpu, threads);

    // The weights' buffer type: the first extra one the CPU device offers (CPU_REPACK), else plain.
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_buffer_type_t wbuft = ggml_backend_dev_buffer_type(dev);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_dev_get_extra_bufts_t extra =
        (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    if (extra) {
        ggml_backend_buffer_type_t *list = extra(dev);
        if (list && list[0]) wbuft = list[0];
    }

    // The repacking buffer takes only the types it has a layout for (Q4_0 on x86, not Q8_0):
    // as llama.cpp's loader does, ask the device whether it runs the product with the weights
    // there (on a probe), and use a plain buffer when it does not.
    if (wbuft != ggml_backend_dev_buffer_type(dev)) {
        struct ggml_init_params pp = {ggml_tensor_overhead() * 4, NULL, true};
        struct ggml_context *pctx = ggml_init(pp);
        struct ggml_tensor *pw = ggml_new_tensor_2d(pctx, type, k, n);
        ggml_backend_buffer_t pbuf = ggml_backend_alloc_ctx_tensors_from_buft(pctx, wbuft);
        struct ggml_tensor *py = ggml_mul_mat(pctx, pw, ggml_new_tensor_2d(pctx, GGML_TYPE_F32, k, m));
        if (!pbuf || !ggml_backend_dev_supports_op(dev, py)) wbuft = ggml_backend_dev_buffer_type(dev);
        if (pbuf) ggml_backend_buffer_free(pbuf);
        ggml_free(pctx);
    }

    struct ggml_init_params wp = {ggml_tensor_overhead() * 4, NULL, true};
    struct ggml_context *wctx = ggml_init(wp);
    struct ggml_tensor *w = ggml_new_tensor_2d(wctx, type, k, n);
    ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, wbuft);

    struct ggml_init_params cp = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), NULL, true};
    struct ggml_context *ctx = ggml_init(cp);
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, m);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, y);
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, cpu);
    if (!wbuf || !buf) {
        fprintf(stderr, "peer-ggml-matmul: cannot allocate\n");
        return 1;
    }

    // Seeded uniform [-1, 1) values (an LCG; the values only need to be non-trivial).
    unsigned long long s = 12345;
    float *vals = malloc(sizeof(float) * (size_t)(k * (n > m ? n : m)));
    for (long i = 0; i < k * n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        vals[i] = (float)((s >> 40) / (double)(1 << 24)) * 2 - 1;
    }
    size_t wbytes = ggml_row_size(type, k) * n;
    void *q = malloc(wbytes);
    ggml_quantize_chunk(type, vals, q, 0, n, k, NULL);
    ggml_backend_tensor_set(w, q, 0, wbytes);
    for (long i = 0; i < k * m; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        vals[i] = (float)((s >> 40) / (double)(1 << 24)) * 2 - 1;
    }
    ggml_backend_tensor_set(x, vals, 0, sizeof(float) * k * m);

    ggml_backend_graph_compute(cpu, gf);  // warm-up
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        ggml_backend_graph_compute(cpu, gf);
        double t1 = now();
        printf("ggml %s %ldx%ldx%ld threads=%d buffer=%s seconds=%.9f\n", argv[1], m, k, n, threads, ggml_backend_buft_name(wbuft),
               t1 - t0);
    }
    fflush(stdout);
    ggml_backend_buffer_free(buf);
    ggml_backend_buffer_free(wbuf);
    ggml_free(ctx);
    ggml_free(wctx);
    ggml_backend_free(cpu);
    free(q);
    free(vals);
    return 0;
}
