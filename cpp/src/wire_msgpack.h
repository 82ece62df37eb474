// The MessagePack format of the usual rerank body (private header of rerank_wire; see
// wire_body.h). Type bytes and lengths: https://github.com/msgpack/msgpack/blob/master/spec.md
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>

#include "wire_body.h"

namespace facev3::wire {

// MessagePack read from a position on: every length is checked against the bytes left, and
// anything outside the subset facev3/rerank_wire.h describes stops reading (not_usual).
class MsgpackFormat {
  public:
    static constexpr std::string_view kQuery = "query", kEmbedding = "embedding", kOtherQuery = "query_b64";

    MsgpackFormat(const char *body, size_t length)
        : body_(reinterpret_cast<const uint8_t *>(body)), p_(body_), end_(body_ + length) {}

    size_t offset() const { return static_cast<size_t>(p_ - body_); }
    bool at_end() const { return p_ == end_; }

    // A map with str keys: on_member(offset of the key, key) with the reader on the value.
    template <class OnMember>
    void members(OnMember &&on_member) {
        for (size_t n = count(0x80, 0xde, 0xdf); n > 0; --n) {
            const size_t start = offset();
            on_member(start, str());
        }
    }

    template <class OnItem>
    void items(OnItem &&on_item) {
        for (size_t n = count(0x90, 0xdc, 0xdd); n > 0; --n) on_item();
    }

    // A bin copied into out, which has room for `room` bytes: the bytes written.
    size_t vector(uint8_t *out, size_t room) {
        const uint8_t type = byte();
        if (type < 0xc4 || type > 0xc6) not_usual();  // bin 8, 16, 32
        const size_t length = number(size_t{1} << (type - 0xc4));
        const uint8_t *bytes = take(length);
        if (length > room) too_small();
        std::memcpy(out, bytes, length);
        return length;
    }

    // A str (UTF-8 for the caller to check), or an integer that fits int64.
    wire_id id() {
        wire_id id{};
        const uint8_t *start = p_;
        if (is_str(*peek())) {
            const std::string_view text = str();
            id.is_string = 1;
            id.text = {static_cast<size_t>(reinterpret_cast<const uint8_t *>(text.data()) - body_), text.size()};
            return id;
        }
        const uint8_t type = byte();
        if (type <= 0x7f) id.integer = type;
        else if (type >= 0xe0) id.integer = static_cast<int8_t>(type);
        else if (type >= 0xcc && type <= 0xcf) id.integer = unsigned_integer(size_t{1} << (type - 0xcc));
        else if (type >= 0xd0 && type <= 0xd3) id.integer = signed_integer(size_t{1} << (type - 0xd0));
        else not_usual();
        id.text = {static_cast<size_t>(start - body_), offset() - static_cast<size_t>(start - body_)};
        return id;
    }

    // Steps over one value, containers by the count of values still to step over.
    void skip_value() {
        for (uint64_t pending = 1; pending > 0; --pending) {
            const uint8_t type = byte();
            if (type <= 0x7f || type >= 0xe0 || type == 0xc0 || type == 0xc2 || type == 0xc3) continue;
            if ((type & 0xf0) == 0x80) pending += 2 * (type & 0x0f);
            else if ((type & 0xf0) == 0x90) pending += type & 0x0f;
            else if ((type & 0xe0) == 0xa0) take(type & 0x1f);
            else if (type == 0xc4 || type == 0xd9) take(number(1));  // bin 8, str 8
            else if (type == 0xc5 || type == 0xda) take(number(2));
            else if (type == 0xc6 || type == 0xdb) take(number(4));
            else if (type >= 0xc7 && type <= 0xc9) take(number(size_t{1} << (type - 0xc7)) + 1);  // ext: + its type
            else if (type == 0xca || type == 0xcb) take(type == 0xca ? 4 : 8);                   // floats
            else if (type >= 0xcc && type <= 0xd3) take(size_t{1} << ((type - 0xcc) & 3));      // integers
            else if (type >= 0xd4 && type <= 0xd8) take((size_t{1} << (type - 0xd4)) + 1);      // fixext
            else if (type == 0xdc || type == 0xdd) pending += number(type == 0xdc ? 2 : 4);
            else if (type == 0xde || type == 0xdf) pending += 2 * number(type == 0xde ? 2 : 4);
            else not_usual();  // 0xc1, never used
        }
    }

  private:
    static bool is_str(uint8_t type) { return (type & 0xe0) == 0xa0 || (type >= 0xd9 && type <= 0xdb); }

    const uint8_t *peek() const {
        if (p_ == end_) not_usual();
        return p_;
    }

    uint8_t byte() { return *take(1); }

    // The next n bytes, which must be there.
    const uint8_t *take(uint64_t n) {
        if (n > static_cast<uint64_t>(end_ - p_)) not_usual();
        const uint8_t *start = p_;
        p_ += n;
        return start;
    }

    // A big-endian unsigned number of `bytes` bytes.
    uint64_t number(size_t bytes) {
        const uint8_t *b = take(bytes);
        uint64_t value = 0;
        for (size_t i = 0; i < bytes; ++i) value = value << 8 | b[i];
        return value;
    }

    int64_t unsigned_integer(size_t bytes) {
        const uint64_t value = number(bytes);
        if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) not_usual();
        return static_cast<int64_t>(value);
    }

    // Two's complement of `bytes` bytes, sign-extended.
    int64_t signed_integer(size_t bytes) {
        const uint64_t value = number(bytes);
        switch (bytes) {
            case 1: return static_cast<int8_t>(value);
            case 2: return static_cast<int16_t>(value);
            case 4: return static_cast<int32_t>(value);
            default: return static_cast<int64_t>(value);
        }
    }

    // The count of a map (fixmap, map 16, map 32) or an array (fixarray, array 16, array 32).
    size_t count(uint8_t fixed, uint8_t sixteen, uint8_t thirty_two) {
        const uint8_t type = byte();
        if ((type & 0xf0) == fixed) return type & 0x0f;
        if (type == sixteen) return number(2);
        if (type == thirty_two) return number(4);
        not_usual();
    }

    std::string_view str() {
        const uint8_t type = byte();
        if (!is_str(type)) not_usual();
        const size_t length = (type & 0xe0) == 0xa0 ? type & 0x1f : number(size_t{1} << (type - 0xd9));  // fixstr, str 8, 16, 32
        return {reinterpret_cast<const char *>(take(length)), length};
    }

    const uint8_t *body_, *p_, *end_;
};

}  // namespace facev3::wire
