// facev3._native: the only file that knows Python. Each function: parse -> check ndim, dtype,
// shapes -> allocate or take out= -> release the GIL -> call C -> turn a bad status into an
// exception. Arrays are never copied or converted: a wrong dtype or layout is an InputError
// (a ValueError) that says how to fix it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "../src/dot_kernels.h"
#include "facev3/face_align.h"
#include "facev3/merge_embeddings.h"
#include "facev3/rerank_compute.h"
#include "facev3/rerank_wire.h"

namespace py = pybind11;

namespace {

py::object input_error_type;

// InputError(message) with .code, a stable name for the problem (also used in HTTP errors).
[[noreturn]] void raise_input_error(const std::string &code, const std::string &message) {
    py::object error = input_error_type(message);
    error.attr("code") = code;
    PyErr_SetObject(input_error_type.ptr(), error.ptr());
    throw py::error_already_set();
}

const char *rerank_code(int status) {
    switch (status) {
        case RERANK_ERR_EMPTY: return "empty";
        case RERANK_ERR_DIM_MISMATCH: return "dim_mismatch";
        case RERANK_ERR_BAD_STRIDE: return "bad_layout";
        case RERANK_ERR_NON_FINITE: return "non_finite";
        case RERANK_ERR_ZERO_VECTOR: return "zero_vector";
        case RERANK_ERR_BAD_PARAMETER: return "bad_parameter";
        default: return nullptr;
    }
}

const char *merge_code(int status) {
    switch (status) {
        case MERGE_ERR_EMPTY: return "empty";
        case MERGE_ERR_BAD_STRIDE: return "bad_layout";
        case MERGE_ERR_NON_FINITE: return "non_finite";
        case MERGE_ERR_ZERO_VECTOR: return "zero_vector";
        case MERGE_ERR_BAD_WEIGHTS: return "bad_weights";
        default: return nullptr;
    }
}

const char *align_code(int status) {
    switch (status) {
        case ALIGN_ERR_EMPTY: return "empty";
        case ALIGN_ERR_BAD_STRIDE: return "bad_layout";
        case ALIGN_ERR_NON_FINITE: return "non_finite";
        case ALIGN_ERR_DEGENERATE: return "degenerate";
        default: return nullptr;
    }
}

// Input problems become InputError; out of memory MemoryError; anything else RuntimeError.
void check_status(int status, const char *(*code_of)(int), const char *(*message_of)(int), bool out_of_memory) {
    if (status == 0) return;
    if (out_of_memory) throw std::bad_alloc();
    if (const char *code = code_of(status)) raise_input_error(code, message_of(status));
    throw std::runtime_error(std::string("facev3 native error: ") + message_of(status));
}

void check_rerank(int s) { check_status(s, rerank_code, rerank_status_message, s == RERANK_ERR_OUT_OF_MEMORY); }
void check_merge(int s) { check_status(s, merge_code, merge_status_message, s == MERGE_ERR_OUT_OF_MEMORY); }
void check_align(int s) { check_status(s, align_code, align_status_message, s == ALIGN_ERR_OUT_OF_MEMORY); }

template <class T>
void require_dtype(const py::array &a, const char *name, const char *dtype_name) {
    if (!a.dtype().equal(py::dtype::of<T>()))
        raise_input_error("dtype", std::string(name) + " must be a " + dtype_name + " array, got " +
                                       py::str(a.dtype()).cast<std::string>() + "; convert with np.asarray(" +
                                       name + ", dtype=np." + dtype_name + ")");
    if (reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0)
        raise_input_error("bad_layout", std::string(name) + " is not aligned to its dtype; pass np.ascontiguousarray(" + name + ")");
}

[[noreturn]] void bad_shape(const char *name, const std::string &expected, const py::array &a) {
    std::string shape = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    raise_input_error("shape", std::string(name) + " must have shape " + expected + ", got " + shape + (a.ndim() == 1 ? ",)" : ")"));
}

// Rows of float32 with a contiguous inner dimension and any row stride.
struct FloatRows {
    const float *data;
    size_t rows, dim, stride;  // stride in floats
};

FloatRows float_rows(const py::array &a, const char *name, bool allow_vector) {
    require_dtype<float>(a, name, "float32");
    if (a.ndim() == 1 && allow_vector) {
        if (a.strides(0) != sizeof(float)) raise_input_error("bad_layout", std::string(name) + " must be contiguous");
        return FloatRows{static_cast<const float *>(a.data()), 1, static_cast<size_t>(a.shape(0)), static_cast<size_t>(a.shape(0))};
    }
    if (a.ndim() != 2) bad_shape(name, allow_vector ? "(dim,) or (n, dim)" : "(n, dim)", a);
    const py::ssize_t row_stride = a.strides(0);
    const bool empty = a.shape(0) == 0 || a.shape(1) == 0;  // numpy gives empty arrays zero strides
    if (!empty && ((a.shape(1) > 1 && a.strides(1) != sizeof(float)) || row_stride < 0 ||
                   row_stride % static_cast<py::ssize_t>(sizeof(float)) != 0 ||
                   (a.shape(0) > 1 && row_stride < a.shape(1) * static_cast<py::ssize_t>(sizeof(float)))))
        raise_input_error("bad_layout", std::string(name) + " rows must be contiguous with a positive row stride; pass np.ascontiguousarray(" + name + ")");
    const size_t dim = static_cast<size_t>(a.shape(1));
    const size_t stride = a.shape(0) > 1 ? static_cast<size_t>(row_stride) / sizeof(float) : dim;
    return FloatRows{static_cast<const float *>(a.data()), static_cast<size_t>(a.shape(0)), dim, stride};
}

template <class T>
T *output(std::optional<py::array> &out, const char *name, const char *dtype_name, const std::vector<py::ssize_t> &shape) {
    if (!out) {
        out = py::array_t<T>(shape);
        return static_cast<T *>(out->mutable_data());
    }
    py::array &a = *out;
    require_dtype<T>(a, name, dtype_name);
    if (!a.writeable()) raise_input_error("bad_layout", std::string(name) + " must be writeable");
    if (!(a.flags() & py::array::c_style)) raise_input_error("bad_layout", std::string(name) + " must be C-contiguous");
    if (a.ndim() != static_cast<py::ssize_t>(shape.size()) || !std::equal(shape.begin(), shape.end(), a.shape())) {
        std::string expected = "(";
        for (size_t i = 0; i < shape.size(); ++i) expected += (i ? ", " : "") + std::to_string(shape[i]);
        bad_shape(name, expected + (shape.size() == 1 ? ",)" : ")"), a);
    }
    return static_cast<T *>(a.mutable_data());
}

py::array cosine_scores(const py::array &queries, const py::array &candidates, std::optional<py::array> out) {
    const FloatRows q = float_rows(queries, "queries", true), c = float_rows(candidates, "candidates", false);
    const bool single = queries.ndim() == 1;
    float *dst = single ? output<float>(out, "out", "float32", {static_cast<py::ssize_t>(c.rows)})
                        : output<float>(out, "out", "float32", {static_cast<py::ssize_t>(q.rows), static_cast<py::ssize_t>(c.rows)});
    int status;
    {
        py::gil_scoped_release release;
        status = rerank_cosine_scores(q.data, q.rows, q.dim, q.stride, c.data, c.rows, c.dim, c.stride, dst);
    }
    check_rerank(status);
    return *out;
}

// One query (dim,) gives (k,) outputs, like cosine_scores gives (n,); (q, dim) gives (q, k).
py::tuple search(const py::array &queries, const py::array &candidates, py::ssize_t k,
                 std::optional<py::ssize_t> threads, std::optional<py::array> out_ids,
                 std::optional<py::array> out_scores) {
    const FloatRows q = float_rows(queries, "queries", true), c = float_rows(candidates, "candidates", false);
    if (k < 1) raise_input_error("bad_parameter", "k must be >= 1, got " + std::to_string(k));
    if (threads && *threads < 0)
        raise_input_error("bad_parameter",
                          "threads must be >= 0 (0: one per hardware thread), got " + std::to_string(*threads));
    std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(q.rows), k};
    if (queries.ndim() == 1) shape.erase(shape.begin());
    int64_t *ids = output<int64_t>(out_ids, "out_ids", "int64", shape);
    float *scores = output<float>(out_scores, "out_scores", "float32", shape);
    int status;
    {
        py::gil_scoped_release release;
        status = rerank_search(q.data, q.rows, q.dim, q.stride, c.data, c.rows, c.dim, c.stride, static_cast<size_t>(k),
                               threads ? static_cast<size_t>(*threads) : 1, ids, scores);
    }
    check_rerank(status);
    return py::make_tuple(*out_ids, *out_scores);
}

