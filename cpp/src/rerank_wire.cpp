// rerank_wire: the one-pass reader documented in facev3/rerank_wire.h.
#include "facev3/rerank_wire.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "base64_kernels.h"
#include "guarded.h"

namespace {

using facev3::fail;

[[noreturn]] void not_usual() { fail(WIRE_NOT_USUAL); }
[[noreturn]] void too_small() { fail(WIRE_ERR_CAPACITY); }

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
// What numbers and the literals true, false and null are made of.
bool is_token_char(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.'; }
uint8_t base64_value(char c) { return facev3::kBase64Values[static_cast<uint8_t>(c)]; }

constexpr size_t kMaxIdDigits = 18;  // any 18-digit integer fits int64

// The body from a position on; each step checks what comes next and stops reading (not_usual)
// at anything outside the subset the header describes.
class Reader {
  public:
    Reader(const char *body, size_t length) : body_(body), p_(body), end_(body + length) { skip_space(); }

    size_t offset() const { return static_cast<size_t>(p_ - body_); }
    bool at_end() const { return p_ == end_; }

    // Steps over c and the space after it, or stops reading.
    void expect(char c) {
        if (!next_is(c)) not_usual();
    }

    // Steps over c and the space after it when it comes next.
    bool next_is(char c) {
        if (p_ == end_ || *p_ != c) return false;
        ++p_;
        skip_space();
        return true;
    }

    // A key and its colon: the key's characters, which hold no backslash.
    std::string_view key() {
        if (p_ == end_ || *p_ != '"') not_usual();
        const char *start = ++p_;
        const auto *quote = static_cast<const char *>(std::memchr(p_, '"', static_cast<size_t>(end_ - p_)));
        if (quote == nullptr || std::memchr(start, '\\', static_cast<size_t>(quote - start)) != nullptr) not_usual();
        p_ = quote + 1;
        skip_space();
        expect(':');
        return {start, static_cast<size_t>(quote - start)};
    }

    // A base64 string decoded into out, which has room for `room` bytes: the bytes written.
    size_t base64(uint8_t *out, size_t room) {
        if (p_ == end_ || *p_ != '"') not_usual();
        ++p_;
        const size_t groups =
            facev3::base64_kernel()(p_, std::min(static_cast<size_t>(end_ - p_) / 4, room / 3), out);
        p_ += 4 * groups;
        size_t bytes = 3 * groups;
        if (p_ == end_ || *p_ != '"') bytes += padded_group(out + bytes, room - bytes);
        ++p_;  // the closing quote
        skip_space();
        return bytes;
    }

    wire_id id() {
        wire_id id{};
        const char *start = p_;
        if (p_ != end_ && *p_ == '"') {
            start = ++p_;
            while (p_ != end_ && *p_ >= 0x20 && *p_ <= 0x7E && *p_ != '"' && *p_ != '\\') ++p_;
            if (p_ == end_ || *p_ != '"') not_usual();
            id.is_string = 1;
        } else {
            const bool negative = p_ != end_ && *p_ == '-';
            p_ += negative;
            const char *digits = p_;
            int64_t value = 0;
            while (p_ != end_ && is_digit(*p_) && p_ - digits < static_cast<std::ptrdiff_t>(kMaxIdDigits))
                value = 10 * value + (*p_++ - '0');
            // No digit, a leading zero, a fraction, an exponent or a 19th digit: not an id we read.
            if (p_ == digits || (*digits == '0' && p_ - digits > 1) ||
                (p_ != end_ && (is_digit(*p_) || *p_ == '.' || *p_ == 'e' || *p_ == 'E')))
                not_usual();
            id.integer = negative ? -value : value;
        }
        id.text = {static_cast<size_t>(start - body_), static_cast<size_t>(p_ - start)};
        p_ += id.is_string;  // the closing quote
        skip_space();
        return id;
    }

    // Steps over one value without parsing it: strings and brackets are matched, the rest is a
    // run of the characters numbers and literals are made of. The caller's parser checks it.
    void skip_value() {
        if (p_ == end_) not_usual();
        if (*p_ == '"') return skip_string();
        if (*p_ == '{' || *p_ == '[') {
            size_t depth = 0;
            do {
                if (p_ == end_) not_usual();
                if (*p_ == '"') {
                    skip_string();
                    continue;
                }
                if (*p_ == '{' || *p_ == '[') ++depth;
                else if (*p_ == '}' || *p_ == ']') --depth;
                ++p_;
            } while (depth > 0);
            return;
        }
        const char *start = p_;
        while (p_ != end_ && is_token_char(*p_)) ++p_;
        if (p_ == start) not_usual();
    }

    void skip_space() {
        while (p_ != end_ && is_space(*p_)) ++p_;
    }

  private:
    // The last group, "xy==" or "xyz=", and the closing quote after it: the bytes written.
    size_t padded_group(uint8_t *out, size_t room) {
        if (end_ - p_ < 5) not_usual();
        const uint8_t a = base64_value(p_[0]), b = base64_value(p_[1]), c = base64_value(p_[2]);
        if ((a | b) & 0x80) not_usual();
        size_t n;
        if (p_[2] == '=' && p_[3] == '=') n = 1;
        else if (!(c & 0x80) && p_[3] == '=') n = 2;
        else if (!(c & 0x80) && !(base64_value(p_[3]) & 0x80)) too_small();  // a whole group with no room left
        else not_usual();
        if (p_[4] != '"') not_usual();
        if (room < n) too_small();
        out[0] = static_cast<uint8_t>(a << 2 | b >> 4);
        if (n == 2) out[1] = static_cast<uint8_t>(b << 4 | c >> 2);
        p_ += 4;
        return n;
    }

    // p_ is on the opening quote; steps past the closing one.
    void skip_string() {
        for (++p_; p_ != end_; ++p_) {
            if (*p_ == '"') {
                ++p_;
                return;
            }
            if (*p_ == '\\' && ++p_ == end_) break;
        }
        not_usual();
    }

    const char *body_, *p_, *end_;
};

struct Outputs {
    float *query, *candidates;
    size_t float_capacity;
    wire_id *ids;
    size_t id_capacity;
    wire_span *members;
    size_t member_capacity;
};

// The candidates' array: rows written one after the other; the bytes of each row.
size_t read_candidates(Reader &r, const Outputs &o, size_t *n_candidates) {
    auto *out = reinterpret_cast<uint8_t *>(o.candidates);
    size_t room = 4 * o.float_capacity, n = 0, row_bytes = 0;
    r.expect('[');
    do {
        if (n == o.id_capacity) too_small();
        r.expect('{');
        bool have_id = false, have_embedding = false;
        for (int member = 0; member < 2; ++member) {
            if (member) r.expect(',');
            const std::string_view key = r.key();
            if (key == "id" && !have_id) {
                have_id = true;
                o.ids[n] = r.id();
            } else if (key == "embedding_b64" && !have_embedding) {
                have_embedding = true;
                const size_t bytes = r.base64(out, room);
                if (n > 0 && bytes != row_bytes) not_usual();
                row_bytes = bytes;
                out += bytes;
                room -= bytes;
            } else {
                not_usual();
            }
        }
        r.expect('}');
        ++n;
    } while (r.next_is(','));
    r.expect(']');
    *n_candidates = n;
    return row_bytes;
}

wire_rerank_b64 read_body(Reader &r, const Outputs &o) {
    wire_rerank_b64 read{};
    bool have_query = false, have_candidates = false;
    size_t query_bytes = 0, row_bytes = 0;
    r.expect('{');
    do {
        const size_t start = r.offset();
        const std::string_view key = r.key();
        if (key == "query_b64" && !have_query) {
            have_query = true;
            query_bytes = r.base64(reinterpret_cast<uint8_t *>(o.query), 4 * o.float_capacity);
        } else if (key == "candidates" && !have_candidates) {
            have_candidates = true;
            row_bytes = read_candidates(r, o, &read.n_candidates);
        } else if (key == "query_b64" || key == "candidates" || key == "query") {
            not_usual();
        } else {
            r.skip_value();
            if (read.n_members == o.member_capacity) too_small();
            o.members[read.n_members++] = {start, r.offset() - start};
            r.skip_space();
        }
    } while (r.next_is(','));
    r.expect('}');
    if (!r.at_end() || !have_query || !have_candidates || query_bytes == 0 || query_bytes % 4 != 0 ||
        row_bytes != query_bytes)
        not_usual();
    read.dim = query_bytes / 4;
    return read;
}

}  // namespace

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

size_t wire_max_floats(size_t body_length) { return body_length / 16 * 3 + 3; }

int wire_read_rerank_b64(const char *body, size_t body_length, float *out_query, float *out_candidates,
                         size_t float_capacity, wire_id *out_ids, size_t id_capacity, wire_span *out_members,
                         size_t member_capacity, wire_rerank_b64 *out) {
    if (!body || !out_query || !out_candidates || !out_ids || !out || (!out_members && member_capacity > 0))
        return WIRE_ERR_NULL_POINTER;
    if constexpr (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) return WIRE_NOT_USUAL;  // base64 holds little-endian floats
    try {
        Reader reader(body, body_length);
        *out = read_body(reader, Outputs{out_query, out_candidates, float_capacity, out_ids, id_capacity, out_members,
                                         member_capacity});
        return WIRE_OK;
    } catch (const facev3::Failure<wire_status> &failure) {
        return failure.status;
    }
}

}  // extern "C"
