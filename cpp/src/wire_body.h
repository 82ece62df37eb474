// The usual rerank body, read the same way from JSON and MessagePack (private header of
// rerank_wire; the subset each accepts is documented in facev3/rerank_wire.h).
//
// A Format reads one wire format's tokens: members(fn) calls fn(start offset, key) for each member
// of an object, with the reader on the member's value; items(fn) calls fn() for each item of an
// array; vector(out, room) reads a vector's bytes into out; id() reads an id; skip_value() steps
// over any value; offset() and at_end() say where the reader is. Format::kQuery and
// Format::kEmbedding name the vectors this format carries, Format::kOtherQuery the one it leaves to
// the general parse. Anything outside the subset throws Failure<wire_status>{WIRE_NOT_USUAL}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "facev3/rerank_wire.h"
#include "guarded.h"

namespace facev3::wire {

[[noreturn]] inline void not_usual() { fail(WIRE_NOT_USUAL); }
[[noreturn]] inline void too_small() { fail(WIRE_ERR_CAPACITY); }

struct Outputs {
    float *query, *candidates;
    size_t float_capacity;
    wire_id *ids;
    size_t id_capacity;
    wire_span *members;
    size_t member_capacity;
};

// The candidates: rows written one after the other, each the same width; the bytes of a row.
template <class Format>
size_t read_candidates(Format &r, const Outputs &o, size_t *n_candidates) {
    auto *out = reinterpret_cast<uint8_t *>(o.candidates);
    size_t room = 4 * o.float_capacity, n = 0, row_bytes = 0;
    r.items([&] {
        if (n == o.id_capacity) too_small();
        bool have_id = false, have_embedding = false;
        r.members([&](size_t, std::string_view key) {
            if (key == "id" && !have_id) {
                have_id = true;
                o.ids[n] = r.id();
            } else if (key == Format::kEmbedding && !have_embedding) {
                have_embedding = true;
                const size_t bytes = r.vector(out, room);
                if (n > 0 && bytes != row_bytes) not_usual();
                row_bytes = bytes;
                out += bytes;
                room -= bytes;
            } else {
                not_usual();
            }
        });
        if (!have_id || !have_embedding) not_usual();
        ++n;
    });
    *n_candidates = n;
    return row_bytes;
}

template <class Format>
wire_rerank_body read_body(Format &r, const Outputs &o) {
    wire_rerank_body read{};
    bool have_query = false, have_candidates = false;
    size_t query_bytes = 0, row_bytes = 0;
    r.members([&](size_t start, std::string_view key) {
        if (key == Format::kQuery && !have_query) {
            have_query = true;
            query_bytes = r.vector(reinterpret_cast<uint8_t *>(o.query), 4 * o.float_capacity);
        } else if (key == "candidates" && !have_candidates) {
            have_candidates = true;
            row_bytes = read_candidates(r, o, &read.n_candidates);
        } else if (key == Format::kQuery || key == "candidates" || key == Format::kOtherQuery) {
            not_usual();
        } else {
            r.skip_value();
            if (read.n_members == o.member_capacity) too_small();
            o.members[read.n_members++] = {start, r.offset() - start};
        }
    });
    // No row (an empty candidates' array) leaves row_bytes 0, which no usual query has.
    if (!r.at_end() || !have_query || !have_candidates || query_bytes == 0 || query_bytes % 4 != 0 ||
        row_bytes != query_bytes)
        not_usual();
    read.dim = query_bytes / 4;
    return read;
}

// A C entry point: checks the pointers, reads the body, turns a failure into its status.
template <class Format>
int read_rerank(const char *body, size_t body_length, const Outputs &o, wire_rerank_body *out) {
    if (!body || !o.query || !o.candidates || !o.ids || !out || (!o.members && o.member_capacity > 0))
        return WIRE_ERR_NULL_POINTER;
    if constexpr (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) return WIRE_NOT_USUAL;  // the vectors are little-endian
    try {
        Format reader(body, body_length);
        *out = read_body(reader, o);
        return WIRE_OK;
    } catch (const Failure<wire_status> &failure) {
        return failure.status;
    }
}

}  // namespace facev3::wire
