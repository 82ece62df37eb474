// Cosine tile kernels for librerank_compute's batch scoring (private header).
//
// A tile is `rows` candidates x `lanes` queries. The queries come packed as a panel: dim x lanes
// floats, query j's element k at panel[k * lanes + j], already divided by the query's norm; the
// candidates are read in place through row pointers. Each kernel writes rows + 1 rows of lanes:
//   out[r * lanes + j]    = clamp(<rows[r], query j> * inv_norms[r], -1, 1)
//   out[rows * lanes + j] = max over r of out[r * lanes + j], so that a top-k can skip a query
//                           with one comparison per tile
// Every <rows[r], query j> is summed in one float lane, in k order, kTileChunk dims at a time and
// the chunks added up in out (one sum over 1024 dims drifted 1.2e-6 on self-similarity; chunks of
// 64 keep it under 1e-6), so a score does not depend on where its candidate or query falls in a
// tile. A scalar reference and per-ISA kernels (target attributes, never -march) are picked once
// at load by tile_kernel().
#pragma once

#include <algorithm>
#include <cstddef>

#include "dot_kernels.h"

namespace facev3 {

using TileFn = void (*)(const float *const *rows, const float *panel, size_t dim, const float *inv_norms,
                        float *out);

inline constexpr size_t kTileChunk = 64;

struct TileKernel {
    size_t rows, lanes;
    TileFn cosines;
    const char *name;
};

template <size_t Rows, size_t Lanes>
void cosine_tile_scalar(const float *const *rows, const float *panel, size_t dim, const float *inv_norms,
                        float *out) {
    std::fill(out, out + Rows * Lanes, 0.0f);
    for (size_t k0 = 0; k0 < dim; k0 += kTileChunk) {
        float acc[Rows][Lanes] = {};
        for (size_t k = k0; k < std::min(dim, k0 + kTileChunk); ++k)
            for (size_t r = 0; r < Rows; ++r)
                for (size_t j = 0; j < Lanes; ++j) acc[r][j] += rows[r][k] * panel[k * Lanes + j];
        for (size_t r = 0; r < Rows; ++r)
            for (size_t j = 0; j < Lanes; ++j) out[r * Lanes + j] += acc[r][j];
    }
    float *best = out + Rows * Lanes;
    std::fill(best, best + Lanes, -1.0f);
    for (size_t r = 0; r < Rows; ++r)
        for (size_t j = 0; j < Lanes; ++j) {
            out[r * Lanes + j] = std::min(1.0f, std::max(-1.0f, out[r * Lanes + j] * inv_norms[r]));
            best[j] = std::max(best[j], out[r * Lanes + j]);
        }
}

inline constexpr TileKernel kScalarTile{6, 16, cosine_tile_scalar<6, 16>, "scalar"};

}  // namespace facev3

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace facev3 {

// 6 x 16: 12 accumulators, 2 panel loads and 6 broadcasts per k, so the two FMA ports, not the
// loads, set the pace; 15 of the 16 ymm registers.
__attribute__((target("avx2,fma"))) inline void cosine_tile_avx2(const float *const *rows, const float *panel,
                                                                  size_t dim, const float *inv_norms, float *out) {
    constexpr size_t R = 6;
    const float *row[R];
    for (size_t r = 0; r < R; ++r) row[r] = rows[r];
    for (size_t i = 0; i < R * 16; i += 8) _mm256_storeu_ps(out + i, _mm256_setzero_ps());
    for (size_t k0 = 0; k0 < dim; k0 += kTileChunk) {
        __m256 acc[R][2];
        for (size_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        for (size_t k = k0; k < std::min(dim, k0 + kTileChunk); ++k) {
            const __m256 q0 = _mm256_loadu_ps(panel + k * 16), q1 = _mm256_loadu_ps(panel + k * 16 + 8);
            for (size_t r = 0; r < R; ++r) {
                const __m256 c = _mm256_broadcast_ss(row[r] + k);
                acc[r][0] = _mm256_fmadd_ps(c, q0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(c, q1, acc[r][1]);
            }
        }
        for (size_t r = 0; r < R; ++r)
            for (size_t h = 0; h < 2; ++h) {
                float *sum = out + r * 16 + h * 8;
                _mm256_storeu_ps(sum, _mm256_add_ps(_mm256_loadu_ps(sum), acc[r][h]));
            }
    }
    const __m256 lo = _mm256_set1_ps(-1.0f), hi = _mm256_set1_ps(1.0f);
    __m256 best[2] = {lo, lo};
    for (size_t r = 0; r < R; ++r) {
        const __m256 s = _mm256_set1_ps(inv_norms[r]);
        for (size_t h = 0; h < 2; ++h) {
            const __m256 sum = _mm256_loadu_ps(out + r * 16 + h * 8);
            const __m256 x = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_mul_ps(sum, s)));
            _mm256_storeu_ps(out + r * 16 + h * 8, x);
            best[h] = _mm256_max_ps(best[h], x);
        }
    }
    for (size_t h = 0; h < 2; ++h) _mm256_storeu_ps(out + R * 16 + h * 8, best[h]);
}

// 12 x 32: 24 accumulators, 2 panel loads and 12 broadcasts per k; 27 of the 32 zmm registers.
// GCC 12's _mm512_min_ps/_mm512_max_ps pass a deliberately undefined register that -Wuninitialized
// reports (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) inline void cosine_tile_avx512(const float *const *rows, const float *panel,
                                                                   size_t dim, const float *inv_norms, float *out) {
    constexpr size_t R = 12;
    const float *row[R];
    for (size_t r = 0; r < R; ++r) row[r] = rows[r];
    for (size_t i = 0; i < R * 32; i += 16) _mm512_storeu_ps(out + i, _mm512_setzero_ps());
    for (size_t k0 = 0; k0 < dim; k0 += kTileChunk) {
        __m512 acc[R][2];
        for (size_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (size_t k = k0; k < std::min(dim, k0 + kTileChunk); ++k) {
            const __m512 q0 = _mm512_loadu_ps(panel + k * 32), q1 = _mm512_loadu_ps(panel + k * 32 + 16);
            for (size_t r = 0; r < R; ++r) {
                const __m512 c = _mm512_set1_ps(row[r][k]);
                acc[r][0] = _mm512_fmadd_ps(c, q0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(c, q1, acc[r][1]);
            }
        }
        for (size_t r = 0; r < R; ++r)
            for (size_t h = 0; h < 2; ++h) {
                float *sum = out + r * 32 + h * 16;
                _mm512_storeu_ps(sum, _mm512_add_ps(_mm512_loadu_ps(sum), acc[r][h]));
            }
    }
    const __m512 lo = _mm512_set1_ps(-1.0f), hi = _mm512_set1_ps(1.0f);
    __m512 best[2] = {lo, lo};
    for (size_t r = 0; r < R; ++r) {
        const __m512 s = _mm512_set1_ps(inv_norms[r]);
        for (size_t h = 0; h < 2; ++h) {
            const __m512 sum = _mm512_loadu_ps(out + r * 32 + h * 16);
            const __m512 x = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_mul_ps(sum, s)));
            _mm512_storeu_ps(out + r * 32 + h * 16, x);
            best[h] = _mm512_max_ps(best[h], x);
        }
    }
    for (size_t h = 0; h < 2; ++h) _mm512_storeu_ps(out + R * 32 + h * 16, best[h]);
}

#pragma GCC diagnostic pop

inline constexpr TileKernel kAvx2Tile{6, 16, cosine_tile_avx2, "avx2_fma"};
inline constexpr TileKernel kAvx512Tile{12, 32, cosine_tile_avx512, "avx512f"};

}  // namespace facev3
#endif

namespace facev3 {

// The widest tile kernel this CPU runs, chosen on first use.
inline const TileKernel &tile_kernel() {
#if defined(__x86_64__) || defined(__i386__)
    static const TileKernel &chosen = cpu_has_avx512f() ? kAvx512Tile : cpu_has_avx2_fma() ? kAvx2Tile : kScalarTile;
    return chosen;
#else
    return kScalarTile;
#endif
}

}  // namespace facev3
