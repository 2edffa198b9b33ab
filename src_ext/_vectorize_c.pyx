# cython: language_level=3, cdivision=True
"""The guts of the vectorizer: raw text -> unique in-vocabulary feature ids, in C.

Reproduces ``imdb_edge._tokenizer`` (the specification) exactly; the parity tests and the
fuzzer (``fuzz/``) hold it to that. Argument checks live in ``imdb_edge._vectorizer``.
Bounds and initialization checks are switched off by ``setup.py`` (on again with
``IMDB_EDGE_CYTHON_DEBUG=1``), not here: a directive in this header would override it.

Design (each choice measured on the 25,000 test reviews; see the comments where they are made):

- Texts stored with 2 or 4 bytes a code point are lowercased with ``str.lower`` itself (never
  a method of a ``str`` subclass) under the GIL, then walked from their PEP 393 buffers; a
  long one is lowered and walked a piece at a time, so the GIL is never held for long. 1-byte
  (Latin-1) texts, most reviews, need no copy: one table read a byte lowers them.
- The heavy loop runs with the GIL released. 1-byte texts take a bitmap walk (SSE2 on
  x86-64, 8-byte SWAR elsewhere): token characters are marked 64 to a machine word, tokens
  found with count-trailing-zeros and keyed 8 bytes at a time.
- Matching is exact, never assumed from a hash: a token of at most 16 Latin-1 characters
  (nearly all) is its own key, a longer one is compared character by character, and an
  n-gram matches only through the table slots of its tokens. No crafted text can reach a
  feature it does not contain ("Token keys" below). Token slots are prefetched during the
  walk and resolved in batches after it.
- Duplicates within a text are dropped with a bit per feature (cleared after each text),
  branch-free.
"""

from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.math cimport exp
from libc.string cimport memchr, memcpy, memset

import numpy as np


cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void* PyUnicode_DATA(object o)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index) nogil
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    object PyUnicode_Substring(object o, Py_ssize_t start, Py_ssize_t end)
    int PyUnicode_1BYTE_KIND
    int PyUnicode_2BYTE_KIND

# The three PEP 393 storage widths; each walk is compiled once per width, so the inner loop
# reads a plain array instead of switching on the kind at every code point. 1-byte texts have
# their own walk (vectorize_latin1); the general one sees 1-byte data only as a lowered piece
# of a long text.
ctypedef fused char_t:
    uint8_t
    uint16_t
    uint32_t


cdef enum:
    MAX_NGRAM = 3
    TOKEN_BATCH = 512            # tokens walked before their slots are resolved
    GRAM_AHEAD = 16              # tokens between an n-gram slot's prefetch and its lookup
cdef uint32_t MAX_TOKEN = 1U << 28
cdef uint64_t HASH_SEED = 0xcbf29ce484222325ULL
cdef uint64_t HASH_MULTIPLIER = 0x9E3779B97F4A7C15ULL
cdef uint64_t WIDE_MARK = 1ULL << 63
cdef int32_t EMPTY = -1
# A 2/4-byte text longer than this is lowered and walked in pieces of about PIECE code points.
cdef Py_ssize_t LONG_TEXT = 1 << 20
cdef Py_ssize_t PIECE = 1 << 18

# Word characters: str.isalnum() of Unicode 14.0.0, from the pinned table the Python reference
# reads too (imdb_edge/_unicode_table.py), never from the running Python's own tables (CPython
# 3.11, 3.12 and 3.13 disagree on 5,010 code points). One bit a code point (136 KB), filled once
# at import and read-only afterwards. Within Latin-1 a character and its lowercase are word
# characters alike, so the 1-byte walk reads _IS_WORD_LATIN1 before lowering.
from imdb_edge._unicode_table import WORD_RANGES as _WORD_RANGES

cdef uint8_t _WORD_BITS[139264]         # 0x110000 bits
cdef uint8_t _IS_WORD_LATIN1[256]
cdef int _c
cdef Py_ssize_t _first, _last, _k
memset(_WORD_BITS, 0, sizeof(_WORD_BITS))
for _first, _last in _WORD_RANGES:
    for _k in range(_first, _last + 1):
        _WORD_BITS[_k >> 3] |= <uint8_t>(1 << (_k & 7))
for _c in range(256):
    _IS_WORD_LATIN1[_c] = (_WORD_BITS[_c >> 3] >> (_c & 7)) & 1


# str.lower() of each code point < 256, read from CPython itself at import. Within Latin-1 it
# is always one code point < 256, so a 1-byte-kind text can be lowercased while it is walked,
# without the copy that str.lower() makes (checked at import: ImportError otherwise, and the
# package falls back to the reference vectorizer).
cdef uint8_t _LOWER_LATIN1[256]
for _c in range(256):
    _folded = chr(_c).lower()
    if len(_folded) != 1 or ord(_folded) >= 256:
        raise ImportError(f"str.lower() maps U+{_c:04X} outside Latin-1 on this Python")
    _LOWER_LATIN1[_c] = ord(_folded)
for _c in range(256):       # lowering a lowered piece of a long text again must change nothing
    if _LOWER_LATIN1[_LOWER_LATIN1[_c]] != _LOWER_LATIN1[_c]:
        raise ImportError(f"str.lower() is not idempotent for U+{_c:04X} on this Python")

# str.lower itself, called on the str data: a subclass's own lower() could return anything.
_str_lower = str.lower

# Piece boundaries of a long text fall just after one of these ASCII characters: none is a
# word character, none can be inside a line break "<br */?>" or a token's apostrophe, and none
# is cased or case-ignorable, so str.lower()'s one context rule (final sigma) and every
# tokenizer rule see the same thing at a boundary as in the whole text.
cdef uint8_t _PIECE_END[128]
for _c in range(128):
    _PIECE_END[_c] = chr(_c) in '\t\n\r!"#$%&()*+,-;=?@[\\]{|}~'


cdef inline bint is_word(Py_UCS4 c) noexcept nogil:
    if c < 256:
        return _IS_WORD_LATIN1[c]
    cdef uint32_t k = <uint32_t>c
    if k >= 0x110000:
        return False
    return (_WORD_BITS[k >> 3] >> (k & 7)) & 1


cdef inline uint32_t word_at(const char_t* data, Py_ssize_t i) noexcept nogil:
    """Code point ``i`` of the lowered text if it is a word character, else 0."""
    cdef uint32_t c = data[i]
    return c if is_word(c) else 0


cdef struct TokenHash:
    # A token's hash, fed one code point at a time. Code points below 256 are packed 8 to a
    # 64-bit block (first character highest, a partial last block right-aligned) and each
    # block is mixed in with one multiply; a code point of 256 or more is mixed in alone,
    # marked by bit 63. The hash only picks the slot to look at: matches are compared.
    uint64_t h
    uint64_t block
    int n
    int wide             # a code point >= 256 was fed


cdef inline void hash_start(TokenHash* t) noexcept nogil:
    t.h = HASH_SEED
    t.block = 0
    t.n = 0
    t.wide = 0


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
        t.wide = 1


cdef inline uint64_t hash_finish(TokenHash* t) noexcept nogil:
    if t.n:
        return (t.h ^ t.block) * HASH_MULTIPLIER
    return t.h


cdef struct TokenSlot:
    # One vocabulary token (a unigram feature, or a token of an n-gram feature); 32 bytes,
    # two to a cache line. Both key words are inline: with key1 in Table.extras, a token of
    # 9-16 characters missed the cache a second time there (~7% of the default model's n-gram
    # resolution, measured).
    uint64_t key0        # its key's first word; 0 marks an empty slot. See "Token keys".
    uint64_t key1        # its key's second word: 0, or LONG
    int32_t id           # this token's unigram feature id, or -1
    uint32_t extra       # 0 for a token of at most 16 characters < 256, else its entry in
                         # Table.extras
    uint64_t unused      # (to 32 bytes: a slot never straddles two cache lines)


cdef struct TokenExtra:
    # What a token of more than 8 characters needs besides key0: rarely read.
    uint64_t key1        # its key's second word, or LONG
    Py_ssize_t chars     # where its code points start in Table.chars
    Py_ssize_t length    # code points


cdef struct GramSlot:
    # An n-gram feature as the slot numbers of its tokens: exact integer keys.
    int32_t tokens[3]    # tokens[2] is -1 for a bigram
    int32_t id           # the feature id; -1 marks an empty slot


cdef struct Table:
    # Open addressing, linear probing, load factor <= 1/2. Home slots come from a hash's TOP
    # bits: every hash here ends with a multiply, which carries each input bit upwards. The
    # vocabulary fills the tables and nothing else writes them, so a query costs at most the
    # longest run of full slots, whatever the text (no text can lengthen a probe).
    TokenSlot* tokens
    Py_ssize_t token_mask
    int token_shift
    TokenExtra* extras       # [0] unused
    uint32_t* chars          # the code points of every LONG token, token after token
    GramSlot* grams          # NULL when ``packed`` holds the n-grams
    uint64_t* packed         # bigrams-only tables whose keys fit: see "Packed bigrams"
    int packed_id_bits
    int packed_token_bits
    Py_ssize_t gram_mask
    int gram_shift
    int ngram


cdef struct TokenRef:
    # A token found by the walk, waiting to be resolved; a LONG one is resolved when found,
    # and ``key[0]`` is then its slot (or EMPTY).
    uint64_t key[2]


cdef struct Output:
    int32_t* ids         # grows by doubling
    Py_ssize_t capacity
    Py_ssize_t nnz
    uint64_t* seen       # a bit per feature id: the current text has it. All zero between
                         # texts: cleared from the text's ids when it is done (clear_seen)
    Py_ssize_t seen_words
    TokenRef* refs       # TOKEN_BATCH tokens awaiting resolution
    int32_t* resolved    # their token slots (or -1)
    uint64_t* bits       # bitmaps of the 1-byte walk; grows
    Py_ssize_t bits_capacity
    const int32_t* rows  # score_linear: the weights, prefetched as ids are found; else NULL
    Py_ssize_t row_size  # int32 values a row


