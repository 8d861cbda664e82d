/*
 * An example OpBench plugin: a cache-blocked AVX-512 SGEMM and an AVX-512 softmax, in C.
 *
 * Build: bash Benchmarks/plugins/build.sh  (cc -O3 -march=native -shared -fPIC)
 * Use:   opbench --plugin .build/plugins/libopbench_example.so list
 *        opbench --plugin .build/plugins/libopbench_example.so verify --op matmul,softmax
 *
 * Its variants are matmul.example.sgemm and softmax.example.avx512. Threads are pthreads
 * created per call (a pool would save their ~20 µs start on small cases), each taking a
 * contiguous range of rows of the output (or of columns, when there are fewer rows than
 * threads, as in a GEMV).
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "opbench_plugin.h"

#if !defined(__AVX512F__)
#error "the example plugin is written for AVX-512 (build with -march=native on an AVX-512 CPU)"
#endif

/* ---- threads: run part(i, count, ctx) for i in 0..<count, part 0 on the caller ---- */

typedef void (*part_fn)(int part, int parts, void *ctx);
typedef struct {
    part_fn fn;
    int part, parts;
    void *ctx;
} job;

static void *job_main(void *p) {
    job *j = p;
    j->fn(j->part, j->parts, j->ctx);
    return NULL;
}

static int run_parts(int parts, part_fn fn, void *ctx, char *message, size_t size) {
    if (parts > 256) parts = 256;
    pthread_t tid[256];
    job jobs[256];
    int started = 0;
    for (int i = 1; i < parts; i++) {
        jobs[i] = (job){fn, i, parts, ctx};
        if (pthread_create(&tid[i], NULL, job_main, &jobs[i]) != 0) break;
        started = i;
    }
    if (started != parts - 1) {
        for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
        snprintf(message, size, "pthread_create failed after %d of %d threads", started + 1, parts);
        return OPBENCH_ERROR;
    }
    fn(0, parts, ctx);
    for (int i = 1; i < parts; i++) pthread_join(tid[i], NULL);
    return OPBENCH_OK;
}

static void split(int64_t n, int part, int parts, int64_t *lo, int64_t *hi) {
    *lo = n * part / parts;
    *hi = n * (part + 1) / parts;
}

/* ---- SGEMM ---- */

enum { MR = 4, NR = 48, KC = 256 };

static __mmask16 tail_mask(int64_t left) { return left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1); }

/* C[mr×nr] += A[mr×kc]·B[kc×nr] (B row-major [K×N]); mr ≤ MR, nr ≤ NR. Inlined with a
 * constant mr, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void tile_kn(
    int mr, int64_t nr, int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc) {
    __mmask16 m0 = tail_mask(nr), m1 = tail_mask(nr - 16), m2 = tail_mask(nr - 32);
    if (nr <= 16) m1 = 0;
    if (nr <= 32) m2 = 0;
    __m512 acc[MR][3];
    for (int r = 0; r < mr; r++) {
        acc[r][0] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
        acc[r][1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        acc[r][2] = _mm512_maskz_loadu_ps(m2, c + r * ldc + 32);
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16), b2 = _mm512_maskz_loadu_ps(m2, bp + 32);
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
        }
    }
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
        _mm512_mask_storeu_ps(c + r * ldc + 32, m2, acc[r][2]);
    }
}

/* C[mr×nr] = A[mr×K]·W[nr×K]ᵀ for nr ≤ 4: dot products, 16 lanes at a time. */
static inline __attribute__((always_inline)) void tile_nk(
    int mr, int nr, int64_t k, const float *a, int64_t lda, const float *w, int64_t ldw, float *c, int64_t ldc, const float *bias) {
    __m512 acc[MR][4];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p += 16) {
        __mmask16 m = tail_mask(k - p);
        __m512 wv[4];
        for (int j = 0; j < nr; j++) wv[j] = _mm512_maskz_loadu_ps(m, w + j * ldw + p);
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_maskz_loadu_ps(m, a + r * lda + p);
            for (int j = 0; j < nr; j++) acc[r][j] = _mm512_fmadd_ps(av, wv[j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) c[r * ldc + j] = _mm512_reduce_add_ps(acc[r][j]) + (bias ? bias[j] : 0.0f);
}

typedef struct {
    const opbench_matmul_args *g;
    int by_rows; /* split rows of C among threads, else columns */
} sgemm_ctx;

static void sgemm_part(int part, int parts, void *p) {
    const sgemm_ctx *ctx = p;
    const opbench_matmul_args *g = ctx->g;
    int64_t i0 = 0, i1 = g->m, j0 = 0, j1 = g->n;
    if (ctx->by_rows) split(g->m, part, parts, &i0, &i1);
    else split(g->n, part, parts, &j0, &j1);
    if (g->layout == OPBENCH_LAYOUT_KN) {
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) g->c[i * g->ldc + j] = g->bias ? g->bias[j] : 0.0f;
        /* Column panels of NR, K blocks of KC: one KC×NR panel of B (48 KiB) serves every row. */
        for (int64_t jc = j0; jc < j1; jc += NR) {
            int64_t nr = j1 - jc < NR ? j1 - jc : NR;
            for (int64_t pc = 0; pc < g->k; pc += KC) {
                int64_t kc = g->k - pc < KC ? g->k - pc : KC;
                const float *b = g->b + pc * g->ldb + jc;
                int64_t i = i0;
                for (; i + MR <= i1; i += MR) tile_kn(MR, nr, kc, g->a + i * g->lda + pc, g->lda, b, g->ldb, g->c + i * g->ldc + jc, g->ldc);
                for (; i < i1; i++) tile_kn(1, nr, kc, g->a + i * g->lda + pc, g->lda, b, g->ldb, g->c + i * g->ldc + jc, g->ldc);
            }
        }
    } else {
        for (int64_t j = j0; j < j1; j += 4) {
            int nr = j1 - j < 4 ? (int)(j1 - j) : 4;
            const float *w = g->b + j * g->ldb, *bias = g->bias ? g->bias + j : NULL;
            int64_t i = i0;
            for (; i + MR <= i1; i += MR) {
                if (nr == 4) tile_nk(MR, 4, g->k, g->a + i * g->lda, g->lda, w, g->ldb, g->c + i * g->ldc + j, g->ldc, bias);
                else tile_nk(MR, nr, g->k, g->a + i * g->lda, g->lda, w, g->ldb, g->c + i * g->ldc + j, g->ldc, bias);
            }
            for (; i < i1; i++) tile_nk(1, nr, g->k, g->a + i * g->lda, g->lda, w, g->ldb, g->c + i * g->ldc + j, g->ldc, bias);
        }
    }
}

