// leafline's native CSV reader: numeric CSV text into a caller's float64 buffer, or "cannot decide".
//
// It reads only what it can read exactly as leafline.serving.numbers defines a field (fast_float rounds
// a number to the nearest double, as Python's float() does) and answers None for anything else: a quote,
// a byte outside the number grammar, a wrong field count, a lone carriage return, a byte-order mark, a
// "-nan". The Python side then runs the reader it had before, which gives the same numbers or the 400
// naming line and column; this file never has to say what went wrong, only that it cannot decide.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fast_float/fast_float.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <thread>
#include <vector>

#if defined(__SSSE3__)
#include <tmmintrin.h>
#endif

namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();  // 0x7ff8..., as math.nan
constexpr double kInf = std::numeric_limits<double>::infinity();

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_padding(char c) { return c == ' ' || c == '\t'; }

// Case-insensitive equality of [p, p + n) with a lower-case ASCII word.
inline bool is_word(const char* p, size_t n, const char* word) {
    if (n != std::strlen(word)) return false;
    for (size_t i = 0; i < n; ++i) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
        if (c != word[i]) return false;
    }
    return true;
}

// A word field after its optional sign: inf / infinity, or a missing value (nan, na, null). Anything else,
// and "-nan", which the pyarrow path reads as a NaN with its sign bit set, is left to the Python side.
inline bool read_word(const char* p, const char* end, bool negative, bool signed_, double* out) {
    size_t n = static_cast<size_t>(end - p);
    if (n == 0) {
        if (signed_) return false;  // a lone sign is not a field
        *out = kMissing;            // an empty (or blank) field is missing
        return true;
    }
    if (is_word(p, n, "inf") || is_word(p, n, "infinity")) {
        *out = negative ? -kInf : kInf;
        return true;
    }
    if (is_word(p, n, "nan")) {
        if (negative) return false;
        *out = kMissing;
        return true;
    }
    if (is_word(p, n, "na") || is_word(p, n, "null")) {
        *out = kMissing;
        return true;
    }
    return false;
}

#if defined(__SSSE3__)
constexpr bool kShortDecimalsBySse = true;

// 10^0 .. 10^15, every one exactly a double.
constexpr double kPowersOfTen[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

// The common field, a short plain decimal: "[-]digits[.digits]" of at most 15 bytes, ending at a comma or
// at line_end, read from one 16-byte load with no branch on its length. Its digits as an integer w are
// below 10^15 < 2^53 and at most 13 follow the point, so w / 10^f is one correctly rounded division of
// exact doubles (Clinger): the double fast_float and Python's float() give. Anything else (a longer
// field, an exponent, padding, "+", ".5", "5.", a word) answers nullptr and the general reader below
// reads the field. `limit` is the chunk's end: the load needs 16 bytes before it.
inline const char* read_short_decimal(const char* p, const char* line_end, const char* limit, double* out) {
    if (limit - p < 16) return nullptr;
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i from_zero = _mm_sub_epi8(bytes, _mm_set1_epi8('0'));
    // unsigned from_zero <= 9, as min(from_zero, 9) == from_zero
    const __m128i is_digit_lane = _mm_cmpeq_epi8(_mm_min_epu8(from_zero, _mm_set1_epi8(9)), from_zero);
    const unsigned digits = static_cast<unsigned>(_mm_movemask_epi8(is_digit_lane));
    const unsigned points = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8('.'))));
    const unsigned sign = p[0] == '-' ? 1u : 0u;
    const unsigned end = static_cast<unsigned>(__builtin_ctz(~(digits | points | sign)));  // <= 16
    if (end == 16) return nullptr;
    const unsigned point_mask = points & ((1u << end) - 1);
    if (point_mask & (point_mask - 1)) return nullptr;  // two points
    const unsigned point = point_mask ? static_cast<unsigned>(__builtin_ctz(point_mask)) : end;
    // a digit on both sides of a point, and at least one digit
    if (point <= sign || (point_mask && point + 1 >= end)) return nullptr;
    if (p + end != line_end && p[end] != ',') return nullptr;
    const unsigned fraction = point_mask ? end - point - 1 : 0;
    // The digit values without the point, right-aligned in 16 lanes: lane j takes byte end - 16 + j, one
    // byte further left for the lanes left of the point; lanes left of the first digit are 0 (pshufb's
    // 0x80). Then pairs, fours and eights of lanes are summed: two 8-digit halves.
    const __m128i lanes = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m128i source = _mm_add_epi8(lanes, _mm_set1_epi8(static_cast<char>(static_cast<int>(end) - 16)));
    const __m128i left_of_point =
        _mm_cmplt_epi8(lanes, _mm_set1_epi8(static_cast<char>(16 - static_cast<int>(point_mask ? fraction : 16))));
    source = _mm_add_epi8(source, left_of_point);  // -1 in those lanes
    const __m128i valid = _mm_cmpgt_epi8(source, _mm_set1_epi8(static_cast<char>(static_cast<int>(sign) - 1)));
    const __m128i index = _mm_or_si128(_mm_and_si128(valid, source), _mm_andnot_si128(valid, _mm_set1_epi8(-128)));
    const __m128i values = _mm_and_si128(_mm_shuffle_epi8(from_zero, index), valid);
    const __m128i pairs = _mm_maddubs_epi16(values, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
    const __m128i fours = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    const __m128i eights = _mm_madd_epi16(_mm_packs_epi32(fours, fours), _mm_setr_epi16(10000, 1, 10000, 1, 0, 0, 0, 0));
    const uint64_t high = static_cast<uint32_t>(_mm_cvtsi128_si32(eights));
    const uint64_t low = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_srli_si128(eights, 4)));
    const double value = static_cast<double>(high * 100000000 + low) / kPowersOfTen[fraction];
    *out = sign ? -value : value;
    return p + end == line_end ? line_end : p + end + 1;
}
#else
constexpr bool kShortDecimalsBySse = false;

