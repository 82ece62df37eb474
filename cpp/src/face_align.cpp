// face_align: formulas and contracts are documented in facev3/face_align.h.
#include "facev3/face_align.h"

#include <cmath>
#include <utility>
#include <vector>

#include "guarded.h"
#include "warp_kernels.h"

namespace {

using facev3::RowWalk;
using facev3::Tap;

constexpr float kArcFaceTemplate[ALIGN_N_LANDMARKS * 2] = {
    38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f, 71.7366f, 41.5493f, 92.3655f, 70.7299f, 92.2041f};

// Source positions beyond this many pixels cannot be represented in 48.16 fixed point safely.
constexpr double kMaxSourceCoordinate = 1e12;

using facev3::fail;

template <class Body>
int guarded(Body &&body) {
    return facev3::guarded<align_status, ALIGN_OK, ALIGN_ERR_OUT_OF_MEMORY, ALIGN_ERR_INTERNAL>(std::forward<Body>(body));
}

struct Similarity {
    double a, b, tx, ty;  // [[a, -b, tx], [b, a, ty]]
};

Similarity umeyama(const float *src, const float *dst, size_t n) {
    double ms[2] = {0, 0}, md[2] = {0, 0};
    for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 2; ++k) {
            if (!std::isfinite(src[2 * i + k]) || !std::isfinite(dst[2 * i + k])) fail(ALIGN_ERR_NON_FINITE);
            ms[k] += src[2 * i + k] / static_cast<double>(n);
            md[k] += dst[2 * i + k] / static_cast<double>(n);
        }
    double spread = 0, dot = 0, cross = 0;
    for (size_t i = 0; i < n; ++i) {
        const double px = src[2 * i] - ms[0], py = src[2 * i + 1] - ms[1];
        const double qx = dst[2 * i] - md[0], qy = dst[2 * i + 1] - md[1];
        spread += px * px + py * py;
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
    }
    if (!(spread > 1e-12)) fail(ALIGN_ERR_DEGENERATE);
    const double a = dot / spread, b = cross / spread;
    if (!(a * a + b * b > 1e-24)) fail(ALIGN_ERR_DEGENERATE);
    return Similarity{a, b, md[0] - (a * ms[0] - b * ms[1]), md[1] - (b * ms[0] + a * ms[1])};
}

// Reads a tap, or the constant border 0 outside the image.
struct BorderedImage {
    const uint8_t *data;
    int64_t height, width;
    size_t stride;
    const uint8_t *pixel(int64_t x, int64_t y) const {
        static constexpr uint8_t kBorder[3] = {0, 0, 0};
        if (x < 0 || y < 0 || x >= width || y >= height) return kBorder;
        return data + static_cast<size_t>(y) * stride + static_cast<size_t>(x) * 3;
    }
};

// The rows that touch the border: each pixel gathers its four taps with bounds checks.
void warp_row_bordered(const BorderedImage &img, const RowWalk &w) {
    int64_t X = w.x, Y = w.y;
    for (size_t i = 0; i < w.n; ++i, X += w.dx, Y += w.dy) {
        const Tap t = facev3::tap_at(X, Y);
        uint8_t top[6], bottom[6];
        for (int k = 0; k < 2; ++k)
            for (int c = 0; c < 3; ++c) {
                top[3 * k + c] = img.pixel(t.x + k, t.y)[c];
                bottom[3 * k + c] = img.pixel(t.x + k, t.y + 1)[c];
            }
        facev3::blend_pixel(top, bottom, t, w.swap_rb, w.out + i * 3);
    }
}

// The fast kernels read 8 bytes from a tap's row: taps x..x+2 and y..y+1 must be inside.
bool inside_for_fast_kernel(const BorderedImage &img, const Tap &t) {
    return t.x >= 0 && t.y >= 0 && t.x + 2 < img.width && t.y + 1 < img.height;
}

int64_t fixed16(double v) { return static_cast<int64_t>(std::llround(v * 65536.0)); }

// Maps output pixels back to source pixels: the inverse of a similarity.
struct InverseMap {
    double ia, ib, ox, oy;  // source = [[ia, ib], [-ib, ia]] (x, y) + (ox, oy)
};

