// librerank_compute: formulas and contracts are documented in facev3/rerank_compute.h.
#include "facev3/rerank_compute.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

#include "dot_kernels.h"
#include "guarded.h"
#include "tile_kernels.h"

namespace {

using facev3::dot_kernels;

using facev3::fail;

template <class Body>
int guarded(Body &&body) {
    return facev3::guarded<rerank_status, RERANK_OK, RERANK_ERR_OUT_OF_MEMORY, RERANK_ERR_INTERNAL>(std::forward<Body>(body));
}

// A row-strided float32 matrix view.
struct Rows {
    const float *data;
    size_t count, dim, stride;
    const float *row(size_t i) const { return data + i * stride; }
};

Rows checked_rows(const float *data, size_t count, size_t dim, size_t stride) {
    if (data == nullptr) fail(RERANK_ERR_NULL_POINTER);
    if (count == 0 || dim == 0) fail(RERANK_ERR_EMPTY);
    if (stride < dim) fail(RERANK_ERR_BAD_STRIDE);
    return Rows{data, count, dim, stride};
}

void check_squared_norm(float nn) {
    if (!std::isfinite(nn)) fail(RERANK_ERR_NON_FINITE);
    if (nn <= 0.0f) fail(RERANK_ERR_ZERO_VECTOR);
}

// Fails with the status of the first zero or non-finite row.
void check_rows(const Rows &rows) {
    const auto &k = dot_kernels();
    for (size_t i = 0; i < rows.count; ++i) check_squared_norm(k.dot(rows.row(i), rows.row(i), rows.dim));
}

float clamp_unit(float x) { return std::min(1.0f, std::max(-1.0f, x)); }

// A tile of cosines handed to a sink: candidates [cand0, cand0 + cands) x queries
// [query0, query0 + queries), candidate r and query j at scores[r * lanes + j]; best[j] is query
// j's highest score in the tile.
struct Tile {
    const float *scores, *best;
    size_t lanes, query0, queries, cand0, cands;
    float score(size_t r, size_t j) const { return scores[r * lanes + j]; }
};

// How far ahead passes over the candidates prefetch, in bytes of rows (see dot_kernels.h).
constexpr size_t kPrefetchBytes = 16 * 1024;

// Candidates per block of the tiled scan: about 256 KiB of rows, which stay in L2 while every query
// panel passes over them.
size_t block_rows(size_t dim, size_t tile_rows) {
    return std::max<size_t>(1, 256 * 1024 / (sizeof(float) * dim * tile_rows)) * tile_rows;
}

// The first float at or after p on a 64-byte boundary (buffers carry 15 floats of slack), so that
// panel loads never straddle cache lines.
template <class Float>
Float *cache_aligned(Float *p) {
    const auto misalignment = reinterpret_cast<std::uintptr_t>(p) % 64;
    return misalignment ? p + (64 - misalignment) / sizeof(float) : p;
}

// Cosines of the queries with any range of candidates, computed tile by tile and handed to a sink
// in ascending candidate order for each query; nothing of size queries x candidates is stored.
// One query keeps the fused dot-and-norm pass over each candidate (memory bound, so already at
// memory speed). Several are checked and packed once as unit-norm panels for the tile kernel
// (O(queries * dim) floats), and each candidate block is read from memory once, by its norm pass,
// then served from cache to every panel. run() is const and thread-safe, and each candidate's
// score depends only on the query and the candidate, not on the range or thread that computed it.
class CosineScan {
  public:
    CosineScan(const Rows &queries, const Rows &candidates)
        : queries_(queries), candidates_(candidates), kernel_(facev3::tile_kernel()) {
        const auto &k = dot_kernels();
        if (queries.count == 1) {
            const float nn = k.dot(queries.row(0), queries.row(0), queries.dim);
            check_squared_norm(nn);
            inv_query_norm_ = 1.0f / std::sqrt(nn);
            return;
        }
        const size_t lanes = kernel_.lanes, dim = queries.dim;
        panels_.resize((queries.count + lanes - 1) / lanes * dim * lanes + 15);
        float *packed = cache_aligned(panels_.data());
        for (size_t q = 0; q < queries.count; ++q) {
            const float *x = queries.row(q);
            const float nn = k.dot(x, x, dim);
            check_squared_norm(nn);
            const float inv = 1.0f / std::sqrt(nn);
            float *dst = packed + q / lanes * dim * lanes + q % lanes;
            for (size_t j = 0; j < dim; ++j) dst[j * lanes] = x[j] * inv;
        }
    }

