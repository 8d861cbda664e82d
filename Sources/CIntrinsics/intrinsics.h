// Instructions Swift cannot spell: streaming stores, software prefetch and a 16-lane
// fp16 → fp32 conversion. The functions are static inline, so the Swift compiler inlines
// them into the kernels, where each becomes one instruction on x86-64 with AVX-512
// (`vmovntps`, `prefetcht0`/`prefetcht1`, `vcvtph2ps`); other targets get the portable forms.
#ifndef OPBENCH_INTRINSICS_H
#define OPBENCH_INTRINSICS_H

#include <string.h>

typedef float opbench_f32x16 __attribute__((ext_vector_type(16)));

/// Stores 16 floats at `dst` (64-byte aligned) without allocating the line in cache.
static inline __attribute__((always_inline)) void opbench_stream_store(float *dst, opbench_f32x16 v) {
    __builtin_nontemporal_store(v, (opbench_f32x16 *)dst);
}

/// Orders earlier streaming stores before later stores (they are weakly ordered on x86).
static inline __attribute__((always_inline)) void opbench_stream_fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#elif defined(__aarch64__)
    __asm__ __volatile__("dmb ish" ::: "memory");
#endif
}

/// Asks for the line holding `p` in all cache levels, for reading. Unlike a load, the
/// instruction retires at once, so a miss does not hold up the reorder buffer.
static inline __attribute__((always_inline)) void opbench_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// The same into L2 and the outer levels, not L1 (`prefetcht1`).
static inline __attribute__((always_inline)) void opbench_prefetch_l2(const void *p) {
    __builtin_prefetch(p, 0, 2);
}

/// The 16 IEEE half-precision values at `p` (any alignment) as floats (exact).
static inline __attribute__((always_inline)) opbench_f32x16 opbench_halves_to_floats(const void *p) {
    typedef _Float16 f16x16 __attribute__((ext_vector_type(16)));
    f16x16 h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, opbench_f32x16);
}

#endif
