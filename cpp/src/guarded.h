// Error handling shared by the C entry points (private header): C++ code throws Failure<Status>
// inside, and guarded() turns it, std::bad_alloc or anything else into the library's status
// code, so no exception ever crosses the C ABI.
#pragma once

#include <new>
#include <utility>

namespace facev3 {

template <class Status>
struct Failure {
    Status status;
};

template <class Status>
[[noreturn]] inline void fail(Status status) {
    throw Failure<Status>{status};
}

template <class Status, Status Ok, Status OutOfMemory, Status Internal, class Body>
int guarded(Body &&body) {
    try {
        std::forward<Body>(body)();
        return Ok;
    } catch (const Failure<Status> &f) {
        return f.status;
    } catch (const std::bad_alloc &) {
        return OutOfMemory;
    } catch (...) {
        return Internal;
    }
}

}  // namespace facev3