    // Scores candidates [begin, end) against every query.
    template <class Sink>
    void run(size_t begin, size_t end, Sink &&sink) const {
        if (queries_.count == 1) run_one(begin, end, sink);
        else run_tiles(begin, end, 0, panels(), sink);
    }

    // Scores every candidate against the queries of panels [first, last) (several queries only).
    template <class Sink>
    void run_panels(size_t first, size_t last, Sink &&sink) const {
        run_tiles(0, candidates_.count, first, last, sink);
    }

    // Groups of a tile's width of queries (the last may be short); 1 for one query.
    size_t panels() const { return (queries_.count + kernel_.lanes - 1) / kernel_.lanes; }

    // The range of queries that panels [first_panel, last_panel) hold.
    std::pair<size_t, size_t> queries_of(size_t first_panel, size_t last_panel) const {
        return {first_panel * kernel_.lanes, std::min(queries_.count, last_panel * kernel_.lanes)};
    }

  private:
    template <class Sink>
    void run_one(size_t begin, size_t end, Sink &sink) const {
        const auto &k = dot_kernels();
        const float *query = queries_.row(0);
        float scores[256];
        for (size_t b = begin; b < end; b += 256) {
            const size_t count = std::min<size_t>(256, end - b);
            float best = -1.0f;
            for (size_t i = b; i < b + count; ++i) {
                float dot, cc;
                k.dot_and_norm(query, candidates_.row(i), candidates_.dim, row_ahead(i), &dot, &cc);
                check_squared_norm(cc);
                scores[i - b] = clamp_unit(dot * inv_query_norm_ * (1.0f / std::sqrt(cc)));
                best = std::max(best, scores[i - b]);
            }
            sink(Tile{scores, &best, 1, 0, 1, b, count});
        }
    }

    template <class Sink>
    void run_tiles(size_t begin, size_t end, size_t first_panel, size_t last_panel, Sink &sink) const {
        const auto &k = dot_kernels();
        const size_t rows = kernel_.rows, lanes = kernel_.lanes, dim = candidates_.dim;
        const size_t block = block_rows(dim, rows);
        const auto [query_begin, query_end] = queries_of(first_panel, last_panel);
        const float *packed = cache_aligned(panels_.data());
        std::vector<float> inv_norms(block), scores((rows + 1) * lanes);
        std::vector<const float *> tile_rows(rows);
        for (size_t b = begin; b < end; b += block) {
            const size_t block_end = std::min(end, b + block);
            for (size_t i = b; i < block_end; ++i) {
                const float *c = candidates_.row(i);
                float cc_again, cc;  // the fused kernel for its prefetching; <c, c> comes twice
                k.dot_and_norm(c, c, dim, row_ahead(i), &cc_again, &cc);
                check_squared_norm(cc);
                inv_norms[i - b] = 1.0f / std::sqrt(cc);
            }
            for (size_t q0 = query_begin; q0 < query_end; q0 += lanes) {
                const float *panel = packed + q0 * dim;
                for (size_t i = b; i < block_end; i += rows) {
                    const size_t count = std::min(rows, block_end - i);
                    for (size_t r = 0; r < rows; ++r)  // a short tile repeats its last row
                        tile_rows[r] = candidates_.row(i + std::min(r, count - 1));
                    kernel_.cosines(tile_rows.data(), panel, dim, &inv_norms[i - b], scores.data());
                    const size_t queries = std::min(lanes, queries_.count - q0);
                    sink(Tile{scores.data(), scores.data() + rows * lanes, lanes, q0, queries, i, count});
                }
            }
        }
    }