struct RerankResult {
    py::array order, cosine, similarity, score, match;
};

int32_t method_from_name(const std::string &method) {
    if (method == "cosine") return RERANK_METHOD_COSINE;
    if (method == "kreciprocal") return RERANK_METHOD_KRECIPROCAL;
    if (method == "qe") return RERANK_METHOD_QUERY_EXPANSION;
    raise_input_error("bad_parameter", "method must be 'cosine', 'kreciprocal' or 'qe', got '" + method + "'");
}

RerankResult rerank(const py::array &query, const py::array &candidates, float calibration_threshold,
                    float calibration_scale, const std::string &method, float match_threshold,
                    std::optional<py::ssize_t> top_k, int32_t k1, int32_t k2, float lambda_value, int32_t qe_k,
                    float qe_alpha) {
    if (query.ndim() != 1) bad_shape("query", "(dim,)", query);
    const FloatRows q = float_rows(query, "query", true), c = float_rows(candidates, "candidates", false);
    if (top_k && *top_k < 0) raise_input_error("bad_parameter", "top_k must be >= 0");
    const size_t k = std::min(c.rows, top_k ? static_cast<size_t>(*top_k) : c.rows);
    const rerank_calibration cal{calibration_threshold, calibration_scale};
    const rerank_options options{method_from_name(method), match_threshold, k1, k2, lambda_value, qe_k, qe_alpha};
    const auto n = static_cast<py::ssize_t>(c.rows);
    py::array_t<int64_t> order(static_cast<py::ssize_t>(k));
    py::array_t<float> cosine(n), similarity(n), score(n);
    py::array_t<bool> match(n);
    int status;
    {
        py::gil_scoped_release release;
        status = rerank_run(q.data, q.dim, c.data, c.rows, c.dim, c.stride, &cal, &options, k, cosine.mutable_data(),
                            similarity.mutable_data(), score.mutable_data(),
                            reinterpret_cast<uint8_t *>(match.mutable_data()), order.mutable_data());
    }
    check_rerank(status);
    return RerankResult{order, cosine, similarity, score, match};
}

