/* value.c - constructors, ordering and printing of Cedar values. */
#include "cedar/value.h"
#include "cedar/ext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cv_record cv_empty_record = {0};
const cv_set cv_empty_set = {0};

/* FNV-1a, 64-bit: identifiers and ids are short, so a simple hash wins. */
uint64_t cv_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a, four bytes a round (the same value: a quarter of the loop's
     * own instructions, on every string the server reads) */
    const unsigned char *s = p;
    const uint64_t prime = 1099511628211ULL;
    uint64_t h = 1469598103934665603ULL;
    size_t i = 0;
    for (; n - i >= 4; i += 4) {
        h = (h ^ s[i]) * prime;
        h = (h ^ s[i + 1]) * prime;
        h = (h ^ s[i + 2]) * prime;
        h = (h ^ s[i + 3]) * prime;
    }
    for (; i < n; i++)
        h = (h ^ s[i]) * prime;
    return h;
}

const cv_string *cv_string_new(wr_arena *a, const char *p, size_t n)
{
    if (n > SIZE_MAX - sizeof(cv_string) - 1)
        return NULL;
    cv_string *s = wr_arena_alloc(a, sizeof(cv_string) + n + 1);
    if (!s)
        return NULL;
    s->len = n;
    if (n)
        memcpy(s->data, p, n);
    s->data[n] = '\0';
    s->hash = cv_hash_bytes(p, n);
    return s;
}

cv_value cv_str(const cv_string *s)
{
    cv_value v;
    v.type = CV_STRING;
    v.u.s = s;
    return v;
}

cv_value cv_str_new(wr_arena *a, const char *p, size_t n)
{
    const cv_string *s = cv_string_new(a, p, n);
    return s ? cv_str(s) : cv_none();
}

const cv_uid *cv_uid_new(wr_arena *a, const cv_string *type, const cv_string *id)
{
    cv_uid *u = wr_arena_alloc(a, sizeof *u);
    if (!u)
        return NULL;
    u->type = type;
    u->id = id;
    u->hash = (type->hash * 31) ^ (id->hash + 0x9e3779b97f4a7c15ULL + (type->hash << 6));
    return u;
}

cv_value cv_entity(const cv_uid *uid)
{
    cv_value v;
    v.type = CV_ENTITY;
    v.u.uid = uid;
    return v;
}

cv_value cv_entity_new(wr_arena *a, const char *type, size_t tlen, const char *id, size_t idlen)
{
    const cv_string *t = cv_string_new(a, type, tlen);
    const cv_string *i = t ? cv_string_new(a, id, idlen) : NULL;
    const cv_uid *u = i ? cv_uid_new(a, t, i) : NULL;
    return u ? cv_entity(u) : cv_none();
}

cv_value cv_ext_value(const cv_ext *x)
{
    cv_value v;
    v.type = CV_EXT;
    v.u.ext = x;
    return v;
}

static int value_qsort_cmp(const void *a, const void *b)
{
    return cv_compare(*(const cv_value *)a, *(const cv_value *)b);
}

cv_value cv_set_new(wr_arena *a, const cv_value *items, size_t n)
{
    if (n > (SIZE_MAX - sizeof(cv_set)) / sizeof(cv_value))
        return cv_none();
    cv_set *s = wr_arena_alloc(a, sizeof(cv_set) + n * sizeof(cv_value));
    if (!s)
        return cv_none();
    if (n)
        memcpy(s->v, items, n * sizeof(cv_value));
    /* Already canonical is the common case (sets built from sets). */
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = cv_compare(s->v[i - 1], s->v[i]) < 0;
    if (!sorted) {
        qsort(s->v, n, sizeof(cv_value), value_qsort_cmp);
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (w == 0 || !cv_equal(s->v[w - 1], s->v[i]))
                s->v[w++] = s->v[i];
        n = w;
    }
    s->n = n;
    cv_value v;
    v.type = CV_SET;
    v.u.set = s;
    return v;
}

/* cv_string_cmp with the usual answer of two record keys, a different
 * first byte, without a call. */
static inline int key_cmp(const cv_string *a, const cv_string *b)
{
    if (a->len && b->len && a->data[0] != b->data[0])
        return (unsigned char)a->data[0] < (unsigned char)b->data[0] ? -1 : 1;
    return cv_string_cmp(a, b);
}

/* Stable merge sort of fields by key, so that among equal keys the input
 * order survives and "last one wins" below is well defined. */