    // The row kPrefetchBytes after row i, or the last: what a pass at row i asks the cache for.
    const float *row_ahead(size_t i) const {
        const size_t rows = std::max<size_t>(1, kPrefetchBytes / (sizeof(float) * candidates_.stride));
        return candidates_.row(std::min(i + rows, candidates_.count - 1));
    }

    Rows queries_, candidates_;
    const facev3::TileKernel &kernel_;
    float inv_query_norm_ = 0.0f;   // one query
    std::vector<float> panels_;     // several: unit queries, lanes at a time, dim x lanes each
};

// out[q * n + i] = cosine(queries[q], candidates[i]).
void cosine_matrix(const Rows &queries, const Rows &candidates, float *out) {
    const size_t n = candidates.count;
    CosineScan(queries, candidates).run(0, n, [out, n](const Tile &t) {
        for (size_t j = 0; j < t.queries; ++j)
            for (size_t r = 0; r < t.cands; ++r) out[(t.query0 + j) * n + t.cand0 + r] = t.score(r, j);
    });
}

// ---- streaming top-k --------------------------------------------------------------------------

struct Hit {
    float score;
    int64_t id;
};

// Higher score first, then lower candidate index; branch-free, for select_best.
bool better(float score, int64_t id, float than_score, int64_t than_id) {
    return (score > than_score) | ((score == than_score) & (id < than_id));
}

bool hit_order(const Hit &a, const Hit &b) { return better(a.score, a.id, b.score, b.id); }

// Moves the best k of the n hits (scores[i], ids[i]) to the front, in no order, and returns the
// k-th best score (1 <= k <= n); tmp_scores and tmp_ids hold n each. Quickselect with a partition
// that writes every hit to both ends of tmp and advances one end, instead of branching or
// swapping in place: on near-random scores a branch mispredicts half the time, and in-place
// swaps reload what the previous step stored at a data-dependent address. Pivots are the median
// of three pseudo-random picks, so no input order is slow by design.
float select_best(float *scores, int64_t *ids, size_t n, size_t k, float *tmp_scores, int64_t *tmp_ids) {
    auto is_better = [scores, ids](size_t a, size_t b) { return better(scores[a], ids[a], scores[b], ids[b]); };
    uint64_t random = 0x9E3779B97F4A7C15u;
    size_t lo = 0, hi = n;  // [0, lo) are in the best k, [hi, n) are not
    while (hi - lo > 1) {
        size_t pick[3];
        for (size_t &p : pick) {
            random = random * 6364136223846793005u + 1442695040888963407u;
            p = lo + static_cast<size_t>(random >> 33) % (hi - lo);
        }
        if (is_better(pick[1], pick[0])) std::swap(pick[0], pick[1]);
        if (is_better(pick[2], pick[1])) std::swap(pick[1], pick[2]);
        if (is_better(pick[1], pick[0])) std::swap(pick[0], pick[1]);
        const size_t last = hi - 1;
        std::swap(scores[pick[1]], scores[last]);
        std::swap(ids[pick[1]], ids[last]);
        const float pivot_score = scores[last];
        const int64_t pivot_id = ids[last];
        size_t front = lo, back = hi;
        for (size_t i = lo; i < last; ++i) {
            const bool wins = better(scores[i], ids[i], pivot_score, pivot_id);
            tmp_scores[front] = tmp_scores[back - 1] = scores[i];
            tmp_ids[front] = tmp_ids[back - 1] = ids[i];
            front += wins;
            back -= !wins;
        }
        tmp_scores[front] = pivot_score;
        tmp_ids[front] = pivot_id;
        std::copy(tmp_scores + lo, tmp_scores + hi, scores + lo);
        std::copy(tmp_ids + lo, tmp_ids + hi, ids + lo);
        if (front == k - 1) return pivot_score;
        if (front > k - 1) hi = front;
        else lo = front + 1;
    }
    return scores[lo];
}

// The best k hits of each query, as a CosineScan sink. Candidates arrive in ascending index order,
// so a score equal to the k-th best loses its tie, and only scores above the query's threshold
// are kept: appended to the query's buffer of 2k; a full buffer is cut back to its best k and the
// k-th best score becomes the threshold. A query whose best score in a tile is not above its
// threshold costs one comparison for the whole tile. Memory: queries x 2k hits.
class TopK {
  public:
    TopK(size_t queries, size_t k)
        : k_(k), scores_(queries * 2 * k), ids_(queries * 2 * k), count_(queries), threshold_(queries, -INFINITY),
          tmp_scores_(2 * k), tmp_ids_(2 * k) {}

