/* libmerge_embeddings: merge several face embeddings into one.
 *
 * Plain C ABI, thread-safe, no global state except the SIMD kernel chosen once at load. Every
 * function returns a merge_status (0 = MERGE_OK); outputs are written only on success.
 * Matrices are row-major float32 with a row stride in floats (>= dim); the inner dimension is
 * contiguous. Inputs are never copied or modified.
 *
 * Formulas
 *   mean     Input rows come in n_groups groups of group_size consecutive rows (for example
 *            photo + mirror, or the photos of one person's template). For each group g:
 *              m_g = sum_i w_i x_{g,i} / |x_{g,i}|  /  sum_i w_i
 *            with w_i = 1 when weights is NULL. renormalize != 0 returns m_g / |m_g|.
 *            Weights must be finite, >= 0, and sum to more than 0.
 *   concat   out_r = [p_1,r | p_2,r | ... | p_K,r] for each row r of K parts (a model split in
 *            parts); renormalize != 0 divides the whole row by its L2 norm.
 *
 * Numerical notes: norms are accumulated in float32 (4x8 FMA lanes on AVX2), sums of weighted
 * rows in float32. A NaN or inf in a row makes its squared norm non-finite (MERGE_ERR_NON_FINITE);
 * a zero row, or a merged vector of norm 0 when renormalizing, is MERGE_ERR_ZERO_VECTOR.
 */
#ifndef FACEV3_MERGE_EMBEDDINGS_H
#define FACEV3_MERGE_EMBEDDINGS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MERGE_EMBEDDINGS_VERSION 1

typedef enum merge_status {
    MERGE_OK = 0,
    MERGE_ERR_NULL_POINTER = 1,
    MERGE_ERR_EMPTY = 2,         /* no rows, no parts or dim == 0 */
    MERGE_ERR_BAD_STRIDE = 3,    /* a row stride is smaller than its dim */
    MERGE_ERR_NON_FINITE = 4,    /* NaN or inf in an input */
    MERGE_ERR_ZERO_VECTOR = 5,   /* an input row, or a merged row to renormalize, has norm 0 */
    MERGE_ERR_BAD_WEIGHTS = 6,   /* a weight is negative or non-finite, or they sum to 0 */
    MERGE_ERR_OUT_OF_MEMORY = 7,
    MERGE_ERR_INTERNAL = 8
} merge_status;

int merge_version(void);
const char *merge_status_message(int status);

/* out: n_groups x dim, row stride out_stride (>= dim). weights: group_size floats or NULL. */
int merge_weighted_mean(const float *embeddings, size_t n_groups, size_t group_size, size_t dim,
                        size_t stride, const float *weights, int renormalize, float *out,
                        size_t out_stride);

/* parts[k]: n_rows x dims[k] with row stride strides[k]. out: n_rows x sum(dims), row stride
 * out_stride (>= sum(dims)). */
int merge_concatenate(const float *const *parts, const size_t *dims, const size_t *strides,
                      size_t n_parts, size_t n_rows, int renormalize, float *out, size_t out_stride);

#ifdef __cplusplus
}
#endif

#endif /* FACEV3_MERGE_EMBEDDINGS_H */
