// Bilinear row kernels for face_align (private header).
//
// A row of output pixels walks the source image along a line: X = x0 + i * dx and Y = y0 + i * dy
// in 48.16 fixed point. Kernels here assume every tap they read lies inside the image, and a
// scalar reference and an SSE4.1 kernel (target attribute, chosen once at load) give
// bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <climits>
#include <cstring>

#include "cpu_features.h"

namespace facev3 {

constexpr int kFracBits = 7;  // sub-pixel positions in 1/128 pixel
constexpr int kWeightShift = 2 * kFracBits;
constexpr int32_t kOne = 1 << kFracBits;

struct Tap {
    int64_t x, y;    // top-left source pixel
    int32_t fx, fy;  // fractions in 1/128
};

// 16.16 fixed point rounded to the nearest 1/128 pixel; floor division for negative positions.
inline Tap tap_at(int64_t X, int64_t Y) {
    const int64_t xr = (X + (1 << 8)) >> 9, yr = (Y + (1 << 8)) >> 9;
    return Tap{xr >> kFracBits, yr >> kFracBits, static_cast<int32_t>(xr & (kOne - 1)),
               static_cast<int32_t>(yr & (kOne - 1))};
}

struct RowWalk {
    const uint8_t *image;
    size_t stride;      // bytes per image row
    int64_t x, y;       // 16.16 source position of the first output pixel
    int64_t dx, dy;     // 16.16 step per output pixel
    size_t n;           // output pixels
    bool swap_rb;
    uint8_t *out;       // n * 3 bytes
};

using RowKernel = void (*)(const RowWalk &);

inline void blend_pixel(const uint8_t *top, const uint8_t *bottom, const Tap &t, bool swap_rb,
                        uint8_t *dst) {
    const int32_t w00 = (kOne - t.fx) * (kOne - t.fy), w01 = t.fx * (kOne - t.fy);
    const int32_t w10 = (kOne - t.fx) * t.fy, w11 = t.fx * t.fy;
    for (int c = 0; c < 3; ++c) {
        const int32_t v = top[c] * w00 + top[c + 3] * w01 + bottom[c] * w10 + bottom[c + 3] * w11;
        dst[swap_rb ? 2 - c : c] = static_cast<uint8_t>((v + (1 << (kWeightShift - 1))) >> kWeightShift);
    }
}

inline void warp_row_scalar(const RowWalk &w) {
    int64_t X = w.x, Y = w.y;
    for (size_t i = 0; i < w.n; ++i, X += w.dx, Y += w.dy) {
        const Tap t = tap_at(X, Y);
        const uint8_t *top = w.image + static_cast<size_t>(t.y) * w.stride + static_cast<size_t>(t.x) * 3;
        blend_pixel(top, top + w.stride, t, w.swap_rb, w.out + i * 3);
    }
}

}  // namespace facev3

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace facev3 {

// Blends one pixel: an 8-byte load per source row holds both taps (6 bytes, so the caller
// guarantees x + 2 < width); pshufb pairs the taps per channel as 16-bit lanes and pmaddwd
// applies a row's two weights, packed as (right << 16) | left, at once. Returns the pixel's 3
// channel bytes in the low bytes.
__attribute__((target("sse4.1"))) inline uint32_t blend_sse41(const uint8_t *top, size_t stride, __m128i pairs,
                                                               int32_t weights_top, int32_t weights_bottom) {
    const __m128i a = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(top)), pairs);
    const __m128i b = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(top + stride)), pairs);
    __m128i v = _mm_add_epi32(_mm_madd_epi16(a, _mm_set1_epi32(weights_top)), _mm_madd_epi16(b, _mm_set1_epi32(weights_bottom)));
    v = _mm_srai_epi32(_mm_add_epi32(v, _mm_set1_epi32(1 << (kWeightShift - 1))), kWeightShift);
    return static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(v, v), v)));
}

// Byte shuffle that turns [b0 g0 r0 b1 g1 r1 . .] into 16-bit lanes (c0, c0') (c1, c1') (c2, c2').
__attribute__((target("sse4.1"))) inline __m128i channel_pairs(bool swap_rb) {
    return swap_rb ? _mm_setr_epi8(2, -1, 5, -1, 1, -1, 4, -1, 0, -1, 3, -1, -1, -1, -1, -1)
                   : _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
}

inline int32_t packed_weights(int32_t fx, int32_t row_weight) {
    return ((fx * row_weight) << 16) | ((kOne - fx) * row_weight);
}