    void operator()(const Tile &t) {
        for (size_t j = 0; j < t.queries; ++j) {
            const size_t q = t.query0 + j;
            if (!(t.best[j] > threshold_[q])) continue;
            float *scores = &scores_[q * 2 * k_];
            int64_t *ids = &ids_[q * 2 * k_];
            size_t count = count_[q];
            float threshold = threshold_[q];
            for (size_t r = 0; r < t.cands; ++r) {
                // Branch-free append: the slot past the kept hits is written, kept or not.
                const float score = t.score(r, j);
                scores[count] = score;
                ids[count] = static_cast<int64_t>(t.cand0 + r);
                count += score > threshold;
                if (count == 2 * k_) {
                    threshold = select_best(scores, ids, count, k_, tmp_scores_.data(), tmp_ids_.data());
                    count = k_;
                }
            }
            count_[q] = count;
            threshold_[q] = threshold;
        }
    }

    // Keeps query q's best min(k, hits) hits, best first: append_hits then gives them in order.
    void sort_hits(size_t q) {
        sorting_.clear();
        append_hits(q, sorting_);
        std::sort(sorting_.begin(), sorting_.end(), hit_order);
        count_[q] = sorting_.size();
        for (size_t i = 0; i < count_[q]; ++i) {
            scores_[q * 2 * k_ + i] = sorting_[i].score;
            ids_[q * 2 * k_ + i] = sorting_[i].id;
        }
    }

    // Appends query q's best min(k, hits) hits to out, in no particular order unless sorted.
    void append_hits(size_t q, std::vector<Hit> &out) {
        float *scores = &scores_[q * 2 * k_];
        int64_t *ids = &ids_[q * 2 * k_];
        const size_t count = std::min(count_[q], k_);
        if (count_[q] > k_) select_best(scores, ids, count_[q], k_, tmp_scores_.data(), tmp_ids_.data());
        for (size_t i = 0; i < count; ++i) out.push_back(Hit{scores[i], ids[i]});
    }

