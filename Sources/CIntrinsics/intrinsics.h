// Instructions Swift cannot spell: streaming stores, software prefetch, a 16-lane
// fp16 → fp32 conversion, two-source lane shuffles, the byte dot product of AVX-512 VNNI,
// int32 / byte → fp32 conversion, fp32 → int32 → byte rounding and narrowing, and loads and
// stores of the first lanes only. The
// functions are static inline, so the Swift compiler inlines them into the kernels, where
// each becomes one instruction (or, for the shuffles, a short sequence) on x86-64 with
// AVX-512 (`vmovntps`, `prefetcht0`/`prefetcht1`, `vcvtph2ps`, `vshuff64x2`/`vpermt2ps`,
// `vpdpbusd`, `vcvtdq2ps`, `vcvtps2dq`, `vpmovdb`, masked `vmovups`); other targets get the
// portable forms.
#ifndef OPBENCH_INTRINSICS_H
#define OPBENCH_INTRINSICS_H

#include <string.h>
#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#endif

/// Makes glibc give freed blocks of `bytes` and more back to the system at once: by default it
/// raises that size to the largest block freed so far (up to 32 MiB), and blocks below it come
/// from the heap and stay resident after they are freed. Returns 1 where it took effect.
static inline int opbench_return_freed_memory(int bytes) {
#if defined(__linux__) && defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

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

typedef float opbench_f32x8 __attribute__((ext_vector_type(8)));
typedef float opbench_f32x4 __attribute__((ext_vector_type(4)));

/// The lane sums of four vectors, as lanes 0…3. Each sum is the same pairwise tree as a
/// single vector's (lane i + lane i+8, then + i+4, + i+2, + i+1), so the results are
/// bit-identical to four separate reductions; the four trees share their shuffles and adds
/// (9 adds instead of 16, and no scalar steps).
static inline __attribute__((always_inline)) opbench_f32x4 opbench_sums4(opbench_f32x16 a, opbench_f32x16 b,
                                                                        opbench_f32x16 c, opbench_f32x16 d) {
    // Lanes 0–7 hold a's partial sums, 8–15 b's (and c's, d's).
    opbench_f32x16 ab = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
                      + __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    opbench_f32x16 cd = __builtin_shufflevector(c, d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
                      + __builtin_shufflevector(c, d, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    // Lanes 4i…4i+3 hold the i-th vector's.
    opbench_f32x16 q = __builtin_shufflevector(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
                     + __builtin_shufflevector(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    // Lanes 2i, 2i+1.
    opbench_f32x8 h = __builtin_shufflevector(q, q, 0, 1, 4, 5, 8, 9, 12, 13) + __builtin_shufflevector(q, q, 2, 3, 6, 7, 10, 11, 14, 15);
    return __builtin_shufflevector(h, h, 0, 2, 4, 6) + __builtin_shufflevector(h, h, 1, 3, 5, 7);
}

typedef int opbench_i32x16 __attribute__((ext_vector_type(16)));

/// Vector registers of the target the package is compiled for: 32 (zmm, AVX-512) or 16 (ymm
/// on AVX2, where a SIMD16 value takes two of them). Code that keeps many SIMD16 values live
/// (the FMA probe) sizes itself by it, so it does not spill.
static inline __attribute__((always_inline)) int opbench_vector_registers(void) {
#if defined(__AVX512F__)
    return 32;
#else
    return 16;
#endif
}

/// 1 when `opbench_dot_u8s8` is one instruction (`vpdpbusd`, AVX-512 VNNI) on the target the
/// package is compiled for; 0 when it is the portable loop below.
static inline __attribute__((always_inline)) int opbench_has_dot_u8s8(void) {
#if defined(__AVX512VNNI__)
    return 1;
#else
    return 0;
#endif
}

/// acc + Σ_k a.u8[4i+k]·b.s8[k] in each 32-bit lane i, k = 0…3, with the four signed bytes
/// of `b` the same for every lane (a broadcast). The products and sums are exact int32 while
/// |acc| stays below 2³¹ − 4·255·128.
static inline __attribute__((always_inline)) opbench_i32x16 opbench_dot_u8s8(opbench_i32x16 acc, opbench_i32x16 a, int b) {
#if defined(__AVX512VNNI__)
    return __builtin_ia32_vpdpbusd512(acc, a, (opbench_i32x16)(b));
#else
    for (int i = 0; i < 16; i++) {
        unsigned int ai = (unsigned int)a[i];
        for (int k = 0; k < 4; k++) {
            acc[i] += (int)((ai >> (8 * k)) & 255) * (int)(signed char)((unsigned int)b >> (8 * k));
        }
    }
    return acc;
#endif
}

/// The 16 int32 lanes as floats (`vcvtdq2ps`; exact below 2²⁴ in magnitude).
static inline __attribute__((always_inline)) opbench_f32x16 opbench_i32_to_f32(opbench_i32x16 v) {
    return __builtin_convertvector(v, opbench_f32x16);
}

/// The 16 fp32 lanes as int32, truncated toward zero (`vcvttps2dq`); for lanes that hold
/// integers below 2³¹ in magnitude, exact.
static inline __attribute__((always_inline)) opbench_i32x16 opbench_f32_to_i32(opbench_f32x16 v) {
    return __builtin_convertvector(v, opbench_i32x16);
}

/// The 16 fp32 lanes rounded to the nearest integer, ties to even, as int32 (`vrndscaleps` +
/// `vcvttps2dq`, or `vcvtps2dq`); for lanes below 2³¹ in magnitude, exact.
static inline __attribute__((always_inline)) opbench_i32x16 opbench_f32_to_i32_nearest(opbench_f32x16 v) {
    return __builtin_convertvector(__builtin_elementwise_roundeven(v), opbench_i32x16);
}

/// Stores the low byte of each of the 16 int32 lanes at `p` (any alignment; `vpmovdb`).
static inline __attribute__((always_inline)) void opbench_store_i32_as_i8(void *p, opbench_i32x16 v) {
    typedef signed char s8x16 __attribute__((ext_vector_type(16)));
    s8x16 b = __builtin_convertvector(v, s8x16);
    memcpy(p, &b, sizeof b);
}

typedef unsigned int opbench_u32x16 __attribute__((ext_vector_type(16)));

/// The largest of the 16 uint32 lanes (a shuffle-and-max tree).
static inline __attribute__((always_inline)) unsigned int opbench_u32_max(opbench_u32x16 v) {
    return __builtin_reduce_max(v);
}

/// The wrapping sum of the 16 int32 lanes.
static inline __attribute__((always_inline)) int opbench_i32_sum(opbench_i32x16 v) {
    return __builtin_reduce_add(v);
}

typedef unsigned char opbench_u8x16 __attribute__((ext_vector_type(16)));

/// The 16 signed bytes at `p` (any alignment) as floats (`vpmovsxbd` + `vcvtdq2ps`; exact).
static inline __attribute__((always_inline)) opbench_f32x16 opbench_s8_to_f32(const void *p) {
    typedef signed char s8x16 __attribute__((ext_vector_type(16)));
    s8x16 b;
    memcpy(&b, p, sizeof b);
    return __builtin_convertvector(b, opbench_f32x16);
}

/// The 16 unsigned bytes of `v` as floats (`vpmovzxbd` + `vcvtdq2ps`; exact).
static inline __attribute__((always_inline)) opbench_f32x16 opbench_u8_to_f32(opbench_u8x16 v) {
    return __builtin_convertvector(v, opbench_f32x16);
}

typedef float opbench_v16sf __attribute__((vector_size(64)));

/// The first `count` (0…16) floats at `p`, the other lanes `fill`. With AVX-512 one masked
/// load (`vmovups` under a k-mask): the lanes past `count` are not read, so the load may end
/// at the end of a buffer; elsewhere a loop. (The lane-by-lane loop in Swift became 16
/// masked broadcasts, each with a compare to build its mask, on the same port as `vpdpbusd`.)
static inline __attribute__((always_inline)) opbench_f32x16 opbench_load_partial(const float *p, long count, float fill) {
#if defined(__AVX512F__)
    unsigned short m = count >= 16 ? 0xFFFF : count <= 0 ? 0 : (unsigned short)((1u << count) - 1);
    return (opbench_f32x16)__builtin_ia32_loadups512_mask(p, (opbench_v16sf)((opbench_f32x16)(fill)), m);
#else
    opbench_f32x16 v = fill;
    for (long i = 0; i < count && i < 16; i++) v[i] = p[i];
    return v;
#endif
}

/// Stores the first `count` (0…16) lanes of `v` at `p`, touching nothing past them (one
/// masked store with AVX-512).
static inline __attribute__((always_inline)) void opbench_store_partial(float *p, opbench_f32x16 v, long count) {
#if defined(__AVX512F__)
    unsigned short m = count >= 16 ? 0xFFFF : count <= 0 ? 0 : (unsigned short)((1u << count) - 1);
    __builtin_ia32_storeups512_mask(p, (opbench_v16sf)v, m);
#else
    for (long i = 0; i < count && i < 16; i++) p[i] = v[i];
#endif
}

/// Lanes swapped in pairs: (v1, v0, v3, v2, …) — the partner of each element of interleaved
/// (x0, x1) pairs, for a rotary embedding of adjacent pairs (`vpermilps`).
static inline __attribute__((always_inline)) opbench_f32x16 opbench_swap_pairs(opbench_f32x16 v) {
    return __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
}

#endif