cdef struct Walk:
    # Per-text state, kept across token batches and across the pieces of a long text.
    int n_refs           # tokens in out.refs
    int32_t previous[2]  # token slots of the last two tokens, most recent last; EMPTY where
                         # there is no such token or it is not in the vocabulary


cdef inline int output_add(Output* out, int32_t feature_id) noexcept nogil:
    """Append ``feature_id`` unless this text already has it; -1 on allocation failure.

    Whether an id is new is a coin toss (about half the words of a review repeat), so it is
    decided without a branch: the id is written past the end either way and the end moves
    only if the id's bit in ``seen`` was clear. ``ids`` always has room for that write.
    A bit per feature (25 KB for 200,000 features) stays in L1; a 32-bit stamp per feature
    (800 KB) missed the cache at nearly every new feature: it was ~1/4 of the time of the
    200,000-feature default model (measured).
    """
    cdef uint64_t* word = &out.seen[feature_id >> 6]
    cdef uint64_t bit = (<uint64_t>1) << (feature_id & 63)
    cdef int is_new = (word[0] & bit) == 0
    cdef int32_t* grown
    word[0] |= bit
    out.ids[out.nnz] = feature_id
    out.nnz += is_new
    if out.nnz == out.capacity:
        grown = <int32_t*>realloc(out.ids, 2 * out.capacity * sizeof(int32_t))
        if grown == NULL:
            return -1
        out.ids = grown
        out.capacity *= 2
    return is_new


# Token keys. A token of at most 16 code points, all < 256 (nearly every word), is its own
# key: its code points packed into two 64-bit blocks, 8 to a block, first highest, the last
# block right-aligned; key[1] is 0 for tokens of at most 8. Word characters are never 0, so
# no two tokens share such a key, and equal keys mean the same token: the walk compares
# nothing, and no crafted text can reach a feature it does not contain. Any other token is
# LONG: key = (its hash, LONG), and LONG (1) is no block of word characters; a LONG token is
# looked up when the walk finds it, comparing its characters on a hash match (find_long).

cdef uint64_t LONG = 1
cdef uint64_t NO_BIGRAM = 0xFFFFFFFFFFFFFFFFULL    # no packed key: at most 64 - id_bits bits


cdef inline uint64_t long_hash(TokenHash* th) noexcept nogil:
    # key[0] of a LONG token: its hash, never 0 (which marks an empty slot).
    cdef uint64_t h = hash_finish(th)
    return h | (h == 0)


cdef inline Py_ssize_t token_home(const Table* table, uint64_t key0,
                                  uint64_t key1) noexcept nogil:
    # A key is raw text, so it is mixed here; the top bits of a product are the mixed ones.
    # One multiply: key1 is 0 for most tokens, and a medium token's home only has to be
    # spread, not unique (matches are exact).
    return <Py_ssize_t>(((key0 ^ key1) * HASH_MULTIPLIER) >> table.token_shift)