  private:
    size_t k_;
    std::vector<float> scores_;
    std::vector<int64_t> ids_;
    std::vector<size_t> count_;
    std::vector<float> threshold_, tmp_scores_;
    std::vector<int64_t> tmp_ids_;
    std::vector<Hit> sorting_;
};

// Calls work(t) for t in [0, threads): on threads - 1 new threads and this one. Every started
// thread is joined before returning, even when starting another one throws.
template <class Work>
void run_threads(size_t threads, const Work &work) {
    std::vector<std::thread> started;
    started.reserve(threads - 1);
    struct JoinAll {
        std::vector<std::thread> &threads;
        ~JoinAll() {
            for (auto &t : threads) t.join();
        }
    } join_all{started};
    for (size_t t = 1; t < threads; ++t) started.emplace_back(work, t);
    work(0);
}

// n_threads, 0 meaning one per hardware thread, and at most one per kMinRowsPerThread candidates
// so that small searches do not pay for threads they cannot use.
size_t thread_count(size_t n_threads, size_t n_candidates) {
    constexpr size_t kMinRowsPerThread = 1024;
    const size_t wanted = n_threads ? n_threads : std::max(1u, std::thread::hardware_concurrency());
    return std::max<size_t>(1, std::min(wanted, (n_candidates + kMinRowsPerThread - 1) / kMinRowsPerThread));
}

void check_calibration(const rerank_calibration *cal) {
    if (cal == nullptr) fail(RERANK_ERR_NULL_POINTER);
    if (!std::isfinite(cal->threshold) || !std::isfinite(cal->scale) || cal->scale <= 0.0f)
        fail(RERANK_ERR_BAD_PARAMETER);
}

float calibrated(float similarity, const rerank_calibration &cal) {
    return 1.0f / (1.0f + std::exp(-cal.scale * (similarity - cal.threshold)));
}

void check_options(const rerank_options *o) {
    if (o == nullptr) fail(RERANK_ERR_NULL_POINTER);
    const bool ok = o->method >= RERANK_METHOD_COSINE && o->method <= RERANK_METHOD_QUERY_EXPANSION &&
                    o->match_threshold >= 0.0f && o->match_threshold <= 1.0f && o->k1 >= 1 &&
                    o->k2 >= 1 && o->lambda_value >= 0.0f && o->lambda_value <= 1.0f && o->qe_k >= 1 &&
                    o->qe_alpha >= 0.0f && std::isfinite(o->qe_alpha);  // NaNs fail the range tests
    if (!ok) fail(RERANK_ERR_BAD_PARAMETER);
}

// Indices 0..n-1 by value descending, equal values by index; only the first `count` are sorted.
std::vector<int64_t> best_first(const float *values, size_t n, size_t count) {
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    auto better = [values](int64_t a, int64_t b) {
        return values[a] > values[b] || (values[a] == values[b] && a < b);
    };
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(count), idx.end(), better);
    idx.resize(count);
    return idx;
}

// ---- k-reciprocal re-ranking (Zhong et al. 2017) over {query} U candidates -------------------

class KReciprocal {
  public:
    KReciprocal(const float *query, const Rows &candidates, const rerank_options &o)
        : m_(candidates.count + 1), dist_(m_ * m_) {
        normalize_all(query, candidates);
        pairwise_distances(candidates.dim);
        const size_t k1 = std::min<size_t>(o.k1, m_ - 1);
        const size_t k2 = std::min<size_t>(o.k2, m_);
        ranked_ = std::max(k1 + 1, k2);
        rank_neighbours();
        encode(k1, k2);
        lambda_ = o.lambda_value;
    }

    // similarity[g] for candidate g = 1 - d*(query, g) / 2.
    void similarity(float *out) const {
        const float *vq = &v_[0];
        for (size_t g = 1; g < m_; ++g) {
            const float *vg = &v_[g * m_];
            double lo = 0.0, hi = 0.0;
            for (size_t j = 0; j < m_; ++j) {
                lo += std::min(vq[j], vg[j]);
                hi += std::max(vq[j], vg[j]);
            }
            const double jaccard = hi > 0.0 ? 1.0 - lo / hi : 1.0;
            const double d = (1.0 - lambda_) * jaccard + lambda_ * dist_[g];
            out[g - 1] = static_cast<float>(1.0 - d / 2.0);
        }
    }

  private:
    void normalize_all(const float *query, const Rows &c) {
        const auto &k = dot_kernels();
        dim_ = c.dim;
        unit_.resize(m_ * dim_);
        for (size_t i = 0; i < m_; ++i) {
            const float *x = i == 0 ? query : c.row(i - 1);
            const float nn = k.dot(x, x, dim_);
            check_squared_norm(nn);
            const float inv = 1.0f / std::sqrt(nn);
            for (size_t j = 0; j < dim_; ++j) unit_[i * dim_ + j] = x[j] * inv;
        }
    }

    void pairwise_distances(size_t dim) {
        const auto &k = dot_kernels();
        for (size_t i = 0; i < m_; ++i) {
            dist_[i * m_ + i] = 0.0f;
            for (size_t j = i + 1; j < m_; ++j) {
                const float cos = clamp_unit(k.dot(&unit_[i * dim], &unit_[j * dim], dim));
                dist_[i * m_ + j] = dist_[j * m_ + i] = 2.0f - 2.0f * cos;
            }
        }
    }