static int sgemm(const opbench_matmul_args *g, char *message, size_t size) {
    if (g->layout != OPBENCH_LAYOUT_KN && g->layout != OPBENCH_LAYOUT_NK) {
        snprintf(message, size, "unknown layout %d", g->layout);
        return OPBENCH_ERROR;
    }
    sgemm_ctx ctx = {g, g->m >= g->threads};
    int64_t span = ctx.by_rows ? g->m : g->n;
    int parts = span < g->threads ? (int)span : g->threads;
    return run_parts(parts, sgemm_part, &ctx, message, size);
}

/* ---- softmax ---- */

/* e^x for x ≤ 0 (larger x are not asked for: x − max): x = n·ln2 + r, |r| ≤ ln2/2, with ln2
 * split in two (Cody–Waite) so r is exact to ~2⁻³⁵; e^r by its degree-7 Taylor polynomial
 * (truncation < 2.6e-9 relative) in Horner form with FMA; 2ⁿ built in the exponent bits.
 * Below −87.3 the result is 0 (−inf included). */
static inline __m512 exp_neg(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    __mmask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(x, lo);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512 y = _mm512_scalef_ps(p, n);
    return _mm512_mask_mov_ps(y, tiny, _mm512_setzero_ps());
}

static void softmax_row(const float *x, float *y, int64_t cols, int64_t allowed, float scale) {
    const __m512 s = _mm512_set1_ps(scale);
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < allowed; j += 16) {
        __mmask16 m = tail_mask(allowed - j);
        mv = _mm512_mask_max_ps(mv, m, mv, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), s));
    }
    float mx = _mm512_reduce_max_ps(mv);
    if (!(mx > -INFINITY)) { /* no finite allowed entry: all zeros, not NaN */
        memset(y, 0, (size_t)cols * sizeof(float));
        return;
    }
    const __m512 mb = _mm512_set1_ps(mx);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < allowed; j += 16) {
        __mmask16 m = tail_mask(allowed - j);
        __m512 e = exp_neg(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), s), mb));
        e = _mm512_maskz_mov_ps(m, e);
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(y + j, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t j = 0; j < allowed; j += 16) {
        __mmask16 m = tail_mask(allowed - j);
        _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + j), inv));
    }
    for (int64_t j = allowed; j < cols; j++) y[j] = 0;
}

static void softmax_part(int part, int parts, void *p) {
    const opbench_softmax_args *g = p;
    int64_t i0, i1;
    split(g->rows, part, parts, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        int64_t allowed = g->cols;
        if (g->causal) {
            allowed = i + g->cols - g->rows + 1;
            if (allowed < 0) allowed = 0;
            if (allowed > g->cols) allowed = g->cols;
        }
        softmax_row(g->x + i * g->ldx, g->y + i * g->ldy, g->cols, allowed, g->scale);
    }
}

static int softmax(const opbench_softmax_args *g, char *message, size_t size) {
    int parts = g->rows < g->threads ? (int)g->rows : g->threads;
    return run_parts(parts, softmax_part, (void *)g, message, size);
}

/* ---- the table ---- */

static const opbench_variant variants[] = {
    {
        .op = "matmul",
        .name = "sgemm",
        .summary = "C, AVX-512: 4x48 register tile over 256-deep K blocks (nk: 4x4 dot products); pthreads split rows of C",
        .flags = OPBENCH_MATMUL_KN | OPBENCH_MATMUL_NK | OPBENCH_MATMUL_BIAS,
        .matmul = sgemm,
    },
    {
        .op = "softmax",
        .name = "avx512",
        .summary = "C, AVX-512: three passes per row, degree-7 exp polynomial; pthreads split rows",
        .flags = OPBENCH_SOFTMAX_CAUSAL,
        .softmax = softmax,
    },
};

static const opbench_plugin plugin = {
    .abi_version = OPBENCH_PLUGIN_ABI_VERSION,
    .name = "example",
    .count = sizeof variants / sizeof variants[0],
    .variants = variants,
};

const opbench_plugin *opbench_plugin_entry(void) { return &plugin; }
