// libmerge_embeddings: formulas and contracts are documented in facev3/merge_embeddings.h.
#include "facev3/merge_embeddings.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "dot_kernels.h"
#include "guarded.h"

namespace {

using facev3::fail;

template <class Body>
int guarded(Body &&body) {
    return facev3::guarded<merge_status, MERGE_OK, MERGE_ERR_OUT_OF_MEMORY, MERGE_ERR_INTERNAL>(std::forward<Body>(body));
}

float squared_norm(const float *x, size_t n) { return facev3::dot_kernels().dot(x, x, n); }

float checked_inverse_norm(const float *x, size_t n) {
    const float nn = squared_norm(x, n);
    if (!std::isfinite(nn)) fail(MERGE_ERR_NON_FINITE);
    if (nn <= 0.0f) fail(MERGE_ERR_ZERO_VECTOR);
    return 1.0f / std::sqrt(nn);
}

void normalize_in_place(float *x, size_t n) {
    const float inv = checked_inverse_norm(x, n);
    for (size_t j = 0; j < n; ++j) x[j] *= inv;
}

// Weights scaled to sum to 1 (all 1/group_size when none are given).
std::vector<float> unit_sum_weights(const float *weights, size_t group_size) {
    std::vector<float> w(group_size, 1.0f);
    if (weights != nullptr) std::copy(weights, weights + group_size, w.begin());
    double total = 0.0;
    for (float x : w) {
        if (!std::isfinite(x) || x < 0.0f) fail(MERGE_ERR_BAD_WEIGHTS);
        total += x;
    }
    if (!(total > 0.0)) fail(MERGE_ERR_BAD_WEIGHTS);
    for (float &x : w) x = static_cast<float>(x / total);
    return w;
}

}  // namespace

extern "C" {

int merge_version(void) { return MERGE_EMBEDDINGS_VERSION; }

const char *merge_status_message(int status) {
    switch (status) {
        case MERGE_OK: return "ok";
        case MERGE_ERR_NULL_POINTER: return "a required pointer is NULL";
        case MERGE_ERR_EMPTY: return "no embeddings given, or dimension 0";
        case MERGE_ERR_BAD_STRIDE: return "a row stride is smaller than the dimension";
        case MERGE_ERR_NON_FINITE: return "an embedding contains NaN or inf";
        case MERGE_ERR_ZERO_VECTOR: return "an embedding (or the merged result) is the zero vector";
        case MERGE_ERR_BAD_WEIGHTS: return "weights must be finite, >= 0 and not all 0";
        case MERGE_ERR_OUT_OF_MEMORY: return "out of memory";
        case MERGE_ERR_INTERNAL: return "internal error";
        default: return "unknown status";
    }
}

int merge_weighted_mean(const float *embeddings, size_t n_groups, size_t group_size, size_t dim,
                        size_t stride, const float *weights, int renormalize, float *out,
                        size_t out_stride) {
    return guarded([&] {
        if (embeddings == nullptr || out == nullptr) fail(MERGE_ERR_NULL_POINTER);
        if (n_groups == 0 || group_size == 0 || dim == 0) fail(MERGE_ERR_EMPTY);
        if (stride < dim || out_stride < dim) fail(MERGE_ERR_BAD_STRIDE);
        const std::vector<float> w = unit_sum_weights(weights, group_size);
        std::vector<float> merged(n_groups * dim, 0.0f);
        for (size_t g = 0; g < n_groups; ++g) {
            float *m = &merged[g * dim];
            for (size_t i = 0; i < group_size; ++i) {
                const float *x = embeddings + (g * group_size + i) * stride;
                const float scale = w[i] * checked_inverse_norm(x, dim);
                for (size_t j = 0; j < dim; ++j) m[j] += scale * x[j];
            }
            if (renormalize) normalize_in_place(m, dim);
        }
        for (size_t g = 0; g < n_groups; ++g) std::copy_n(&merged[g * dim], dim, out + g * out_stride);
    });
}

int merge_concatenate(const float *const *parts, const size_t *dims, const size_t *strides,
                      size_t n_parts, size_t n_rows, int renormalize, float *out, size_t out_stride) {
    return guarded([&] {
        if (parts == nullptr || dims == nullptr || strides == nullptr || out == nullptr)
            fail(MERGE_ERR_NULL_POINTER);
        if (n_parts == 0 || n_rows == 0) fail(MERGE_ERR_EMPTY);
        size_t total = 0;
        for (size_t k = 0; k < n_parts; ++k) {
            if (parts[k] == nullptr) fail(MERGE_ERR_NULL_POINTER);
            if (dims[k] == 0) fail(MERGE_ERR_EMPTY);
            if (strides[k] < dims[k]) fail(MERGE_ERR_BAD_STRIDE);
            total += dims[k];
        }
        if (out_stride < total) fail(MERGE_ERR_BAD_STRIDE);
        std::vector<float> merged(n_rows * total);
        for (size_t r = 0; r < n_rows; ++r) {
            float *row = &merged[r * total];
            for (size_t k = 0, at = 0; k < n_parts; at += dims[k], ++k)
                std::copy_n(parts[k] + r * strides[k], dims[k], row + at);
            const float nn = squared_norm(row, total);
            if (!std::isfinite(nn)) fail(MERGE_ERR_NON_FINITE);
            if (renormalize) normalize_in_place(row, total);
        }
        for (size_t r = 0; r < n_rows; ++r) std::copy_n(&merged[r * total], total, out + r * out_stride);
    });
}

}  // extern "C"