py::array merge_embeddings(const py::array &embeddings, std::optional<py::array> weights, bool renormalize,
                           std::optional<py::array> out) {
    if (embeddings.ndim() != 2 && embeddings.ndim() != 3) bad_shape("embeddings", "(n, dim) or (groups, n, dim)", embeddings);
    const bool grouped = embeddings.ndim() == 3;
    if (grouped && embeddings.shape(2) > 1 && embeddings.strides(2) != sizeof(float))
        raise_input_error("bad_layout", "embeddings rows must be contiguous; pass np.ascontiguousarray(embeddings)");
    // A (groups, n, dim) array is read as groups * n rows, so its groups must follow each other.
    const py::ssize_t groups = grouped ? embeddings.shape(0) : 1;
    if (grouped && groups > 1 && embeddings.strides(0) != embeddings.shape(1) * embeddings.strides(1))
        raise_input_error("bad_layout", "embeddings groups must be evenly spaced rows; pass np.ascontiguousarray(embeddings)");
    const py::array rows = grouped ? py::array(embeddings).reshape({groups * embeddings.shape(1), embeddings.shape(2)}) : embeddings;
    const FloatRows e = float_rows(rows, "embeddings", false);
    const size_t group_size = grouped ? static_cast<size_t>(embeddings.shape(1)) : e.rows;
    const float *w = nullptr;
    if (weights) {
        const FloatRows wr = float_rows(*weights, "weights", true);
        if (weights->ndim() != 1 || wr.dim != group_size) bad_shape("weights", "(" + std::to_string(group_size) + ",)", *weights);
        w = wr.data;
    }
    const auto dim = static_cast<py::ssize_t>(e.dim);
    float *dst = grouped ? output<float>(out, "out", "float32", {groups, dim}) : output<float>(out, "out", "float32", {dim});
    int status;
    {
        py::gil_scoped_release release;
        status = merge_weighted_mean(e.data, static_cast<size_t>(groups), group_size, e.dim, e.stride, w,
                                     renormalize ? 1 : 0, dst, e.dim);
    }
    check_merge(status);
    return *out;
}

