// The JSON format of the usual rerank body (private header of rerank_wire; see wire_body.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base64_kernels.h"
#include "wire_body.h"

namespace facev3::wire {

inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
// What numbers and the literals true, false and null are made of.
inline bool is_token_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}
inline uint8_t base64_value(char c) { return facev3::kBase64Values[static_cast<uint8_t>(c)]; }

inline constexpr size_t kMaxIdDigits = 18;  // any 18-digit integer fits int64

// JSON read from a position on: each step checks what comes next and stops reading (not_usual)
// at anything outside the subset facev3/rerank_wire.h describes.
class JsonFormat {
  public:
    static constexpr std::string_view kQuery = "query_b64", kEmbedding = "embedding_b64", kOtherQuery = "query";

    JsonFormat(const char *body, size_t length) : body_(body), p_(body), end_(body + length) { skip_space(); }

    size_t offset() const { return static_cast<size_t>(p_ - body_); }
    bool at_end() const { return p_ == end_; }

    // {"key": value, ...}: on_member(offset of the key, key) with the reader on the value.
    template <class OnMember>
    void members(OnMember &&on_member) {
        expect('{');
        do {
            const size_t start = offset();
            on_member(start, key());
            skip_space();
        } while (next_is(','));
        expect('}');
    }

    template <class OnItem>
    void items(OnItem &&on_item) {
        expect('[');
        do on_item();
        while (next_is(','));
        expect(']');
    }

    // A base64 string decoded into out, which has room for `room` bytes: the bytes written.
    size_t vector(uint8_t *out, size_t room) {
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
            // No escape and no control character; other bytes are UTF-8 for the caller to check.
            while (p_ != end_ && static_cast<uint8_t>(*p_) >= 0x20 && *p_ != '"' && *p_ != '\\') ++p_;
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

  private:
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

    void skip_space() {
        while (p_ != end_ && is_space(*p_)) ++p_;
    }

    // The last group, "xy==" or "xyz=", which the closing quote must follow: the bytes written.
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

}  // namespace facev3::wire
