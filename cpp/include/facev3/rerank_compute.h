/* librerank_compute: cosine scoring, calibration and re-ranking of face embeddings.
 *
 * Plain C ABI, no global state except the SIMD kernels chosen once at load; every function is
 * thread-safe and returns a rerank_status (0 = RERANK_OK). Nothing is written to the outputs
 * unless the call succeeds.
 *
 * Layout: matrices are row-major float32. A row stride (in floats, >= dim) lets callers pass rows
 * of a larger buffer; the inner dimension is always contiguous. Inputs are never normalized in
 * place or modified, and candidates never copied (several queries are packed once, see cosine).
 *
 * Formulas
 *   cosine(q, c)   = <q, c> / (|q| |c|), clamped to [-1, 1], float32. One query: one pass over
 *                    each candidate accumulates <q, c> and |c|^2 together (4x8 FMA lanes on
 *                    AVX2, scalar otherwise). Several queries: each is divided by its norm once,
 *                    into a packed copy (O(queries x dim)); tiles of candidates x queries
 *                    accumulate each <q/|q|, c> in one float lane, 64 dims at a time (the
 *                    error bound below), then multiply by 1/|c|.
 *                    Candidates are never copied or normalized.
 *   score(s)       = 1 / (1 + exp(-scale * (s - threshold)))   (logistic calibration)
 *                    threshold is the model's operating point, so score = 0.5 exactly there.
 *   match          = score(cosine) >= match_threshold   (0.5 means "at the operating point"). The
 *                    calibration is fitted on cosines, so whatever the method, score and match
 *                    come from the calibrated cosine: a method's similarity only reorders.
 *   k-reciprocal   Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
 *                  Encoding", CVPR 2017, over the set {query} U candidates:
 *                    d(i,j)   = |x_i/|x_i| - x_j/|x_j||^2 = 2 - 2 cos(i,j)
 *                    N(i,k)   = the k+1 nearest items of i (i itself included), ties by index
 *                    R(i,k)   = { j in N(i,k) : i in N(j,k) }
 *                    R*(i)    = R(i,k1) U R(j,h) for each j in R(i,k1) with
 *                               |R(i,k1) n R(j,h)| >= 2/3 |R(j,h)|, h = ceil(k1/2)
 *                    V[i][j]  = exp(-d(i,j)) / sum_{j' in R*(i)} exp(-d(i,j'))  for j in R*(i)
 *                    V'[i]    = mean of V[j] over the k2 nearest j of i (k2 = 1: V' = V)
 *                    dJ(q,g)  = 1 - sum_j min(V'[q][j], V'[g][j]) / sum_j max(V'[q][j], V'[g][j])
 *                    d*(q,g)  = (1 - lambda) dJ(q,g) + lambda d(q,g)
 *                  similarity = 1 - (d*) / 2, which equals the cosine when lambda = 1.
 *                  Cost O((N+1)^2 dim) time and O((N+1)^2) memory.
 *   alpha-QE       Radenovic et al., TPAMI 2018: q' = q/|q| + sum_{i in top qe_k, cos_i > 0}
 *                  cos_i^alpha c_i/|c_i|; similarity = cosine(q', c).
 *   order          indices by the method's similarity (the cosine for RERANK_METHOD_COSINE),
 *                  descending; equal similarities by index, ascending.
 *
 * Numerical notes: float32 accumulation gives |error| < 1e-6 on unit-scale 1024-d vectors.
 * A NaN or inf anywhere in a row makes its |x|^2 non-finite, which is how RERANK_ERR_NON_FINITE
 * is detected without an extra pass; a squared norm of 0 is RERANK_ERR_ZERO_VECTOR.
 */
#ifndef FACEV3_RERANK_COMPUTE_H
#define FACEV3_RERANK_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2 added rerank_search (symbol version RERANK_COMPUTE_2); version 1 symbols are unchanged. */
#define RERANK_COMPUTE_VERSION 2

typedef enum rerank_status {
    RERANK_OK = 0,
    RERANK_ERR_NULL_POINTER = 1,  /* a required pointer is NULL */
    RERANK_ERR_EMPTY = 2,         /* no queries, no candidates or dim == 0 */
    RERANK_ERR_DIM_MISMATCH = 3,  /* query and candidate dims differ */
    RERANK_ERR_BAD_STRIDE = 4,    /* a row stride is smaller than dim */
    RERANK_ERR_NON_FINITE = 5,    /* NaN or inf in an input vector */
    RERANK_ERR_ZERO_VECTOR = 6,   /* an input vector has norm 0 */
    RERANK_ERR_BAD_PARAMETER = 7, /* an option is out of range (see rerank_options) */
    RERANK_ERR_OUT_OF_MEMORY = 8,
    RERANK_ERR_INTERNAL = 9
} rerank_status;