py::array concat_embeddings(const std::vector<py::array> &parts, bool renormalize, std::optional<py::array> out) {
    if (parts.empty()) raise_input_error("empty", "parts must hold at least one array");
    std::vector<const float *> data;
    std::vector<size_t> dims, strides;
    size_t rows = 0, total = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
        const FloatRows p = float_rows(parts[k], "parts[k]", false);
        if (k > 0 && p.rows != rows)
            raise_input_error("shape", "parts must have the same number of rows: " + std::to_string(rows) + " vs " + std::to_string(p.rows));
        rows = p.rows;
        total += p.dim;
        data.push_back(p.data);
        dims.push_back(p.dim);
        strides.push_back(p.stride);
    }
    float *dst = output<float>(out, "out", "float32", {static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(total)});
    int status;
    {
        py::gil_scoped_release release;
        status = merge_concatenate(data.data(), dims.data(), strides.data(), parts.size(), rows, renormalize ? 1 : 0, dst, total);
    }
    check_merge(status);
    return *out;
}

// (n_points, 2) or (n, n_points, 2) C-contiguous float32.
const float *points(const py::array &a, const char *name, size_t *n_sets, size_t *n_points) {
    require_dtype<float>(a, name, "float32");
    if ((a.ndim() != 2 && a.ndim() != 3) || a.shape(a.ndim() - 1) != 2)
        bad_shape(name, "(points, 2) or (n, points, 2)", a);
    if (!(a.flags() & py::array::c_style)) raise_input_error("bad_layout", std::string(name) + " must be C-contiguous");
    *n_sets = a.ndim() == 3 ? static_cast<size_t>(a.shape(0)) : 1;
    *n_points = static_cast<size_t>(a.shape(a.ndim() - 2));
    return static_cast<const float *>(a.data());
}

py::array estimate_similarity(const py::array &src, std::optional<py::array> dst) {
    size_t n_sets, n_points, dst_sets, dst_points = ALIGN_N_LANDMARKS;
    const float *s = points(src, "src", &n_sets, &n_points);
    const float *d = dst ? points(*dst, "dst", &dst_sets, &dst_points) : align_arcface_template();
    if (dst && (dst->ndim() != 2 || dst_points != n_points)) bad_shape("dst", "(" + std::to_string(n_points) + ", 2)", *dst);
    if (!dst && n_points != ALIGN_N_LANDMARKS) bad_shape("src", "(5, 2) or (n, 5, 2) for the ArcFace template", src);
    std::optional<py::array> out;
    float *m = src.ndim() == 3 ? output<float>(out, "out", "float32", {static_cast<py::ssize_t>(n_sets), 2, 3})
                               : output<float>(out, "out", "float32", {2, 3});
    int status = ALIGN_OK;
    {
        py::gil_scoped_release release;
        for (size_t i = 0; i < n_sets && status == ALIGN_OK; ++i)
            status = align_estimate_similarity(s + i * n_points * 2, d, n_points, m + i * 6);
    }
    check_align(status);
    return *out;
}

