/* rerank_wire: reads the usual /v1/rerank body in one pass, from JSON or MessagePack.
 *
 * The usual body is an object (a map) with little-endian float32 vectors, its members in any
 * order (in JSON with whitespace anywhere between tokens):
 *
 *   JSON          {"query_b64": "<base64>",
 *                  "candidates": [{"id": <id>, "embedding_b64": "<base64>"}, ...], ...others}
 *   MessagePack   {"query": <bin>, "candidates": [{"id": <id>, "embedding": <bin>}, ...], ...others}
 *
 * with at least one candidate, each holding exactly those two members in either order. One pass
 * writes each vector straight into the output: base64 decoded by a SIMD kernel where the CPU has
 * one (see base64_kernels.h), bin copied. No tree, string or per-row buffer is made.
 *
 * Each reader accepts a strict subset of what a JSON (MessagePack) parser and a strict base64
 * decoder accept, and reads it the same way; anything outside it is WIRE_NOT_USUAL, for the
 * caller's general parse to read or refuse with a message. The subset:
 *   - keys are strings and none repeats among the query, candidates, id and embedding; the other
 *     query form (JSON "query" float lists, MessagePack "query_b64") is not usual; JSON keys hold
 *     no backslash, so no escaped key can spell a known one;
 *   - every vector has the same whole number of float32 values, at least one. JSON base64 is the
 *     standard alphabet in groups of 4, the last padded with "=" or "==" when needed (trailing
 *     bits ignored), nothing else; MessagePack vectors are bin 8, 16 or 32;
 *   - an id is a string (in JSON without escapes or control characters), or an integer that fits
 *     int64 (in JSON -?(0|[1-9][0-9]*), at most 18 digits). A string id is not checked for UTF-8:
 *     the caller must check it, as a parser would;
 *   - any other top-level member is skipped (JSON: by matching its brackets and strings;
 *     MessagePack: by its lengths and counts) and reported as its span in the body, key and value,
 *     unparsed: the caller must parse and check those;
 *   - nothing follows the object.
 * Duplicate ids are not checked. On big-endian machines every body is WIRE_NOT_USUAL.
 *
 * Thread-safe, no state but the kernel chosen on first use; the outputs are the caller's memory,
 * written as the body is read: on any status but WIRE_OK their contents are unspecified.
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
    WIRE_NOT_USUAL = 2,        /* not the usual body, or not valid JSON (MessagePack): read it another way */
    WIRE_ERR_CAPACITY = 3      /* an output filled up before the body ended (the rest is unread: the
                                  body may also be not usual) */
} wire_status;

/* Where a piece of the body lies: body[offset, offset + length). */
typedef struct wire_span {
    size_t offset;
    size_t length;
} wire_span;

typedef struct wire_id {
    int32_t is_string; /* 1: text is the string's characters (in JSON without the quotes); 0: an integer */
    int64_t integer;   /* the integer's value when is_string is 0 */
    wire_span text;    /* the id as it stands in the body */
} wire_id;

typedef struct wire_rerank_body {
    size_t dim;          /* float32 values in the query and in each candidate */
    size_t n_candidates; /* rows written to out_candidates and ids to out_ids */
    size_t n_members;    /* other top-level members, in body order */
} wire_rerank_body;

/* A static, human-readable description of a status. Never NULL. */
const char *wire_status_message(int status);

/* Enough float_capacity for any body this long, in either format. */
size_t wire_max_floats(size_t body_length);

/* Read the usual JSON (MessagePack) body; see above.
 *   out_query       the query's dim floats; float_capacity floats long
 *   out_candidates  n_candidates x dim floats, row-major, contiguous; float_capacity floats long
 *   out_ids         the candidates' ids, id_capacity long: more candidates are WIRE_ERR_CAPACITY
 *   out_members     each other top-level member as the span of its key and value (JSON: from the
 *                   key's opening quote to the value's end), member_capacity long
 *   out             the sizes read
 * out_members may be NULL when member_capacity is 0 (then any other member is WIRE_ERR_CAPACITY). */
int wire_read_rerank_b64(const char *body, size_t body_length, float *out_query, float *out_candidates,
                         size_t float_capacity, wire_id *out_ids, size_t id_capacity, wire_span *out_members,
                         size_t member_capacity, wire_rerank_body *out);
int wire_read_rerank_msgpack(const char *body, size_t body_length, float *out_query, float *out_candidates,
                             size_t float_capacity, wire_id *out_ids, size_t id_capacity, wire_span *out_members,
                             size_t member_capacity, wire_rerank_body *out);

#ifdef __cplusplus
}
#endif

#endif /* FACEV3_RERANK_WIRE_H */
