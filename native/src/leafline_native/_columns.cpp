// leafline's native column gather: float64 columns (Arrow's value and validity buffers) into the rows of a
// row-major matrix, missing values as NaN.
//
// numpy's strided copy writes one column at a time down all the rows: 50 passes over the matrix, one
// 8-byte store in each row per pass (4.8 ms for a 6 MB Parquet body). This copies 16 columns at a time,
// row by row: 16 sequential reads the prefetcher follows and 128 contiguous bytes written per row, so a
// 50-feature matrix takes 4 passes. Nulls are few; each becomes NaN afterwards, found 64 rows at a time
// from the validity bitmap. Measured on the 2-core VM, outside Python: about 2x faster than a blocked
// column-at-a-time copy (64 rows x all columns) that selects NaN for each null as it goes.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <vector>

namespace {

constexpr uint64_t kMissingBits = 0x7ff8000000000000ULL;  // float("nan"), as numpy and the CSV readers write it
constexpr Py_ssize_t kGroup = 16;                         // columns copied in one pass over the rows

struct Column {
    const uint64_t* values = nullptr;   // nullptr: every value is missing (an Arrow null column)
    const uint8_t* validity = nullptr;  // nullptr: no nulls
    Py_ssize_t bit_offset = 0;
};

// The validity bits [bit, bit + count) (count <= 64) as a word, bit i of it for row bit + i. Reads only the
// bytes those bits are in: the bitmap may end there.
uint64_t bits_at(const uint8_t* bitmap, Py_ssize_t bit, Py_ssize_t count) {
    const Py_ssize_t first = bit >> 3, last = (bit + count - 1) >> 3;
    unsigned __int128 word = 0;
    for (Py_ssize_t byte = first; byte <= last; ++byte)
        word |= static_cast<unsigned __int128>(bitmap[byte]) << (8 * (byte - first));
    const uint64_t bits = static_cast<uint64_t>(word >> (bit & 7));
    return count == 64 ? bits : bits & ((uint64_t{1} << count) - 1);
}

void write_missing(const Column& column, uint64_t* to, Py_ssize_t width, Py_ssize_t rows) {
    for (Py_ssize_t first = 0; first < rows; first += 64) {
        const Py_ssize_t count = rows - first < 64 ? rows - first : 64;
        uint64_t missing = ~bits_at(column.validity, column.bit_offset + first, count);
        if (count < 64) missing &= (uint64_t{1} << count) - 1;
        while (missing != 0) {
            to[(first + __builtin_ctzll(missing)) * width] = kMissingBits;
            missing &= missing - 1;
        }
    }
}

void gather(const std::vector<Column>& columns, uint64_t* out, Py_ssize_t rows) {
    const Py_ssize_t width = static_cast<Py_ssize_t>(columns.size());
    std::vector<uint64_t> all_missing;  // what a null column's values read as, made only when there is one
    for (const Column& column : columns)
        if (column.values == nullptr && all_missing.empty()) all_missing.assign(static_cast<size_t>(rows), kMissingBits);
    for (Py_ssize_t group = 0; group < width; group += kGroup) {
        const Py_ssize_t size = width - group < kGroup ? width - group : kGroup;
        const uint64_t* from[kGroup];
        for (Py_ssize_t k = 0; k < size; ++k) {
            const uint64_t* values = columns[static_cast<size_t>(group + k)].values;
            from[k] = values != nullptr ? values : all_missing.data();
        }
        uint64_t* to = out + group;
        for (Py_ssize_t row = 0; row < rows; ++row, to += width)
            for (Py_ssize_t k = 0; k < size; ++k) to[k] = from[k][row];
        for (Py_ssize_t k = 0; k < size; ++k) {
            const Column& column = columns[static_cast<size_t>(group + k)];
            if (column.values != nullptr && column.validity != nullptr) write_missing(column, out + group + k, width, rows);
        }
    }
}

// The buffers a call holds while the GIL is released; released in any case when it goes out of scope.
struct Views {
    std::vector<Py_buffer> held;
    ~Views() {
        for (Py_buffer& view : held) PyBuffer_Release(&view);
    }
    const void* take(PyObject* exporter, Py_ssize_t needed, const char* what, Py_ssize_t column) {
        Py_buffer view;
        if (PyObject_GetBuffer(exporter, &view, PyBUF_SIMPLE) != 0) return nullptr;
        held.push_back(view);
        if (view.len < needed) {
            PyErr_Format(PyExc_ValueError, "column %zd: its %s buffer has %zd bytes, %zd needed", column, what,
                         view.len, needed);
            return nullptr;
        }
        return view.buf;
    }
};

PyObject* fill_rows(PyObject*, PyObject* args) {
    Py_buffer out;
    Py_ssize_t row, rows;
    PyObject* sources;
    if (!PyArg_ParseTuple(args, "w*nnO:fill_rows", &out, &row, &rows, &sources)) return nullptr;
    Views views;
    views.held.push_back(out);
    PyObject* list = PySequence_Fast(sources, "columns must be a sequence");
    if (list == nullptr) return nullptr;
    const Py_ssize_t width = PySequence_Fast_GET_SIZE(list);
    std::vector<Column> columns(static_cast<size_t>(width));
    views.held.reserve(static_cast<size_t>(1 + 2 * width));  // Py_buffers are not moved once taken
    bool ok = width > 0 && row >= 0 && rows >= 0;
    if (!ok) PyErr_SetString(PyExc_ValueError, "columns must not be empty; row and rows must be >= 0");
    const Py_ssize_t row_bytes = width * static_cast<Py_ssize_t>(sizeof(double));
    if (ok && out.len < (row + rows) * row_bytes) {
        PyErr_Format(PyExc_ValueError, "out has %zd bytes, rows %zd..%zd of %zd float64 columns need %zd", out.len,
                     row, row + rows, width, (row + rows) * row_bytes);
        ok = false;
    }
    for (Py_ssize_t j = 0; ok && j < width; ++j) {
        PyObject* source = PySequence_Fast_GET_ITEM(list, j);
        if (source == Py_None) continue;  // an all-missing column
        PyObject *values, *validity;
        Py_ssize_t value_offset, bit_offset;
        if (!PyArg_ParseTuple(source, "OnOn:column", &values, &value_offset, &validity, &bit_offset)) {
            ok = false;
            break;
        }
        if (value_offset < 0 || bit_offset < 0) {
            PyErr_Format(PyExc_ValueError, "column %zd: offsets must be >= 0", j);
            ok = false;
            break;
        }
        Column& column = columns[static_cast<size_t>(j)];
        const Py_ssize_t value_bytes = (value_offset + rows) * static_cast<Py_ssize_t>(sizeof(double));
        const void* data = views.take(values, value_bytes, "value", j);
        if (data == nullptr) {
            ok = false;
            break;
        }
        column.values = static_cast<const uint64_t*>(data) + value_offset;
        if (validity != Py_None) {
            const void* bits = views.take(validity, (bit_offset + rows + 7) / 8, "validity", j);
            if (bits == nullptr) {
                ok = false;
                break;
            }
            column.validity = static_cast<const uint8_t*>(bits);
            column.bit_offset = bit_offset;
        }
    }
    Py_DECREF(list);
    if (!ok) return nullptr;
    uint64_t* target = static_cast<uint64_t*>(out.buf) + row * width;
    Py_BEGIN_ALLOW_THREADS
    gather(columns, target, rows);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"fill_rows", fill_rows, METH_VARARGS,
     "fill_rows(out, row, rows, columns) -> None\n\n"
     "Writes rows [row, row + rows) of out (a writable, C-contiguous float64 buffer with len(columns)\n"
     "columns) from columns, one per matrix column: None for a column of missing values, or\n"
     "(values, value_offset, validity, bit_offset), where values holds float64 from element value_offset\n"
     "on and validity is None or Arrow's validity bitmap from bit bit_offset on (a 0 bit writes NaN).\n"
     "Values are copied bit for bit. The GIL is released while copying."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "leafline_native._columns",
                      "leafline's native column gather: float64 columns into a row-major matrix.", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__columns() { return PyModule_Create(&module); }
