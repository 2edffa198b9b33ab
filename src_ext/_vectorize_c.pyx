# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The guts of the vectorizer: raw text -> unique in-vocabulary feature ids, in C.

Reproduces ``imdb_edge._tokenizer`` (the specification) exactly; the parity tests hold it to
that. Argument checks live in ``imdb_edge._vectorizer``; this module only assumes what that
module guarantees (``texts`` is a list).

Design (each choice measured on the 25,000 test reviews; see the comments where they are made):

- Texts stored with 2 or 4 bytes a code point are lowercased with CPython's own ``str.lower()``
  under the GIL (full Unicode case mapping, which a per-code-point fold gets wrong for e.g.
  U+0130), then walked code point by code point from their PEP 393 buffers. 1-byte (Latin-1)
  texts, most reviews, need no copy: Latin-1 lowercases within Latin-1, one table read a byte.
- The heavy loop runs with the GIL released. 1-byte texts take a bitmap walk (SSE2 where
  available): token characters are marked 64 to a machine word, tokens found with
  count-trailing-zeros, and hashed 8 bytes at a time.
- Tokens are hashed as they are found; n-gram hashes are combined from token hashes; feature
  keys are prefetched and looked up after the walk in a read-only open-addressing table.
- Duplicates within a text are dropped with a per-feature stamp array, branch-free.
"""

from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

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

# The widths the general walk serves: 1-byte texts have their own (vectorize_latin1).
ctypedef fused wide_t:
    uint16_t
    uint32_t


cdef enum:
    MAX_NGRAM = 3
cdef uint64_t HASH_SEED = 0xcbf29ce484222325ULL
cdef uint64_t HASH_MULTIPLIER = 0x9E3779B97F4A7C15ULL
cdef uint64_t WIDE_MARK = 1ULL << 63
cdef int32_t EMPTY = -1

# Word-character flags for code points < 256, filled once from Py_UNICODE_ISALNUM itself so
# the fast path cannot disagree with the slow one. Within Latin-1 a character and its
# lowercase are word characters alike, so the 1-byte walk reads this table before lowering.
cdef uint8_t _IS_WORD_LATIN1[256]
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


cdef inline bint is_word(Py_UCS4 c) noexcept nogil:
    if c < 256:
        return _IS_WORD_LATIN1[c]
    return Py_UNICODE_ISALNUM(c)


cdef inline uint32_t word_at(const wide_t* data, Py_ssize_t i) noexcept nogil:
    """Code point ``i`` of the lowered text if it is a word character, else 0."""
    cdef uint32_t c = data[i]
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


cdef struct Output:
    int32_t* ids         # grows by doubling
    Py_ssize_t capacity
    Py_ssize_t nnz
    uint32_t* stamps     # per feature id: the number of the last text that had it
    uint32_t text_number # of the current text; never 0 (stamps start at 0 = "no text")
    Py_ssize_t n_features
    uint64_t* keys       # the current text's feature keys, in emission order; grows by doubling
    Py_ssize_t keys_capacity
    uint64_t* bits       # bitmaps of the 1-byte walk; grows
    Py_ssize_t bits_capacity


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


cdef inline int output_add(Output* out, int32_t feature_id) noexcept nogil:
    """Append ``feature_id`` unless this text already has it; -1 on allocation failure.

    Whether an id is new is a coin toss (about half the words of a review repeat), so it is
    decided without a branch: the id is written past the end either way and the end moves
    only if the id's stamp is not this text's number. ``ids`` always has room for that write.
    """
    cdef int is_new = out.stamps[feature_id] != out.text_number
    cdef int32_t* grown
    out.stamps[feature_id] = out.text_number
    out.ids[out.nnz] = feature_id
    out.nnz += is_new
    if out.nnz == out.capacity:
        grown = <int32_t*>realloc(out.ids, 2 * out.capacity * sizeof(int32_t))
        if grown == NULL:
            return -1
        out.ids = grown
        out.capacity *= 2
    return is_new


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


cdef struct Walk:
    # Per-text state shared by the two walks below.
    uint64_t recent[MAX_NGRAM]   # hashes of the last tokens, oldest first
    int n_recent
    Py_ssize_t n_keys            # feature keys of this text so far, in out.keys


cdef inline int push_token(const Table* table, Output* out, Walk* walk,
                           uint64_t h) noexcept nogil:
    """Queue the unigram of token hash ``h``, then the bigram and trigram ending with it
    (the specification's order). Lookups wait until the whole text is walked: their slots are
    prefetched now, so the cache misses of a large (n-gram) table overlap with the walk."""
    cdef int k, order, n
    cdef uint64_t key
    cdef uint64_t* grown
    if walk.n_keys + MAX_NGRAM > out.keys_capacity:
        grown = <uint64_t*>realloc(out.keys, 2 * out.keys_capacity * sizeof(uint64_t))
        if grown == NULL:
            return -1
        out.keys = grown
        out.keys_capacity *= 2
    if table.ngram == 1:         # words only: no window to keep
        key = slot_key(h)
        __builtin_prefetch(&table.slots[home_slot(table, key)])
        out.keys[walk.n_keys] = key
        walk.n_keys += 1
        return 0
    if walk.n_recent == table.ngram:
        for k in range(table.ngram - 1):
            walk.recent[k] = walk.recent[k + 1]
        walk.n_recent -= 1
    walk.recent[walk.n_recent] = h
    walk.n_recent += 1
    n = walk.n_recent
    for order in range(1, n + 1):
        h = walk.recent[n - order]
        for k in range(n - order + 1, n):
            h = combine(h, walk.recent[k])
        key = slot_key(h)
        __builtin_prefetch(&table.slots[home_slot(table, key)])
        out.keys[walk.n_keys] = key
        walk.n_keys += 1
    return 0


cdef inline int resolve_keys(const Table* table, Output* out, Walk* walk) noexcept nogil:
    cdef Py_ssize_t q
    cdef int32_t fid
    for q in range(walk.n_keys):
        fid = lookup(table, out.keys[q])
        if fid != EMPTY and output_add(out, fid) < 0:
            return -1
    return 0


cdef inline void start_text(Output* out, Walk* walk) noexcept nogil:
    out.text_number += 1
    if out.text_number == 0:     # wrapped after 2**32 - 1 texts: forget all stamps
        memset(out.stamps, 0, out.n_features * sizeof(uint32_t))
        out.text_number = 1
    walk.n_recent = 0
    walk.n_keys = 0


cdef int vectorize_text(const Table* table, const wide_t* data, Py_ssize_t L,
                        Output* out) noexcept nogil:
    """Append the unique feature ids of one lowered text to ``out``; -1 on no memory.

    The general walk, code point by code point, for any storage width."""
    cdef Py_ssize_t i = 0, j
    cdef uint32_t c
    cdef TokenHash th
    cdef Walk walk
    start_text(out, &walk)
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
        if push_token(table, out, &walk, hash_finish(&th)) < 0:
            return -1
    return resolve_keys(table, out, &walk)


cdef extern from *:
    """
    #include <string.h>
    /* Up to 8 bytes at p as a big-endian number (first byte highest): the block layout of
       TokenHash. Reads exactly n bytes, so it never crosses the end of the buffer. */
    static inline uint64_t imdb_edge_load_block(const uint8_t* p, int n) {
        uint64_t v = 0;
        if (n == 8) {
            memcpy(&v, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return __builtin_bswap64(v);
    #else
            return v;
    #endif
        }
        for (int k = 0; k < n; k++) v = (v << 8) | p[k];
        return v;
    }

    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* Bits k of *words / *apostrophes: is byte p[k] (k < m <= 64) a word character (per
       `table`, nonzero = word) / an ASCII apostrophe. 16 ASCII bytes at a time with SSE2, where
       [0-9A-Za-z] are exactly the ASCII word characters (str.isalnum); bytes >= 0x80 and
       other machines go through the table. */
    static inline void imdb_edge_classify64(const uint8_t* p, int m, const uint8_t* table,
                                            uint64_t* words, uint64_t* apostrophes) {
        uint64_t w = 0, a = 0;
        int k = 0;
    #if defined(__SSE2__)
        for (; k + 16 <= m; k += 16) {
            __m128i v = _mm_loadu_si128((const __m128i*)(p + k));
            if (_mm_movemask_epi8(v) == 0) {
                __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
                __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                               _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
                __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                              _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
                w |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_or_si128(letter, digit)) << k;
                a |= (uint64_t)(uint32_t)_mm_movemask_epi8(
                         _mm_cmpeq_epi8(v, _mm_set1_epi8(0x27))) << k;
            } else {
                for (int j = k; j < k + 16; j++) {
                    w |= (uint64_t)(table[p[j]] != 0) << j;
                    a |= (uint64_t)(p[j] == 0x27) << j;
                }
            }
        }
    #endif
        for (; k < m; k++) {
            w |= (uint64_t)(table[p[k]] != 0) << k;
            a |= (uint64_t)(p[k] == 0x27) << k;
        }
        *words = w;
        *apostrophes = a;
    }
    """
    uint64_t load_block "imdb_edge_load_block"(const uint8_t* p, int n) nogil
    void classify64 "imdb_edge_classify64"(const uint8_t* p, int m, const uint8_t* table,
                                           uint64_t* words, uint64_t* apostrophes) nogil
    int ctz64 "__builtin_ctzll"(uint64_t x) nogil


cdef inline int emit_latin1_token(const Table* table, Output* out, Walk* walk,
                                  const uint8_t* data, Py_ssize_t start, Py_ssize_t end,
                                  Py_ssize_t L) noexcept nogil:
    """Hash the token ``data[start:end]`` of a 1-byte text and queue its features."""
    cdef Py_ssize_t k
    cdef uint64_t h, block, high
    cdef TokenHash th
    if (end - start == 2 and start > 0 and data[start - 1] == 0x3C
            and (data[start] | 0x20) == 0x62 and (data[start + 1] | 0x20) == 0x72
            and line_break_end(data, start - 1, L) > 0):
        return 0                      # the "br" of a line break is no token
    h = HASH_SEED
    high = 0
    k = start
    while end - k >= 8:
        block = load_block(data + k, 8)
        high |= block
        h = (h ^ (block | 0x2020202020202020ULL)) * HASH_MULTIPLIER
        k += 8
    if k < end:
        if k + 8 <= L:       # one load, then drop the bytes past the token
            block = load_block(data + k, 8) >> (8 * (8 - (end - k)))
        else:
            block = load_block(data + k, <int>(end - k))
        high |= block
        h = (h ^ (block | (0x2020202020202020ULL >> (8 * (8 - (end - k)))))) * HASH_MULTIPLIER
    if high & 0x8080808080808080ULL:    # not ASCII: ``| 0x20`` is no lowercase there
        hash_start(&th)
        for k in range(start, end):
            hash_feed(&th, _LOWER_LATIN1[data[k]])
        h = hash_finish(&th)
    return push_token(table, out, walk, h)


cdef int vectorize_latin1(const Table* table, const uint8_t* data, Py_ssize_t L,
                          Output* out) noexcept nogil:
    """The walk for 1-byte texts (most reviews): the same tokens, found without a branch per
    character. Pass 1 sets a bit for each token character - word characters, and apostrophes
    with a word character on both sides - 64 to a word; pass 2 derives the start and end bits of
    the tokens from those and pops them with count-trailing-zeros, hashing each token a block of
    8 bytes at a time. For ASCII bytes
    the lowercase is ``| 0x20`` (letters; digits and the apostrophe already have that bit);
    a token with any byte >= 0x80 is hashed through the Latin-1 lowercase table instead."""
    cdef Py_ssize_t n_words = (L + 63) >> 6, w, base, m, start, end
    cdef uint64_t word_bits, apostrophes, before, after, starts, ends
    cdef uint64_t* grown
    cdef uint64_t* bits
    cdef Walk walk
    if 2 * n_words + 2 > out.bits_capacity:
        grown = <uint64_t*>realloc(out.bits, (2 * n_words + 2) * sizeof(uint64_t))
        if grown == NULL:
            return -1
        out.bits = grown
        out.bits_capacity = 2 * n_words + 2
    bits = out.bits                   # [0, n_words): word characters; [n_words, 2n): tokens
    start_text(out, &walk)
    for w in range(n_words):
        base = w << 6
        m = L - base if L - base < 64 else 64
        classify64(data + base, <int>m, _IS_WORD_LATIN1, &bits[w], &bits[n_words + w])
    for w in range(n_words):
        apostrophes = bits[n_words + w]
        word_bits = bits[w]
        before = (word_bits << 1) | ((bits[w - 1] >> 63) if w > 0 else 0)
        after = (word_bits >> 1) | (((bits[w + 1] & 1) << 63) if w + 1 < n_words else 0)
        bits[n_words + w] = word_bits | (apostrophes & before & after)
    # Pass 2: token starts are token bits whose left neighbour is not one, ends the reverse;
    # within the text they alternate, so popping the lowest bit of each in turn lists tokens.
    start = -1
    for w in range(n_words):
        word_bits = bits[n_words + w]
        before = (word_bits << 1) | ((bits[n_words + w - 1] >> 63) if w > 0 else 0)
        starts = word_bits & ~before
        ends = ~word_bits & before
        base = w << 6
        while True:
            if start < 0:
                if starts == 0:
                    break
                start = base + ctz64(starts)
                starts &= starts - 1
            else:
                if ends == 0:
                    break
                end = base + ctz64(ends)
                ends &= ends - 1
                if emit_latin1_token(table, out, &walk, data, start, end, L) < 0:
                    return -1
                start = -1
    if start >= 0 and emit_latin1_token(table, out, &walk, data, start, L, L) < 0:
        return -1
    return resolve_keys(table, out, &walk)


cdef class FeatureTable:
    """Read-only hash table from features (tokens or space-joined n-grams) to ids.

    Built once per vocabulary; lookups never write to it, so one table serves any number of
    threads at once.
    """

    cdef Table table
    cdef readonly Py_ssize_t size
    cdef readonly int ngram
    cdef uint32_t* stamps        # see Output.stamps; lent to one call at a time
    cdef uint32_t text_number
    cdef bint stamps_in_use

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
        self.stamps = <uint32_t*>calloc(n + 1, sizeof(uint32_t))
        if self.stamps == NULL:
            raise MemoryError()
        self.text_number = 0
        self.stamps_in_use = False

    def __dealloc__(self):
        free(self.stamps)
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
            int64 ``(nnz, 1)``.

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
        cdef bint own_stamps = False
        out.ids = NULL
        out.stamps = NULL
        out.keys = NULL
        out.bits = NULL
        out.bits_capacity = 0
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
            # The table's stamp array serves one call at a time; a concurrent call (another
            # thread) makes its own. Claimed and returned with the GIL held, so no race.
            out.n_features = self.size
            if self.stamps_in_use or self.stamps == NULL:
                own_stamps = True
                out.stamps = <uint32_t*>calloc(self.size + 1, sizeof(uint32_t))
                out.text_number = 0
            else:
                self.stamps_in_use = True
                out.stamps = self.stamps
                out.text_number = self.text_number
            if (kinds == NULL or datas == NULL or lengths == NULL or indptr_buf == NULL
                    or out.ids == NULL or out.keys == NULL or out.stamps == NULL):
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
                        status = vectorize_latin1(table, <const uint8_t*>datas[i], lengths[i], &out)
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
            rows = np.empty((out.nnz, 1), dtype=np.int64)   # the model's (nnz, 1) layout
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
            free(out.bits)
            if own_stamps:
                free(out.stamps)
            elif out.stamps != NULL:
                self.text_number = out.text_number
                self.stamps_in_use = False


cdef void _copy_int64(int64_t[::1] dest, const int64_t* src, Py_ssize_t n) noexcept:
    memcpy(&dest[0], src, n * sizeof(int64_t))


cdef void _fill_rows(int64_t[:, ::1] rows, const int64_t* indptr, Py_ssize_t n) noexcept:
    cdef Py_ssize_t t, k
    for t in range(n):
        for k in range(indptr[t], indptr[t + 1]):
            rows[k, 0] = t


cdef void _copy_int32(int32_t[::1] dest, const int32_t* src, Py_ssize_t n) noexcept:
    memcpy(&dest[0], src, n * sizeof(int32_t))
