// leafline's native writer: a matrix of scores into one response body (CSV, JSON or JSON Lines), each double
// in its shortest round-trip digits, or "cannot decide" for a value it does not write (NaN, an infinity).
//
// The digits are the shortest that read back to the same double, nearest to it when several are as short
// (the digits of Python's repr and of Arrow's writer). They come from fmt's Dragonbox when fmt's header was
// there at build time (Debian's libfmt-dev, used header-only: nothing at run time), else from std::to_chars,
// which gives the same digits about twice as slowly (issue 15: 1 GB/s of output per core). The
// spelling around them is the one leafline's Arrow path writes, so a body is the same bytes with or without
// this extension: plain notation for decimal exponents -6..9 with ".0" after a whole number ("1.0",
// "-0.0", "1000000000.0"), else "d.ddde+X" / "de-X" ("1e-7", "1.5e+10").
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#if defined(__linux__)
#include <sys/mman.h>
#endif

// fmt::detail::dragonbox::to_decimal is fmt's internal API: the shortest significand and its decimal exponent
// with no text in between, which its public formatting does not give. Internal means it may change in any
// release, so it is used only for the fmt majors it was checked against (9 to 11: same name, same
// decimal_fp{significand, exponent}); any other fmt, or none, builds the to_chars path: same bytes, slower.
#if defined(__has_include) && !defined(LEAFLINE_NO_FMT)
#if __has_include(<fmt/format.h>)
#define FMT_HEADER_ONLY
#define FMT_USE_FULL_CACHE_DRAGONBOX 1  // the full power-of-ten table (~10 KB): ~20% faster than recomputing
#include <fmt/format.h>
#if FMT_VERSION >= 90000 && FMT_VERSION < 120000
#define LEAFLINE_DRAGONBOX 1
#endif
#endif
#endif