    // rank_[i * ranked_ + r]: the r-th nearest item of i (distance, then index).
    void rank_neighbours() {
        rank_.resize(m_ * ranked_);
        std::vector<int64_t> idx(m_);
        for (size_t i = 0; i < m_; ++i) {
            const float *d = &dist_[i * m_];
            std::iota(idx.begin(), idx.end(), 0);
            std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(ranked_), idx.end(),
                              [d](int64_t a, int64_t b) { return d[a] < d[b] || (d[a] == d[b] && a < b); });
            std::copy(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(ranked_), &rank_[i * ranked_]);
        }
    }

    const int64_t *nearest(size_t i) const { return &rank_[i * ranked_]; }

    // R(i, k): members of N(i, k) that have i in their own N(., k).
    std::vector<int64_t> reciprocal(size_t i, size_t k) const {
        std::vector<int64_t> out;
        for (size_t r = 0; r <= k; ++r) {
            const int64_t j = nearest(i)[r];
            const int64_t *back = nearest(static_cast<size_t>(j));
            if (std::find(back, back + k + 1, static_cast<int64_t>(i)) != back + k + 1) out.push_back(j);
        }
        return out;
    }

    void encode(size_t k1, size_t k2) {
        const size_t half = (k1 + 1) / 2;
        std::vector<float> v(m_ * m_, 0.0f);
        std::vector<char> in_r(m_), in_expanded(m_);
        for (size_t i = 0; i < m_; ++i) {
            const std::vector<int64_t> r = reciprocal(i, k1);
            std::fill(in_r.begin(), in_r.end(), 0);
            std::fill(in_expanded.begin(), in_expanded.end(), 0);
            for (int64_t j : r) in_r[j] = in_expanded[j] = 1;
            for (int64_t j : r) {
                const std::vector<int64_t> rj = reciprocal(static_cast<size_t>(j), half);
                size_t shared = 0;
                for (int64_t x : rj) shared += in_r[x];
                if (3 * shared >= 2 * rj.size())
                    for (int64_t x : rj) in_expanded[x] = 1;
            }
            double total = 0.0;
            for (size_t j = 0; j < m_; ++j)
                if (in_expanded[j]) total += std::exp(-static_cast<double>(dist_[i * m_ + j]));
            for (size_t j = 0; j < m_; ++j)
                if (in_expanded[j])
                    v[i * m_ + j] = static_cast<float>(std::exp(-static_cast<double>(dist_[i * m_ + j])) / total);
        }
        if (k2 == 1) {
            v_ = std::move(v);
            return;
        }
        v_.assign(m_ * m_, 0.0f);
        for (size_t i = 0; i < m_; ++i) {
            float *out = &v_[i * m_];
            for (size_t r = 0; r < k2; ++r) {
                const float *src = &v[static_cast<size_t>(nearest(i)[r]) * m_];
                for (size_t j = 0; j < m_; ++j) out[j] += src[j];
            }
            for (size_t j = 0; j < m_; ++j) out[j] /= static_cast<float>(k2);
        }
    }

    size_t m_, dim_ = 0, ranked_ = 0;
    std::vector<float> unit_, dist_, v_;
    std::vector<int64_t> rank_;
    float lambda_ = 0.0f;
};

// ---- alpha query expansion -------------------------------------------------------------------

void query_expansion(const float *query, const Rows &c, const float *cosine, const rerank_options &o,
                     float *out) {
    const size_t d = c.dim;
    const auto &k = dot_kernels();
    std::vector<double> expanded(d);
    const double inv_q = 1.0 / std::sqrt(static_cast<double>(k.dot(query, query, d)));
    for (size_t j = 0; j < d; ++j) expanded[j] = query[j] * inv_q;
    for (int64_t i : best_first(cosine, c.count, std::min<size_t>(o.qe_k, c.count))) {
        if (cosine[i] <= 0.0f) break;
        const float *row = c.row(static_cast<size_t>(i));
        const double w = std::pow(static_cast<double>(cosine[i]), static_cast<double>(o.qe_alpha)) /
                         std::sqrt(static_cast<double>(k.dot(row, row, d)));
        for (size_t j = 0; j < d; ++j) expanded[j] += w * row[j];
    }
    std::vector<float> q(expanded.begin(), expanded.end());
    cosine_matrix(Rows{q.data(), 1, d, d}, c, out);
}

}  // namespace

