// Bilinear row kernels for face_align (private header).
//
// A row of output pixels walks the source image along a line: X = x0 + i * dx and Y = y0 + i * dy
// in 48.16 fixed point. Kernels here assume every tap they read lies inside the image, and a
// scalar reference and an SSE4.1 kernel (target attribute, chosen once at load) give
// bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

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

// One pixel per step: an 8-byte load per source row holds both taps (6 bytes, so the caller
// guarantees x + 2 < width); pshufb pairs the taps per channel as 16-bit lanes and pmaddwd
// applies the two weights of a row at once.
__attribute__((target("sse4.1"))) inline void warp_row_sse41(const RowWalk &w) {
    const __m128i pair = w.swap_rb ? _mm_setr_epi8(2, -1, 5, -1, 1, -1, 4, -1, 0, -1, 3, -1, -1, -1, -1, -1)
                                   : _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    const __m128i half = _mm_set1_epi32(1 << (kWeightShift - 1));
    int64_t X = w.x, Y = w.y;
    for (size_t i = 0; i < w.n; ++i, X += w.dx, Y += w.dy) {
        const Tap t = tap_at(X, Y);
        const uint8_t *top = w.image + static_cast<size_t>(t.y) * w.stride + static_cast<size_t>(t.x) * 3;
        const __m128i a = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(top)), pair);
        const __m128i b = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(top + w.stride)), pair);
        const int32_t wt = (kOne - t.fy), wb = t.fy;
        const __m128i weights_top = _mm_set1_epi32(((t.fx * wt) << 16) | ((kOne - t.fx) * wt));
        const __m128i weights_bottom = _mm_set1_epi32(((t.fx * wb) << 16) | ((kOne - t.fx) * wb));
        __m128i v = _mm_add_epi32(_mm_madd_epi16(a, weights_top), _mm_madd_epi16(b, weights_bottom));
        v = _mm_srai_epi32(_mm_add_epi32(v, half), kWeightShift);
        const uint32_t bytes = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(v, v), v)));
        std::memcpy(w.out + i * 3, &bytes, 3);
    }
}

inline bool cpu_has_sse41() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.1");
}

}  // namespace facev3
#endif

namespace facev3 {

inline RowKernel warp_row_kernel() {
#if defined(__x86_64__) || defined(__i386__)
    static const RowKernel chosen = cpu_has_sse41() ? warp_row_sse41 : warp_row_scalar;
    return chosen;
#else
    return warp_row_scalar;
#endif
}

}  // namespace facev3
