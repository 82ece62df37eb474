/* Proves the C ABI without Python: links librerank_compute.so, libmerge_embeddings.so, face_align
 * and rerank_wire through their headers only, checks results against hand-derived values and every
 * documented error status. Run by ctest, also under AddressSanitizer + UBSan in CI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facev3/face_align.h"
#include "facev3/merge_embeddings.h"
#include "facev3/rerank_compute.h"
#include "facev3/rerank_wire.h"

static int failures = 0;

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                               \
        }                                                             \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK(fabs((double)(a) - (double)(b)) <= (tol))

static void test_cosine_scores(void) {
    /* q0 = (1,0,0), q1 = (0,2,0); candidates along x, y and the diagonal of x/y (stride 4). */
    const float queries[2 * 3] = {1, 0, 0, 0, 2, 0};
    const float candidates[3 * 4] = {3, 0, 0, 99, 0, 5, 0, 99, 1, 1, 0, 99};
    float out[6];
    CHECK(rerank_cosine_scores(queries, 2, 3, 3, candidates, 3, 3, 4, out) == RERANK_OK);
    CHECK_NEAR(out[0], 1.0, 1e-6);
    CHECK_NEAR(out[1], 0.0, 1e-6);
    CHECK_NEAR(out[2], sqrt(0.5), 1e-6);
    CHECK_NEAR(out[3], 0.0, 1e-6);
    CHECK_NEAR(out[4], 1.0, 1e-6);
    CHECK_NEAR(out[5], sqrt(0.5), 1e-6);

    const float zero[3] = {0, 0, 0}, with_nan[3] = {1, NAN, 0}, with_inf[3] = {INFINITY, 0, 0};
    CHECK(rerank_cosine_scores(queries, 1, 3, 3, candidates, 0, 3, 4, out) == RERANK_ERR_EMPTY);
    CHECK(rerank_cosine_scores(queries, 1, 3, 3, candidates, 3, 2, 4, out) == RERANK_ERR_DIM_MISMATCH);
    CHECK(rerank_cosine_scores(queries, 1, 3, 3, candidates, 3, 3, 2, out) == RERANK_ERR_BAD_STRIDE);
    CHECK(rerank_cosine_scores(queries, 1, 3, 3, zero, 1, 3, 3, out) == RERANK_ERR_ZERO_VECTOR);
    CHECK(rerank_cosine_scores(zero, 1, 3, 3, candidates, 1, 3, 4, out) == RERANK_ERR_ZERO_VECTOR);
    CHECK(rerank_cosine_scores(queries, 1, 3, 3, with_nan, 1, 3, 3, out) == RERANK_ERR_NON_FINITE);
    CHECK(rerank_cosine_scores(queries, 1, 3, 3, with_inf, 1, 3, 3, out) == RERANK_ERR_NON_FINITE);
    CHECK(rerank_cosine_scores(NULL, 1, 3, 3, candidates, 1, 3, 4, out) == RERANK_ERR_NULL_POINTER);
    CHECK(strcmp(rerank_status_message(RERANK_ERR_ZERO_VECTOR), "an embedding is the zero vector") == 0);
    CHECK(rerank_status_message(12345) != NULL);
    CHECK(rerank_version() == RERANK_COMPUTE_VERSION);
}

