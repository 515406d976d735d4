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

#include <cstring>
#include <functional>
#include <limits>
#include <thread>
#include <vector>

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

// One field from p, which ends at a comma or at line_end: its value, and where the next field starts (after
// the comma) or line_end; nullptr when the field is not plain. A number is read in place, in one pass; the
// grammar [digits][.digits][e[+-]digits] with digits on one side of the point at least is fast_float's
// own, so whatever it stops at must be padding, the comma or the line end.
inline const char* read_field(const char* p, const char* line_end, double* out) {
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
            const char* after = read_field(start, line_end, &out[field]);
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

PyMODINIT_FUNC PyInit__csv() { return PyModule_Create(&module); }
