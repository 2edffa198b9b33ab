# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The guts of the vectorizer: raw text -> unique in-vocabulary feature ids, in C.

Reproduces ``imdb_edge._tokenizer`` (the specification) exactly; the parity tests hold it to
that. Argument checks live in ``imdb_edge._vectorizer``; this module only assumes what that
module guarantees (``texts`` is a list).

Design: each text is lowercased with CPython's own ``str.lower()`` under the GIL (full Unicode
case mapping, which a per-code-point fold would get wrong for e.g. U+0130). The lowered strings
are then walked code point by code point straight from their PEP 393 buffers with the GIL
released: tokens are hashed while they are scanned, n-gram hashes are combined from token
hashes, and a hit in the read-only feature table is confirmed by comparing the stored key, so
hash collisions can never produce a wrong id.
"""

from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

import numpy as np


cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_1BYTE_KIND
    int PyUnicode_2BYTE_KIND
    bint Py_UNICODE_ISALNUM(Py_UCS4 ch) nogil

# The three PEP 393 storage widths; each walk is compiled once per width, so the inner loop
# reads a plain array instead of switching on the kind at every code point.
ctypedef fused char_t:
    uint8_t
    uint16_t
    uint32_t


cdef enum:
    MAX_NGRAM = 3
cdef uint64_t HASH_SEED = 0xcbf29ce484222325ULL
cdef uint64_t HASH_MULTIPLIER = 0x9E3779B97F4A7C15ULL
cdef uint64_t WIDE_MARK = 1ULL << 63
cdef int32_t EMPTY = -1

# Word-character flags for code points < 256, filled once from Py_UNICODE_ISALNUM itself so
# the fast path cannot disagree with the slow one.
cdef unsigned char _IS_WORD_LATIN1[256]
cdef int _c
for _c in range(256):
    _IS_WORD_LATIN1[_c] = Py_UNICODE_ISALNUM(<Py_UCS4>_c)


# str.lower() of each code point < 256, read from CPython itself at import. Within Latin-1 it
# is always one code point < 256, so a 1-byte-kind text can be lowercased while it is walked,
# without the copy that text.lower() makes (checked at import: ImportError otherwise, and the
# package falls back to the reference vectorizer).
cdef uint8_t _LOWER_LATIN1[256]
for _c in range(256):
    _folded = chr(_c).lower()
    if len(_folded) != 1 or ord(_folded) >= 256:
        raise ImportError(f"str.lower() maps U+{_c:04X} outside Latin-1 on this Python")
    _LOWER_LATIN1[_c] = ord(_folded)


cdef inline uint32_t get(const char_t* data, Py_ssize_t i) noexcept nogil:
    """Code point ``i`` of a lowered text; 1-byte texts are lowered here, the others were
    lowered by str.lower() before the walk."""
    if char_t is uint8_t:
        return _LOWER_LATIN1[data[i]]
    else:
        return data[i]


# For 1-byte texts, one table read gives both answers: the lowercased code point if it is a
# word character, else 0 (no word character is U+0000).
cdef uint8_t _WORD_LATIN1[256]
for _c in range(256):
    _WORD_LATIN1[_c] = _LOWER_LATIN1[_c] if _IS_WORD_LATIN1[_LOWER_LATIN1[_c]] else 0


cdef inline bint is_word(Py_UCS4 c) noexcept nogil:
    if c < 256:
        return _IS_WORD_LATIN1[c]
    return Py_UNICODE_ISALNUM(c)


cdef inline uint32_t word_at(const char_t* data, Py_ssize_t i) noexcept nogil:
    """Code point ``i`` of the lowered text if it is a word character, else 0."""
    cdef uint32_t c
    if char_t is uint8_t:
        return _WORD_LATIN1[data[i]]
    else:
        c = data[i]
        return c if is_word(c) else 0


cdef struct TokenHash:
    # A token's hash, fed one code point at a time. Code points below 256 are packed 8 to a
    # 64-bit block and each full block is mixed in with one multiply, so a typical token costs
    # one multiply instead of one per character. Packing is injective: word characters are
    # never 0, so a partial block (top byte 0) differs from a full one, and a code point of 256
    # or more is mixed in alone, marked by bit 63, which no packed block of nonzero bytes with a
    # zero byte below its top can equal. Only the mixing can collide, as any 64-bit hash can.
    uint64_t h
    uint64_t block
    int n


cdef inline void hash_start(TokenHash* t) noexcept nogil:
    t.h = HASH_SEED
    t.block = 0
    t.n = 0


cdef inline void hash_feed(TokenHash* t, uint32_t c) noexcept nogil:
    if c < 256:
        t.block = (t.block << 8) | c
        t.n += 1
        if t.n == 8:
            t.h = (t.h ^ t.block) * HASH_MULTIPLIER
            t.block = 0
            t.n = 0
    else:
        if t.n:
            t.h = (t.h ^ t.block) * HASH_MULTIPLIER
            t.block = 0
            t.n = 0
        t.h = (t.h ^ (c | WIDE_MARK)) * HASH_MULTIPLIER


cdef inline uint64_t hash_finish(TokenHash* t) noexcept nogil:
    if t.n:
        return (t.h ^ t.block) * HASH_MULTIPLIER
    return t.h


cdef inline uint64_t combine(uint64_t left, uint64_t right) noexcept nogil:
    # n-gram hash from token hashes: order-sensitive, O(1) per n-gram.
    return (left * 0x9E3779B97F4A7C15ULL) ^ (right + 0x632BE59BD9B4E019ULL + (left >> 29))


cdef struct IdSet:
    # Open-addressing set of feature ids for one text at a time. A slot holds
    # (generation << 32 | id); slots of older generations count as empty, so moving on to the
    # next text costs nothing instead of a clear proportional to the set's size.
    uint64_t* slots
    Py_ssize_t mask
    Py_ssize_t count
    uint64_t generation


cdef struct Output:
    int32_t* ids         # grows by doubling
    Py_ssize_t capacity
    Py_ssize_t nnz
    IdSet seen
    uint64_t* keys       # the current text's feature keys, in emission order; grows by doubling
    Py_ssize_t keys_capacity


cdef struct Slot:
    uint64_t key     # the feature's finished hash, never 0; 0 marks an empty slot
    int64_t id       # 64 bits so that a slot is 16 bytes: 4 slots a cache line


cdef struct Table:
    # Open addressing, linear probing, load factor <= 1/2. The home slot is given by the key's
    # TOP bits: every hash above ends with a multiply (or an XOR of multiplied values), which
    # carries each input bit upwards, so the top bits are the well-mixed ones and need no
    # finalizer (a MurmurHash3-style one cost 17% of the vectorizer's time).
    Slot* slots
    Py_ssize_t mask
    int shift               # 64 - log2(capacity)
    int ngram


cdef int idset_init(IdSet* s, Py_ssize_t capacity) noexcept nogil:
    s.slots = <uint64_t*>malloc(capacity * sizeof(uint64_t))
    if s.slots == NULL:
        return -1
    memset(s.slots, 0, capacity * sizeof(uint64_t))
    s.mask = capacity - 1
    s.count = 0
    s.generation = 0
    return 0


cdef int idset_grow(IdSet* s) noexcept nogil:
    cdef Py_ssize_t old_capacity = s.mask + 1, i, j
    cdef uint64_t* old = s.slots
    cdef uint64_t v
    cdef Py_ssize_t capacity = old_capacity * 2
    s.slots = <uint64_t*>malloc(capacity * sizeof(uint64_t))
    if s.slots == NULL:
        s.slots = old
        return -1
    memset(s.slots, 0, capacity * sizeof(uint64_t))
    s.mask = capacity - 1
    for i in range(old_capacity):
        v = old[i]
        if (v >> 32) == s.generation:
            j = <Py_ssize_t>(((v & 0xffffffffULL) * 0x9E3779B1ULL) & s.mask)
            while s.slots[j] != 0:
                j = (j + 1) & s.mask
            s.slots[j] = v
    free(old)
    return 0


cdef inline int idset_add(IdSet* s, int32_t feature_id) noexcept nogil:
    """1 if added, 0 if already present, -1 on allocation failure."""
    cdef uint64_t v = (s.generation << 32) | <uint32_t>feature_id
    cdef Py_ssize_t j = <Py_ssize_t>((<uint64_t>feature_id * 0x9E3779B1ULL) & s.mask)
    cdef uint64_t cur
    while True:
        cur = s.slots[j]
        if cur == v:
            return 0
        if (cur >> 32) != s.generation:
            break
        j = (j + 1) & s.mask
    s.slots[j] = v
    s.count += 1
    if s.count * 2 > s.mask + 1:
        if idset_grow(s) < 0:
            return -1
    return 1


cdef inline int output_add(Output* out, int32_t feature_id) noexcept nogil:
    """Append ``feature_id`` unless this text already has it; -1 on allocation failure."""
    cdef int added = idset_add(&out.seen, feature_id)
    cdef int32_t* grown
    if added <= 0:
        return added
    if out.nnz == out.capacity:
        grown = <int32_t*>realloc(out.ids, 2 * out.capacity * sizeof(int32_t))
        if grown == NULL:
            return -1
        out.ids = grown
        out.capacity *= 2
    out.ids[out.nnz] = feature_id
    out.nnz += 1
    return 1


cdef inline uint64_t slot_key(uint64_t h) noexcept nogil:
    return h | 1


cdef inline Py_ssize_t home_slot(const Table* table, uint64_t key) noexcept nogil:
    return <Py_ssize_t>(key >> table.shift)


cdef extern from *:
    void __builtin_prefetch(const void* address) nogil


cdef inline int32_t lookup(const Table* table, uint64_t key) noexcept nogil:
    """Id of the feature whose slot key (``slot_key`` of its hash) is ``key``, or EMPTY.

    Only hashes are compared, never the text: the table refuses a vocabulary in which two
    features share a 64-bit key, so a wrong id needs an out-of-vocabulary n-gram whose key
    equals one of the V features'. For keys spread as uniformly as the block
    hash spreads them that is V / 2**64 per lookup (5e-16 for V = 10,000; one expected
    false hit in ~10**14 reviews), far below anything a multi-hot model could notice, and the
    key comparison it replaces cost a fifth of the vectorizer's time.
    """
    cdef uint64_t cur
    cdef Py_ssize_t j = home_slot(table, key)
    while True:
        cur = table.slots[j].key
        if cur == key:
            return <int32_t>table.slots[j].id
        if cur == 0:
            return EMPTY
        j = (j + 1) & table.mask


cdef inline Py_ssize_t line_break_end(const char_t* data, Py_ssize_t i,
                                      Py_ssize_t L) noexcept nogil:
    """End of ``<br */?>`` starting at ``i`` (a '<'), or 0 if there is none."""
    cdef Py_ssize_t j = i + 1
    if j + 1 >= L or get(data, j) != 0x62 or get(data, j + 1) != 0x72:
        return 0
    j += 2
    while j < L and data[j] == 0x20:
        j += 1
    if j < L and data[j] == 0x2F:
        j += 1
    if j < L and data[j] == 0x3E:
        return j + 1
    return 0


cdef int vectorize_text(const Table* table, const char_t* data, Py_ssize_t L,
                        Output* out) noexcept nogil:
    """Append the unique feature ids of one lowered text to ``out``; -1 on no memory."""
    cdef Py_ssize_t i = 0, j
    cdef uint32_t c
    cdef uint64_t h
    cdef int n_recent = 0, k, order
    cdef Py_ssize_t q
    cdef int ngram = table.ngram
    cdef int32_t fid
    cdef uint64_t key
    cdef uint64_t* grown
    cdef Py_ssize_t n_keys = 0
    cdef uint64_t recent[MAX_NGRAM]   # hashes of the last tokens, oldest first
    cdef TokenHash th
    out.seen.generation += 1
    out.seen.count = 0
    while i < L:
        c = word_at(data, i)
        if c == 0:
            if data[i] == 0x3C:  # '<': skip a whole line break, so its "br" is no token
                j = line_break_end(data, i, L)
                i = j if j > 0 else i + 1
            else:
                i += 1
            continue
        # A token: word characters, with single apostrophes between two of them.
        hash_start(&th)
        while True:
            hash_feed(&th, c)
            i += 1
            if i >= L:
                break
            c = word_at(data, i)
            if c:
                continue
            if (data[i] == 0x27 or data[i] == 0x2019) and i + 1 < L:
                c = word_at(data, i + 1)
                if c:
                    hash_feed(&th, 0x27)
                    i += 1
                    continue
            break
        h = hash_finish(&th)
        if n_recent == ngram:
            for k in range(ngram - 1):
                recent[k] = recent[k + 1]
            n_recent -= 1
        recent[n_recent] = h
        n_recent += 1
        # unigram, then the bigram and trigram ending here (the specification's order).
        # Lookups wait until the whole text is walked: their slots are prefetched now, so the
        # cache misses of a large (n-gram) table overlap with the walk instead of stalling it.
        for order in range(1, n_recent + 1):
            h = recent[n_recent - order]
            for k in range(n_recent - order + 1, n_recent):
                h = combine(h, recent[k])
            key = slot_key(h)
            __builtin_prefetch(&table.slots[home_slot(table, key)])
            if n_keys == out.keys_capacity:
                grown = <uint64_t*>realloc(out.keys, 2 * out.keys_capacity * sizeof(uint64_t))
                if grown == NULL:
                    return -1
                out.keys = grown
                out.keys_capacity *= 2
            out.keys[n_keys] = key
            n_keys += 1
    for q in range(n_keys):
        fid = lookup(table, out.keys[q])
        if fid != EMPTY and output_add(out, fid) < 0:
            return -1
    return 0


cdef class FeatureTable:
    """Read-only hash table from features (tokens or space-joined n-grams) to ids.

    Built once per vocabulary; lookups never write to it, so one table serves any number of
    threads at once.
    """

    cdef Table table
    cdef readonly Py_ssize_t size
    cdef readonly int ngram

    def __cinit__(self, list features, int ngram):
        cdef Py_ssize_t n = len(features), i, j
        cdef Py_ssize_t capacity = 16
        cdef uint64_t h, token_hash, key
        cdef bint first_token
        cdef Py_UCS4 c
        cdef TokenHash th
        cdef str feature
        cdef Table* t = &self.table
        if not 1 <= ngram <= MAX_NGRAM:
            raise ValueError(f"ngram must be 1..{MAX_NGRAM}")
        if n >= 2**31 - 1:
            raise ValueError("at most 2**31 - 2 features")
        self.size = n
        self.ngram = ngram
        t.ngram = ngram
        while capacity < 2 * n:
            capacity *= 2
        t.slots = <Slot*>malloc(capacity * sizeof(Slot))
        if t.slots == NULL:
            raise MemoryError()
        memset(t.slots, 0, capacity * sizeof(Slot))
        t.mask = capacity - 1
        t.shift = 64
        while ((<Py_ssize_t>1) << (64 - t.shift)) < capacity:
            t.shift -= 1
        for i in range(n):
            feature = features[i]
            # The same hash the walk computes: per token, combined across n-gram tokens.
            h = 0
            first_token = True
            hash_start(&th)
            for c in feature:
                if c == 0x2019:
                    c = 0x27
                if c == 0x20:
                    token_hash = hash_finish(&th)
                    h = token_hash if first_token else combine(h, token_hash)
                    first_token = False
                    hash_start(&th)
                else:
                    hash_feed(&th, c)
            token_hash = hash_finish(&th)
            h = token_hash if first_token else combine(h, token_hash)
            key = slot_key(h)
            j = home_slot(t, key)
            while t.slots[j].key != 0:
                if t.slots[j].key == key:
                    other = features[t.slots[j].id]
                    if other.replace("\u2019", "'") == feature.replace("\u2019", "'"):
                        raise ValueError(f"duplicated feature {feature!r}")
                    raise ValueError(f"features {other!r} and {feature!r} share a 64-bit hash; "
                                     "this vocabulary cannot be used by the compiled vectorizer")
                j = (j + 1) & t.mask
            t.slots[j].key = key
            t.slots[j].id = i

    def __dealloc__(self):
        free(self.table.slots)

    def transform_ids(self, list texts, bint with_rows=False):
        """Unique in-vocabulary feature ids of each text, in order of first occurrence.

        Args:
            texts: list of ``str`` (IN).
            with_rows: also return each id's text index (what the model's ``rows`` input
                takes), filled here at no measurable cost instead of by three numpy calls.

        Returns:
            ``(indptr, ids)``: int64 ``(n_texts + 1,)`` and int32 ``(nnz,)``; the ids of text
            ``i`` are ``ids[indptr[i]:indptr[i + 1]]``. With ``with_rows``, a third array,
            int64 ``(nnz,)``.

        Raises:
            TypeError: an item is not a ``str`` (the message names its index and type).
        """
        cdef Py_ssize_t n = len(texts), i
        cdef list lowered = [None] * n     # keeps the buffers below alive
        cdef int* kinds = NULL
        cdef const void** datas = NULL
        cdef Py_ssize_t* lengths = NULL
        cdef int64_t* indptr_buf = NULL
        cdef int status = 0
        cdef Output out
        cdef const Table* table = &self.table
        cdef object text
        out.ids = NULL
        out.seen.slots = NULL
        out.keys = NULL
        try:
            kinds = <int*>malloc((n + 1) * sizeof(int))
            datas = <const void**>malloc((n + 1) * sizeof(void*))
            lengths = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
            indptr_buf = <int64_t*>malloc((n + 1) * sizeof(int64_t))
            out.capacity = 256
            out.nnz = 0
            out.ids = <int32_t*>malloc(out.capacity * sizeof(int32_t))
            out.keys_capacity = 1024
            out.keys = <uint64_t*>malloc(out.keys_capacity * sizeof(uint64_t))
            if (kinds == NULL or datas == NULL or lengths == NULL or indptr_buf == NULL
                    or out.ids == NULL or out.keys == NULL or idset_init(&out.seen, 256) < 0):
                raise MemoryError()
            for i in range(n):
                text = texts[i]
                if not PyUnicode_Check(text):
                    raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
                if PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
                    text = text.lower()
                lowered[i] = text
                kinds[i] = PyUnicode_KIND(text)
                datas[i] = PyUnicode_DATA(text)
                lengths[i] = PyUnicode_GET_LENGTH(text)
            with nogil:
                indptr_buf[0] = 0
                for i in range(n):
                    if kinds[i] == PyUnicode_1BYTE_KIND:
                        status = vectorize_text(table, <const uint8_t*>datas[i], lengths[i], &out)
                    elif kinds[i] == PyUnicode_2BYTE_KIND:
                        status = vectorize_text(table, <const uint16_t*>datas[i], lengths[i], &out)
                    else:
                        status = vectorize_text(table, <const uint32_t*>datas[i], lengths[i], &out)
                    if status < 0:
                        break
                    indptr_buf[i + 1] = out.nnz
            if status < 0:
                raise MemoryError()
            indptr = np.empty(n + 1, dtype=np.int64)
            ids = np.empty(out.nnz, dtype=np.int32)
            _copy_int64(indptr, indptr_buf, n + 1)
            if out.nnz > 0:
                _copy_int32(ids, out.ids, out.nnz)
            if not with_rows:
                return indptr, ids
            rows = np.empty(out.nnz, dtype=np.int64)
            if out.nnz > 0:
                _fill_rows(rows, indptr_buf, n)
            return indptr, ids, rows
        finally:
            free(kinds)
            free(datas)
            free(lengths)
            free(indptr_buf)
            free(out.ids)
            free(out.keys)
            free(out.seen.slots)


cdef void _copy_int64(int64_t[::1] dest, const int64_t* src, Py_ssize_t n) noexcept:
    memcpy(&dest[0], src, n * sizeof(int64_t))


cdef void _fill_rows(int64_t[::1] rows, const int64_t* indptr, Py_ssize_t n) noexcept:
    cdef Py_ssize_t t, k
    for t in range(n):
        for k in range(indptr[t], indptr[t + 1]):
            rows[k] = t


cdef void _copy_int32(int32_t[::1] dest, const int32_t* src, Py_ssize_t n) noexcept:
    memcpy(&dest[0], src, n * sizeof(int32_t))
