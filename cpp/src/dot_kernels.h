// Dot-product kernels for librerank_compute and libmerge_embeddings (private header).
//
// A scalar reference and an AVX2+FMA kernel compiled with target attributes (never -march),
// picked once at load by dot_kernels(). Each computes <a, b> and, fused in the same pass, |b|^2.
// dot_and_norm serves row-by-row passes over memory: it also asks the cache for the row `ahead`
// (n floats), a line for each line of b it reads. The hardware prefetcher alone left such a pass
// 1.3-1.8x slower than a plain read of the same bytes; into L2 (T1) and spread over the loop,
// prefetches brought it within 1.1x (1.2x at 1024 dims) on the Xeon this was tuned on.
#pragma once

#include <cstddef>

#include "cpu_features.h"

namespace facev3 {

struct DotKernels {
    // *dot = <a, b>, *bb = <b, b>: one pass over b, prefetching `ahead` meanwhile.
    void (*dot_and_norm)(const float *a, const float *b, size_t n, const float *ahead, float *dot, float *bb);
    float (*dot)(const float *a, const float *b, size_t n);
    const char *name;
};

inline void dot_and_norm_scalar(const float *a, const float *b, size_t n, const float * /*ahead*/, float *dot,
                                float *bb) {
    float s = 0.0f, q = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        s += a[i] * b[i];
        q += b[i] * b[i];
    }
    *dot = s;
    *bb = q;
}

inline float dot_scalar(const float *a, const float *b, size_t n) {
    float s = 0.0f;
    for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

inline constexpr DotKernels kScalarKernels{dot_and_norm_scalar, dot_scalar, "scalar"};

}  // namespace facev3

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace facev3 {

#define FACEV3_AVX2 __attribute__((target("avx2,fma")))

FACEV3_AVX2 inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Four independent accumulators per sum hide the FMA latency; 32 floats (two lines) per iteration.
FACEV3_AVX2 inline void dot_and_norm_avx2(const float *a, const float *b, size_t n, const float *ahead,
                                          float *dot, float *bb) {
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, d2 = d0, d3 = d0;
    __m256 q0 = d0, q1 = d0, q2 = d0, q3 = d0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char *>(ahead + i), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char *>(ahead + i + 16), _MM_HINT_T1);
        __m256 b0 = _mm256_loadu_ps(b + i), b1 = _mm256_loadu_ps(b + i + 8);
        __m256 b2 = _mm256_loadu_ps(b + i + 16), b3 = _mm256_loadu_ps(b + i + 24);
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), b0, d0);
        d1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), b1, d1);
        d2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), b2, d2);
        d3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), b3, d3);
        q0 = _mm256_fmadd_ps(b0, b0, q0);
        q1 = _mm256_fmadd_ps(b1, b1, q1);
        q2 = _mm256_fmadd_ps(b2, b2, q2);
        q3 = _mm256_fmadd_ps(b3, b3, q3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 b0 = _mm256_loadu_ps(b + i);
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), b0, d0);
        q0 = _mm256_fmadd_ps(b0, b0, q0);
    }
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(d0, d1), _mm256_add_ps(d2, d3)));
    float q = hsum256(_mm256_add_ps(_mm256_add_ps(q0, q1), _mm256_add_ps(q2, q3)));
    for (; i < n; ++i) {
        s += a[i] * b[i];
        q += b[i] * b[i];
    }
    *dot = s;
    *bb = q;
}

FACEV3_AVX2 inline float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, d2 = d0, d3 = d0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), d0);
        d1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), d1);
        d2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), d2);
        d3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), d3);
    }
    for (; i + 8 <= n; i += 8) d0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), d0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(d0, d1), _mm256_add_ps(d2, d3)));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

inline constexpr DotKernels kAvx2Kernels{dot_and_norm_avx2, dot_avx2, "avx2_fma"};

#undef FACEV3_AVX2

}  // namespace facev3
#endif

namespace facev3 {

// The best kernel set this CPU runs, chosen on first use.
inline const DotKernels &dot_kernels() {
#if defined(__x86_64__) || defined(__i386__)
    static const DotKernels &chosen = cpu_has_avx2_fma() ? kAvx2Kernels : kScalarKernels;
    return chosen;
#else
    return kScalarKernels;
#endif
}

}  // namespace facev3