__attribute__((target("sse4.1"))) inline void warp_row_sse41(const RowWalk &w) {
    const __m128i pairs = channel_pairs(w.swap_rb);
    int64_t X = w.x, Y = w.y;
    for (size_t i = 0; i < w.n; ++i, X += w.dx, Y += w.dy) {
        const Tap t = tap_at(X, Y);
        const uint8_t *top = w.image + static_cast<size_t>(t.y) * w.stride + static_cast<size_t>(t.x) * 3;
        const uint32_t bytes = blend_sse41(top, w.stride, pairs, packed_weights(t.fx, kOne - t.fy), packed_weights(t.fx, t.fy));
        std::memcpy(w.out + i * 3, &bytes, 3);
    }
}

// Eight pixels at a time: AVX2 lanes turn positions into tap offsets and packed weights, then
// each pixel is blended as in the SSE4.1 kernel. Positions are taken relative to the first tap
// so that they fit 32 bits; rows where they would not go to the SSE4.1 kernel.
__attribute__((target("avx2"))) inline void warp_row_avx2(const RowWalk &w) {
    const int64_t span_x = static_cast<int64_t>(w.n) * (w.dx < 0 ? -w.dx : w.dx) + (2 << 16);
    const int64_t span_y = static_cast<int64_t>(w.n) * (w.dy < 0 ? -w.dy : w.dy) + (2 << 16);
    if (span_x >= INT32_MAX || span_y >= INT32_MAX ||
        (span_y >> 16) * static_cast<int64_t>(w.stride) + (span_x >> 16) * 3 >= INT32_MAX)
        return warp_row_sse41(w);
    const __m128i pairs = channel_pairs(w.swap_rb);
    // Whole-pixel base of the first position; exact, because 1 << 16 is a multiple of 1 << 9.
    const int64_t base_x = w.x >> 16, base_y = w.y >> 16;
    const uint8_t *base = w.image + static_cast<size_t>(base_y) * w.stride + static_cast<size_t>(base_x) * 3;
    const __m256i dx = _mm256_set1_epi32(static_cast<int32_t>(w.dx)), dy = _mm256_set1_epi32(static_cast<int32_t>(w.dy));
    const __m256i x0 = _mm256_set1_epi32(static_cast<int32_t>(w.x - (base_x << 16) + (1 << 8)));  // + rounding
    const __m256i y0 = _mm256_set1_epi32(static_cast<int32_t>(w.y - (base_y << 16) + (1 << 8)));
    const __m256i frac = _mm256_set1_epi32(kOne - 1), one = _mm256_set1_epi32(kOne);
    const __m256i stride = _mm256_set1_epi32(static_cast<int32_t>(w.stride)), three = _mm256_set1_epi32(3);
    alignas(32) int32_t offset[8], weight_top[8], weight_bottom[8];
    for (size_t i = 0; i < w.n; i += 8) {
        const __m256i step = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int32_t>(i)));
        const __m256i xr = _mm256_srai_epi32(_mm256_add_epi32(x0, _mm256_mullo_epi32(step, dx)), 9);
        const __m256i yr = _mm256_srai_epi32(_mm256_add_epi32(y0, _mm256_mullo_epi32(step, dy)), 9);
        const __m256i fx = _mm256_and_si256(xr, frac), fy = _mm256_and_si256(yr, frac);
        const __m256i wt = _mm256_sub_epi32(one, fy), ax = _mm256_sub_epi32(one, fx);
        _mm256_store_si256(reinterpret_cast<__m256i *>(offset),
                           _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srai_epi32(yr, kFracBits), stride),
                                            _mm256_mullo_epi32(_mm256_srai_epi32(xr, kFracBits), three)));
        _mm256_store_si256(reinterpret_cast<__m256i *>(weight_top),
                           _mm256_or_si256(_mm256_slli_epi32(_mm256_mullo_epi32(fx, wt), 16), _mm256_mullo_epi32(ax, wt)));
        _mm256_store_si256(reinterpret_cast<__m256i *>(weight_bottom),
                           _mm256_or_si256(_mm256_slli_epi32(_mm256_mullo_epi32(fx, fy), 16), _mm256_mullo_epi32(ax, fy)));
        const size_t count = w.n - i < 8 ? w.n - i : 8;
        for (size_t k = 0; k < count; ++k) {
            const uint32_t bytes = blend_sse41(base + offset[k], w.stride, pairs, weight_top[k], weight_bottom[k]);
            uint8_t *dst = w.out + (i + k) * 3;
            if (i + k + 1 < w.n) std::memcpy(dst, &bytes, 4);  // the 4th byte is the next pixel's, rewritten next
            else std::memcpy(dst, &bytes, 3);
        }
    }
}

}  // namespace facev3
#endif

namespace facev3 {

inline RowKernel warp_row_kernel() {
#if defined(__x86_64__) || defined(__i386__)
    static const RowKernel chosen = cpu_has_avx2() ? warp_row_avx2 : cpu_has_sse41() ? warp_row_sse41 : warp_row_scalar;
    return chosen;
#else
    return warp_row_scalar;
#endif
}

}  // namespace facev3
