// Every SIMD kernel against its scalar reference, at widths that hit the vector tails.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../src/base64_kernels.h"
#include "../src/dot_kernels.h"
#include "../src/tile_kernels.h"
#include "../src/warp_kernels.h"

static int failures = 0;

static void check(bool ok, const char *what, size_t n) {
    if (!ok) {
        std::fprintf(stderr, "kernel mismatch: %s at n=%zu\n", what, n);
        ++failures;
    }
}

static void test_dot_kernels(const facev3::DotKernels &k, std::mt19937 &rng) {
    std::normal_distribution<float> gauss;
    for (size_t n : {1, 7, 8, 15, 17, 31, 33, 512, 513, 1024}) {
        std::vector<float> a(n), b(n);
        for (size_t i = 0; i < n; ++i) a[i] = gauss(rng), b[i] = gauss(rng);
        float dot_ref, bb_ref, dot, bb;
        facev3::dot_and_norm_scalar(a.data(), b.data(), n, a.data(), &dot_ref, &bb_ref);
        k.dot_and_norm(a.data(), b.data(), n, a.data(), &dot, &bb);
        const float tol = 1e-5f * static_cast<float>(n);
        check(std::fabs(dot - dot_ref) <= tol && std::fabs(bb - bb_ref) <= tol, k.name, n);
        check(std::fabs(k.dot(a.data(), b.data(), n) - dot_ref) <= tol, k.name, n);
    }
}

// A tile kernel against the scalar reference of its shape, on unit-norm queries and candidates
// (so scores are cosines), including short tiles whose last row repeats, as the scan passes them.
template <size_t Rows, size_t Lanes>
static void test_tile_kernel(const facev3::TileKernel &k, std::mt19937 &rng) {
    static_assert(Rows > 1);
    std::normal_distribution<float> gauss;
    for (size_t dim : {1, 7, 15, 17, 512, 513}) {
        std::vector<float> rows(Rows * dim), panel(dim * Lanes), inv_norms(Rows);
        for (auto &v : rows) v = gauss(rng);
        for (auto &v : panel) v = gauss(rng);
        for (size_t j = 0; j < Lanes; ++j) {
            float nn = 0;
            for (size_t i = 0; i < dim; ++i) nn += panel[i * Lanes + j] * panel[i * Lanes + j];
            for (size_t i = 0; i < dim; ++i) panel[i * Lanes + j] /= std::sqrt(nn);
        }
        for (size_t r = 0; r < Rows; ++r) inv_norms[r] = 1.0f / std::sqrt(facev3::dot_scalar(&rows[r * dim], &rows[r * dim], dim));
        for (size_t count : {size_t{1}, Rows - 1, Rows}) {
            const float *row[Rows];
            for (size_t r = 0; r < Rows; ++r) row[r] = &rows[std::min(r, count - 1) * dim];
            std::vector<float> ref((Rows + 1) * Lanes), got((Rows + 1) * Lanes);
            facev3::cosine_tile_scalar<Rows, Lanes>(row, panel.data(), dim, inv_norms.data(), ref.data());
            k.cosines(row, panel.data(), dim, inv_norms.data(), got.data());
            bool ok = true;
            for (size_t i = 0; i < ref.size(); ++i) ok = ok && std::fabs(ref[i] - got[i]) <= 1e-5f && got[i] >= -1.0f && got[i] <= 1.0f;
            check(ok, k.name, dim);
        }
    }
}

static void test_warp_kernel(facev3::RowKernel kernel, const char *name, std::mt19937 &rng) {
    const size_t h = 64, w = 64, stride = w * 3 + 5;
    std::vector<uint8_t> image(h * stride);
    for (auto &v : image) v = static_cast<uint8_t>(rng());
    std::uniform_int_distribution<int64_t> start(22 << 16, 40 << 16), step(-(1 << 15), 1 << 15);  // stays inside for 40 px
    for (size_t n : {1, 7, 8, 9, 15, 16, 17, 40}) {
        for (bool swap : {false, true}) {
            facev3::RowWalk walk{image.data(), stride, start(rng), start(rng), step(rng), step(rng), n, swap, nullptr};
            std::vector<uint8_t> ref(n * 3), got(n * 3);
            walk.out = ref.data();
            facev3::warp_row_scalar(walk);
            walk.out = got.data();
            kernel(walk);
            check(ref == got, name, n);
        }
    }
}

// Base64 of random groups with one byte (every value in turn) placed at a position that walks
// through the SIMD blocks and the scalar tail: the kernel stops and writes as the reference does.
static void test_base64_kernel(facev3::Base64Kernel kernel, const char *name, std::mt19937 &rng) {
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t groups : {0, 1, 7, 8, 9, 16, 17, 33}) {
        std::string text(4 * groups, 'A');
        for (auto &c : text) c = alphabet[rng() % 64];
        for (size_t at = 0; at < text.size(); ++at) {
            for (int byte = 0; byte < 256; ++byte) {
                std::string changed = text;
                changed[at] = static_cast<char>(byte);
                for (size_t limit : {groups, groups / 2}) {
                    std::vector<uint8_t> ref(3 * groups + 1, 0xAB), got(3 * groups + 1, 0xAB);
                    const size_t n_ref = facev3::decode_groups_scalar(changed.data(), limit, ref.data());
                    const size_t n_got = kernel(changed.data(), limit, got.data());
                    check(n_ref == n_got && ref == got, name, groups);
                }
            }
        }
        std::vector<uint8_t> whole(3 * groups);
        check(kernel(text.data(), groups, whole.data()) == groups, name, groups);
    }
}

int main() {
    std::mt19937 rng(7);
    test_dot_kernels(facev3::kScalarKernels, rng);
    test_dot_kernels(facev3::dot_kernels(), rng);
    test_tile_kernel<6, 16>(facev3::kScalarTile, rng);
#if defined(__x86_64__) || defined(__i386__)
    if (facev3::cpu_has_avx2_fma()) test_dot_kernels(facev3::kAvx2Kernels, rng);
    if (facev3::cpu_has_avx2_fma()) test_tile_kernel<6, 16>(facev3::kAvx2Tile, rng);
    if (facev3::cpu_has_avx512f()) test_tile_kernel<12, 32>(facev3::kAvx512Tile, rng);
    if (facev3::cpu_has_sse41()) test_warp_kernel(facev3::warp_row_sse41, "warp_row_sse41", rng);
    if (facev3::cpu_has_avx2()) test_warp_kernel(facev3::warp_row_avx2, "warp_row_avx2", rng);
#endif
    test_warp_kernel(facev3::warp_row_kernel(), "warp_row_kernel", rng);
#if defined(__x86_64__) || defined(__i386__)
    if (facev3::cpu_has_avx2()) test_base64_kernel(facev3::decode_groups_avx2, "decode_groups_avx2", rng);
#endif
    test_base64_kernel(facev3::base64_kernel(), "base64_kernel", rng);
    if (failures) return 1;
    std::printf("kernels: dot=%s, tile=%s, all match the scalar reference\n", facev3::dot_kernels().name,
                facev3::tile_kernel().name);
    return 0;
}
