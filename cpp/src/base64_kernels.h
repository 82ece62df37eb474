// Base64 decoding kernels for rerank_wire (private header).
//
// A kernel decodes whole groups of 4 characters of the standard alphabet (RFC 4648, section 4)
// into 3 bytes each, stopping before the first group that holds any other character (padding, a
// closing quote), and returns how many groups it decoded. A scalar reference and an AVX2 kernel
// (target attribute, chosen once, on first use) give identical results. The AVX2 kernel is Mula
// and Lemire's ("Faster Base64 Encoding and Decoding Using AVX2 Instructions", ACM TWEB 2018): two
// nibble lookups validate and translate 32 characters at a time, two multiply-adds pack them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "cpu_features.h"

namespace facev3 {

constexpr uint8_t kNotBase64 = 0xFF;

// The 6-bit value of each base64 character, kNotBase64 for any other byte.
inline constexpr std::array<uint8_t, 256> kBase64Values = [] {
    std::array<uint8_t, 256> values{};
    for (auto &v : values) v = kNotBase64;
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (uint8_t i = 0; i < 64; ++i) values[static_cast<uint8_t>(alphabet[i])] = i;
    return values;
}();

// Decodes at most max_groups groups of in into out (3 bytes each); returns the groups decoded.
using Base64Kernel = size_t (*)(const char *in, size_t max_groups, uint8_t *out);

inline size_t decode_groups_scalar(const char *in, size_t max_groups, uint8_t *out) {
    size_t g = 0;
    for (; g < max_groups; ++g, in += 4, out += 3) {
        const uint8_t a = kBase64Values[static_cast<uint8_t>(in[0])], b = kBase64Values[static_cast<uint8_t>(in[1])],
                      c = kBase64Values[static_cast<uint8_t>(in[2])], d = kBase64Values[static_cast<uint8_t>(in[3])];
        if ((a | b | c | d) & 0x80) break;  // a value is < 64, kNotBase64 has the top bit
        const uint32_t bits = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
        out[0] = static_cast<uint8_t>(bits >> 16);
        out[1] = static_cast<uint8_t>(bits >> 8);
        out[2] = static_cast<uint8_t>(bits);
    }
    return g;
}

}  // namespace facev3

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace facev3 {

// 8 groups (32 characters, 24 bytes) per step; the first block holding a character outside the
// alphabet, and the last few groups, go to the scalar reference, which stops where it should.
__attribute__((target("avx2"))) inline size_t decode_groups_avx2(const char *in, size_t max_groups, uint8_t *out) {
    // Each character's low nibble selects a set of high nibbles it may have; a character is in
    // the alphabet exactly when its high nibble's bit is in that set ('+' and '/' share a row).
    const __m256i lut_lo = _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                                            0x1B, 0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                            0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i lut_hi = _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                                            0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
                                            0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    // What to add to a character to get its value, by its high nibble ('/' moved to row 1).
    const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4,
                                              -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0F), slash = _mm256_set1_epi8('/');
    const __m256i pack_pairs = _mm256_set1_epi32(0x01400140), pack_quads = _mm256_set1_epi32(0x00011000);
    // The 3 bytes of each 32-bit lane, most significant first, then the lanes' 24 bytes together.
    const __m256i bytes_order = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6,
                                                 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i lanes_order = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    size_t g = 0;
    for (; g + 8 <= max_groups; g += 8, in += 32, out += 24) {
        const __m256i chars = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(in));
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(chars, 4), nibble);
        const __m256i lo = _mm256_and_si256(chars, nibble);
        if (!_mm256_testz_si256(_mm256_shuffle_epi8(lut_lo, lo), _mm256_shuffle_epi8(lut_hi, hi))) break;
        const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(_mm256_cmpeq_epi8(chars, slash), hi));
        const __m256i values = _mm256_add_epi8(chars, roll);
        const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(values, pack_pairs), pack_quads);
        const __m256i packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, bytes_order), lanes_order);
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out), _mm256_castsi256_si128(packed));
        _mm_storel_epi64(reinterpret_cast<__m128i *>(out + 16), _mm256_extracti128_si256(packed, 1));
    }
    return g + decode_groups_scalar(in, max_groups - g, out);
}

}  // namespace facev3
#endif

namespace facev3 {

inline Base64Kernel base64_kernel() {
#if defined(__x86_64__) || defined(__i386__)
    static const Base64Kernel chosen = cpu_has_avx2() ? decode_groups_avx2 : decode_groups_scalar;
    return chosen;
#else
    return decode_groups_scalar;
#endif
}

}  // namespace facev3