inline const char* read_short_decimal(const char*, const char*, const char*, double*) { return nullptr; }
#endif

// One field from p, which ends at a comma or at line_end: its value, and where the next field starts (after
// the comma) or line_end; nullptr when the field is not plain. A number is read in place, in one pass; the
// grammar [digits][.digits][e[+-]digits] with digits on one side of the point at least is fast_float's
// own, so whatever it stops at must be padding, the comma or the line end.
inline const char* read_field(const char* p, const char* line_end, const char* limit, double* out) {
    if (const char* next = read_short_decimal(p, line_end, limit, out)) return next;
    while (p < line_end && is_padding(*p)) ++p;
    const char* number = p;  // fast_float reads a leading '-' itself but refuses '+'
    bool negative = false, signed_ = false;
    if (p < line_end && (*p == '+' || *p == '-')) {
        negative = *p == '-';
        signed_ = true;
        ++p;
        if (!negative) number = p;
    }
    const char* end;
    if (p < line_end && (is_digit(*p) || *p == '.')) {
        auto result = fast_float::from_chars(number, line_end, *out);
        if (result.ec != std::errc()) return nullptr;
        end = result.ptr;
        while (end < line_end && is_padding(*end)) ++end;
        if (end == line_end) return line_end;
        return *end == ',' ? end + 1 : nullptr;
    }
    const char* comma = static_cast<const char*>(std::memchr(p, ',', static_cast<size_t>(line_end - p)));
    end = comma ? comma : line_end;
    const char* word_end = end;
    while (word_end > p && is_padding(word_end[-1])) --word_end;
    if (!read_word(p, word_end, negative, signed_, out)) return nullptr;
    return comma ? comma + 1 : line_end;
}

struct Chunk {
    const char* begin;
    const char* end;
    bool at_body_start;
    double* out;         // where this chunk's first record goes
    Py_ssize_t capacity;  // records it may write
    Py_ssize_t rows = 0;  // records written, or -1: cannot decide
};

// The records of [begin, end), a run of whole lines, by leafline.serving.records' rule.
void parse_chunk(Chunk& chunk, Py_ssize_t num_features, bool blank_lines_are_records) {
    const char* p = chunk.begin;
    const char* const end = chunk.end;
    if (chunk.at_body_start && end - p >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        chunk.rows = -1;  // the pyarrow path skips a byte-order mark, the field reader refuses it
        return;
    }
    Py_ssize_t rows = 0;
    double* out = chunk.out;
    while (p < end) {
        const char* newline = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        const char* line_end = newline ? newline : end;
        const char* next = newline ? newline + 1 : end;
        if (line_end > p && line_end[-1] == '\r') --line_end;  // CRLF, or a last line ending in "\r"
        if (line_end == p && !blank_lines_are_records) {
            p = next;
            continue;
        }
        if (rows == chunk.capacity) {
            chunk.rows = -1;
            return;
        }
        // Fields until the line ends; a comma just before the line end starts one more (empty) field.
        Py_ssize_t field = 0;
        const char* start = p;
        bool more = true;
        while (more) {
            if (field == num_features) {
                chunk.rows = -1;  // too many fields
                return;
            }
            const char* after = read_field(start, line_end, end, &out[field]);
            if (after == nullptr) {
                chunk.rows = -1;  // a field that is not plain (a lone "\r" included)
                return;
            }
            ++field;
            more = after != line_end || (after > start && after[-1] == ',');
            start = after;
        }
        if (field != num_features) {
            chunk.rows = -1;
            return;
        }
        out += num_features;
        ++rows;
        p = next;
    }
    chunk.rows = rows;
}

// At most how many records `bytes` bytes of whole lines hold: a record is at least num_features - 1 commas
// and its "\n" (the last one may lack it), a one-feature record at least its "\n" or one byte.
inline Py_ssize_t most_records(Py_ssize_t bytes, Py_ssize_t num_features) { return bytes / num_features + 1; }

