/* rerank_wire: reads the usual /v1/rerank body with base64 vectors in one pass.
 *
 * The usual body is a JSON object with base64 float32 vectors (little-endian), its members in any
 * order, JSON whitespace anywhere between tokens:
 *
 *   {"query_b64": "<base64>",
 *    "candidates": [{"id": <id>, "embedding_b64": "<base64>"}, ...],   (at least one; in each
 *                                                                       object the two in any order)
 *    ...other members}
 *
 * One pass over the body decodes each base64 string straight into the output (a SIMD kernel where
 * the CPU has one; see base64_kernels.h), so no JSON tree, string copy or per-row buffer is made.
 *
 * The reader accepts a strict subset of what a JSON parser and a strict base64 decoder accept, and
 * reads it the same way; anything outside it is WIRE_NOT_USUAL, for the caller's general parse
 * to read or refuse with a message. The subset:
 *   - keys hold no backslash (so no escaped key can spell a known one) and none repeats among
 *     query_b64, candidates, id and embedding_b64; a top-level "query" (float lists) is not usual;
 *   - base64 is the standard alphabet in groups of 4, the last one padded with "=" or "==" when
 *     needed (any trailing bits ignored), nothing else, not empty; every vector has the same
 *     whole number of float32 values;
 *   - an id is a string of printable ASCII without backslash (0x20-0x7E but '"' and '\'), or an
 *     integer -?(0|[1-9][0-9]*) of at most 18 digits (so it fits int64);
 *   - any other top-level member is skipped by matching its brackets and strings, and reported as
 *     the span of `"key": value` in the body, unparsed: the caller must parse and check those.
 * Duplicate ids are not checked. On big-endian machines every body is WIRE_NOT_USUAL.
 *
 * Thread-safe, no state except the kernel chosen at load; nothing allocated. Outputs are written
 * as the body is read: on any status but WIRE_OK their contents are unspecified.
 */
#ifndef FACEV3_RERANK_WIRE_H
#define FACEV3_RERANK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wire_status {
    WIRE_OK = 0,
    WIRE_ERR_NULL_POINTER = 1, /* a required pointer is NULL */
    WIRE_NOT_USUAL = 2,        /* not the usual body, or not valid JSON: read it another way */
    WIRE_ERR_CAPACITY = 3      /* more candidates, floats or members than the outputs hold */
} wire_status;

/* Where a piece of the body lies: body[offset, offset + length). */
typedef struct wire_span {
    size_t offset;
    size_t length;
} wire_span;

typedef struct wire_id {
    int32_t is_string; /* 1: text is the string's characters (no quotes); 0: an integer */
    int64_t integer;   /* the integer's value when is_string is 0 */
    wire_span text;    /* the id as written in the body */
} wire_id;

typedef struct wire_rerank_b64 {
    size_t dim;          /* float32 values in the query and in each candidate */
    size_t n_candidates; /* rows written to out_candidates and ids to out_ids */
    size_t n_members;    /* other top-level members, in body order */
} wire_rerank_b64;

/* A static, human-readable description of a status. Never NULL. */
const char *wire_status_message(int status);

/* The floats one base64 vector of a body this long can hold: enough for float_capacity. */
size_t wire_max_floats(size_t body_length);

/* Reads the usual body (see above).
 *   out_query       the query's dim floats, float_capacity floats long
 *   out_candidates  n_candidates x dim floats, row-major, contiguous; float_capacity floats long
 *   out_ids         the candidates' ids, id_capacity long: more candidates are WIRE_ERR_CAPACITY
 *   out_members     each other top-level member as the span of `"key": value`, member_capacity long
 *   out             the sizes read
 * out_members may be NULL when member_capacity is 0 (then any other member is WIRE_ERR_CAPACITY). */
int wire_read_rerank_b64(const char *body, size_t body_length, float *out_query, float *out_candidates,
                         size_t float_capacity, wire_id *out_ids, size_t id_capacity, wire_span *out_members,
                         size_t member_capacity, wire_rerank_b64 *out);

#ifdef __cplusplus
}
#endif

#endif /* FACEV3_RERANK_WIRE_H */