static void fields_sort(cv_field *f, cv_field *tmp, size_t n)
{
    if (n < 2)
        return;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            cv_field v = f[i];
            size_t j = i;
            while (j > 0 && key_cmp(f[j - 1].key, v.key) > 0) {
                f[j] = f[j - 1];
                j--;
            }
            f[j] = v;
        }
        return;
    }
    size_t h = n / 2;
    fields_sort(f, tmp, h);
    fields_sort(f + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = key_cmp(f[j].key, f[i].key) < 0 ? f[j++] : f[i++];
    while (i < h)
        tmp[k++] = f[i++];
    while (j < n)
        tmp[k++] = f[j++];
    memcpy(f, tmp, n * sizeof *f);
}

bool cv_fields_sort(wr_arena *a, cv_field *f, size_t n)
{
    if (n < 2)
        return true;
    cv_field *tmp = n > 16 ? wr_arena_alloc(a, n * sizeof *tmp) : NULL;
    if (n > 16 && !tmp)
        return false;
    fields_sort(f, tmp, n);
    return true;
}

bool cv_fields_have_duplicate(const cv_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (cv_string_eq(fields[i].key, fields[j].key))
                return true;
    return false;
}

cv_value cv_record_new(wr_arena *a, const cv_field *fields, size_t n)
{
    if (n > (SIZE_MAX - sizeof(cv_record)) / sizeof(cv_field))
        return cv_none();
    cv_record *r = wr_arena_alloc(a, sizeof(cv_record) + n * sizeof(cv_field));
    if (!r)
        return cv_none();
    if (n)
        memcpy(r->f, fields, n * sizeof(cv_field));
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = key_cmp(r->f[i - 1].key, r->f[i].key) < 0;
    if (!sorted) {
        cv_field *tmp = n > 16 ? wr_arena_alloc(a, n * sizeof *tmp) : NULL;
        if (n > 16 && !tmp)
            return cv_none();
        fields_sort(r->f, tmp, n);
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (w > 0 && cv_string_eq(r->f[w - 1].key, r->f[i].key))
                r->f[w - 1] = r->f[i]; /* last one wins */
            else
                r->f[w++] = r->f[i];
        }
        n = w;
    }
    r->n = n;
    cv_value v;
    v.type = CV_RECORD;
    v.u.rec = r;
    return v;
}