cdef inline uint64_t gram_hash(int32_t a, int32_t b, int32_t c) noexcept nogil:
    cdef uint64_t h = ((<uint64_t><uint32_t>a) | ((<uint64_t><uint32_t>b) << 32)) * HASH_MULTIPLIER
    h = (h ^ (<uint64_t><uint32_t>c) ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL
    return h


cdef extern from *:
    """
    /* The walk's helpers must be inlined into it: out of line (GCC's size heuristics decide
       so for this module) the 1-byte walk measured ~12% slower. */
    #if defined(__GNUC__)
    #undef CYTHON_INLINE
    #define CYTHON_INLINE inline __attribute__((always_inline))
    #endif
    """
    void __builtin_prefetch(const void* address) nogil


cdef inline uint32_t canonical(const char_t* data, Py_ssize_t i) noexcept nogil:
    """Code point ``i`` of a token as the vocabulary stores it: lowercase, U+2019 as U+0027.
    1-byte texts are lowered here; the others were lowered by str.lower()."""
    cdef uint32_t c
    if char_t is uint8_t:
        return _LOWER_LATIN1[data[i]]
    else:
        c = data[i]
        return 0x27 if c == 0x2019 else c


cdef inline int32_t find_token(const Table* table, uint64_t key0,
                               uint64_t key1) noexcept nogil:
    """Slot of the token whose key is (key0, key1), not LONG, or EMPTY: equal keys are equal
    tokens."""
    cdef Py_ssize_t j = token_home(table, key0, key1)
    cdef const TokenSlot* slot
    while True:
        slot = &table.tokens[j]
        if slot.key0 == key0 and slot.key1 == key1:
            return <int32_t>j
        if slot.key0 == 0:
            return EMPTY
        j = (j + 1) & table.token_mask


cdef int32_t find_long(const Table* table, uint64_t h, const char_t* data, Py_ssize_t start,
                       Py_ssize_t length) noexcept nogil:
    """Slot of the LONG token ``data[start:start + length]`` whose hash is ``h``, or EMPTY:
    hashes can collide, so on a match the characters are compared."""
    cdef Py_ssize_t j = token_home(table, h, LONG), k
    cdef const TokenSlot* slot
    cdef const TokenExtra* extra
    cdef const uint32_t* chars
    while True:
        slot = &table.tokens[j]
        extra = &table.extras[slot.extra]
        if slot.key0 == h and slot.key1 == LONG and extra.length == length:
            chars = table.chars + extra.chars
            for k in range(length):
                if canonical(data, start + k) != chars[k]:
                    break
            else:
                return <int32_t>j
        if slot.key0 == 0:
            return EMPTY
        j = (j + 1) & table.token_mask


# Called through pointers, which the compiler cannot inline: inlined into the walk, this rare
# path made the whole walk 10-25% slower (measured).
ctypedef int32_t (*find_long_1_t)(const Table*, uint64_t, const uint8_t*, Py_ssize_t, Py_ssize_t) noexcept nogil
ctypedef int32_t (*find_long_2_t)(const Table*, uint64_t, const uint16_t*, Py_ssize_t, Py_ssize_t) noexcept nogil
ctypedef int32_t (*find_long_4_t)(const Table*, uint64_t, const uint32_t*, Py_ssize_t, Py_ssize_t) noexcept nogil
cdef find_long_1_t _find_long_1 = find_long[uint8_t]
cdef find_long_2_t _find_long_2 = find_long[uint16_t]
cdef find_long_4_t _find_long_4 = find_long[uint32_t]


cdef inline int32_t resolved(const Table* table, const TokenRef* ref) noexcept nogil:
    if ref.key[1] == LONG:
        return <int32_t><int64_t>ref.key[0]
    return find_token(table, ref.key[0], ref.key[1])


# Packed bigrams. A table with bigrams and no trigrams, whose two token slot numbers and
# feature id + 1 fit in 64 bits together (the default model: 17 + 17 + 18), keeps each bigram in
# one word: (a << token_bits | b) << id_bits | (id + 1), 0 for an empty slot. Half the size of a
# GramSlot, so twice as many stay cached (measured: the default model vectorized ~5% faster; a
# load factor of 3/4 instead of 1/2 measured no faster).

cdef inline const void* gram_slot_address(const Table* table, uint64_t h) noexcept nogil:
    if table.packed != NULL:
        return &table.packed[h >> table.gram_shift]
    return &table.grams[h >> table.gram_shift]


cdef inline int32_t find_gram(const Table* table, int32_t a, int32_t b,
                              int32_t c) noexcept nogil:
    """Feature id of the n-gram of token slots (a, b, c) (c = -1 for a bigram), or EMPTY."""
    cdef Py_ssize_t j = <Py_ssize_t>(gram_hash(a, b, c) >> table.gram_shift)
    cdef const GramSlot* slot
    cdef uint64_t key, word
    if table.packed != NULL:             # c is -1: such a table has no trigrams
        key = ((<uint64_t><uint32_t>a) << table.packed_token_bits) | <uint32_t>b
        j = packed_home(key, table.gram_shift)
        while True:
            word = table.packed[j]
            if word == 0:
                return EMPTY
            if (word >> table.packed_id_bits) == key:
                return <int32_t>(word & ((<uint64_t>1 << table.packed_id_bits) - 1)) - 1
            j = (j + 1) & table.gram_mask
    while True:
        slot = &table.grams[j]
        if slot.id == EMPTY:
            return EMPTY
        if slot.tokens[0] == a and slot.tokens[1] == b and slot.tokens[2] == c:
            return slot.id
        j = (j + 1) & table.gram_mask


cdef inline int add_if_found(Output* out, int32_t feature_id) noexcept nogil:
    if feature_id == EMPTY:
        return 0
    return output_add(out, feature_id)


cdef inline int resolve(const Table* table, Output* out, Walk* walk,
                        const char_t* data) noexcept nogil:
    """Look up the walked tokens ``out.refs``, then append their features in the
    specification's order (at each token: its unigram, the bigram and the trigram ending
    there). -1 on no memory. Words only: this small loop, inlined into the walk (a call
    here cost ~8% of the vectorizer's time); n-grams: resolve_grams."""
    cdef int q, n = walk.n_refs
    cdef int32_t t
    if table.ngram != 1:
        return resolve_grams(table, out, walk, data)
    walk.n_refs = 0
    for q in range(n):
        t = resolved(table, &out.refs[q])
        if t != EMPTY:
            # Every token of a words-only vocabulary is a feature.
            if output_add(out, table.tokens[t].id) < 0:
                return -1
    return 0


cdef inline void prefetch_grams(const Table* table, const int32_t* resolved, int q,
                                int32_t a, int32_t b) noexcept nogil:
    """Prefetch the slots of the n-grams ending at token ``q`` (slot ``resolved[q]``), whose
    two predecessors are ``a`` and ``b``."""
    cdef int32_t t = resolved[q]
    if t != EMPTY and b != EMPTY:
        __builtin_prefetch(gram_slot_address(table, gram_hash(b, t, -1)))
        if table.ngram >= 3 and a != EMPTY:
            __builtin_prefetch(gram_slot_address(table, gram_hash(a, b, t)))


cdef int resolve_grams(const Table* table, Output* out, Walk* walk,
                       const char_t* data) noexcept nogil:
    """resolve() for n-grams. The n-gram slots are prefetched GRAM_AHEAD tokens ahead of their
    lookup: all prefetched at once, before the lookups, the prefetches waited for free miss
    buffers (~1/5 of the default model's time, measured)."""
    cdef int q, n = walk.n_refs
    cdef int32_t t, a, b
    cdef int32_t* slots = out.resolved
    walk.n_refs = 0
    if table.packed != NULL:
        if out.rows != NULL:        # two copies, each inlined with its constant
            return resolve_packed(table, out, walk, n, True)
        return resolve_packed(table, out, walk, n, False)
    for q in range(n):
        slots[q] = resolved(table, &out.refs[q])
    a = walk.previous[0]
    b = walk.previous[1]
    for q in range(min(n, GRAM_AHEAD)):
        prefetch_grams(table, slots, q, a, b)
        a = b
        b = slots[q]
    for q in range(n):
        if q + GRAM_AHEAD < n:
            prefetch_grams(table, slots, q + GRAM_AHEAD, slots[q + GRAM_AHEAD - 2],
                           slots[q + GRAM_AHEAD - 1])
        t = slots[q]
        a = walk.previous[0]
        b = walk.previous[1]
        if t != EMPTY:
            if add_if_found(out, table.tokens[t].id) < 0:
                return -1
            if b != EMPTY:
                if add_if_found(out, find_gram(table, b, t, -1)) < 0:
                    return -1
                if table.ngram >= 3 and a != EMPTY:
                    if add_if_found(out, find_gram(table, a, b, t)) < 0:
                        return -1
        walk.previous[0] = b
        walk.previous[1] = t
    return 0


cdef inline int32_t find_packed(const uint64_t* packed, Py_ssize_t j, Py_ssize_t mask,
                                uint64_t key, int id_bits) noexcept nogil:
    """find_gram in a packed table from the bigram's home slot ``j`` and packed ``key``."""
    cdef uint64_t word
    while True:
        word = packed[j]
        if word == 0:
            return EMPTY
        if (word >> id_bits) == key:
            return <int32_t>(word & ((<uint64_t>1 << id_bits) - 1)) - 1
        j = (j + 1) & mask


cdef inline void prefetch_row(const Output* out, int32_t feature_id) noexcept nogil:
    """Prefetch the weights row of ``feature_id`` (row 0 for EMPTY: no branch)."""
    __builtin_prefetch(out.rows + (feature_id & ~(feature_id >> 31)) * out.row_size)


cdef inline Py_ssize_t packed_home(uint64_t key, int shift) noexcept nogil:
    """Home slot of a packed bigram. Its key is two token slot numbers, themselves spread by
    the token hash, so one multiply mixes it (the general gram_hash is two)."""
    return <Py_ssize_t>((key * HASH_MULTIPLIER) >> shift)


cdef inline int resolve_packed(const Table* table, Output* out, Walk* walk, int n,
                               bint scoring) noexcept nogil:
    """resolve_grams for a packed bigram table: the same steps, with the table's fields in
    locals and no test for other kinds of table. A first pass resolves each token and writes
    its unigram id and its bigram's key and home slot, the key and home over the token's own
    ``out.refs`` entry once read: a key of NO_BIGRAM where the token or its predecessor is
    not in the vocabulary, with home 0 (prefetched without a branch, and always cached).
    ``scoring`` (score_linear): each feature's weights row is prefetched as it is found, for
    the text's score at its end (in the scoring pass, those reads missed the cache: ~18 % of
    the time, measured)."""
    cdef const uint64_t* packed = table.packed
    cdef const TokenSlot* tokens = table.tokens
    cdef int shift = table.gram_shift, token_bits = table.packed_token_bits
    cdef int id_bits = table.packed_id_bits
    cdef Py_ssize_t mask = table.gram_mask
    cdef int32_t* words = out.resolved              # words[q]: token q's unigram id, or -1
    cdef uint64_t* keys = <uint64_t*>out.refs        # keys[2q]: key, keys[2q + 1]: home
    cdef int q
    cdef int32_t t, a, b
    cdef uint64_t key
    cdef int32_t feature
    cdef bint none
    a = walk.previous[0]
    b = walk.previous[1]
    for q in range(n):
        t = resolved(table, &out.refs[q])           # read before keys[2q:2q + 2] overwrite it
        words[q] = tokens[t].id if t != EMPTY else EMPTY
        none = (t == EMPTY) | (b == EMPTY)
        key = ((<uint64_t><uint32_t>b) << token_bits) | <uint32_t>t
        keys[2 * q] = NO_BIGRAM if none else key
        keys[2 * q + 1] = 0 if none else <uint64_t>packed_home(key, shift)
        a = b
        b = t
    walk.previous[0] = a
    walk.previous[1] = b
    for q in range(min(n, GRAM_AHEAD)):
        __builtin_prefetch(&packed[keys[2 * q + 1]])
    for q in range(n):
        if q + GRAM_AHEAD < n:
            __builtin_prefetch(&packed[keys[2 * (q + GRAM_AHEAD) + 1]])
        if add_if_found(out, words[q]) < 0:
            return -1
        if scoring:
            prefetch_row(out, words[q])
        key = keys[2 * q]
        if key != NO_BIGRAM:
            feature = find_packed(packed, <Py_ssize_t>keys[2 * q + 1], mask, key, id_bits)
            if add_if_found(out, feature) < 0:
                return -1
            if scoring:
                prefetch_row(out, feature)
    return 0


cdef inline bint push_token(const Table* table, Output* out, Walk* walk, uint64_t key0,
                            uint64_t key1) noexcept nogil:
    """Queue one token (at most 16 code points < 256); True when TOKEN_BATCH are queued, and
    the caller must resolve them. Its slot is prefetched now and looked up later, so cache
    misses overlap with the walk."""
    cdef TokenRef* ref = &out.refs[walk.n_refs]
    ref.key[0] = key0
    ref.key[1] = key1
    __builtin_prefetch(&table.tokens[token_home(table, key0, key1)])
    walk.n_refs += 1
    return walk.n_refs == TOKEN_BATCH


cdef inline bint push_long(const Table* table, Output* out, Walk* walk, uint64_t h,
                           const char_t* data, Py_ssize_t start,
                           Py_ssize_t length) noexcept nogil:
    """push_token for a LONG token, looked up now: queued resolved, to keep features in order."""
    cdef TokenRef* ref = &out.refs[walk.n_refs]
    cdef int32_t slot
    if char_t is uint8_t:
        slot = _find_long_1(table, h, data, start, length)
    elif char_t is uint16_t:
        slot = _find_long_2(table, h, data, start, length)
    else:
        slot = _find_long_4(table, h, data, start, length)
    ref.key[0] = <uint64_t><int64_t>slot
    ref.key[1] = LONG
    walk.n_refs += 1
    return walk.n_refs == TOKEN_BATCH


cdef inline void clear_seen(Output* out, Py_ssize_t first) noexcept nogil:
    """Zero ``out.seen`` again after a text whose ids are ``out.ids[first:out.nnz]``: the
    words holding their bits (every bit set in them is one of these ids), or all of it when
    that is less work (a small vocabulary: the book model's is 157 words)."""
    cdef Py_ssize_t k
    if 4 * (out.nnz - first) > out.seen_words:
        memset(out.seen, 0, out.seen_words * sizeof(uint64_t))
        return
    for k in range(first, out.nnz):
        out.seen[out.ids[k] >> 6] = 0


cdef inline void start_text(Output* out, Walk* walk) noexcept nogil:
    walk.n_refs = 0
    walk.previous[0] = EMPTY
    walk.previous[1] = EMPTY


cdef inline Py_ssize_t line_break_end(const char_t* data, Py_ssize_t i,
                                      Py_ssize_t L) noexcept nogil:
    """End of ``<br */?>`` starting at ``i`` (a '<'), or 0 if there is none."""
    cdef Py_ssize_t j = i + 1
    if j + 1 >= L:
        return 0
    if char_t is uint8_t:
        if _LOWER_LATIN1[data[j]] != 0x62 or _LOWER_LATIN1[data[j + 1]] != 0x72:
            return 0
    else:
        if data[j] != 0x62 or data[j + 1] != 0x72:
            return 0
    j += 2
    while j < L and data[j] == 0x20:
        j += 1
    if j < L and data[j] == 0x2F:
        j += 1
    if j < L and data[j] == 0x3E:
        return j + 1
    return 0


cdef int walk_text(const Table* table, const char_t* data, Py_ssize_t L, Output* out,
                   Walk* walk) noexcept nogil:
    """Queue the tokens of one lowered text (or piece of one), code point by code point;
    -1 on no memory. The general walk, for 2/4-byte texts and the pieces of long ones."""
    cdef Py_ssize_t i = 0, j, start
    cdef uint32_t c
    cdef uint64_t key0, key1
    cdef bint full
    cdef TokenHash th
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
        start = i
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
        if i - start <= 16 and not th.wide:
            key0 = key1 = 0
            for j in range(start, i):
                if j - start < 8:
                    key0 = (key0 << 8) | canonical(data, j)
                else:
                    key1 = (key1 << 8) | canonical(data, j)
            full = push_token(table, out, walk, key0, key1)
        else:
            full = push_long(table, out, walk, long_hash(&th), data, start, i - start)
        if full:
            if resolve(table, out, walk, data) < 0:
                return -1
    return 0


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
       `table`, nonzero = word) / an ASCII apostrophe. ASCII bytes are classified 16 at a time
       with SSE2 (x86-64), else 8 at a time in a 64-bit word (SWAR: aarch64 and any other
       little-endian machine), where [0-9A-Za-z] are exactly the ASCII word characters
       (str.isalnum); bytes >= 0x80 and the tail go through the table.
       IMDB_EDGE_PORTABLE forces the SWAR path (to test it on x86-64). */
    #if defined(__SSE2__) && !defined(IMDB_EDGE_PORTABLE)
    #define IMDB_EDGE_SSE2 1
    #elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define IMDB_EDGE_SWAR 1
    #endif
    #if defined(IMDB_EDGE_SWAR)
    /* High bit of each byte of v (all < 0x80) set iff lo <= byte <= hi: adding 0x80 - lo
       sets it iff byte >= lo, adding 0x7F - hi iff byte > hi; no sum carries out of its byte. */
    static inline uint64_t imdb_edge_in_range(uint64_t v, unsigned lo, unsigned hi) {
        const uint64_t ones = 0x0101010101010101ULL;
        return (v + ones * (0x80 - lo)) & ~(v + ones * (0x7F - hi)) & 0x8080808080808080ULL;
    }
    /* The high bits of the 8 bytes of x (only high bits set) as bits 0..7, byte 0 lowest. */
    static inline uint64_t imdb_edge_gather8(uint64_t x) {
        return ((x >> 7) * 0x0102040810204080ULL) >> 56;
    }
    #endif
    static inline void imdb_edge_classify64(const uint8_t* p, int m, const uint8_t* table,
                                            uint64_t* words, uint64_t* apostrophes) {
        uint64_t w = 0, a = 0;
        int k = 0;
    #if defined(IMDB_EDGE_SSE2)
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
    #elif defined(IMDB_EDGE_SWAR)
        for (; k + 8 <= m; k += 8) {
            uint64_t v;
            memcpy(&v, p + k, 8);          /* little-endian: byte j of the 8 is bits 8j.. */
            if ((v & 0x8080808080808080ULL) == 0) {
                uint64_t word = imdb_edge_in_range(v | 0x2020202020202020ULL, 'a', 'z')
                                | imdb_edge_in_range(v, '0', '9');
                w |= imdb_edge_gather8(word) << k;
                a |= imdb_edge_gather8(imdb_edge_in_range(v, 0x27, 0x27)) << k;
            } else {
                for (int j = k; j < k + 8; j++) {
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


cdef inline uint64_t ascii_block(const uint8_t* data, Py_ssize_t k, Py_ssize_t n,
                                 Py_ssize_t L) noexcept nogil:
    """The ``n`` (1..8) bytes at ``data + k`` as one block, right-aligned (never reading past
    ``L``)."""
    cdef uint64_t block
    if n == 8 or k + 8 <= L:       # one load, then drop the bytes past the token
        block = load_block(data + k, 8) >> (8 * (8 - n))
    else:
        block = load_block(data + k, <int>n)
    return block


cdef inline bint emit_latin1_token(const Table* table, Output* out, Walk* walk,
                                   const uint8_t* data, Py_ssize_t start, Py_ssize_t end,
                                   Py_ssize_t L) noexcept nogil:
    """Key the token ``data[start:end]`` of a 1-byte text and queue it (see push_token)."""
    cdef Py_ssize_t k, n = end - start
    cdef uint64_t h, block, key0, key1
    cdef TokenHash th
    if (n == 2 and start > 0 and data[start - 1] == 0x3C
            and (data[start] | 0x20) == 0x62 and (data[start + 1] | 0x20) == 0x72
            and line_break_end(data, start - 1, L) > 0):
        return False                  # the "br" of a line break is no token
    if n <= 16:                       # its own key (see "Token keys")
        key0 = ascii_block(data, start, n if n < 8 else 8, L)
        key1 = ascii_block(data, start + 8, n - 8, L) if n > 8 else 0
        if (key0 | key1) & 0x8080808080808080ULL:     # not ASCII: lowercase through the table
            key0 = key1 = 0
            for k in range(start, end):
                if k - start < 8:
                    key0 = (key0 << 8) | _LOWER_LATIN1[data[k]]
                else:
                    key1 = (key1 << 8) | _LOWER_LATIN1[data[k]]
        else:
            key0 |= 0x2020202020202020ULL >> (8 * (8 - (n if n < 8 else 8)))
            if n > 8:
                key1 |= 0x2020202020202020ULL >> (8 * (16 - n))
        return push_token(table, out, walk, key0, key1)
    hash_start(&th)
    for k in range(start, end):
        hash_feed(&th, _LOWER_LATIN1[data[k]])
    return push_long(table, out, walk, long_hash(&th), data, start, n)


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
                if emit_latin1_token(table, out, &walk, data, start, end, L):
                    if resolve(table, out, &walk, data) < 0:
                        return -1
                start = -1
    if start >= 0:
        emit_latin1_token(table, out, &walk, data, start, L, L)
    return resolve(table, out, &walk, data)


cdef int vectorize_wide(const Table* table, const char_t* data, Py_ssize_t L,
                        Output* out) noexcept nogil:
    """One whole lowered 2/4-byte text."""
    cdef Walk walk
    start_text(out, &walk)
    if walk_text(table, data, L, out, &walk) < 0:
        return -1
    return resolve(table, out, &walk, data)


cdef int walk_piece(const Table* table, object piece, Output* out, Walk* walk) except -2:
    """Walk one lowered piece of a long text and resolve its tokens (the GIL is released
    while it works): tokens never cross a piece boundary, so resolving here is safe."""
    cdef int kind = PyUnicode_KIND(piece)
    cdef const void* data = PyUnicode_DATA(piece)
    cdef Py_ssize_t L = PyUnicode_GET_LENGTH(piece)
    cdef int status
    with nogil:
        if kind == PyUnicode_1BYTE_KIND:
            status = walk_text(table, <const uint8_t*>data, L, out, walk)
            if status == 0:
                status = resolve(table, out, walk, <const uint8_t*>data)
        elif kind == PyUnicode_2BYTE_KIND:
            status = walk_text(table, <const uint16_t*>data, L, out, walk)
            if status == 0:
                status = resolve(table, out, walk, <const uint16_t*>data)
        else:
            status = walk_text(table, <const uint32_t*>data, L, out, walk)
            if status == 0:
                status = resolve(table, out, walk, <const uint32_t*>data)
    return status


cdef Py_ssize_t piece_end(object text, Py_ssize_t start, Py_ssize_t L):
    """End of the piece of ``text`` that starts at ``start``: just past the first _PIECE_END
    character at or after ``start + PIECE``, or ``L``."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i = start + PIECE
    cdef uint32_t c
    while i < L:
        if kind == PyUnicode_2BYTE_KIND:
            c = (<const uint16_t*>data)[i]
        else:
            c = (<const uint32_t*>data)[i]
        if c < 128 and _PIECE_END[c]:
            return i + 1
        i += 1
    return L


cdef int vectorize_long(const Table* table, object text, Output* out) except -2:
    """A long 2/4-byte text, lowered by str.lower() and walked a piece at a time: the GIL is
    held only while one piece is lowered, and only one lowered piece exists at a time."""
    cdef Walk walk
    cdef Py_ssize_t L = PyUnicode_GET_LENGTH(text), start = 0, end
    start_text(out, &walk)
    while start < L:
        end = piece_end(text, start, L)
        if walk_piece(table, _str_lower(PyUnicode_Substring(text, start, end)), out, &walk) < 0:
            return -1
        start = end
    return 0


cdef struct Met:
    # A distinct token met while a table is built: its key (see "Token keys"), its code
    # points in Table.chars if LONG, its unigram feature id (or EMPTY) and its final slot.
    uint64_t key0
    uint64_t key1
    Py_ssize_t chars
    Py_ssize_t length
    int32_t id
    int32_t slot


cdef struct Build:
    # Scratch space of FeatureTable's constructor, freed when it returns.
    int32_t* seen        # open addressing over met: index, or -1 (free)
    Py_ssize_t capacity
    int shift
    Met* met             # tokens in order of first appearance
    Py_ssize_t n_met
    Py_ssize_t n_chars   # code points of LONG tokens written to Table.chars
    int32_t* of_feature  # [feature * ngram + k]: index in met of the feature's token k
    uint8_t* counts      # tokens of each feature; 0: one the tokenizer can never produce


cdef extern from *:
    """
    #include <stdlib.h>
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Memory for a hash table, zeroed: on Linux a table of 2 MB or more is aligned to 2 MB and
       advised to be backed by huge pages where the kernel allows it (transparent huge pages,
       "madvise" or "always"). Every lookup reads a random slot, so with 4 KB pages nearly each
       one also missed the TLB (measured: the default model vectorized ~8% faster).
       Freed by free(). */
    static void* imdb_edge_table_alloc(size_t bytes) {
        void* p = NULL;
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        const size_t huge = (size_t)1 << 21;
        if (bytes >= huge) {
            size_t rounded = (bytes + huge - 1) & ~(huge - 1);
            if (posix_memalign(&p, huge, rounded) != 0)
                return NULL;
            madvise(p, rounded, MADV_HUGEPAGE);    /* advice only: failure changes nothing */
            memset(p, 0, rounded);
            return p;
        }
    #endif
        return calloc(bytes ? bytes : 1, 1);
    }
    """
    void* table_alloc "imdb_edge_table_alloc"(size_t bytes) nogil


cdef struct Linear:
    # A linear model's tables, as linear_scores takes them (see there).
    const int32_t* weights   # (size, columns)
    const float* alpha       # (rows, columns)
    Py_ssize_t size
    Py_ssize_t columns       # 1..8
    Py_ssize_t rows          # >= 1
    float bias


cdef inline float linear_probability(const Linear* m, const int32_t* ids, Py_ssize_t k,
                                     int32_t* bad) noexcept nogil:
    """The probability of one text whose ids are ``ids[:k]``: linear_scores' arithmetic.
    An id outside ``0..size - 1`` sets ``bad`` to 1 (and counts as id 0)."""
    cdef const int32_t* w = m.weights
    cdef const float* a = m.alpha
    cdef Py_ssize_t columns = m.columns, size = m.size, j, c, row
    cdef int64_t s[8]
    cdef uint32_t q
    cdef float z, term
    if columns == 2:        # the default preset: both words of a row
        s[0] = s[1] = 0
        for j in range(k):
            q = <uint32_t>ids[j]
            bad[0] |= q >= <uint32_t>size
            q = q if q < <uint32_t>size else 0
            s[0] += w[2 * q]
            s[1] += w[2 * q + 1]
    else:
        for c in range(columns):
            s[c] = 0
        for j in range(k):
            q = <uint32_t>ids[j]
            bad[0] |= q >= <uint32_t>size
            q = q if q < <uint32_t>size else 0
            for c in range(columns):
                s[c] += w[q * columns + c]
    row = k if k < m.rows - 1 else m.rows - 1
    z = <float>s[0] * a[row * columns]
    for c in range(1, columns):
        term = <float>s[c] * a[row * columns + c]
        z = z + term
    z = z + m.bias
    return <float>(1.0 / (1.0 + exp(-<double>z)))


cdef class FeatureTable:
    """Read-only tables from features (tokens or space-joined n-grams) to ids.

    Built once per vocabulary; lookups never write to them, so one table serves any number of
    threads at once. A feature that the tokenizer cannot produce (an empty token, more tokens
    than ``ngram``) is kept in the id space but can never match, as in the reference.
    """

    cdef Table table
    cdef readonly Py_ssize_t size
    cdef readonly int ngram
    cdef uint64_t* seen          # see Output.seen; all zero between calls; lent to one call
    cdef Py_ssize_t seen_words   # at a time
    cdef bint seen_in_use

    def __cinit__(self, list features, int ngram):
        cdef Py_ssize_t n = len(features)
        cdef Table* t = &self.table
        cdef Build b
        t.tokens = NULL
        t.extras = NULL
        t.chars = NULL
        t.grams = NULL
        t.packed = NULL
        self.seen = NULL
        if not 1 <= ngram <= MAX_NGRAM:
            raise ValueError(f"ngram must be 1..{MAX_NGRAM}")
        if n * ngram >= 2**31 - 1:
            raise ValueError("at most 2**31 - 2 features times ngram")
        self.size = n
        self.ngram = ngram
        t.ngram = ngram
        memset(&b, 0, sizeof(Build))
        try:
            self._read_features(features, n, ngram, &b)
            self._build_tokens(&b)
            self._build_grams(&b, features, n, ngram)
        finally:
            free(b.seen)
            free(b.met)
            free(b.of_feature)
            free(b.counts)
        self.seen_words = (n >> 6) + 1
        self.seen = <uint64_t*>calloc(self.seen_words, sizeof(uint64_t))
        if self.seen == NULL:
            raise MemoryError()
        self.seen_in_use = False

    cdef _read_features(self, list features, Py_ssize_t n, int ngram, Build* b):
        """Every distinct token of every feature, in order of first appearance (``b.met``),
        each with the unigram feature it is (if any), read from the features' own buffers: no
        Python object per feature or token (it was 0.2 s of a 200,000-feature load)."""
        cdef Table* t = &self.table
        cdef Py_ssize_t i, k, q, j, length, n_chars = 0
        cdef Py_ssize_t ends[MAX_NGRAM]
        cdef Py_ssize_t starts[MAX_NGRAM]
        cdef int kind, n_tokens
        cdef void* data
        cdef Py_UCS4 c
        cdef TokenHash th
        cdef uint64_t key0, key1
        cdef Met* m
        cdef bint same
        for i in range(n):
            feature = features[i]
            if not PyUnicode_Check(feature):
                raise TypeError(f"Expected str, got {type(feature).__name__}")
            n_chars += PyUnicode_GET_LENGTH(feature)
        b.capacity = 16
        while b.capacity < 2 * n * ngram:
            b.capacity *= 2
        b.shift = 64
        while ((<Py_ssize_t>1) << (64 - b.shift)) < b.capacity:
            b.shift -= 1
        b.seen = <int32_t*>malloc(b.capacity * sizeof(int32_t))
        b.met = <Met*>malloc((n * ngram + 1) * sizeof(Met))
        b.of_feature = <int32_t*>malloc((n * ngram + 1) * sizeof(int32_t))
        b.counts = <uint8_t*>calloc(n + 1, sizeof(uint8_t))
        t.chars = <uint32_t*>malloc((n_chars + 1) * sizeof(uint32_t))
        if b.seen == NULL or b.met == NULL or b.of_feature == NULL or b.counts == NULL \
                or t.chars == NULL:
            raise MemoryError()
        memset(b.seen, 0xFF, b.capacity * sizeof(int32_t))       # -1: free
        for i in range(n):
            feature = features[i]
            kind = PyUnicode_KIND(feature)
            data = PyUnicode_DATA(feature)
            length = PyUnicode_GET_LENGTH(feature)
            # its tokens: split at each U+0020, as str.split(" "); more than ngram tokens or
            # an empty one, and the tokenizer can never produce it (kept in the id space).
            n_tokens = 0
            k = 0
            starts[0] = 0
            for q in range(length + 1):
                if q < length and PyUnicode_READ(kind, data, q) != 0x20:
                    continue
                if q == starts[n_tokens]:
                    n_tokens = -1
                    break
                ends[n_tokens] = q
                n_tokens += 1
                if n_tokens < ngram:
                    starts[n_tokens] = q + 1
                elif q < length:      # a space after the last allowed token
                    n_tokens = -1
                    break
            if n_tokens <= 0:
                continue
            b.counts[i] = <uint8_t>n_tokens
            for k in range(n_tokens):
                if ends[k] - starts[k] >= MAX_TOKEN:
                    raise ValueError("a vocabulary token of 2**28 characters or more")
                hash_start(&th)
                key0 = key1 = 0
                for q in range(starts[k], ends[k]):
                    c = PyUnicode_READ(kind, data, q)
                    if c == 0x2019:
                        c = 0x27
                    hash_feed(&th, c)
                    if q - starts[k] < 8:
                        key0 = (key0 << 8) | (<uint64_t>c & 0xFF)
                    else:
                        key1 = (key1 << 8) | (<uint64_t>c & 0xFF)
                if ends[k] - starts[k] > 16 or th.wide:
                    key0, key1 = long_hash(&th), LONG
                j = <Py_ssize_t>(((key0 ^ key1) * HASH_MULTIPLIER) >> b.shift)
                while b.seen[j] != -1:
                    m = &b.met[b.seen[j]]
                    same = m.key0 == key0 and m.key1 == key1
                    if same and key1 == LONG:
                        same = m.length == ends[k] - starts[k]
                        q = 0
                        while same and q < m.length:
                            c = PyUnicode_READ(kind, data, starts[k] + q)
                            same = (0x27 if c == 0x2019 else c) == t.chars[m.chars + q]
                            q += 1
                    if same:
                        break
                    j = (j + 1) & (b.capacity - 1)
                if b.seen[j] == -1:              # a token not met before
                    b.seen[j] = <int32_t>b.n_met
                    m = &b.met[b.n_met]
                    b.n_met += 1
                    m.key0, m.key1, m.id = key0, key1, EMPTY
                    m.length = ends[k] - starts[k]
                    m.chars = b.n_chars
                    if key1 == LONG:
                        for q in range(starts[k], ends[k]):
                            c = PyUnicode_READ(kind, data, q)
                            t.chars[b.n_chars] = 0x27 if c == 0x2019 else c
                            b.n_chars += 1
                b.of_feature[i * ngram + k] = b.seen[j]
                if n_tokens == 1:
                    m = &b.met[b.seen[j]]
                    if m.id != EMPTY:
                        raise ValueError(f"duplicated feature {features[i]!r}")
                    m.id = <int32_t>i

    cdef _build_tokens(self, Build* b):
        """The token table: each token met, in order of first appearance, in its home slot
        (or the next free one); ``b.met[u].slot`` says where."""
        cdef Table* t = &self.table
        cdef Py_ssize_t capacity = 16, j, u, n_extras = 1
        cdef Met* m
        while capacity < 2 * b.n_met:
            capacity *= 2
        t.tokens = <TokenSlot*>table_alloc(capacity * sizeof(TokenSlot))
        t.extras = <TokenExtra*>calloc(b.n_met + 1, sizeof(TokenExtra))
        if t.tokens == NULL or t.extras == NULL:
            raise MemoryError()
        t.token_mask = capacity - 1
        t.token_shift = 64
        while ((<Py_ssize_t>1) << (64 - t.token_shift)) < capacity:
            t.token_shift -= 1
        for u in range(b.n_met):
            m = &b.met[u]
            j = token_home(t, m.key0, m.key1)
            while t.tokens[j].key0 != 0:
                j = (j + 1) & t.token_mask
            t.tokens[j].key0 = m.key0
            t.tokens[j].key1 = m.key1
            t.tokens[j].id = m.id
            t.tokens[j].extra = 0
            if m.key1 == LONG:
                t.tokens[j].extra = <uint32_t>n_extras
                t.extras[n_extras].key1 = m.key1
                t.extras[n_extras].length = m.length
                t.extras[n_extras].chars = m.chars
                n_extras += 1
            m.slot = <int32_t>j

    cdef _build_grams(self, Build* b, list features, Py_ssize_t n, int ngram):
        cdef Table* t = &self.table
        cdef Py_ssize_t capacity = 16, j, i, n_grams = 0
        cdef int32_t x, y, z
        cdef int id_bits = 0, token_bits = 64 - t.token_shift
        cdef uint64_t key
        for i in range(n):
            n_grams += b.counts[i] >= 2
        while capacity < 2 * n_grams:
            capacity *= 2
        t.gram_mask = capacity - 1
        t.gram_shift = 64
        while ((<Py_ssize_t>1) << (64 - t.gram_shift)) < capacity:
            t.gram_shift -= 1
        while (<Py_ssize_t>1 << id_bits) <= n:          # id + 1 <= n < 2 ** id_bits
            id_bits += 1
        if ngram == 2 and 2 * token_bits + id_bits <= 64:
            t.packed_id_bits = id_bits
            t.packed_token_bits = token_bits
            t.packed = <uint64_t*>table_alloc(capacity * sizeof(uint64_t))   # 0: empty
            if t.packed == NULL:
                raise MemoryError()
            for i in range(n):
                if b.counts[i] != 2:
                    continue
                x = b.met[b.of_feature[i * ngram]].slot
                y = b.met[b.of_feature[i * ngram + 1]].slot
                key = ((<uint64_t><uint32_t>x) << token_bits) | <uint32_t>y
                j = packed_home(key, t.gram_shift)
                while t.packed[j] != 0:
                    if (t.packed[j] >> id_bits) == key:
                        raise ValueError(f"duplicated feature {features[i]!r}")
                    j = (j + 1) & t.gram_mask
                t.packed[j] = (key << id_bits) | <uint64_t>(i + 1)
            return
        t.grams = <GramSlot*>table_alloc(capacity * sizeof(GramSlot))
        if t.grams == NULL:
            raise MemoryError()
        memset(t.grams, 0xFF, capacity * sizeof(GramSlot))     # id -1: empty
        for i in range(n):
            if b.counts[i] < 2:
                continue
            x = b.met[b.of_feature[i * ngram]].slot
            y = b.met[b.of_feature[i * ngram + 1]].slot
            z = b.met[b.of_feature[i * ngram + 2]].slot if b.counts[i] == 3 else -1
            j = <Py_ssize_t>(gram_hash(x, y, z) >> t.gram_shift)
            while t.grams[j].id != EMPTY:
                if t.grams[j].tokens[0] == x and t.grams[j].tokens[1] == y \
                        and t.grams[j].tokens[2] == z:
                    raise ValueError(f"duplicated feature {features[i]!r}")
                j = (j + 1) & t.gram_mask
            t.grams[j].tokens[0] = x
            t.grams[j].tokens[1] = y
            t.grams[j].tokens[2] = z
            t.grams[j].id = <int32_t>i

    def __dealloc__(self):
        free(self.seen)
        free(self.table.tokens)
        free(self.table.extras)
        free(self.table.chars)
        free(self.table.grams)
        free(self.table.packed)

    def transform_ids(self, texts, bint with_rows=False):
        """Unique in-vocabulary feature ids of each text, in order of first occurrence.

        Args:
            texts: list of ``str`` (IN); copied first, so nothing done to the caller's list
                meanwhile (by another thread, or a finalizer) can affect this call.
            with_rows: also return each id's text index (what the model's ``rows`` input
                takes), filled here at no measurable cost instead of by three numpy calls.

        Returns:
            ``(indptr, ids)``: int64 ``(n_texts + 1,)`` and int32 ``(nnz,)``; the ids of text
            ``i`` are ``ids[indptr[i]:indptr[i + 1]]``. With ``with_rows``, a third array,
            int64 ``(nnz, 1)``.

        Raises:
            TypeError: ``texts`` is not a list, or an item is not a ``str`` (the message
                names its index and type).
        """
        return self._run(texts, with_rows, NULL)

    def score_linear(self, texts, weights, alpha, bias):
        """A linear model's probabilities of texts: ``linear_scores`` of their
        ``transform_ids``, bit for bit, in one pass. Each text is scored as soon as it is
        walked, from its ids while they are in cache, and the ids are not kept.

        Args:
            texts: list of ``str``, as ``transform_ids`` takes it.
            weights, alpha, bias: as ``linear_scores`` takes them; ``weights`` has a row for
                each of this table's ``size`` features.

        Returns:
            ``(probabilities, known)``: float32 ``(n_texts,)`` and int32 ``(n_texts,)``, the
            number of distinct features of each text that the table holds.

        Raises:
            TypeError: as ``transform_ids``.
            ValueError: as ``linear_scores``, or ``weights`` has not ``size`` rows.
        """
        cdef Py_buffer vw, va
        cdef Linear m
        _linear_model(weights, alpha, bias, &vw, &va, &m)
        try:
            if m.size != self.size:
                raise ValueError(f"weights has {m.size} rows for a table of {self.size} "
                                 "features")
            return self._run(texts, False, &m)
        finally:
            PyBuffer_Release(&va)
            PyBuffer_Release(&vw)

    cdef object _run(self, texts, bint with_rows, const Linear* linear):
        """transform_ids, or with ``linear`` score_linear."""
        cdef list snapshot
        cdef Py_ssize_t n, i
        cdef list held                  # keeps the buffers below alive
        cdef int* kinds = NULL
        cdef const void** datas = NULL
        cdef Py_ssize_t* lengths = NULL
        cdef int64_t* indptr_buf = NULL
        cdef int status = 0
        cdef Output out
        cdef const Table* table = &self.table
        cdef object text
        cdef bint own_seen = False
        cdef bint seen_clean = False     # out.seen is all zero again (else: zeroed at the end)
        cdef float* probabilities = NULL
        cdef int32_t* known = NULL
        cdef int32_t bad = 0
        if not isinstance(texts, list):
            raise TypeError(f"texts must be a list. Received: {type(texts).__name__}")
        snapshot = list(texts)
        n = len(snapshot)
        held = [None] * n
        out.ids = NULL
        out.seen = NULL
        out.seen_words = self.seen_words
        out.refs = NULL
        out.resolved = NULL
        out.bits = NULL
        out.bits_capacity = 0
        out.rows = linear.weights if linear != NULL else NULL
        out.row_size = linear.columns if linear != NULL else 0
        try:
            kinds = <int*>malloc((n + 1) * sizeof(int))
            datas = <const void**>malloc((n + 1) * sizeof(void*))
            lengths = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
            indptr_buf = <int64_t*>malloc((n + 1) * sizeof(int64_t))
            out.capacity = 256
            out.nnz = 0
            out.ids = <int32_t*>malloc(out.capacity * sizeof(int32_t))
            out.refs = <TokenRef*>malloc(TOKEN_BATCH * sizeof(TokenRef))
            out.resolved = <int32_t*>malloc(TOKEN_BATCH * sizeof(int32_t))
            # The table's bit array serves one call at a time; a concurrent call (another
            # thread) makes its own. Claimed and returned with the GIL held, so no race.
            if self.seen_in_use or self.seen == NULL:
                own_seen = True
                out.seen = <uint64_t*>calloc(self.seen_words, sizeof(uint64_t))
            else:
                self.seen_in_use = True
                out.seen = self.seen
            if (kinds == NULL or datas == NULL or lengths == NULL or indptr_buf == NULL
                    or out.ids == NULL or out.refs == NULL or out.resolved == NULL
                    or out.seen == NULL):
                raise MemoryError()
            if linear != NULL:
                scores = np.empty(n, np.float32)
                counts = np.empty(n, np.int32)
                if n > 0:
                    probabilities = <float*><size_t>scores.ctypes.data
                    known = <int32_t*><size_t>counts.ctypes.data
            for i in range(n):
                text = snapshot[i]
                if not PyUnicode_Check(text):
                    raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
                kinds[i] = PyUnicode_KIND(text)
                lengths[i] = PyUnicode_GET_LENGTH(text)
                if kinds[i] != PyUnicode_1BYTE_KIND:
                    if lengths[i] > LONG_TEXT:
                        kinds[i] = 0            # lowered piece by piece below
                    else:
                        text = _str_lower(text)
                        kinds[i] = PyUnicode_KIND(text)
                        lengths[i] = PyUnicode_GET_LENGTH(text)
                held[i] = text
                datas[i] = PyUnicode_DATA(text)
            with nogil:
                indptr_buf[0] = 0
                for i in range(n):
                    if kinds[i] == PyUnicode_1BYTE_KIND:
                        status = vectorize_latin1(table, <const uint8_t*>datas[i], lengths[i], &out)
                    elif kinds[i] == PyUnicode_2BYTE_KIND:
                        status = vectorize_wide(table, <const uint16_t*>datas[i], lengths[i], &out)
                    elif kinds[i] == 0:
                        with gil:
                            status = vectorize_long(table, held[i], &out)
                    else:
                        status = vectorize_wide(table, <const uint32_t*>datas[i], lengths[i], &out)
                    if status < 0:
                        break
                    if linear != NULL:      # score the text from its ids, then drop them
                        probabilities[i] = linear_probability(linear, out.ids, out.nnz, &bad)
                        known[i] = <int32_t>out.nnz
                        clear_seen(&out, 0)
                        out.nnz = 0
                        continue
                    indptr_buf[i + 1] = out.nnz
                    clear_seen(&out, indptr_buf[i])
            if status < 0:
                raise MemoryError()
            seen_clean = True
            if linear != NULL:
                if bad:     # the table's ids are < size = the rows of weights: cannot happen
                    raise RuntimeError("score_linear: a feature id outside the weights")
                return scores, counts
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
            free(out.refs)
            free(out.resolved)
            free(out.bits)
            if own_seen:
                free(out.seen)
            elif out.seen != NULL:
                if not seen_clean:      # a text was cut short (an error): its bits are set
                    memset(out.seen, 0, self.seen_words * sizeof(uint64_t))
                self.seen_in_use = False


cdef void _copy_int64(int64_t[::1] dest, const int64_t* src, Py_ssize_t n) noexcept:
    memcpy(&dest[0], src, n * sizeof(int64_t))


cdef void _fill_rows(int64_t[:, ::1] rows, const int64_t* indptr, Py_ssize_t n) noexcept:
    cdef Py_ssize_t t, k
    for t in range(n):
        for k in range(indptr[t], indptr[t + 1]):
            rows[k, 0] = t


cdef void _copy_int32(int32_t[::1] dest, const int32_t* src, Py_ssize_t n) noexcept:
    memcpy(&dest[0], src, n * sizeof(int32_t))


from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_ND


def first_non_finite(array) -> int:
    """Index of the first NaN or infinity in a C-contiguous float32 array, or -1.

    The scorer checks every model output with this: ~0.2 µs, where a numpy reduction costs
    ~1.3 µs, a tenth of scoring one review.
    """
    cdef Py_buffer view
    cdef const uint32_t* bits
    cdef Py_ssize_t i, n
    PyObject_GetBuffer(array, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    try:
        if view.itemsize != 4 or view.format == NULL or view.format[0] != b'f' \
                or view.format[1] != 0:
            raise TypeError("expected a float32 array")
        bits = <const uint32_t*>view.buf
        n = view.len // 4
        for i in range(n):
            if (bits[i] & 0x7F800000U) == 0x7F800000U:
                return i
        return -1
    finally:
        PyBuffer_Release(&view)


cdef int _view(object array, Py_buffer* view, char kind, int ndim, const char* name) except -1:
    """``view`` of a C-contiguous array of ``ndim`` dimensions whose items are ``kind`` (a
    struct format letter) and 4 or 8 bytes; ValueError naming ``name`` otherwise."""
    try:
        PyObject_GetBuffer(array, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND)
    except (TypeError, ValueError, BufferError) as exc:     # not an array, not contiguous
        raise ValueError(f"{name.decode()}: expected a C-contiguous {ndim}-D array of format "
                         f"{chr(kind)!r} ({exc})") from None
    if view.ndim != ndim or view.format == NULL or view.format[1] != 0 or (
            view.format[0] != kind and not (kind == b'q' and view.format[0] == b'l'
                                            and view.itemsize == 8)):
        PyBuffer_Release(view)
        raise ValueError(f"{name.decode()}: expected a C-contiguous {ndim}-D array of format "
                         f"{chr(kind)!r}")
    return 0


_DO_NOT_FIT = ("weights {} and alpha {} do not fit (weights: >= 1 row, 1..8 columns; alpha: "
               ">= 1 row, as many columns)")


cdef int _linear_model(object weights, object alpha, object bias, Py_buffer* vw,
                       Py_buffer* va, Linear* m) except -1:
    """Check a linear model's tables and fill ``m``; on success both views are held (the
    caller releases them), on an error neither is."""
    cdef double bias64
    try:
        bias64 = bias
    except (TypeError, OverflowError):
        raise ValueError(f"bias must be a finite number within float32's range. "
                         f"Received: {bias!r:.40}") from None
    if not -3.4028234663852886e38 <= bias64 <= 3.4028234663852886e38:   # NaN fails too
        raise ValueError(f"bias must be a finite number within float32's range. "
                         f"Received: {bias64!r}")
    _view(weights, vw, b'i', 2, b"weights")
    try:
        _view(alpha, va, b'f', 2, b"alpha")
    except BaseException:
        PyBuffer_Release(vw)
        raise
    m.size, m.columns, m.rows = vw.shape[0], vw.shape[1], va.shape[0]
    if not 1 <= m.columns <= 8 or va.shape[1] != m.columns or m.rows < 1 or m.size < 1:
        PyBuffer_Release(va)
        PyBuffer_Release(vw)
        raise ValueError(_DO_NOT_FIT.format((m.size, m.columns), (m.rows, va.shape[1])))
    m.weights, m.alpha = <const int32_t*>vw.buf, <const float*>va.buf
    m.bias = <float>bias64
    return 0


def linear_scores(ids, indptr, weights, alpha, bias):
    """Probabilities of a linear model (``imdb_edge``'s ``linear`` architecture) from the
    texts' ids, computed as its ONNX graph does, without a graph run.

    ``p = sigmoid(sum_c alpha[min(k, R - 1), c] * float32(s_c) + bias)``, ``s_c`` the exact
    int64 sum of the text's ``weights[id, c]`` and ``k`` its number of ids. The float32
    products, their sum in column order and the bias are rounded as the graph's Mul,
    ReduceSum and Add round them (``setup.py`` compiles with ``-ffp-contract=off``, so no
    fused multiply-add changes a rounding); the logistic is computed in double precision
    and rounded once, where onnxruntime's Sigmoid is a float32 approximation: the two
    agree within a few 1e-7 (``tests/test_linear_scores.py``).

    Args:
        ids: int32 ``(nnz,)``, each in ``0..V-1``.
        indptr: int64 ``(n + 1,)``, non-decreasing from 0 to ``nnz``.
        weights: int32 ``(V, C)``, C >= 1 (columns side by side: one cache line an id).
        alpha: float32 ``(R, C)``, the coefficient of each column by id count, R >= 1.
        bias: the logit's bias, a finite number within float32's range.

    Returns:
        float32 ``(n,)``.

    Raises:
        ValueError: a wrong dtype, shape or layout, an id out of range, a bad ``indptr`` or
            ``bias`` (the message names the argument).
    """
    cdef Py_buffer vi, vp, vw, va
    cdef const int32_t* id_
    cdef const int64_t* ptr
    cdef float* out
    cdef Py_ssize_t n, nnz, t
    cdef int64_t start, end
    cdef int32_t bad = 0
    cdef Linear m
    _linear_model(weights, alpha, bias, &vw, &va, &m)
    try:
        _view(ids, &vi, b'i', 1, b"ids")
        try:
            _view(indptr, &vp, b'q', 1, b"indptr")
            try:
                nnz, n = vi.shape[0], vp.shape[0] - 1
                if n < 0:
                    raise ValueError("indptr needs >= 1 item: it and ids do not fit")
                id_, ptr = <const int32_t*>vi.buf, <const int64_t*>vp.buf
                if ptr[0] != 0 or ptr[n] != nnz:
                    raise ValueError(f"indptr must run from 0 to len(ids) = {nnz}")
                result = np.empty(n, np.float32)
                out = <float*><size_t>result.ctypes.data
                with nogil:
                    for t in range(n):
                        start, end = ptr[t], ptr[t + 1]
                        if end < start or end > nnz:
                            bad = -1
                            break
                        out[t] = linear_probability(&m, id_ + start, end - start, &bad)
                        if bad:
                            break
                if bad < 0:
                    raise ValueError("indptr must be non-decreasing")
                if bad > 0:
                    raise ValueError(f"ids: an id is outside 0..{m.size - 1}")
                return result
            finally:
                PyBuffer_Release(&vp)
        finally:
            PyBuffer_Release(&vi)
    finally:
        PyBuffer_Release(&va)
        PyBuffer_Release(&vw)


include "_format.pxi"


# -- tokenizer version 2: which texts can rules a-c change? ------------------------------------
# prepare() (imdb_edge._tokenizer, rules a-c) changes a text only if it holds "&" (an HTML
# reference), an emoticon, or is not in NFC. This scan finds texts with "&" or with an
# emoticon: eyes [:;=], an optional nose [-o^'], a mouth repeated, or xD+ / <3+ / </3, each
# at the start or after white space, and at the end or before white space or .,!? (white space:
# the pinned table's code points). It follows the emoticon grammar exactly, so it flags a
# superset of the texts rule b changes (the regex, scanning left to right, could only match
# fewer: a match consumes the white space before it). A 1-byte (Latin-1) text is always in NFC
# (no two Latin-1 characters compose, none decomposes; the tests check every pair); a wider
# text is flagged unless unicodedata says it is in NFC already (its quick check). Texts the
# scan passes over are exactly texts prepare() returns unchanged.
from imdb_edge._unicode_table import SPACES as _SPACES
import unicodedata as _unicodedata

cdef uint8_t _EYES[256]
cdef uint8_t _NOSE[256]
cdef uint8_t _MOUTH[256]
cdef uint8_t _AFTER[256]            # may follow an emoticon (besides white space)
for _c in range(256):
    _EYES[_c] = chr(_c) in ":;="
    _NOSE[_c] = chr(_c) in "-o^'"
    _MOUTH[_c] = chr(_c) in ")]}>3D([{<Pp/\\|SOo*"
    _AFTER[_c] = chr(_c) in ".,!?"
cdef uint8_t _SPACE_LOW[256]
memset(_SPACE_LOW, 0, sizeof(_SPACE_LOW))
cdef uint32_t _SPACE_HIGH_LIST[32]
cdef int _N_SPACE_HIGH = 0
for _c in _SPACES:
    if _c < 256:
        _SPACE_LOW[_c] = 1
    else:
        _SPACE_HIGH_LIST[_N_SPACE_HIGH] = _c
        _N_SPACE_HIGH += 1


cdef inline bint _is_space(uint32_t c) noexcept nogil:
    cdef int k
    if c < 256:
        return _SPACE_LOW[c]
    for k in range(_N_SPACE_HIGH):
        if _SPACE_HIGH_LIST[k] == c:
            return True
    return False


cdef inline uint32_t _low(uint32_t c) noexcept nogil:
    return c if c < 256 else 0          # 0 is in no class below


cdef inline bint _emoticon_at(const char_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Whether an emoticon of rule b starts at ``i`` (its boundaries included)."""
    cdef Py_ssize_t j = -1
    cdef uint32_t c = s[i], d
    if i > 0 and not _is_space(s[i - 1]):
        return False
    if c < 256 and _EYES[c]:
        j = i + 1
        if j < n and _NOSE[_low(s[j])] and j + 1 < n and _MOUTH[_low(s[j + 1])]:
            j += 1
        if j < n and _MOUTH[_low(s[j])]:
            d = s[j]
            while j < n and s[j] == d:
                j += 1
        else:
            return False
    elif (c == 120 or c == 88) and i + 1 < n and s[i + 1] == 68:          # xD+
        j = i + 1
        while j < n and s[j] == 68:
            j += 1
    elif c == 60 and i + 1 < n and s[i + 1] == 51:                        # <3+
        j = i + 1
        while j < n and s[j] == 51:
            j += 1
    elif c == 60 and i + 2 < n and s[i + 1] == 47 and s[i + 2] == 51:     # </3
        j = i + 3
    else:
        return False
    return j == n or _is_space(s[j]) or _AFTER[_low(s[j])]


cdef inline bint _reference_at(const char_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Whether "&" at ``i`` can start an HTML reference: "&#" or "&" + ASCII letter/digit."""
    return i + 1 < n and (s[i + 1] == 35 or (s[i + 1] < 128 and _IS_WORD_LATIN1[s[i + 1]]))


cdef bint _may_change(const char_t* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint32_t c
    for i in range(n):
        c = s[i]
        if c == 38:
            if _reference_at(s, n, i):
                return True
        elif c < 128 and _START[c] and _emoticon_at(s, n, i):
            return True
    return False


# The characters an emoticon or a reference can start with; a 1-byte text is searched for
# each with memchr (vectorized by libc: ~20x faster than a loop over every character).
cdef uint8_t _START[128]
for _c in range(128):
    _START[_c] = chr(_c) in ":;=xX<"
cdef const char* _STARTS = b":;=<&D"


cdef extern from *:
    """
    /* Bit k of the result: is p[k] (k < 32) one of ":;<=&D", the bytes _may_change_latin1
       looks for. 32 bytes in one pass with SSE2 (":;<=" are 0x3A..0x3D); 0 where there is no
       SSE2, whose callers use memchr instead (IMDB_EDGE_HAVE_STARTS32 says which). */
    #if defined(IMDB_EDGE_SSE2)
    #define IMDB_EDGE_HAVE_STARTS32 1
    static inline uint32_t imdb_edge_starts16(const uint8_t* p) {
        __m128i v = _mm_loadu_si128((const __m128i*)p);
        __m128i t = _mm_sub_epi8(v, _mm_set1_epi8(0x3A));
        __m128i hit = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(3)), t);
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x26)));
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x44)));
        return (uint32_t)_mm_movemask_epi8(hit);
    }
    static inline uint32_t imdb_edge_starts32(const uint8_t* p) {
        return imdb_edge_starts16(p) | (imdb_edge_starts16(p + 16) << 16);
    }
    #else
    #define IMDB_EDGE_HAVE_STARTS32 0
    static inline uint32_t imdb_edge_starts32(const uint8_t* p) { (void)p; return 0; }
    #endif
    """
    bint HAVE_STARTS32 "IMDB_EDGE_HAVE_STARTS32"
    uint32_t starts32 "imdb_edge_starts32"(const uint8_t* p) nogil
    int ctz32 "__builtin_ctz"(uint32_t x) nogil


cdef inline bint _start_changes(const uint8_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Whether the byte at ``i``, one of _STARTS, starts what prepare() changes."""
    cdef uint8_t ch = s[i]
    if ch == 38:
        return _reference_at(s, n, i)
    if ch == 68:                                   # "D" of xD: its start is one before
        return i > 0 and (s[i - 1] == 120 or s[i - 1] == 88) and _emoticon_at(s, n, i - 1)
    return _emoticon_at(s, n, i)