namespace {

constexpr int kPlainLowest = -6;   // 0.000001 is plain, 1e-7 is not
constexpr int kPlainHighest = 9;   // 1000000000.0 is plain, 1e+10 is not
// Room per value: "-1.7976931348623157e+308" is 24 characters, int64's longest 20; the rest lets the digit
// copies below move a fixed 24 bytes (one inlined move) instead of calling memcpy for a few.
constexpr Py_ssize_t kRoomPerValue = 40;
constexpr size_t kDigitCopy = 24;

inline char* put(char* p, const std::string& text) {
    switch (text.size()) {  // the punctuation is "", one character or two: no call to memcpy for those
        case 0:
            return p;
        case 1:
            *p = text[0];
            return p + 1;
        default:
            std::memcpy(p, text.data(), text.size());
            return p + text.size();
    }
}

// The digits[0..count) of a finite double and its decimal exponent (value = d.ddd * 10^exponent) laid out
// in Arrow's notation. digits has room for a fixed kDigitCopy-byte copy from any digit.
inline char* lay_out(char* p, const char* digits, int count, int exponent) {
    const bool negative_exponent = exponent < 0;
    if (exponent < kPlainLowest || exponent > kPlainHighest) {
        *p++ = digits[0];
        if (count > 1) {
            *p++ = '.';
            std::memcpy(p, digits + 1, kDigitCopy);
            p += count - 1;
        }
        *p++ = 'e';  // Arrow's exponent: a sign always, no leading zero ("e-7", "e+15")
        *p++ = negative_exponent ? '-' : '+';
        const int magnitude = negative_exponent ? -exponent : exponent;  // 7..324
        if (magnitude >= 100) {
            *p++ = static_cast<char>('0' + magnitude / 100);
            *p++ = static_cast<char>('0' + magnitude / 10 % 10);
        } else if (magnitude >= 10) {
            *p++ = static_cast<char>('0' + magnitude / 10);
        }
        *p++ = static_cast<char>('0' + magnitude % 10);
        return p;
    }
    if (exponent < 0) {  // 0.000ddd
        std::memcpy(p, "0.000000", 8);
        p += 1 - exponent;
        std::memcpy(p, digits, kDigitCopy);
        return p + count;
    }
    const int whole = exponent + 1;  // digits before the point
    if (count <= whole) {            // a whole number: its digits, zeros, ".0"
        std::memcpy(p, digits, kDigitCopy);
        p += count;
        for (int i = count; i < whole; ++i) *p++ = '0';
        *p++ = '.';
        *p++ = '0';
        return p;
    }
    std::memcpy(p, digits, kDigitCopy);
    p += whole;
    *p++ = '.';
    std::memcpy(p, digits + whole, kDigitCopy);
    return p + (count - whole);
}


// One finite double by to_chars: its scientific form ("d.ddde-XX", "de+XXX") gives the digits and the
// decimal exponent. The path without fmt, and the reference the Dragonbox path was checked against.
inline char* put_double_to_chars(char* p, double value) {
    char scientific[64];
    const char* end = std::to_chars(scientific, scientific + 40, value, std::chars_format::scientific).ptr;
    const char* s = scientific;
    if (*s == '-') *p++ = *s++;
    const char* e = end[-4] == 'e' ? end - 4 : end - 5;  // two or three exponent digits
    int exponent = e[2] - '0';
    for (const char* d = e + 3; d < end; ++d) exponent = exponent * 10 + (*d - '0');
    if (e[1] == '-') exponent = -exponent;
    char digits[kDigitCopy + 16];  // the copy from digits + whole (whole <= 10) stays inside
    digits[0] = s[0];
    int count = 1;
    if (s[1] == '.') {
        std::memcpy(digits + 1, s + 2, kDigitCopy);  // within scientific[64]; only count digits are used
        count += static_cast<int>(e - (s + 2));
    }
    return lay_out(p, digits, count, exponent);
}

#ifdef LEAFLINE_DRAGONBOX
constexpr char kPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

inline void put_pair(char* p, std::uint32_t pair) { std::memcpy(p, kPairs + 2 * pair, 2); }

// Decimal digits of n >= 1 (n < 10^17 here: a double's shortest significand has at most 17 digits).
inline int digit_count(std::uint64_t n) {
    static constexpr std::uint64_t kPowers[] = {1ull,
                                                10ull,
                                                100ull,
                                                1000ull,
                                                10000ull,
                                                100000ull,
                                                1000000ull,
                                                10000000ull,
                                                100000000ull,
                                                1000000000ull,
                                                10000000000ull,
                                                100000000000ull,
                                                1000000000000ull,
                                                10000000000000ull,
                                                100000000000000ull,
                                                1000000000000000ull,
                                                10000000000000000ull,
                                                100000000000000000ull,
                                                1000000000000000000ull};
    const int guess = ((64 - __builtin_clzll(n)) * 1233) >> 12;  // floor(log10(2^bits)), one short at most
    return guess + (n >= kPowers[guess]);
}

// Eight digits of n < 10^8, zero-padded, at p: two halves, then two pairs each, so the divisions (all by
// constants: multiplies) do not wait on each other as a right-to-left loop would.
inline void put_eight(char* p, std::uint32_t n) {
    const std::uint32_t high = n / 10000, low = n % 10000;
    put_pair(p, high / 100);
    put_pair(p + 2, high % 100);
    put_pair(p + 4, low / 100);
    put_pair(p + 6, low % 100);
}

// All 17 digits of n < 10^17, zero-padded, at p: without branches; the caller starts at the first digit.
inline void put_seventeen(char* p, std::uint64_t n) {
    const std::uint32_t high = static_cast<std::uint32_t>(n / 100000000);  // below 10^9
    *p = static_cast<char>('0' + high / 100000000);
    put_eight(p + 1, high % 100000000);
    put_eight(p + 9, static_cast<std::uint32_t>(n % 100000000));
}

// One finite double by Dragonbox: the shortest significand (no trailing zeros) and its exponent, digits ours.
inline char* put_double(char* p, double value) {
    if (std::signbit(value)) *p++ = '-';
    if (value == 0) {  // Dragonbox takes nonzero values only
        std::memcpy(p, "0.0", 3);
        return p + 3;
    }
    const auto decimal = fmt::detail::dragonbox::to_decimal(std::fabs(value));
    static_assert(sizeof(decimal.significand) == 8 && sizeof(decimal.exponent) == sizeof(int),
                  "fmt's dragonbox::decimal_fp<double> changed: check to_decimal before using this fmt");
    const std::uint64_t significand = decimal.significand;
    const int count = digit_count(significand);
    char digits[17 + kDigitCopy + 16];  // lay_out copies kDigitCopy bytes from up to 10 digits in
    put_seventeen(digits, significand);
    return lay_out(p, digits + 17 - count, count, decimal.exponent + count - 1);
}
#else
inline char* put_double(char* p, double value) { return put_double_to_chars(p, value); }
#endif

// A large body is written into fresh pages, and on this kind of machine (a VM) a 4 KiB page fault costs
// about as much as formatting the values in it: huge pages for the buffer's whole 2 MiB stretches cut the
// faults ~500-fold (1M values: 1.1-1.9x as fast, on a busy 2-core VM). Advice only: a kernel that says no
// changes nothing.
inline void advise_huge_pages(char* first, Py_ssize_t size) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
    if (size < static_cast<Py_ssize_t>(2 * kHuge)) return;
    const std::uintptr_t start = (reinterpret_cast<std::uintptr_t>(first) + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(first) + static_cast<std::uintptr_t>(size)) & ~(kHuge - 1);
    if (end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
#else
    (void)first;
    (void)size;
#endif
}

struct Layout {
    std::string start, row_open, field_separator, row_close, row_separator, end;
};

template <typename Value, typename Put>
char* put_rows(char* p, const Value* values, Py_ssize_t rows, Py_ssize_t columns, const Layout& layout, Put put_value) {
    p = put(p, layout.start);
    for (Py_ssize_t row = 0; row < rows; ++row) {
        if (row) p = put(p, layout.row_separator);
        p = put(p, layout.row_open);
        const Value* first = values + row * columns;
        for (Py_ssize_t column = 0; column < columns; ++column) {
            if (column) p = put(p, layout.field_separator);
            p = put_value(p, first[column]);
        }
        p = put(p, layout.row_close);
    }
    return put(p, layout.end);
}

bool all_finite(const double* values, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; ++i)
        if (!std::isfinite(values[i])) return false;
    return true;
}

