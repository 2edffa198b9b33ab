# Included by _vectorize_c.pyx: the CLI's output formatting, a batch of rows at a time.
#
# ``imdb-edge score`` writes one line per review; formatting them with Python's ``%`` cost as
# much as scoring short reviews. ``format_rows`` builds the whole batch's UTF-8 in C, byte for
# byte what Python's formatting gives (``imdb_edge.io._output`` holds that reference, and
# ``tests/test_output.py`` compares the two).
#
# Probabilities: Python formats ``%.{d}f`` from the exact binary value, correctly rounded,
# ties to even. A float32 in [0, 1] times 10**d (d <= 6) is exact in a double (24 + 20 bits
# < 53), so rounding that product to an integer, ties to even, is the same rounding.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from libc.math cimport signbit
from libc.stdint cimport int8_t

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    ctypedef struct PyListObject:
        PyObject** ob_item


cdef enum:
    COL_LITERAL = 0
    COL_INT = 1
    COL_FIXED = 2
    COL_CHOICE = 3
    COL_STR = 4


cdef struct Column:
    int kind
    const char* text[3]           # a literal (text[0]) or the two or three choices
    Py_ssize_t size[3]
    int n_choices
    const int64_t* ints
    const float* floats
    int decimals
    double scale
    const int8_t* choice
    PyObject** items              # COL_STR: a list's items (kept alive by the list)


cdef const char* DIGIT_PAIRS = (b"00010203040506070809101112131415161718192021222324"
                                 b"25262728293031323334353637383940414243444546474849"
                                 b"50515253545556575859606162636465666768697071727374"
                                 b"75767778798081828384858687888990919293949596979899")


cdef inline uint64_t magnitude(int64_t v) noexcept nogil:
    return <uint64_t>(-(v + 1)) + 1 if v < 0 else <uint64_t>v


cdef inline Py_ssize_t digits_of(uint64_t u) noexcept nogil:
    cdef Py_ssize_t width = 1
    cdef uint64_t bound = 10
    while width < 20 and u >= bound:
        width += 1
        bound *= 10
    return width


cdef inline Py_ssize_t int_width(int64_t v) noexcept nogil:
    return digits_of(magnitude(v)) + (v < 0)


cdef inline char* put_int(char* at, int64_t v) noexcept nogil:
    # Two digits a step from a table of the 100 pairs, right to left.
    cdef uint64_t u = magnitude(v)
    cdef Py_ssize_t width = digits_of(u)
    cdef uint64_t pair
    if v < 0:
        at[0] = b'-'
        at += 1
    cdef char* end = at + width
    cdef char* put = end
    while u >= 100:
        pair = (u % 100) * 2
        u //= 100
        put -= 2
        put[0] = DIGIT_PAIRS[pair]
        put[1] = DIGIT_PAIRS[pair + 1]
    if u >= 10:
        put -= 2
        put[0] = DIGIT_PAIRS[u * 2]
        put[1] = DIGIT_PAIRS[u * 2 + 1]
    else:
        put -= 1
        put[0] = <char>(48 + u)
    return end


cdef inline char* put_bytes(char* at, const char* text, Py_ssize_t size) noexcept nogil:
    # Pieces are short (a literal, a label): a plain loop beats a call to memcpy.
    cdef Py_ssize_t k
    if size > 64:
        memcpy(at, text, size)
        return at + size
    for k in range(size):
        at[k] = text[k]
    return at + size


cdef inline char* put_fixed(char* at, double x, int decimals, double scale) noexcept nogil:
    # x in [0, 1]: y = x * 10**decimals is exact; adding and taking away 2**52 rounds it to
    # an integer, ties to even (the default rounding mode), without a call to rint.
    cdef double y = x * scale
    cdef int64_t q = <int64_t>((y + 4503599627370496.0) - 4503599627370496.0)
    cdef int64_t whole = 1 if q >= <int64_t>scale else 0
    cdef uint64_t part = <uint64_t>(q - whole * <int64_t>scale)
    cdef char* put = at + decimals + 2
    cdef uint64_t pair
    at[0] = <char>(48 + whole)
    at[1] = b'.'
    while put - at > 3:                        # two decimals a step, right to left
        pair = (part % 100) * 2
        part //= 100
        put -= 2
        put[0] = DIGIT_PAIRS[pair]
        put[1] = DIGIT_PAIRS[pair + 1]
    if put - at == 3:
        put[-1] = <char>(48 + part)
    return at + decimals + 2


