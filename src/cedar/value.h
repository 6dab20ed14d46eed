/* value.h - Cedar's values: one small tagged union every module speaks.
 *
 * A cv_value is 16 bytes and passed by value.  Scalars (bool, long) live in
 * it; everything else points at an immutable object in some arena.  Nothing
 * is ever freed on its own: the arena that built an object frees it.  An
 * evaluation may point into the policy set's arena (literals), the entity
 * store's arena (attributes) and its own scratch arena (computed values);
 * lifetimes nest, so a pointer never outlives what it points at.
 *
 * Canonical forms, relied on everywhere:
 *   - strings are byte strings (UTF-8 checked by the readers), NUL-terminated
 *     for convenience but may hold NUL bytes: use len.
 *   - sets are sorted by cv_compare() and hold no duplicates, so equality is
 *     element-wise and membership is a binary search.
 *   - records are sorted by key (bytewise) with unique keys.
 *   - an entity uid's type is the full path ("A::B::User"), its id any string.
 *   - extension values carry their parsed form; equality is structural
 *     (decimal("1.0") == decimal("1.00"), ip("1.2.3.4") == ip("1.2.3.4/32")).
 */
#ifndef WRIT_CEDAR_VALUE_H
#define WRIT_CEDAR_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/arena.h"

typedef enum cv_type {
    CV_NONE = 0,   /* not a value: "absent", never stored in a set/record */
    CV_BOOL,
    CV_LONG,
    CV_STRING,
    CV_ENTITY,
    CV_SET,
    CV_RECORD,
    CV_EXT,
} cv_type;

typedef struct cv_string {
    size_t len;
    uint64_t hash;      /* cv_hash_bytes(data, len) */
    char data[];        /* len bytes + NUL */
} cv_string;

typedef struct cv_uid {
    const cv_string *type;  /* "Namespace::Type" */
    const cv_string *id;
    uint64_t hash;          /* combines type and id hashes */
} cv_uid;

typedef struct cv_set cv_set;
typedef struct cv_record cv_record;
typedef struct cv_ext cv_ext;

typedef struct cv_value {
    cv_type type;
    union {
        bool b;
        int64_t l;
        const cv_string *s;
        const cv_uid *uid;
        const cv_set *set;
        const cv_record *rec;
        const cv_ext *ext;
    } u;
} cv_value;

struct cv_set {
    size_t n;
    cv_value v[];       /* sorted by cv_compare, unique */
};

typedef struct cv_field {
    const cv_string *key;
    cv_value v;
} cv_field;

struct cv_record {
    size_t n;
    cv_field f[];       /* sorted by key bytes, unique keys */
};

/* Extension types.  Payloads are plain data so that the extension module,
 * the JSON reader and the evaluator share them without further calls. */
typedef enum cv_ext_kind {
    CVX_IPADDR = 1,
    CVX_DECIMAL,
    CVX_DATETIME,
    CVX_DURATION,
} cv_ext_kind;

struct cv_ext {
    cv_ext_kind kind;
    union {
        struct {
            bool v6;
            uint8_t prefix;     /* 0..32 or 0..128; 32/128 for a plain address */
            uint8_t addr[16];   /* network byte order; v4 uses the first 4 */
        } ip;
        int64_t decimal;        /* value * 10^4 */
        int64_t datetime;       /* milliseconds since 1970-01-01T00:00:00Z */
        int64_t duration;       /* milliseconds */
    } u;
};

/* ---- constructors (all allocate from the given arena; NULL arena never) */
static inline cv_value cv_bool(bool b) { cv_value v; v.type = CV_BOOL; v.u.b = b; return v; }
static inline cv_value cv_long(int64_t l) { cv_value v; v.type = CV_LONG; v.u.l = l; return v; }
static inline cv_value cv_none(void) { cv_value v; v.type = CV_NONE; v.u.l = 0; return v; }