bool read_text(PyObject* object, std::string* out) {
    Py_ssize_t size;
    const char* text = PyUnicode_AsUTF8AndSize(object, &size);
    if (text == nullptr) return false;
    out->assign(text, static_cast<size_t>(size));
    return true;
}

PyObject* format_rows(PyObject*, PyObject* args) {
    PyObject* array;
    PyObject* parts[6];
    if (!PyArg_ParseTuple(args, "OUUUUUU:format_rows", &array, &parts[0], &parts[1], &parts[2], &parts[3], &parts[4],
                          &parts[5]))
        return nullptr;
    Layout layout;
    std::string* fields[6] = {&layout.start,     &layout.row_open,      &layout.field_separator,
                              &layout.row_close, &layout.row_separator, &layout.end};
    for (int i = 0; i < 6; ++i)
        if (!read_text(parts[i], fields[i])) return nullptr;

    Py_buffer view;
    if (PyObject_GetBuffer(array, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return nullptr;
    PyObject* answer = nullptr;
    const std::string format = view.format ? view.format : "B";
    const bool is_double = format == "d" && view.itemsize == 8;
    const bool is_int64 = (format == "q" || format == "l") && view.itemsize == 8;
    if (view.ndim < 1 || view.ndim > 2 || !(is_double || is_int64)) {
        PyErr_SetString(PyExc_ValueError, "values must be a C-contiguous 1-D or 2-D array of float64 or int64");
        PyBuffer_Release(&view);
        return nullptr;
    }
    const Py_ssize_t rows = view.shape[0];
    const Py_ssize_t columns = view.ndim == 2 ? view.shape[1] : 1;
    const Py_ssize_t count = rows * columns;
    if (is_double && !all_finite(static_cast<const double*>(view.buf), count)) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;  // JSON cannot spell NaN or an infinity: the caller writes such a body its own way
    }
    const Py_ssize_t per_row = static_cast<Py_ssize_t>(layout.row_open.size() + layout.row_close.size() +
                                                       layout.row_separator.size()) +
                               columns * (kRoomPerValue + static_cast<Py_ssize_t>(layout.field_separator.size()));
    const Py_ssize_t bound = static_cast<Py_ssize_t>(layout.start.size() + layout.end.size()) + rows * per_row;
    PyObject* body = PyBytes_FromStringAndSize(nullptr, bound);
    if (body != nullptr) {
        char* first = PyBytes_AS_STRING(body);
        char* last = first;
        advise_huge_pages(first, bound);
        Py_BEGIN_ALLOW_THREADS
        if (is_double)
            last = put_rows(first, static_cast<const double*>(view.buf), rows, columns, layout, put_double);
        else
            last = put_rows(first, static_cast<const std::int64_t*>(view.buf), rows, columns, layout,
                            [](char* p, std::int64_t value) { return std::to_chars(p, p + 24, value).ptr; });
        Py_END_ALLOW_THREADS
        if (_PyBytes_Resize(&body, last - first) == 0) answer = body;
    }
    PyBuffer_Release(&view);
    return answer;
}

PyMethodDef methods[] = {
    {"format_rows", format_rows, METH_VARARGS,
     "format_rows(values, start, row_open, field_separator, row_close, row_separator, end) -> bytes | None\n\n"
     "One body from a C-contiguous 1-D or 2-D float64 or int64 array: start, then each row as row_open,\n"
     "its values joined by field_separator, row_close, rows joined by row_separator, then end. Doubles are\n"
     "written in shortest round-trip digits; None when a double is NaN or infinite. The GIL is released\n"
     "while writing."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "leafline_native._format",
                      "leafline's native writer (shortest round-trip doubles).", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__format() {
    PyObject* m = PyModule_Create(&module);
#ifdef LEAFLINE_DRAGONBOX
    const char* digits = "dragonbox";  // which digit path was built, for the tests and the bench to say
#else
    const char* digits = "to_chars";
#endif
    if (m != nullptr && PyModule_AddStringConstant(m, "DIGITS", digits) != 0) Py_CLEAR(m);
    return m;
}