InverseMap inverse_of(const Similarity &m) {
    // Inverse of [[a, -b], [b, a]] is [[a, b], [-b, a]] / (a^2 + b^2).
    const double det = m.a * m.a + m.b * m.b;
    const double ia = m.a / det, ib = m.b / det;
    const InverseMap inv{ia, ib, -(ia * m.tx + ib * m.ty), -(-ib * m.tx + ia * m.ty)};
    const double far = static_cast<double>(ALIGN_OUTPUT_SIZE);
    for (double cx : {0.0, far})
        for (double cy : {0.0, far})
            if (std::fabs(ia * cx + ib * cy + inv.ox) > kMaxSourceCoordinate ||
                std::fabs(-ib * cx + ia * cy + inv.oy) > kMaxSourceCoordinate)
                fail(ALIGN_ERR_DEGENERATE);
    return inv;
}

void warp_face(const BorderedImage &img, const InverseMap &m, bool swap_rb, uint8_t *out) {
    const facev3::RowKernel fast = facev3::warp_row_kernel();
    const int64_t dx = fixed16(m.ia), dy = fixed16(-m.ib);
    const size_t n = ALIGN_OUTPUT_SIZE;
    for (size_t row = 0; row < n; ++row) {
        const double y = static_cast<double>(row);
        const RowWalk w{img.data, img.stride, fixed16(m.ib * y + m.ox), fixed16(m.ia * y + m.oy), dx, dy, n, swap_rb,
                        out + row * n * 3};
        // Positions are affine along the row, so its two ends bound every tap in between.
        const bool inside = inside_for_fast_kernel(img, facev3::tap_at(w.x, w.y)) &&
                            inside_for_fast_kernel(img, facev3::tap_at(w.x + (n - 1) * dx, w.y + (n - 1) * dy));
        if (inside) fast(w);
        else warp_row_bordered(img, w);
    }
}

}  // namespace

extern "C" {

const char *align_status_message(int status) {
    switch (status) {
        case ALIGN_OK: return "ok";
        case ALIGN_ERR_NULL_POINTER: return "a required pointer is NULL";
        case ALIGN_ERR_EMPTY: return "empty image, or fewer than 2 points";
        case ALIGN_ERR_BAD_STRIDE: return "the image row stride is smaller than 3 * width";
        case ALIGN_ERR_NON_FINITE: return "landmarks contain NaN or inf";
        case ALIGN_ERR_DEGENERATE: return "landmarks are degenerate (coincident points or a singular transform)";
        case ALIGN_ERR_OUT_OF_MEMORY: return "out of memory";
        case ALIGN_ERR_INTERNAL: return "internal error";
        default: return "unknown status";
    }
}

const float *align_arcface_template(void) { return kArcFaceTemplate; }

int align_estimate_similarity(const float *src_xy, const float *dst_xy, size_t n_points, float *out_matrix) {
    return guarded([&] {
        if (src_xy == nullptr || dst_xy == nullptr || out_matrix == nullptr) fail(ALIGN_ERR_NULL_POINTER);
        if (n_points < 2) fail(ALIGN_ERR_EMPTY);
        const Similarity m = umeyama(src_xy, dst_xy, n_points);
        const double values[6] = {m.a, -m.b, m.tx, m.b, m.a, m.ty};
        for (int i = 0; i < 6; ++i) out_matrix[i] = static_cast<float>(values[i]);
    });
}

int align_warp_faces(const uint8_t *image, size_t height, size_t width, size_t row_stride,
                     const float *landmarks, size_t n_faces, int swap_rb, uint8_t *out) {
    return guarded([&] {
        if (n_faces == 0) return;
        if (image == nullptr || landmarks == nullptr || out == nullptr) fail(ALIGN_ERR_NULL_POINTER);
        if (height == 0 || width == 0) fail(ALIGN_ERR_EMPTY);
        if (row_stride < 3 * width) fail(ALIGN_ERR_BAD_STRIDE);
        // Estimate every transform first so that a bad face leaves the output untouched.
        std::vector<InverseMap> maps;
        maps.reserve(n_faces);
        for (size_t f = 0; f < n_faces; ++f)
            maps.push_back(inverse_of(umeyama(landmarks + f * ALIGN_N_LANDMARKS * 2, kArcFaceTemplate, ALIGN_N_LANDMARKS)));
        const BorderedImage img{image, static_cast<int64_t>(height), static_cast<int64_t>(width), row_stride};
        const size_t face_bytes = ALIGN_OUTPUT_SIZE * ALIGN_OUTPUT_SIZE * 3;
        for (size_t f = 0; f < n_faces; ++f) warp_face(img, maps[f], swap_rb != 0, out + f * face_bytes);
    });
}

}  // extern "C"
