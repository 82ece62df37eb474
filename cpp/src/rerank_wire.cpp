// rerank_wire: the one-pass readers documented in facev3/rerank_wire.h.
#include "facev3/rerank_wire.h"

#include "wire_body.h"
#include "wire_json.h"
#include "wire_msgpack.h"

extern "C" {

const char *wire_status_message(int status) {
    switch (status) {
        case WIRE_OK: return "ok";
        case WIRE_ERR_NULL_POINTER: return "a required pointer is NULL";
        case WIRE_NOT_USUAL: return "not the usual rerank body: read it with a general parser";
        case WIRE_ERR_CAPACITY: return "more candidates, floats or members than the outputs hold";
        default: return "unknown status";
    }
}

size_t wire_max_floats(size_t body_length) { return body_length / 4 + 1; }

int wire_read_rerank_b64(const char *body, size_t body_length, float *out_query, float *out_candidates,
                         size_t float_capacity, wire_id *out_ids, size_t id_capacity, wire_span *out_members,
                         size_t member_capacity, wire_rerank_body *out) {
    return facev3::wire::read_rerank<facev3::wire::JsonFormat>(
        body, body_length,
        {out_query, out_candidates, float_capacity, out_ids, id_capacity, out_members, member_capacity}, out);
}

int wire_read_rerank_msgpack(const char *body, size_t body_length, float *out_query, float *out_candidates,
                             size_t float_capacity, wire_id *out_ids, size_t id_capacity, wire_span *out_members,
                             size_t member_capacity, wire_rerank_body *out) {
    return facev3::wire::read_rerank<facev3::wire::MsgpackFormat>(
        body, body_length,
        {out_query, out_candidates, float_capacity, out_ids, id_capacity, out_members, member_capacity}, out);
}

}  // extern "C"