typedef enum rerank_method {
    RERANK_METHOD_COSINE = 0,
    RERANK_METHOD_KRECIPROCAL = 1,
    RERANK_METHOD_QUERY_EXPANSION = 2
} rerank_method;

/* Logistic calibration of a similarity to a 0-1 score; scale > 0. */
typedef struct rerank_calibration {
    float threshold; /* similarity that maps to 0.5: the model's operating point */
    float scale;     /* slope of the logistic */
} rerank_calibration;

typedef struct rerank_options {
    int32_t method;          /* rerank_method */
    float match_threshold;   /* on the calibrated score, in [0, 1] */
    int32_t k1;              /* k-reciprocal neighbourhood, >= 1 */
    int32_t k2;              /* local query expansion, >= 1 */
    float lambda_value;      /* weight of the original distance, in [0, 1] */
    int32_t qe_k;            /* alpha-QE: neighbours added to the query, >= 1 */
    float qe_alpha;          /* alpha-QE exponent, >= 0 */
} rerank_options;

/* The ABI version this library implements (RERANK_COMPUTE_VERSION). */
int rerank_version(void);

/* A static, human-readable description of a status. Never NULL. */
const char *rerank_status_message(int status);

/* Defaults: cosine, match_threshold 0.5, k1 20, k2 6, lambda 0.3, qe_k 5, qe_alpha 3. */
void rerank_default_options(rerank_options *options);

/* Cosine of each of n_queries queries with each of n_candidates candidates.
 * out_scores: n_queries x n_candidates, row-major, contiguous.
 * One query takes the fused one-pass kernel, several the tiled one (see cosine above), so a
 * query's scores may differ in the last bits between the two (|difference| < 1e-6). */
int rerank_cosine_scores(const float *queries, size_t n_queries, size_t query_dim, size_t query_stride,
                         const float *candidates, size_t n_candidates, size_t candidate_dim,
                         size_t candidate_stride, float *out_scores);

/* The k best candidates of each query by cosine, best first: the exact top-k of what
 * rerank_cosine_scores returns, without a queries x candidates matrix.
 *   out_ids     n_queries x k candidate indices, row-major, contiguous
 *   out_scores  n_queries x k cosines in [-1, 1], matching out_ids
 * Order: score descending, equal scores by candidate index ascending (also between duplicates).
 * k >= 1, else RERANK_ERR_BAD_PARAMETER. When k > n_candidates, every candidate is returned and
 * the last k - n_candidates slots of each row hold id -1 and score -inf (as faiss fills them).
 * Kernel: queries are checked and packed once as unit vectors; candidates are read in blocks that
 * stay in cache while tiles of candidates x queries (12 x 32 on AVX-512, 6 x 16 on AVX2+FMA,
 * scalar otherwise) are scored and streamed into a per-query top-k. One query takes the fused
 * one-pass kernel of rerank_cosine_scores instead. A candidate's score depends only on the query
 * and the candidate, so results are identical for every n_threads.
 * Threading: n_threads 0 means one per hardware thread, 1 runs on the calling thread; at most one
 * thread per 1024 candidates. With at least one panel of queries (a tile's width) per thread,
 * each thread scores its share of the queries against every candidate; with fewer queries, each
 * thread scans a contiguous range of candidates into its own top-k. The calling thread merges.
 * Memory beyond inputs and outputs: O(n_queries * (dim + n_threads * min(k, n_candidates))) and
 * a few KiB per thread; never n_queries x n_candidates.
 * Errors as rerank_cosine_scores; a zero or non-finite row gives the status a single thread would
 * (queries first, then the lowest-index candidate). */
int rerank_search(const float *queries, size_t n_queries, size_t query_dim, size_t query_stride,
                  const float *candidates, size_t n_candidates, size_t candidate_dim, size_t candidate_stride,
                  size_t k, size_t n_threads, int64_t *out_ids, float *out_scores);

/* score[i] = logistic calibration of similarity[i]; similarity and score may alias. */
int rerank_calibrate(const float *similarity, size_t n, const rerank_calibration *calibration,
                     float *out_score);

/* Score one query against n_candidates and order them.
 * Outputs (each n_candidates long, in candidate order, any may be NULL except out_order):
 *   out_cosine      raw cosine
 *   out_similarity  similarity after the method (equals the cosine for RERANK_METHOD_COSINE)
 *   out_score       calibrated score of the cosine
 *   out_match       1 where score >= match_threshold, else 0
 * out_order receives min(top_k, n_candidates) candidate indices, best first by similarity. */
int rerank_run(const float *query, size_t query_dim, const float *candidates, size_t n_candidates,
               size_t candidate_dim, size_t candidate_stride, const rerank_calibration *calibration,
               const rerank_options *options, size_t top_k, float *out_cosine, float *out_similarity,
               float *out_score, uint8_t *out_match, int64_t *out_order);

#ifdef __cplusplus
}
#endif

#endif /* FACEV3_RERANK_COMPUTE_H */
