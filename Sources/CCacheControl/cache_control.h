// Cache control that Swift cannot spell: non-temporal ("streaming") stores and software
// prefetch. The functions are static inline, so the Swift compiler inlines them into the
// kernels: a 16-float streaming store becomes one `vmovntps` (x86-64), a prefetch one
// `prefetcht0` (or `prfm` on arm64).
#ifndef OPBENCH_CACHE_CONTROL_H
#define OPBENCH_CACHE_CONTROL_H

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

#endif