int cv_string_cmp(const cv_string *a, const cv_string *b)
{
    if (a == b)
        return 0;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int ext_compare(const cv_ext *a, const cv_ext *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    switch (a->kind) {
    case CVX_IPADDR:
        if (a->u.ip.v6 != b->u.ip.v6)
            return a->u.ip.v6 ? 1 : -1;
        {
            int c = memcmp(a->u.ip.addr, b->u.ip.addr, 16);
            if (c)
                return c < 0 ? -1 : 1;
        }
        return cmp_i64(a->u.ip.prefix, b->u.ip.prefix);
    case CVX_DECIMAL:
        return cmp_i64(a->u.decimal, b->u.decimal);
    case CVX_DATETIME:
        return cmp_i64(a->u.datetime, b->u.datetime);
    case CVX_DURATION:
        return cmp_i64(a->u.duration, b->u.duration);
    }
    return 0;
}

int cv_compare(cv_value a, cv_value b)
{
    if (a.type != b.type)
        return a.type < b.type ? -1 : 1;
    switch (a.type) {
    case CV_NONE:
        return 0;
    case CV_BOOL:
        return (int)a.u.b - (int)b.u.b;
    case CV_LONG:
        return cmp_i64(a.u.l, b.u.l);
    case CV_STRING:
        return cv_string_cmp(a.u.s, b.u.s);
    case CV_ENTITY: {
        if (a.u.uid == b.u.uid)
            return 0;
        int c = cv_string_cmp(a.u.uid->type, b.u.uid->type);
        return c ? c : cv_string_cmp(a.u.uid->id, b.u.uid->id);
    }
    case CV_SET: {
        const cv_set *x = a.u.set, *y = b.u.set;
        if (x == y)
            return 0;
        if (x->n != y->n)
            return x->n < y->n ? -1 : 1;
        for (size_t i = 0; i < x->n; i++) {
            int c = cv_compare(x->v[i], y->v[i]);
            if (c)
                return c;
        }
        return 0;
    }
    case CV_RECORD: {
        const cv_record *x = a.u.rec, *y = b.u.rec;
        if (x == y)
            return 0;
        if (x->n != y->n)
            return x->n < y->n ? -1 : 1;
        for (size_t i = 0; i < x->n; i++) {
            int c = cv_string_cmp(x->f[i].key, y->f[i].key);
            if (c)
                return c;
            c = cv_compare(x->f[i].v, y->f[i].v);
            if (c)
                return c;
        }
        return 0;
    }
    case CV_EXT:
        return a.u.ext == b.u.ext ? 0 : ext_compare(a.u.ext, b.u.ext);
    }
    return 0;
}

bool cv_equal(cv_value a, cv_value b)
{
    if (a.type != b.type)
        return false;
    switch (a.type) {
    case CV_BOOL:
        return a.u.b == b.u.b;
    case CV_LONG:
        return a.u.l == b.u.l;
    case CV_STRING:
        return cv_string_eq(a.u.s, b.u.s);
    case CV_ENTITY:
        return cv_uid_eq(a.u.uid, b.u.uid);
    default:
        return cv_compare(a, b) == 0;
    }
}

const cv_value *cv_record_get(const cv_record *r, const char *key, size_t klen)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cv_string *k = r->f[mid].key;
        size_t n = k->len < klen ? k->len : klen;
        int c = n ? memcmp(k->data, key, n) : 0;
        if (!c)
            c = k->len < klen ? -1 : k->len > klen;
        if (!c)
            return &r->f[mid].v;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const cv_value *cv_record_find(const cv_record *r, const cv_string *key)
{
    if (r->n > 16)
        return cv_record_get(r, key->data, key->len);
    uint64_t h = key->hash;
    for (size_t i = 0; i < r->n; i++) {
        const cv_string *k = r->f[i].key;
        if (k->hash == h && k->len == key->len && cv_bytes_eq(k->data, key->data, k->len))
            return &r->f[i].v;
    }
    return NULL;
}

bool cv_set_contains(const cv_set *s, cv_value v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cv_compare(s->v[mid], v);
        if (!c)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

const char *cv_type_name(cv_type t)
{
    switch (t) {
    case CV_NONE:
        return "none";
    case CV_BOOL:
        return "bool";
    case CV_LONG:
        return "long";
    case CV_STRING:
        return "string";
    case CV_ENTITY:
        return "entity";
    case CV_SET:
        return "set";
    case CV_RECORD:
        return "record";
    case CV_EXT:
        return "extension";
    }
    return "?";
}

const char *cv_ext_kind_name(cv_ext_kind k)
{
    switch (k) {
    case CVX_IPADDR:
        return "ipaddr";
    case CVX_DECIMAL:
        return "decimal";
    case CVX_DATETIME:
        return "datetime";
    case CVX_DURATION:
        return "duration";
    }
    return "?";
}

/* ---- printing.  A small cursor that counts what it would have written. */
typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void put_quoted(out *o, const cv_string *s)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->data[i];
        char tmp[16];
        switch (c) {
        case '"':
            puts_(o, "\\\"");
            break;
        case '\\':
            puts_(o, "\\\\");
            break;
        case '\n':
            puts_(o, "\\n");
            break;
        case '\r':
            puts_(o, "\\r");
            break;
        case '\t':
            puts_(o, "\\t");
            break;
        case '\0':
            puts_(o, "\\0");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\u{%x}", c);
                puts_(o, tmp);
            } else {
                put(o, (const char *)&c, 1);
            }
        }
    }
    put(o, "\"", 1);
}

static void format_value(out *o, cv_value v)
{
    char tmp[96];
    switch (v.type) {
    case CV_NONE:
        puts_(o, "<none>");
        break;
    case CV_BOOL:
        puts_(o, v.u.b ? "true" : "false");
        break;
    case CV_LONG:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.l);
        puts_(o, tmp);
        break;
    case CV_STRING:
        put_quoted(o, v.u.s);
        break;
    case CV_ENTITY:
        put(o, v.u.uid->type->data, v.u.uid->type->len);
        puts_(o, "::");
        put_quoted(o, v.u.uid->id);
        break;
    case CV_SET:
        puts_(o, "[");
        for (size_t i = 0; i < v.u.set->n; i++) {
            if (i)
                puts_(o, ", ");
            format_value(o, v.u.set->v[i]);
        }
        puts_(o, "]");
        break;
    case CV_RECORD:
        puts_(o, "{");
        for (size_t i = 0; i < v.u.rec->n; i++) {
            if (i)
                puts_(o, ", ");
            put_quoted(o, v.u.rec->f[i].key);
            puts_(o, ": ");
            format_value(o, v.u.rec->f[i].v);
        }
        puts_(o, "}");
        break;
    case CV_EXT:
        cedar_ext_format(v.u.ext, tmp, sizeof tmp);
        puts_(o, tmp);
        break;
    }
}

size_t cv_format(cv_value v, char *buf, size_t cap)
{
    out o = {buf, cap, 0};
    format_value(&o, v);
    if (cap) {
        size_t end = o.len < cap ? o.len : cap - 1;
        buf[end] = '\0';
    }
    return o.len;
}