// Splits the body at line ends into `threads` chunks, parses them at once, and packs their records
// together; the rows, or -1. Each chunk writes from the most records the chunks before it can hold, so
// chunks never overlap; packing then closes the gaps.
Py_ssize_t parse(const char* body, Py_ssize_t size, Py_ssize_t num_features, bool blanks, double* out,
                 Py_ssize_t capacity, int threads) {
    const char* const end = body + size;
    std::vector<Chunk> chunks;
    const char* begin = body;
    for (int i = 1; i <= threads && begin < end; ++i) {
        const char* cut = i == threads ? end : body + size / threads * i;
        if (cut < begin) cut = begin;
        if (cut < end) {
            const char* newline = static_cast<const char*>(std::memchr(cut, '\n', static_cast<size_t>(end - cut)));
            cut = newline ? newline + 1 : end;
        }
        chunks.push_back(Chunk{begin, cut, begin == body, nullptr, 0});
        begin = cut;
    }
    if (chunks.size() == 1) {  // one thread: no need to know where another chunk starts
        chunks[0].out = out;
        chunks[0].capacity = capacity;
        parse_chunk(chunks[0], num_features, blanks);
        return chunks[0].rows;
    }
    Py_ssize_t first_row = 0;
    for (Chunk& chunk : chunks) {
        Py_ssize_t most = most_records(chunk.end - chunk.begin, num_features);
        if (first_row + most > capacity) return -1;
        chunk.out = out + first_row * num_features;
        chunk.capacity = most;
        first_row += most;
    }
    std::vector<std::thread> workers;
    for (size_t i = 1; i < chunks.size(); ++i)
        workers.emplace_back(parse_chunk, std::ref(chunks[i]), num_features, blanks);
    parse_chunk(chunks[0], num_features, blanks);
    for (std::thread& worker : workers) worker.join();
    Py_ssize_t rows = 0;
    for (const Chunk& chunk : chunks) {
        if (chunk.rows < 0) return -1;
        double* to = out + rows * num_features;
        if (to != chunk.out && chunk.rows)
            std::memmove(to, chunk.out, static_cast<size_t>(chunk.rows * num_features) * sizeof(double));
        rows += chunk.rows;
    }
    return rows;
}

PyObject* parse_csv(PyObject*, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"body", "num_features", "out", "blank_lines_are_records", "threads", nullptr};
    Py_buffer body, out;
    Py_ssize_t num_features;
    int blanks = 0, threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*nw*|pi:parse_csv", const_cast<char**>(keywords), &body,
                                     &num_features, &out, &blanks, &threads)) {
        return nullptr;
    }
    PyObject* answer = nullptr;
    if (num_features < 1 || threads < 1) {
        PyErr_SetString(PyExc_ValueError, "num_features and threads must be at least 1");
    } else if (out.len % static_cast<Py_ssize_t>(sizeof(double) * num_features) != 0) {
        PyErr_SetString(PyExc_ValueError, "out must hold whole rows of float64 (8 bytes x num_features each)");
    } else {
        Py_ssize_t capacity = out.len / static_cast<Py_ssize_t>(sizeof(double)) / num_features;
        Py_ssize_t rows = 0;
        if (body.len > 0) {
            Py_BEGIN_ALLOW_THREADS
            rows = parse(static_cast<const char*>(body.buf), body.len, num_features, blanks != 0,
                         static_cast<double*>(out.buf), capacity, threads);
            Py_END_ALLOW_THREADS
        }
        answer = rows > 0 ? PyLong_FromSsize_t(rows) : Py_NewRef(Py_None);  // no records: the Python side says so
    }
    PyBuffer_Release(&body);
    PyBuffer_Release(&out);
    return answer;
}

PyObject* rows_needed(PyObject*, PyObject* args) {
    Py_ssize_t bytes, num_features;
    int threads;
    if (!PyArg_ParseTuple(args, "nni:rows_needed", &bytes, &num_features, &threads)) return nullptr;
    if (bytes < 0 || num_features < 1 || threads < 1) {
        PyErr_SetString(PyExc_ValueError, "body_bytes must be >= 0, num_features and threads >= 1");
        return nullptr;
    }
    return PyLong_FromSsize_t(most_records(bytes, num_features) + threads);  // + one per chunk boundary
}

PyMethodDef methods[] = {
    {"parse_csv", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(parse_csv)), METH_VARARGS | METH_KEYWORDS,
     "parse_csv(body, num_features, out, blank_lines_are_records=False, threads=1) -> int | None\n\n"
     "Reads the CSV body's records into out (a writable, C-contiguous float64 buffer of rows x num_features)\n"
     "and returns how many it read, or None when it cannot decide (the caller then reads the body its\n"
     "exact way). out needs rows_needed(len(body), num_features, threads) rows; the records fill the first\n"
     "ones (rows never written are never touched). The GIL is released while parsing."},
    {"rows_needed", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(rows_needed)), METH_VARARGS,
     "rows_needed(body_bytes, num_features, threads) -> int: the rows parse_csv's out must have."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "leafline_native._csv", "leafline's native CSV reader (fast_float).",
                      -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__csv() {
    PyObject* m = PyModule_Create(&module);
    const char* short_decimals = kShortDecimalsBySse ? "sse" : "fast_float";
    if (m != nullptr && PyModule_AddStringConstant(m, "SHORT_DECIMALS", short_decimals) != 0) Py_CLEAR(m);
    return m;
}