py::array align_faces(const py::array &image, const py::array &landmarks, bool swap_rb, std::optional<py::array> out) {
    require_dtype<uint8_t>(image, "image", "uint8");
    if (image.ndim() != 3 || image.shape(2) != 3) bad_shape("image", "(height, width, 3)", image);
    if (image.size() > 0 && (image.strides(2) != 1 || image.strides(1) != 3 || image.strides(0) < 3 * image.shape(1)))
        raise_input_error("bad_layout", "image pixels must be packed (3 bytes each) with a row stride >= 3 * width; pass np.ascontiguousarray(image)");
    require_dtype<float>(landmarks, "landmarks", "float32");
    if (landmarks.ndim() != 3 || landmarks.shape(1) != ALIGN_N_LANDMARKS || landmarks.shape(2) != 2)
        bad_shape("landmarks", "(n, 5, 2)", landmarks);
    if (!(landmarks.flags() & py::array::c_style)) raise_input_error("bad_layout", "landmarks must be C-contiguous");
    const py::ssize_t n = landmarks.shape(0);
    uint8_t *dst = output<uint8_t>(out, "out", "uint8", {n, ALIGN_OUTPUT_SIZE, ALIGN_OUTPUT_SIZE, 3});
    const auto *img = static_cast<const uint8_t *>(image.data());
    const auto *lm = static_cast<const float *>(landmarks.data());
    const auto h = static_cast<size_t>(image.shape(0)), w = static_cast<size_t>(image.shape(1));
    const auto stride = static_cast<size_t>(image.strides(0));
    int status;
    {
        py::gil_scoped_release release;
        status = align_warp_faces(img, h, w, stride, lm, static_cast<size_t>(n), swap_rb ? 1 : 0, dst);
    }
    check_align(status);
    return *out;
}

// The other top-level members of a usual rerank body, unparsed, as one object of its format.
std::string json_object(std::string_view body, const wire_span *members, size_t n) {
    std::string object = "{";
    for (size_t i = 0; i < n; ++i) (object += i ? "," : "").append(body.substr(members[i].offset, members[i].length));
    return object + "}";
}

std::string msgpack_map(std::string_view body, const wire_span *members, size_t n) {
    std::string map{'\xde', static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};  // map 16
    for (size_t i = 0; i < n; ++i) map.append(body.substr(members[i].offset, members[i].length));
    return map;
}

using WireReader = int (*)(const char *, size_t, float *, float *, size_t, wire_id *, size_t, wire_span *, size_t,
                           wire_rerank_body *);
using OthersWriter = std::string (*)(std::string_view, const wire_span *, size_t);

constexpr size_t kMaxOtherMembers = 16;
static_assert(kMaxOtherMembers <= 0xffff, "msgpack_map writes a map 16 header");
// A bound on the candidates a body holds: {"id": 0, "embedding": <4 bytes>} in MessagePack is 21
// bytes, the smallest in either format.
constexpr size_t kSmallestCandidate = 21;