uint64_t cv_hash_bytes(const void *p, size_t n);
const cv_string *cv_string_new(wr_arena *a, const char *p, size_t n);  /* NULL on OOM */
cv_value cv_str(const cv_string *s);                                   /* wraps */
cv_value cv_str_new(wr_arena *a, const char *p, size_t n);             /* CV_NONE on OOM */
const cv_uid *cv_uid_new(wr_arena *a, const cv_string *type, const cv_string *id);
cv_value cv_entity(const cv_uid *uid);
cv_value cv_entity_new(wr_arena *a, const char *type, size_t tlen, const char *id, size_t idlen);
cv_value cv_ext_value(const cv_ext *x);

/* Build a set from n values in any order, with duplicates: sorts and
 * deduplicates a copy.  The input array is not kept.  CV_NONE on OOM. */
cv_value cv_set_new(wr_arena *a, const cv_value *items, size_t n);
/* Build a record from n fields in any order.  A repeated key keeps the last
 * value (callers that must reject duplicates check first with
 * cv_fields_have_duplicate()).  CV_NONE on OOM. */
cv_value cv_record_new(wr_arena *a, const cv_field *fields, size_t n);
bool cv_fields_have_duplicate(const cv_field *fields, size_t n);
/* Sort n fields by key in place (stable; duplicates are kept).  false on
 * OOM (more than 16 fields take scratch space from a). */
bool cv_fields_sort(wr_arena *a, cv_field *fields, size_t n);
extern const cv_record cv_empty_record;
extern const cv_set cv_empty_set;

/* ---- queries */
/* Total order over all values: by type, then content.  Used for set
 * canonical order; for longs it is numeric, for strings bytewise. */
int  cv_compare(cv_value a, cv_value b);
bool cv_equal(cv_value a, cv_value b);
/* Equality of strings and uids: on the hot path of every scope check, so
 * inline; the hash rejects almost every unequal pair without touching the
 * bytes. */
static inline uint64_t cv_load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t cv_load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
/* n bytes equal?  The bytes compared are names and ids, a few to a few
 * dozen: whole words (the last one overlapping), no call to memcmp. */
static inline bool cv_bytes_eq(const void *pa, const void *pb, size_t n)
{
    const unsigned char *a = pa, *b = pb;
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8)
            if (cv_load64(a + i) != cv_load64(b + i))
                return false;
        return cv_load64(a + n - 8) == cv_load64(b + n - 8);
    }
    if (n >= 4)
        return cv_load32(a) == cv_load32(b) && cv_load32(a + n - 4) == cv_load32(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}
static inline bool cv_string_eq(const cv_string *a, const cv_string *b)
{
    return a == b || (a->len == b->len && a->hash == b->hash && cv_bytes_eq(a->data, b->data, a->len));
}
static inline bool cv_uid_eq(const cv_uid *a, const cv_uid *b)
{
    return a == b || (a->hash == b->hash && cv_string_eq(a->id, b->id) && cv_string_eq(a->type, b->type));
}
int  cv_string_cmp(const cv_string *a, const cv_string *b);
/* Record lookup by key; NULL when absent. */
const cv_value *cv_record_get(const cv_record *r, const char *key, size_t klen);
/* The same for a key that is a cv_string (its hash makes small records
 * faster to scan than to search). */
const cv_value *cv_record_find(const cv_record *r, const cv_string *key);
bool cv_set_contains(const cv_set *s, cv_value v);
const char *cv_type_name(cv_type t);     /* "bool", "long", ... for messages */
const char *cv_ext_kind_name(cv_ext_kind k);  /* "ipaddr", "decimal", ... */

/* ---- printing (for answers, messages and tests): Cedar source syntax,
 * e.g. User::"alice", [1, 2], {"a": true}, decimal("1.2300").  Writes at most
 * cap bytes including the NUL; returns the length it wanted (like snprintf). */
size_t cv_format(cv_value v, char *buf, size_t cap);

#endif