/* Deterministic pseudo-random floats in [-1, 1). */
static float lcg_float(unsigned *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

static void test_search(void) {
    /* Queries along x and y; candidates along x, y and twice the x/y diagonal (a tie), stride 4. */
    const float queries[2 * 3] = {1, 0, 0, 0, 2, 0};
    const float candidates[4 * 4] = {3, 0, 0, 99, 0, 5, 0, 99, 1, 1, 0, 99, 2, 2, 0, 99};
    int64_t ids[2 * 5];
    float scores[2 * 5];
    CHECK(rerank_search(queries, 2, 3, 3, candidates, 4, 3, 4, 2, 1, ids, scores) == RERANK_OK);
    CHECK(ids[0] == 0 && ids[1] == 2); /* the tied diagonals: the lower index wins */
    CHECK(ids[2] == 1 && ids[3] == 2);
    CHECK_NEAR(scores[0], 1.0, 1e-6);
    CHECK_NEAR(scores[1], sqrt(0.5), 1e-6);
    CHECK_NEAR(scores[3], sqrt(0.5), 1e-6);

    /* k > n: every candidate, then id -1 and score -inf. */
    CHECK(rerank_search(queries, 2, 3, 3, candidates, 4, 3, 4, 5, 1, ids, scores) == RERANK_OK);
    CHECK(ids[0] == 0 && ids[1] == 2 && ids[2] == 3 && ids[3] == 1 && ids[4] == -1);
    CHECK(isinf(scores[4]) && scores[4] < 0);
    CHECK(ids[5] == 1 && ids[9] == -1);

    const float zero[3] = {0, 0, 0}, with_nan[3] = {1, NAN, 0};
    CHECK(rerank_search(queries, 2, 3, 3, candidates, 4, 3, 4, 0, 1, ids, scores) == RERANK_ERR_BAD_PARAMETER);
    CHECK(rerank_search(queries, 2, 3, 3, candidates, 4, 3, 4, 2, 1, NULL, scores) == RERANK_ERR_NULL_POINTER);
    CHECK(rerank_search(queries, 2, 3, 3, candidates, 4, 3, 4, 2, 1, ids, NULL) == RERANK_ERR_NULL_POINTER);
    CHECK(rerank_search(queries, 0, 3, 3, candidates, 4, 3, 4, 2, 1, ids, scores) == RERANK_ERR_EMPTY);
    CHECK(rerank_search(queries, 2, 3, 3, candidates, 4, 2, 4, 2, 1, ids, scores) == RERANK_ERR_DIM_MISMATCH);
    CHECK(rerank_search(queries, 2, 3, 2, candidates, 4, 3, 4, 2, 1, ids, scores) == RERANK_ERR_BAD_STRIDE);
    CHECK(rerank_search(zero, 1, 3, 3, candidates, 4, 3, 4, 2, 1, ids, scores) == RERANK_ERR_ZERO_VECTOR);
    CHECK(rerank_search(queries, 2, 3, 3, with_nan, 1, 3, 3, 2, 1, ids, scores) == RERANK_ERR_NON_FINITE);
}

/* Several threads: the same results as one, and as the top of rerank_cosine_scores; a bad
 * candidate gives the status of the lowest-index one, whichever thread meets it; failed calls
 * leave the outputs alone. 7 queries split the candidates between threads, 70 (a few panels of
 * a tile's width) split the queries. */
static void test_search_threads(int Q) {
    enum { N = 5000, D = 19, K = 9 };
    float *queries = malloc(sizeof(float) * Q * D), *candidates = malloc(sizeof(float) * N * D);
    float *all = malloc(sizeof(float) * Q * N);
    int64_t *ids1 = malloc(sizeof(int64_t) * Q * K), *ids3 = malloc(sizeof(int64_t) * Q * K);
    int64_t *untouched = malloc(sizeof(int64_t) * Q * K);
    float *scores1 = malloc(sizeof(float) * Q * K), *scores3 = malloc(sizeof(float) * Q * K);
    const size_t id_bytes = sizeof(int64_t) * Q * K, score_bytes = sizeof(float) * Q * K;
    unsigned state = 12345;
    for (int i = 0; i < Q * D; ++i) queries[i] = lcg_float(&state);
    for (int i = 0; i < N * D; ++i) candidates[i] = lcg_float(&state);
    CHECK(rerank_search(queries, Q, D, D, candidates, N, D, D, K, 1, ids1, scores1) == RERANK_OK);
    CHECK(rerank_search(queries, Q, D, D, candidates, N, D, D, K, 3, ids3, scores3) == RERANK_OK);
    CHECK(memcmp(ids1, ids3, id_bytes) == 0 && memcmp(scores1, scores3, score_bytes) == 0);
    CHECK(rerank_search(queries, Q, D, D, candidates, N, D, D, K, 0, ids3, scores3) == RERANK_OK);
    CHECK(memcmp(ids1, ids3, id_bytes) == 0);

    CHECK(rerank_cosine_scores(queries, Q, D, D, candidates, N, D, D, all) == RERANK_OK);
    for (int q = 0; q < Q; ++q) {
        int above = 0; /* candidates strictly better than the k-th: fewer than K */
        for (int i = 0; i < N; ++i) above += all[q * N + i] > scores1[q * K + K - 1];
        CHECK(above < K);
        for (int r = 0; r < K; ++r) {
            CHECK_NEAR(all[q * N + ids1[q * K + r]], scores1[q * K + r], 0.0);
            if (r > 0) CHECK(scores1[q * K + r - 1] >= scores1[q * K + r]);
        }
    }

    memset(untouched, 0x5a, id_bytes);
    memcpy(ids3, untouched, id_bytes);
    candidates[4000 * D + 3] = NAN;
    memset(candidates + 2000 * D, 0, sizeof(float) * D);
    CHECK(rerank_search(queries, Q, D, D, candidates, N, D, D, K, 1, ids3, scores3) == RERANK_ERR_ZERO_VECTOR);
    CHECK(rerank_search(queries, Q, D, D, candidates, N, D, D, K, 3, ids3, scores3) == RERANK_ERR_ZERO_VECTOR);
    CHECK(rerank_search(queries, 1, D, D, candidates, N, D, D, K, 3, ids3, scores3) == RERANK_ERR_ZERO_VECTOR);
    CHECK(memcmp(ids3, untouched, id_bytes) == 0);
    free(queries);
    free(candidates);
    free(all);
    free(ids1);
    free(ids3);
    free(untouched);
    free(scores1);
    free(scores3);
}

static void test_rerank_run(void) {
    /* cos(query, candidate i) = 0.9, 0.3, 0.6 in 2-D. */
    const float query[2] = {1, 0};
    const double cosines[3] = {0.9, 0.3, 0.6};
    float candidates[3 * 2];
    for (int i = 0; i < 3; ++i) {
        candidates[2 * i] = (float)cosines[i];
        candidates[2 * i + 1] = (float)sqrt(1 - cosines[i] * cosines[i]);
    }
    const rerank_calibration cal = {0.6f, 10.0f};
    rerank_options opt;
    rerank_default_options(&opt);
    CHECK(opt.method == RERANK_METHOD_COSINE && opt.k1 == 20 && opt.k2 == 6);
    float cos_out[3], sim[3], score[3];
    uint8_t match[3];
    int64_t order[3] = {-1, -1, -1};
    CHECK(rerank_run(query, 2, candidates, 3, 2, 2, &cal, &opt, 2, cos_out, sim, score, match, order) == RERANK_OK);
    CHECK(order[0] == 0 && order[1] == 2 && order[2] == -1);
    CHECK_NEAR(score[2], 0.5, 1e-6); /* exactly at the operating point */
    CHECK_NEAR(score[0], 1.0 / (1.0 + exp(-10.0 * 0.3)), 1e-5);
    CHECK(match[0] == 1 && match[1] == 0 && match[2] == 1);
    CHECK_NEAR(sim[1], cos_out[1], 0.0);

    float calibrated[3];
    CHECK(rerank_calibrate(cos_out, 3, &cal, calibrated) == RERANK_OK);
    CHECK_NEAR(calibrated[0], score[0], 0.0);

    rerank_calibration bad_cal = {0.5f, -1.0f};
    CHECK(rerank_run(query, 2, candidates, 3, 2, 2, &bad_cal, &opt, 3, NULL, NULL, NULL, NULL, order) == RERANK_ERR_BAD_PARAMETER);
    opt.method = 7;
    CHECK(rerank_run(query, 2, candidates, 3, 2, 2, &cal, &opt, 3, NULL, NULL, NULL, NULL, order) == RERANK_ERR_BAD_PARAMETER);
    rerank_default_options(&opt);
    opt.lambda_value = NAN;
    CHECK(rerank_run(query, 2, candidates, 3, 2, 2, &cal, &opt, 3, NULL, NULL, NULL, NULL, order) == RERANK_ERR_BAD_PARAMETER);

    /* Both re-ranking methods run and keep the obvious best candidate first. */
    rerank_default_options(&opt);
    opt.method = RERANK_METHOD_KRECIPROCAL;
    CHECK(rerank_run(query, 2, candidates, 3, 2, 2, &cal, &opt, 3, NULL, sim, NULL, NULL, order) == RERANK_OK);
    CHECK(order[0] == 0);
    opt.method = RERANK_METHOD_QUERY_EXPANSION;
    CHECK(rerank_run(query, 2, candidates, 3, 2, 2, &cal, &opt, 3, NULL, sim, NULL, NULL, order) == RERANK_OK);
    CHECK(order[0] == 0);
}

static void test_merge(void) {
    /* Group of two: (2,0) and (0,3) -> mean of unit vectors (0.5, 0.5) -> renormalized. */
    const float rows[2 * 2] = {2, 0, 0, 3};
    float out[2];
    CHECK(merge_weighted_mean(rows, 1, 2, 2, 2, NULL, 0, out, 2) == MERGE_OK);
    CHECK_NEAR(out[0], 0.5, 1e-6);
    CHECK_NEAR(out[1], 0.5, 1e-6);
    const float weights[2] = {3, 1};
    CHECK(merge_weighted_mean(rows, 1, 2, 2, 2, weights, 1, out, 2) == MERGE_OK);
    CHECK_NEAR(out[0], 0.75 / sqrt(0.75 * 0.75 + 0.25 * 0.25), 1e-6);
    const float bad_weights[2] = {-1, 2}, zero_weights[2] = {0, 0};
    CHECK(merge_weighted_mean(rows, 1, 2, 2, 2, bad_weights, 1, out, 2) == MERGE_ERR_BAD_WEIGHTS);
    CHECK(merge_weighted_mean(rows, 1, 2, 2, 2, zero_weights, 1, out, 2) == MERGE_ERR_BAD_WEIGHTS);
    const float opposite[4] = {1, 0, -1, 0};
    CHECK(merge_weighted_mean(opposite, 1, 2, 2, 2, NULL, 1, out, 2) == MERGE_ERR_ZERO_VECTOR);
    CHECK(merge_weighted_mean(rows, 0, 2, 2, 2, NULL, 1, out, 2) == MERGE_ERR_EMPTY);

    const float a[2] = {3, 0}, b[1] = {4};
    const float *parts[2] = {a, b};
    const size_t dims[2] = {2, 1}, strides[2] = {2, 1};
    float cat[3];
    CHECK(merge_concatenate(parts, dims, strides, 2, 1, 1, cat, 3) == MERGE_OK);
    CHECK_NEAR(cat[0], 0.6, 1e-6);
    CHECK_NEAR(cat[2], 0.8, 1e-6);
    CHECK(merge_concatenate(parts, dims, strides, 2, 1, 0, cat, 2) == MERGE_ERR_BAD_STRIDE);
    CHECK(merge_version() == MERGE_EMBEDDINGS_VERSION);
}

static void test_align(void) {
    const float *tpl = align_arcface_template();
    float m[6];
    /* The template onto itself is the identity. */
    CHECK(align_estimate_similarity(tpl, tpl, 5, m) == ALIGN_OK);
    CHECK_NEAR(m[0], 1, 1e-6);
    CHECK_NEAR(m[1], 0, 1e-6);
    CHECK_NEAR(m[2], 0, 1e-4);
    /* Points scaled by 2 and shifted map back with scale 0.5. */
    float src[10];
    for (int i = 0; i < 10; ++i) src[i] = 2 * tpl[i] + 7;
    CHECK(align_estimate_similarity(src, tpl, 5, m) == ALIGN_OK);
    CHECK_NEAR(m[0], 0.5, 1e-6);
    CHECK_NEAR(m[2], -3.5, 1e-4);

    /* A 224 x 224 gradient warped with landmarks at 2x the template: output pixel (x, y)
     * samples (2x, 2y), so it holds the gradient's value there. */
    const size_t h = 224, w = 224;
    unsigned char *img = malloc(h * w * 3);
    unsigned char *out = malloc(2 * 112 * 112 * 3);
    for (size_t y = 0; y < h; ++y)
        for (size_t x = 0; x < w; ++x) {
            img[(y * w + x) * 3 + 0] = (unsigned char)x;
            img[(y * w + x) * 3 + 1] = (unsigned char)y;
            img[(y * w + x) * 3 + 2] = 7;
        }
    float lm[20];
    for (int i = 0; i < 10; ++i) lm[i] = lm[10 + i] = 2 * tpl[i];
    CHECK(align_warp_faces(img, h, w, w * 3, lm, 2, 1, out) == ALIGN_OK);
    CHECK(out[(10 * 112 + 20) * 3 + 2] == 40); /* swapped: channel 0 lands last */
    CHECK(out[(10 * 112 + 20) * 3 + 1] == 20);
    CHECK(out[(10 * 112 + 20) * 3 + 0] == 7);
    CHECK(memcmp(out, out + 112 * 112 * 3, 112 * 112 * 3) == 0);

    float same[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    CHECK(align_warp_faces(img, h, w, w * 3, same, 1, 0, out) == ALIGN_ERR_DEGENERATE);
    lm[3] = NAN;
    CHECK(align_warp_faces(img, h, w, w * 3, lm, 1, 0, out) == ALIGN_ERR_NON_FINITE);
    CHECK(align_warp_faces(img, h, w, w * 2, tpl, 1, 0, out) == ALIGN_ERR_BAD_STRIDE);
    CHECK(align_warp_faces(img, 0, w, w * 3, tpl, 1, 0, out) == ALIGN_ERR_EMPTY);
    CHECK(align_warp_faces(NULL, h, w, w * 3, tpl, 0, 0, NULL) == ALIGN_OK);
    free(img);
    free(out);
}

typedef int (*wire_reader)(const char *, size_t, float *, float *, size_t, wire_id *, size_t, wire_span *, size_t,
                           wire_rerank_body *);

/* Reads `length` bytes of `body` from a buffer of exactly that size, with outputs of exactly the
 * sizes given, so AddressSanitizer catches any read or write past them. */
static int read_exactly(wire_reader reader, const char *body, size_t length, wire_rerank_body *read) {
    const size_t floats = wire_max_floats(length), n_ids = 8, n_members = 4;
    char *copy = malloc(length ? length : 1);
    float *query = malloc(floats * sizeof(float)), *rows = malloc(floats * sizeof(float));
    wire_id *ids = malloc(n_ids * sizeof(wire_id));
    wire_span *members = malloc(n_members * sizeof(wire_span));
    memcpy(copy, body, length);
    const int status = reader(copy, length, query, rows, floats, ids, n_ids, members, n_members, read);
    if (status == WIRE_OK) CHECK(read->n_candidates <= n_ids && read->dim * read->n_candidates <= floats);
    free(copy), free(query), free(rows), free(ids), free(members);
    return status;
}

/* Reads `body` with room for `floats` floats per vector, 4 ids and 2 other members. */
static int read_wire(const char *body, size_t floats, wire_rerank_body *read, float *query, float *rows, wire_id *ids,
                     wire_span *members) {
    return wire_read_rerank_b64(body, strlen(body), query, rows, floats, ids, 4, members, 2, read);
}

static void test_wire(void) {
    /* (1, 2), then "a": (3, 4) and -12: (-1, 0.5), as base64 of little-endian float32. */
    const char *body = " {\"top_k\": 2, \"candidates\": [{\"id\": \"a\", \"embedding_b64\": \"AABAQAAAgEA=\"},\n"
                       "{\"embedding_b64\":\"AACAvwAAAD8=\",\"id\":-12}], \"query_b64\": \"AACAPwAAAEA=\"} ";
    float query[8], rows[8];
    wire_id ids[4];
    wire_span members[2];
    wire_rerank_body read;
    CHECK(read_wire(body, 8, &read, query, rows, ids, members) == WIRE_OK);
    CHECK(read.dim == 2 && read.n_candidates == 2 && read.n_members == 1);
    CHECK(query[0] == 1.0f && query[1] == 2.0f);
    CHECK(rows[0] == 3.0f && rows[1] == 4.0f && rows[2] == -1.0f && rows[3] == 0.5f);
    CHECK(ids[0].is_string == 1 && ids[0].text.length == 1 && body[ids[0].text.offset] == 'a');
    CHECK(ids[1].is_string == 0 && ids[1].integer == -12 && ids[1].text.length == 3);
    CHECK(members[0].length == 10 && strncmp(body + members[0].offset, "\"top_k\": 2", 10) == 0);

    CHECK(wire_max_floats(strlen(body)) >= 2);
    CHECK(read_wire(body, 3, &read, query, rows, ids, members) == WIRE_ERR_CAPACITY); /* rows need 4 floats */
    CHECK(wire_read_rerank_b64(body, strlen(body), query, rows, 8, ids, 1, members, 2, &read) == WIRE_ERR_CAPACITY);
    CHECK(wire_read_rerank_b64(body, strlen(body), query, rows, 8, ids, 4, NULL, 0, &read) == WIRE_ERR_CAPACITY);
    CHECK(wire_read_rerank_b64(body, strlen(body), query, rows, 8, ids, 4, NULL, 2, &read) == WIRE_ERR_NULL_POINTER);
    CHECK(wire_read_rerank_b64(NULL, 0, query, rows, 8, ids, 4, members, 2, &read) == WIRE_ERR_NULL_POINTER);
    /* A row of another width, base64 cut short, a float id, a body cut anywhere: not usual. */
    CHECK(read_wire("{\"query_b64\":\"AACAPwAAAEA=\",\"candidates\":[{\"id\":1,\"embedding_b64\":\"AACAPw==\"}]}", 8,
                    &read, query, rows, ids, members) == WIRE_NOT_USUAL);
    CHECK(read_wire("{\"query_b64\":\"AACAPwAAAEA\"", 8, &read, query, rows, ids, members) == WIRE_NOT_USUAL);
    CHECK(read_wire("{\"query_b64\":\"AACAPw==\",\"candidates\":[{\"id\":1.5,\"embedding_b64\":\"AACAPw==\"}]}", 8,
                    &read, query, rows, ids, members) == WIRE_NOT_USUAL);
    for (size_t n = 0; n < strlen(body) - 1; ++n)
        CHECK(read_exactly(wire_read_rerank_b64, body, n, &read) == WIRE_NOT_USUAL);
    CHECK(strcmp(wire_status_message(WIRE_NOT_USUAL), wire_status_message(WIRE_OK)) != 0);
}

/* Appends n bytes to a growing body. */
static size_t put(char *body, size_t at, const void *bytes, size_t n) {
    memcpy(body + at, bytes, n);
    return at + n;
}

static void test_wire_msgpack(void) {
    /* {"top_k": 2, "query": (1, 2), "candidates": [{"id": "a", "embedding": (3, 4)},
     *  {"embedding": (-1, 0.5), "id": -12}]}, vectors as bin 8 of little-endian float32. */
    const float q[2] = {1, 2}, a[2] = {3, 4}, b[2] = {-1, 0.5f};
    char body[128];
    size_t n = 0;
#define PUT_TEXT(text) (n = put(body, n, text, sizeof(text) - 1))
    PUT_TEXT("\x83\xa5top_k\x02\xa5query\xc4\x08");
    n = put(body, n, q, 8);
    PUT_TEXT("\xaa" "candidates\x92\x82\xa2id\xa1" "a\xa9" "embedding\xc4\x08");
    n = put(body, n, a, 8);
    PUT_TEXT("\x82\xa9" "embedding\xc4\x08");
    n = put(body, n, b, 8);
    PUT_TEXT("\xa2id\xf4");
#undef PUT_TEXT
    float query[8], rows[8];
    wire_id ids[4];
    wire_span members[2];
    wire_rerank_body read;
    CHECK(wire_read_rerank_msgpack(body, n, query, rows, 8, ids, 4, members, 2, &read) == WIRE_OK);
    CHECK(read.dim == 2 && read.n_candidates == 2 && read.n_members == 1);
    CHECK(query[0] == 1.0f && query[1] == 2.0f);
    CHECK(rows[0] == 3.0f && rows[1] == 4.0f && rows[2] == -1.0f && rows[3] == 0.5f);
    CHECK(ids[0].is_string == 1 && ids[0].text.length == 1 && body[ids[0].text.offset] == 'a');
    CHECK(ids[1].is_string == 0 && ids[1].integer == -12);
    CHECK(members[0].offset == 1 && members[0].length == 7); /* "top_k" and its value */
    CHECK(wire_max_floats(n) >= 2);
    CHECK(wire_read_rerank_msgpack(body, n, query, rows, 3, ids, 4, members, 2, &read) == WIRE_ERR_CAPACITY);
    CHECK(wire_read_rerank_msgpack(body, n, query, rows, 8, ids, 1, members, 2, &read) == WIRE_ERR_CAPACITY);
    CHECK(wire_read_rerank_msgpack(body, n, query, rows, 8, ids, 4, NULL, 0, &read) == WIRE_ERR_CAPACITY);
    CHECK(wire_read_rerank_msgpack(body, n, NULL, rows, 8, ids, 4, members, 2, &read) == WIRE_ERR_NULL_POINTER);
    for (size_t cut = 0; cut < n; ++cut) /* every cut body is not usual, and read within its bytes (ASan) */
        CHECK(read_exactly(wire_read_rerank_msgpack, body, cut, &read) == WIRE_NOT_USUAL);
    body[n] = '\xc0'; /* a byte after the map */
    CHECK(wire_read_rerank_msgpack(body, n + 1, query, rows, 8, ids, 4, members, 2, &read) == WIRE_NOT_USUAL);
}

/* Thousands of bodies changed at random (bytes replaced, dropped, inserted, the body cut): every read ends in a
 * defined status without touching memory it does not own, and some changes (in a vector) still
 * read. */
static void fuzz_wire(wire_reader reader, const char *body, size_t length, unsigned seed) {
    static const char bytes[] = "\"\\{}[],: \n=+/0Aa-.e\x00\x7f\xc3\xff\x80\x90\xa2\xc4\xdc\xde";
    char changed[1024];
    wire_rerank_body read;
    int still_read = 0;
    CHECK(read_exactly(reader, body, length, &read) == WIRE_OK);
    for (int round = 0; round < 20000; ++round) {
        size_t n = length;
        memcpy(changed, body, n);
        for (int change = 1 + (int)(seed % 3); change > 0; --change) {
            seed = seed * 1103515245u + 12345u;
            const size_t at = (seed >> 8) % (n + 1);
            const char byte = (seed >> 4) & 1 ? bytes[(seed >> 16) % (sizeof(bytes) - 1)] : (char)(seed >> 20);
            if (seed % 4 == 0 && at < n) changed[at] = byte;
            else if (seed % 4 == 1 && at < n) memmove(changed + at, changed + at + 1, --n - at);
            else if (seed % 4 == 2 && n < sizeof(changed)) memmove(changed + at + 1, changed + at, n++ - at), changed[at] = byte;
            else if (seed % 4 == 3) n = at; /* the body cut short */
        }
        const int status = read_exactly(reader, changed, n, &read);
        CHECK(status == WIRE_OK || status == WIRE_NOT_USUAL || status == WIRE_ERR_CAPACITY);
        still_read += status == WIRE_OK;
    }
    CHECK(still_read > 100 && still_read < 20000);
}

/* A usual body of each format with 64-byte vectors, long enough for the SIMD base64 kernel. */
static void test_wire_fuzzed(void) {
    char vector[89], json[600], msgpack[400];
    for (int i = 0; i < 86; ++i) vector[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7) % 64];
    memcpy(vector + 86, "==", 3);
    const int json_length = snprintf(json, sizeof(json),
                                     "{\"query_b64\":\"%s\",\"top_k\":[1,{\"a\":\"b\\\"\"}],\"candidates\":[{\"id\":\"x\","
                                     "\"embedding_b64\":\"%s\"},{\"embedding_b64\":\"%s\",\"id\":12}]}",
                                     vector, vector, vector);
    fuzz_wire(wire_read_rerank_b64, json, (size_t)json_length, 1);

    unsigned char bin[64];
    for (int i = 0; i < 64; ++i) bin[i] = (unsigned char)(i * 37);
    size_t n = 0;
#define PUT_TEXT(text) (n = put(msgpack, n, text, sizeof(text) - 1))
    PUT_TEXT("\x83\xa5query\xc4\x40");
    n = put(msgpack, n, bin, 64);
    PUT_TEXT("\xa5top_k\x92\x01\x81\xa1" "a\xc4\x01" "b\xaa" "candidates\x92\x82\xa2id\xa1x\xa9" "embedding\xc4\x40");
    n = put(msgpack, n, bin, 64);
    PUT_TEXT("\x82\xa9" "embedding\xc4\x40");
    n = put(msgpack, n, bin, 64);
    PUT_TEXT("\xa2id\xcd\x01\x00");
#undef PUT_TEXT
    fuzz_wire(wire_read_rerank_msgpack, msgpack, n, 2);
}

int main(void) {
    test_cosine_scores();
    test_search();
    test_search_threads(7);
    test_search_threads(70);
    test_rerank_run();
    test_merge();
    test_align();
    test_wire();
    test_wire_msgpack();
    test_wire_fuzzed();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI: all checks passed\n");
    return 0;
}