// The usual rerank body (rerank_wire.h) read in one pass: (others, query, ids, candidates), or
// None when it is not the usual one or holds more than max_candidates candidates or
// kMaxOtherMembers other members. The body is any buffer of bytes; the buffer export it holds
// keeps a bytearray from being resized while the GIL is released.
template <WireReader read_body, OthersWriter others_of>
py::object read_rerank(const py::buffer &body, size_t max_candidates) {
    const py::buffer_info view = body.request();
    if (view.ndim != 1 || view.itemsize != 1 || view.strides[0] != 1)
        raise_input_error("bad_layout", "body must be contiguous bytes (bytes, bytearray or memoryview)");
    if (max_candidates == 0) return py::none();
    const std::string_view text(static_cast<const char *>(view.ptr), static_cast<size_t>(view.size));
    const size_t capacity = wire_max_floats(text.size());
    py::array_t<float> query(static_cast<py::ssize_t>(capacity)), rows(static_cast<py::ssize_t>(capacity));
    std::vector<wire_id> ids(std::min(max_candidates, text.size() / kSmallestCandidate + 1));
    wire_span members[kMaxOtherMembers];
    wire_rerank_body read{};
    int status;
    {
        py::gil_scoped_release release;
        status = read_body(text.data(), text.size(), query.mutable_data(), rows.mutable_data(), capacity, ids.data(),
                           ids.size(), members, kMaxOtherMembers, &read);
    }
    if (status == WIRE_NOT_USUAL || status == WIRE_ERR_CAPACITY) return py::none();
    if (status != WIRE_OK) throw std::runtime_error(std::string("facev3 native error: ") + wire_status_message(status));
    py::list id_list(read.n_candidates);
    for (size_t i = 0; i < read.n_candidates; ++i) {
        const wire_id &id = ids[i];
        if (!id.is_string) {
            id_list[i] = py::int_(id.integer);
            continue;
        }
        // Strict UTF-8, as orjson and ormsgpack read strings: no surrogates, no overlong forms.
        PyObject *string = PyUnicode_DecodeUTF8(text.data() + id.text.offset,
                                                static_cast<py::ssize_t>(id.text.length), "strict");
        if (string == nullptr) {
            PyErr_Clear();
            return py::none();
        }
        id_list[i] = py::reinterpret_steal<py::object>(string);
    }
    const auto n = static_cast<py::ssize_t>(read.n_candidates), dim = static_cast<py::ssize_t>(read.dim);
    py::array_t<float> query_vector(dim);
    std::memcpy(query_vector.mutable_data(), query.data(), read.dim * sizeof(float));
    py::array_t<float> matrix({n, dim}, rows.data(), rows);  // a view of the rows written; keeps the buffer
    return py::make_tuple(py::bytes(others_of(text, members, read.n_members)), query_vector, id_list, matrix);
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "facev3 native core: cosine scoring, calibration, re-ranking, embedding merging and face "
              "alignment on numpy arrays, without copies and with the GIL released.";

    input_error_type = py::reinterpret_borrow<py::object>(
        PyErr_NewExceptionWithDoc("facev3._native.InputError",
                                  "Bad input to a facev3._native function; .code names the problem "
                                  "(dtype, shape, bad_layout, empty, dim_mismatch, non_finite, zero_vector, "
                                  "bad_parameter, bad_weights, degenerate).",
                                  PyExc_ValueError, nullptr));
    m.attr("InputError") = input_error_type;

    py::array_t<float> tpl({ALIGN_N_LANDMARKS, 2}, align_arcface_template());
    tpl.attr("flags").attr("writeable") = false;
    m.attr("ARCFACE_TEMPLATE") = tpl;
    m.attr("ALIGNED_SIZE") = ALIGN_OUTPUT_SIZE;
    m.attr("SIMD_KERNEL") = facev3::dot_kernels().name;

    py::class_<RerankResult>(m, "RerankResult", "Per-candidate arrays in input order, plus the best-first order.")
        .def_readonly("order", &RerankResult::order, "int64 (k,): candidate indices, best first")
        .def_readonly("cosine", &RerankResult::cosine, "float32 (n,): raw cosine")
        .def_readonly("similarity", &RerankResult::similarity, "float32 (n,): similarity after the method")
        .def_readonly("score", &RerankResult::score, "float32 (n,): calibrated 0-1 score of the cosine")
        .def_readonly("match", &RerankResult::match, "bool (n,): score >= match_threshold");

    m.def("cosine_scores", &cosine_scores, py::arg("queries"), py::arg("candidates"), py::kw_only(),
          py::arg("out") = py::none(),
          "Cosine similarity of queries (dim,) or (q, dim) with candidates (n, dim), float32 with contiguous\n"
          "rows (any row stride). Returns (n,) or (q, n) float32, written into out when given.\n"
          "Raises InputError on NaN/inf, zero vectors, n == 0 or a dimension mismatch.");
    m.def("search", &search, py::arg("queries"), py::arg("candidates"), py::arg("k"), py::kw_only(),
          py::arg("threads") = py::none(), py::arg("out_ids") = py::none(), py::arg("out_scores") = py::none(),
          "The k candidates (n, dim) of highest cosine with each query (dim,) or (q, dim), float32 with\n"
          "contiguous rows (any row stride), without a q x n matrix. Returns (ids int64, scores float32),\n"
          "each (k,) or (q, k), best first, equal scores by lower index; when k > n the last k - n slots\n"
          "hold id -1 and score -inf. threads: None or 1 runs on the calling thread, 0 one per hardware\n"
          "thread; results do not depend on it. Written into out_ids / out_scores when given.");
    m.def("read_rerank_b64", &read_rerank<wire_read_rerank_b64, json_object>, py::arg("body"),
          py::arg("max_candidates"),
          "The usual /v1/rerank JSON body with base64 vectors ({query_b64, candidates: [{id, embedding_b64}],\n"
          "other members}) read in one pass: (others, query, ids, candidates), others the body's other\n"
          "members as the JSON bytes of an object, unparsed; query (dim,) and candidates (n, dim) float32;\n"
          "ids str or int. None when the body is anything else (see rerank_wire.h) or has more than\n"
          "max_candidates candidates: read it with a general parser. Duplicate ids are not checked.\n"
          "body: bytes, bytearray or memoryview, not copied.");
    m.def("read_rerank_msgpack", &read_rerank<wire_read_rerank_msgpack, msgpack_map>, py::arg("body"),
          py::arg("max_candidates"),
          "read_rerank_b64 for the usual MessagePack body ({query, candidates: [{id, embedding}], other\n"
          "members} with bin vectors); others is the MessagePack bytes of a map.");
    m.def("rerank", &rerank, py::arg("query"), py::arg("candidates"), py::kw_only(), py::arg("calibration_threshold"),
          py::arg("calibration_scale"), py::arg("method") = "cosine", py::arg("match_threshold") = 0.5f,
          py::arg("top_k") = py::none(), py::arg("k1") = 20, py::arg("k2") = 6, py::arg("lambda_value") = 0.3f,
          py::arg("qe_k") = 5, py::arg("qe_alpha") = 3.0f,
          "Scores query (dim,) against candidates (n, dim): cosine, then the method ('cosine',\n"
          "'kreciprocal' or 'qe'), logistic calibration 1 / (1 + exp(-scale (s - threshold))), the match\n"
          "decision score >= match_threshold, and the best top_k indices (all when None).");
    m.def("merge_embeddings", &merge_embeddings, py::arg("embeddings"), py::arg("weights") = py::none(), py::kw_only(),
          py::arg("renormalize") = true, py::arg("out") = py::none(),
          "Weighted mean of L2-normalized rows: (n, dim) -> (dim,), or per group (groups, n, dim) ->\n"
          "(groups, dim). weights: (n,) float32, >= 0, not all 0. renormalize returns unit vectors.");
    m.def("concat_embeddings", &concat_embeddings, py::arg("parts"), py::kw_only(), py::arg("renormalize") = false,
          py::arg("out") = py::none(),
          "Concatenates parts [(n, d1), (n, d2), ...] into (n, d1 + d2 + ...); renormalize divides each row\n"
          "by its L2 norm.");
    m.def("estimate_similarity", &estimate_similarity, py::arg("src"), py::arg("dst") = py::none(),
          "Umeyama least-squares similarity from src (p, 2) or (n, p, 2) float32 points to dst (p, 2),\n"
          "the ArcFace template when None. Returns the 2x3 matrix (or n of them) mapping src to dst.");
    m.def("align_faces", &align_faces, py::arg("image"), py::arg("landmarks"), py::kw_only(),
          py::arg("swap_rb") = false, py::arg("out") = py::none(),
          "Aligns faces of one (h, w, 3) uint8 image (any row stride) to 112x112 ArcFace crops from their\n"
          "5 landmarks (n, 5, 2) float32: similarity transform, bilinear warp, constant 0 border. swap_rb\n"
          "reverses the channel order (BGR -> RGB). Returns (n, 112, 112, 3) uint8, into out when given.");
}