def format_rows(list columns, Py_ssize_t n):
    """UTF-8 bytes of ``n`` rows, each the concatenation of ``columns``.

    Each column is a tuple: ``("literal", bytes)``, ``("int", int64 array)``, ``("fixed",
    float32 array, decimals)`` (values in [0, 1], 1 <= decimals <= 6), ``("choice", int8 array
    of 0/1(/2), (bytes, bytes[, bytes]))`` or ``("str", list of str)``. Raises ValueError for anything
    else (the caller then formats in Python).
    """
    cdef Py_ssize_t m = len(columns), i, j, bound = 0, size
    cdef Column* cols = <Column*>calloc(m if m else 1, sizeof(Column))
    cdef Column* c
    cdef const char* utf8
    cdef char* buffer = NULL
    cdef char* at
    cdef list keep = []         # every array and bytes the columns point into, alive
    if cols == NULL:
        raise MemoryError()
    try:
        for j in range(m):       # checks each column's values; bounds the output's size
            _column(&cols[j], columns[j], n, keep)
            bound += _column_bound(&cols[j], n)
        buffer = <char*>malloc(bound if bound else 1)
        if buffer == NULL:
            raise MemoryError()
        at = buffer
        for i in range(n):
            for j in range(m):
                c = &cols[j]
                if c.kind == COL_LITERAL:
                    at = put_bytes(at, c.text[0], c.size[0])
                elif c.kind == COL_INT:
                    at = put_int(at, c.ints[i])
                elif c.kind == COL_FIXED:
                    at = put_fixed(at, c.floats[i], c.decimals, c.scale)
                elif c.kind == COL_CHOICE:
                    at = put_bytes(at, c.text[c.choice[i]], c.size[c.choice[i]])
                else:
                    utf8 = PyUnicode_AsUTF8AndSize(<object>c.items[i], &size)
                    at = put_bytes(at, utf8, size)
        if at - buffer > bound:
            raise RuntimeError("format_rows: output past its bound")
        return PyBytes_FromStringAndSize(buffer, at - buffer)
    finally:
        free(buffer)
        free(cols)


cdef Py_ssize_t _column_bound(const Column* c, Py_ssize_t n) except -1:
    """The most bytes the column takes in ``n`` rows, after checking every value."""
    cdef Py_ssize_t i, size, total = 0
    cdef double x
    if c.kind == COL_LITERAL:
        return c.size[0] * n
    if c.kind == COL_INT:
        return 20 * n                           # "-9223372036854775808"
    if c.kind == COL_FIXED:
        for i in range(n):
            x = c.floats[i]
            if not (x >= 0.0 and x <= 1.0) or signbit(x):
                raise ValueError(f"value {x!r} is not in [0, 1]")
        return (2 + c.decimals) * n            # "0." or "1." and the decimals
    if c.kind == COL_CHOICE:
        for i in range(n):
            if c.choice[i] < 0 or c.choice[i] >= c.n_choices:
                raise ValueError(f"choice {c.choice[i]} is not in 0..{c.n_choices - 1}")
        size = c.size[0]
        for i in range(1, c.n_choices):
            size = max(size, c.size[i])
        return size * n
    for i in range(n):                         # COL_STR: the exact UTF-8 sizes
        PyUnicode_AsUTF8AndSize(<object>c.items[i], &size)
        total += size
    return total


cdef int _column(Column* c, tuple spec, Py_ssize_t n, list keep) except -1:
    kind = spec[0]
    if kind == "literal":
        c.kind = COL_LITERAL
        _bytes_of(c, 0, spec[1], keep)
    elif kind == "int":
        array = np.ascontiguousarray(spec[1], dtype=np.int64)
        c.kind = COL_INT
        c.ints = <const int64_t*><size_t>_pointer(array, n, keep)
    elif kind == "fixed":
        array = np.ascontiguousarray(spec[1], dtype=np.float32)
        c.kind = COL_FIXED
        c.floats = <const float*><size_t>_pointer(array, n, keep)
        c.decimals = spec[2]
        if not 1 <= c.decimals <= 6:
            raise ValueError("decimals must be in 1..6")
        c.scale = 10.0 ** c.decimals
    elif kind == "choice":
        array = np.ascontiguousarray(spec[1], dtype=np.int8)
        c.kind = COL_CHOICE
        c.choice = <const int8_t*><size_t>_pointer(array, n, keep)
        if not 2 <= len(spec[2]) <= 3:
            raise ValueError("a choice column has two or three choices")
        c.n_choices = len(spec[2])
        for i in range(c.n_choices):
            _bytes_of(c, i, spec[2][i], keep)
    elif kind == "str":
        items = spec[1]
        if type(items) is not list or len(items) != n:
            raise ValueError(f"a str column must be a list of {n} str")
        for item in items:
            if type(item) is not str:
                raise ValueError(f"a str column holds {type(item).__name__}")
        keep.append(items)
        c.kind = COL_STR
        c.items = <PyObject**>(<PyListObject*>items).ob_item
    else:
        raise ValueError(f"unknown column kind {kind!r}")
    return 0


cdef int _bytes_of(Column* c, int k, object value, list keep) except -1:
    if type(value) is not bytes:
        raise ValueError("literals and choices are bytes")
    keep.append(value)
    c.text[k] = PyBytes_AS_STRING(value)
    c.size[k] = PyBytes_GET_SIZE(value)
    return 0


cdef size_t _pointer(object array, Py_ssize_t n, list keep) except 0:
    if array.ndim != 1 or array.shape[0] != n:
        raise ValueError(f"a column has shape {array.shape}, expected ({n},)")
    keep.append(array)
    return <size_t>array.ctypes.data if n else <size_t>1