cdef bint _may_change_latin1(const uint8_t* s, Py_ssize_t n) noexcept nogil:
    cdef const uint8_t* at
    cdef const uint8_t* end = s + n
    cdef Py_ssize_t i, base
    cdef int k
    cdef uint8_t ch
    cdef uint32_t mask
    if HAVE_STARTS32:
        # one pass over the text instead of one memchr per byte of _STARTS
        base = 0
        while base + 32 <= n:
            mask = starts32(s + base)
            while mask:
                if _start_changes(s, n, base + ctz32(mask)):
                    return True
                mask &= mask - 1
            base += 32
        for i in range(base, n):
            ch = s[i]
            if (ch == 38 or ch == 68 or 0x3A <= ch <= 0x3D) and _start_changes(s, n, i):
                return True
        return False
    for k in range(6):
        ch = <uint8_t>_STARTS[k]
        at = s
        while at < end:
            at = <const uint8_t*>memchr(at, ch, end - at)
            if at == NULL:
                break
            if _start_changes(s, n, at - s):
                return True
            at += 1
    return False


def may_need_preparing(list texts):
    """Indices of the items of ``texts`` (IN) that are ``str`` and that tokenizer version 2's
    ``prepare()`` can change; every other ``str`` item is returned unchanged by it."""
    cdef list out = []
    cdef Py_ssize_t i, n
    cdef object text
    cdef int kind
    cdef void* data
    cdef bint hit
    is_nfc = _unicodedata.is_normalized
    for i in range(len(texts)):
        text = texts[i]
        if not PyUnicode_Check(text):
            continue
        kind = PyUnicode_KIND(text)
        data = PyUnicode_DATA(text)
        n = PyUnicode_GET_LENGTH(text)
        if kind == PyUnicode_1BYTE_KIND:
            if n < 65536:       # a review: not worth releasing the GIL (~10% of its scan)
                hit = _may_change_latin1(<const uint8_t*>data, n)
            else:
                with nogil:
                    hit = _may_change_latin1(<const uint8_t*>data, n)
        elif kind == PyUnicode_2BYTE_KIND:
            hit = _may_change(<const uint16_t*>data, n) or not is_nfc("NFC", text)
        else:
            hit = _may_change(<const uint32_t*>data, n) or not is_nfc("NFC", text)
        if hit:
            out.append(i)
    return out