extern "C" {

int rerank_version(void) { return RERANK_COMPUTE_VERSION; }

const char *rerank_status_message(int status) {
    switch (status) {
        case RERANK_OK: return "ok";
        case RERANK_ERR_NULL_POINTER: return "a required pointer is NULL";
        case RERANK_ERR_EMPTY: return "no vectors given, or dimension 0";
        case RERANK_ERR_DIM_MISMATCH: return "query and candidate dimensions differ";
        case RERANK_ERR_BAD_STRIDE: return "a row stride is smaller than the dimension";
        case RERANK_ERR_NON_FINITE: return "an embedding contains NaN or inf";
        case RERANK_ERR_ZERO_VECTOR: return "an embedding is the zero vector";
        case RERANK_ERR_BAD_PARAMETER: return "an option is out of range";
        case RERANK_ERR_OUT_OF_MEMORY: return "out of memory";
        case RERANK_ERR_INTERNAL: return "internal error";
        default: return "unknown status";
    }
}

void rerank_default_options(rerank_options *options) {
    if (options == nullptr) return;
    *options = rerank_options{RERANK_METHOD_COSINE, 0.5f, 20, 6, 0.3f, 5, 3.0f};
}

int rerank_cosine_scores(const float *queries, size_t n_queries, size_t query_dim, size_t query_stride,
                         const float *candidates, size_t n_candidates, size_t candidate_dim,
                         size_t candidate_stride, float *out_scores) {
    return guarded([&] {
        const Rows q = checked_rows(queries, n_queries, query_dim, query_stride);
        const Rows c = checked_rows(candidates, n_candidates, candidate_dim, candidate_stride);
        if (q.dim != c.dim) fail(RERANK_ERR_DIM_MISMATCH);
        if (out_scores == nullptr) fail(RERANK_ERR_NULL_POINTER);
        // Nothing may reach out_scores before every row has passed its check: either a first pass
        // checks them (n x dim floats read) or the scores go to scratch, copied at the end
        // (queries x n floats written twice); whichever moves fewer bytes.
        if (q.count > c.dim) {
            check_rows(q);
            check_rows(c);
            cosine_matrix(q, c, out_scores);
            return;
        }
        std::vector<float> scores(q.count * c.count);
        cosine_matrix(q, c, scores.data());
        std::copy(scores.begin(), scores.end(), out_scores);
    });
}

int rerank_search(const float *queries, size_t n_queries, size_t query_dim, size_t query_stride,
                  const float *candidates, size_t n_candidates, size_t candidate_dim, size_t candidate_stride,
                  size_t k, size_t n_threads, int64_t *out_ids, float *out_scores) {
    return guarded([&] {
        const Rows q = checked_rows(queries, n_queries, query_dim, query_stride);
        const Rows c = checked_rows(candidates, n_candidates, candidate_dim, candidate_stride);
        if (q.dim != c.dim) fail(RERANK_ERR_DIM_MISMATCH);
        if (out_ids == nullptr || out_scores == nullptr) fail(RERANK_ERR_NULL_POINTER);
        if (k == 0) fail(RERANK_ERR_BAD_PARAMETER);
        const CosineScan scan(q, c);
        const size_t kept = std::min(k, c.count), threads = thread_count(n_threads, c.count);
        // With a panel of queries or more per thread, each thread scores its own queries against
        // every candidate: no query's top-k is kept twice (for k = 100 of 10,000 candidates, the
        // top-k of half the candidates costs nearly as much as of all, and 2 threads were 1.25x
        // one). Fewer queries split the candidates into contiguous ranges, each read from memory
        // once. Either way every thread checks candidates in index order, so the lowest-numbered
        // failing thread's status is the one a single thread would return.
        const size_t panels = scan.panels();
        const bool by_queries = q.count > 1 && panels >= threads;
        std::vector<TopK> best(threads, TopK(q.count, kept));
        std::vector<int> status(threads, RERANK_OK);
        run_threads(threads, [&](size_t t) {
            status[t] = guarded([&] {
                if (!by_queries) return scan.run(c.count * t / threads, c.count * (t + 1) / threads, best[t]);
                const size_t first = panels * t / threads, last = panels * (t + 1) / threads;
                scan.run_panels(first, last, best[t]);
                // Each query's hits are all in its thread's top-k: sorted there, in parallel (256
                // sorts of 100 hits took 1 ms, a seventh of a 256 x 10,000 x 128 search).
                const auto [query_begin, query_end] = scan.queries_of(first, last);
                for (size_t i = query_begin; i < query_end; ++i) best[t].sort_hits(i);
            });
        });
        for (int s : status)
            if (s != RERANK_OK) fail(static_cast<rerank_status>(s));

        std::vector<Hit> merged;
        merged.reserve(threads * kept);
        for (size_t i = 0; i < q.count; ++i) {
            merged.clear();
            for (TopK &b : best) b.append_hits(i, merged);
            if (!by_queries) std::sort(merged.begin(), merged.end(), hit_order);
            for (size_t r = 0; r < k; ++r) {
                out_ids[i * k + r] = r < kept ? merged[r].id : -1;
                out_scores[i * k + r] = r < kept ? merged[r].score : -INFINITY;
            }
        }
    });
}

int rerank_calibrate(const float *similarity, size_t n, const rerank_calibration *calibration,
                     float *out_score) {
    return guarded([&] {
        if (similarity == nullptr || out_score == nullptr) fail(RERANK_ERR_NULL_POINTER);
        check_calibration(calibration);
        for (size_t i = 0; i < n; ++i) out_score[i] = calibrated(similarity[i], *calibration);
    });
}

int rerank_run(const float *query, size_t query_dim, const float *candidates, size_t n_candidates,
               size_t candidate_dim, size_t candidate_stride, const rerank_calibration *calibration,
               const rerank_options *options, size_t top_k, float *out_cosine, float *out_similarity,
               float *out_score, uint8_t *out_match, int64_t *out_order) {
    return guarded([&] {
        const Rows q = checked_rows(query, 1, query_dim, query_dim);
        const Rows c = checked_rows(candidates, n_candidates, candidate_dim, candidate_stride);
        if (q.dim != c.dim) fail(RERANK_ERR_DIM_MISMATCH);
        if (out_order == nullptr && top_k > 0) fail(RERANK_ERR_NULL_POINTER);
        check_calibration(calibration);
        check_options(options);

        const size_t n = c.count;
        std::vector<float> cosine(n), similarity(n), score(n);
        cosine_matrix(q, c, cosine.data());
        switch (options->method) {
            case RERANK_METHOD_KRECIPROCAL: KReciprocal(query, c, *options).similarity(similarity.data()); break;
            case RERANK_METHOD_QUERY_EXPANSION: query_expansion(query, c, cosine.data(), *options, similarity.data()); break;
            default: similarity = cosine;
        }
        // The calibration was fitted on cosines, so only the calibrated cosine says "same person":
        // a method's similarity (k-reciprocal, query expansion) reorders but never decides matches.
        for (size_t i = 0; i < n; ++i) score[i] = calibrated(cosine[i], *calibration);
        // Ordering by the raw similarity keeps apart ties that float rounding would create at
        // saturated scores.
        const std::vector<int64_t> order = best_first(similarity.data(), n, std::min(top_k, n));

        if (out_cosine) std::copy(cosine.begin(), cosine.end(), out_cosine);
        if (out_similarity) std::copy(similarity.begin(), similarity.end(), out_similarity);
        if (out_score) std::copy(score.begin(), score.end(), out_score);
        if (out_match)
            for (size_t i = 0; i < n; ++i) out_match[i] = score[i] >= options->match_threshold ? 1 : 0;
        std::copy(order.begin(), order.end(), out_order);
    });
}

}  // extern "C"