# Emoticon words by family, in the order of imdb_edge._tokenizer (rule b).
cdef list _FAMILY_WORDS = ["xxsmile", "xxwink", "xxlaugh", "xxfrown", "xxcry", "xxtongue",
                           "xxskeptical", "xxneutral", "xxsurprise", "xxkiss", "xxheart",
                           "xxbrokenheart"]
cdef uint8_t _MOUTH_FAMILY[256]     # index into _FAMILY_WORDS
for _c in range(256):
    _MOUTH_FAMILY[_c] = 255
for _ch, _w in ((")", 0), ("]", 0), ("}", 0), (">", 0), ("3", 0), ("D", 2), ("(", 3), ("[", 3),
               ("{", 3), ("<", 3), ("P", 5), ("p", 5), ("/", 6), ("\\", 6), ("S", 6), ("|", 7),
               ("O", 8), ("o", 8), ("*", 9)):
    _MOUTH_FAMILY[ord(_ch)] = _w


cdef list _spans(const char_t* s, Py_ssize_t n):
    """``[(start, end, word), ...]`` of the emoticons rule b replaces, left to right."""
    cdef list out = []
    cdef Py_ssize_t i = 0, j
    cdef uint32_t c, d
    cdef int word
    cdef bint nose
    while i < n:
        c = s[i]
        if i > 0 and not _is_space(s[i - 1]):
            i += 1
            continue
        j = -1
        word = -1
        if c < 256 and _EYES[c]:
            j = i + 1
            nose = False
            if j < n and _NOSE[_low(s[j])] and j + 1 < n and _MOUTH[_low(s[j + 1])]:
                nose = s[j] == 39
                j += 1
            if j < n and _MOUTH[_low(s[j])]:
                d = s[j]
                word = _MOUTH_FAMILY[d]
                if c == 59 and word == 0:
                    word = 1                          # ;) wink
                elif nose and word == 3:
                    word = 4                          # :'( cry
                while j < n and s[j] == d:
                    j += 1
            else:
                j = -1
        elif (c == 120 or c == 88) and i + 1 < n and s[i + 1] == 68:
            j = i + 1
            while j < n and s[j] == 68:
                j += 1
            word = 2
        elif c == 60 and i + 1 < n and s[i + 1] == 51:
            j = i + 1
            while j < n and s[j] == 51:
                j += 1
            word = 10
        elif c == 60 and i + 2 < n and s[i + 1] == 47 and s[i + 2] == 51:
            j = i + 3
            word = 11
        if j >= 0 and (j == n or _is_space(s[j]) or _AFTER[_low(s[j])]):
            out.append((i, j, word))
            i = j
        else:
            i += 1
    return out


def replace_emoticons(str text):
    """Rule b of tokenizer version 2 on ``text`` (IN), as ``imdb_edge._tokenizer``'s regex does
    it: each emoticon becomes " xx<family> "; the text itself if there is none."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef list spans
    if kind == PyUnicode_1BYTE_KIND:
        spans = _spans(<const uint8_t*>data, n)
    elif kind == PyUnicode_2BYTE_KIND:
        spans = _spans(<const uint16_t*>data, n)
    else:
        spans = _spans(<const uint32_t*>data, n)
    if not spans:
        return text
    pieces = []
    last = 0
    for start, end, word in spans:
        pieces.append(text[last:start])
        pieces.append(" " + _FAMILY_WORDS[word] + " ")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
