/* json.c - Cedar's JSON formats (see json.h).
 *
 * jansson parses the text (with JSON_REJECT_DUPLICATES and JSON_ALLOW_NUL:
 * Cedar strings may hold NUL; jsonfast.c builds the same tree in one pass
 * for the common case); this file turns the tree into cv_values.
 * Every reader takes the schema type it expects (NULL = none), so the
 * schema-directed forms and the plain forms share one walk.
 */
#include "cedar/json.h"
#include "cedar/srctext.h"
#include "util/jsonpos.h"
#include "cedar/parser.h"
#include "cedar/reqbuild.h"
#include "cedar/ext.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- errors */

static const char *uid_text(const cv_uid *u, char *buf, size_t cap)
{
    cv_format(cv_entity(u), buf, cap);
    return buf;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    default:
        return "null";
    }
}

/* jansson cannot hold NUL in object keys, which Cedar allows (attribute
 * and tag names are any string).  When the text has a \u0000 escape, object
 * keys are re-encoded before parsing with U+0001 as an escape character:
 * \u0001 -> \u0001\u0001 and \u0000 -> \u0001\u0002.  (A raw 0x01 byte
 * cannot occur inside a JSON string, so this is a bijection.)  key_decode()
 * undoes it, so every json_t given to the readers below must come from
 * cedar_json_load().  Returns NULL when no rewrite is needed or on OOM (*oom). */
static char *nul_key_rewrite(const char *t, size_t n, size_t *outlen, bool *oom)
{
    *oom = false;
    bool any = false;
    for (size_t i = 0; i + 6 <= n && !any; i++)
        any = t[i] == '\\' && (!memcmp(t + i + 1, "u0000", 5) || !memcmp(t + i + 1, "u0001", 5));
    if (!any)
        return NULL;
    if (n > (SIZE_MAX - 1) / 2) {
        *oom = true;
        return NULL;
    }
    char *o = wr_malloc(2 * n + 1);
    if (!o) {
        *oom = true;
        return NULL;
    }
    size_t w = 0, i = 0;
    while (i < n) {
        if (t[i] != '"') {
            o[w++] = t[i++];
            continue;
        }
        size_t e = i + 1;
        while (e < n && t[e] != '"')
            e += t[e] == '\\' ? 2 : 1;
        if (e >= n) { /* unterminated: let the parser report it */
            memcpy(o + w, t + i, n - i);
            w += n - i;
            break;
        }
        size_t k = e + 1;
        while (k < n && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r'))
            k++;
        bool key = k < n && t[k] == ':';
        for (size_t m = i; m <= e;) {
            if (key && t[m] == '\\' && m + 6 <= e &&
                (!memcmp(t + m + 1, "u0000", 5) || !memcmp(t + m + 1, "u0001", 5))) {
                memcpy(o + w, "\\u0001\\u000", 11);
                w += 11;
                o[w++] = t[m + 5] == '0' ? '2' : '1';
                m += 6;
            } else if (t[m] == '\\' && m < e) {
                o[w++] = t[m++];
                o[w++] = t[m++];
            } else {
                o[w++] = t[m++];
            }
        }
        i = e + 1;
    }
    o[w] = 0;
    *outlen = w;
    return o;
}

/* Undo nul_key_rewrite() on a key (in place into buf of klen bytes). */
static size_t key_decode(const char *k, size_t klen, char *buf);
size_t cedar_json_key_decode(const char *k, size_t klen, char *buf) { return key_decode(k, klen, buf); }

static size_t key_decode(const char *k, size_t klen, char *buf)
{
    size_t o = 0;
    for (size_t i = 0; i < klen; i++) {
        if (k[i] == 1 && i + 1 < klen) {
            buf[o++] = k[i + 1] == 2 ? 0 : 1;
            i++;
        } else {
            buf[o++] = k[i];
        }
    }
    return o;
}

json_t *cedar_json_load(const char *text, size_t len, writ_error *err)
{
    /* the tree may be made by jansson alone and outlive this call */
    wr_alloc_seal();
    if (len > CEDAR_JSON_MAX_SIZE) {
        wr_error(err, WRIT_ELIMIT, "JSON input of %zu bytes exceeds the limit of %zu", len,
                 CEDAR_JSON_MAX_SIZE);
        return NULL;
    }
    /* the common case in one pass; anything it declines (every error too)
     * is parsed again by jansson below */
    json_t *fast = cedar_json_fast(text, len);
    if (fast)
        return fast;
    /* a raw NUL byte is no JSON (it must be escaped, \u0000); jansson
     * takes one right after a number ("6\0") as the number's end, where
     * other readers (an MCP upstream's) refuse the text */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        wr_error(err, WRIT_EJSON, "a NUL byte, which JSON allows only escaped (\\u0000)");
        if (err) {
            err->offset = (size_t)(nul - text);
            cedar_text_position(text, len, err->offset, &err->line, &err->col);
        }
        return NULL;
    }
    json_error_t je = {0}; /* json_error_code() reads a byte an early failure leaves unset */
    bool oom;
    size_t rlen = 0;
    char *re = nul_key_rewrite(text, len, &rlen, &oom);
    if (oom) {
        wr_error(err, WRIT_ENOMEM, "out of memory");
        return NULL;
    }
    unsigned long failed = wr_alloc_failures();
    json_t *j = json_loadb(re ? re : text, re ? rlen : len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    wr_free(re);
    if (!j) {
        enum json_error_code c = json_error_code(&je);
        writ_status code = c == json_error_out_of_memory || wr_alloc_failures() != failed ? WRIT_ENOMEM
                           : c == json_error_stack_overflow                               ? WRIT_ELIMIT
                           : c == json_error_duplicate_key                                ? WRIT_EDUP
                                                                                          : WRIT_EJSON;
        wr_error(err, code, "%s", code == WRIT_ENOMEM ? "out of memory" : je.text);
        if (err) {
            err->line = je.line > 0 ? (uint32_t)je.line : 0;
            err->col = je.column > 0 ? (uint32_t)je.column : 0;
            err->offset = (size_t)je.position;
        }
    }
    return j;
}

/* ---- strings and uids */

static const cv_string *jstr(wr_arena *a, const json_t *j)
{
    return cv_string_new(a, json_string_value(j), json_string_length(j));
}

/* A uid from an object that must have string "type" and "id". */
static writ_status uid_from_pair(wr_arena *a, const json_t *o, const char *what, const cv_uid **out,
                                 writ_error *err)
{
    const json_t *t = json_object_get(o, "type");
    const json_t *i = json_object_get(o, "id");
    if (!json_is_string(t) || !json_is_string(i))
        return wr_error(err, WRIT_EJSON, "%s: an entity reference needs string fields \"type\" and \"id\"",
                        what);
    if (!cedar_valid_type_name(json_string_value(t), json_string_length(t)))
        return wr_error(err, WRIT_EJSON, "%s: `%.*s` is not a valid entity type name", what,
                        (int)(json_string_length(t) > 80 ? 80 : json_string_length(t)), json_string_value(t));
    const cv_string *ts = jstr(a, t), *is = ts ? jstr(a, i) : NULL;
    *out = is ? cv_uid_new(a, ts, is) : NULL;
    return *out ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
}

/* Cedar syntax uid, e.g. "A::B::\"id\"", read by the policy parser. */
static writ_status uid_from_text(wr_arena *a, const char *p, size_t n, const char *what, const cv_uid **out,
                                 writ_error *err)
{
    writ_error perr;
    writ_status st = cedar_parse_uid(a, p, n, out, &perr);
    if (st == WRIT_ENOMEM)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    if (st)
        return wr_error(err, WRIT_EJSON, "%s: `%.*s` is not an entity reference in Cedar syntax (%s)", what,
                        (int)(n > 80 ? 80 : n), p, perr.msg);
    return WRIT_OK;
}

writ_status cedar_json_uid(wr_arena *a, const json_t *j, bool allow_text, const char *what,
                           const cv_uid **out, writ_error *err)
{
    if (allow_text && json_is_string(j))
        return uid_from_text(a, json_string_value(j), json_string_length(j), what, out, err);
    if (!json_is_object(j))
        return wr_error(err, WRIT_EJSON, "%s: expected an entity reference, found %s", what, json_kind(j));
    const json_t *esc = json_object_get(j, "__entity");
    if (esc) {
        if (!json_is_object(esc))
            return wr_error(err, WRIT_EJSON, "%s: \"__entity\" must be an object with \"type\" and \"id\"",
                            what);
        return uid_from_pair(a, esc, what, out, err);
    }
    return uid_from_pair(a, j, what, out, err);
}

/* ---- values */

/* Where a value sits, for error messages ("entity X, attribute `a`,
 * attribute `b`"): the caller's text plus one link per record level,
 * rendered only when an error is reported -- a request's record
 * attributes cost no formatting on the way in. */
typedef struct rd_path {
    const struct rd_path *up;
    const char *key;
    size_t klen;
} rd_path;

typedef struct rd {
    wr_arena *a;
    writ_error *err;
    const char *base;
    const rd_path *path;
    int depth;
    const cv_record *subst; /* cedar_json_context_subst's, for the outermost record */
    char buf[256];
} rd;

static size_t put_path(char *b, size_t at, const rd_path *p)
{
    if (!p)
        return at;
    at = put_path(b, at, p->up);
    if (at < 255) {
        int n = snprintf(b + at, 256 - at, ", attribute `%.*s`", (int)(p->klen > 64 ? 64 : p->klen), p->key);
        at = n < 0 ? at : at + (size_t)n > 255 ? 255 : at + (size_t)n;
    }
    return at;
}

/* The value's place as text (in r->buf). */
static const char *rd_what(rd *r)
{
    if (!r->path)
        return r->base;
    int n = snprintf(r->buf, sizeof r->buf, "%s", r->base);
    put_path(r->buf, n < 0 ? 0 : (size_t)n > 255 ? 255 : (size_t)n, r->path);
    return r->buf;
}

static writ_status read_value(rd *r, const json_t *j, const cs_type *t, cv_value *out);

static const char *ext_ctor_for(cv_ext_kind k)
{
    switch (k) {
    case CVX_IPADDR:
        return "ip";
    case CVX_DECIMAL:
        return "decimal";
    case CVX_DATETIME:
        return "datetime";
    case CVX_DURATION:
        return "duration";
    }
    return "?";
}

static const char *cs_kind_name(const cs_type *t)
{
    switch (t->kind) {
    case CS_BOOL:
        return "bool";
    case CS_LONG:
        return "long";
    case CS_STRING:
        return "string";
    case CS_ENTITY:
        return "entity";
    case CS_SET:
        return "set";
    case CS_RECORD:
        return "record";
    case CS_EXT:
        return cv_ext_kind_name(t->ext);
    }
    return "?";
}

static writ_status mismatch(rd *r, const cs_type *t, const char *found)
{
    if (t->kind == CS_ENTITY)
        return wr_error(r->err, WRIT_ESCHEMA, "%s: type mismatch: expected an entity of type `%s`, found %s",
                        rd_what(r), t->name->data, found);
    return wr_error(r->err, WRIT_ESCHEMA, "%s: type mismatch: expected type %s, found %s", rd_what(r),
                    cs_kind_name(t), found);
}

/* {"fn": F, "args": [v1, ...]}: a call of any extension function or
 * method (receiver first) on Cedar values. */
static writ_status read_extn_call(rd *r, const json_t *fn, const json_t *args, cv_value *out)
{
    size_t n = json_array_size(args);
    const char *name = json_string_value(fn);
    size_t nlen = json_string_length(fn);
    const cedar_extfn *f = cedar_ext_lookup(name, nlen, false);
    if (!f || f->nargs != n)
        f = cedar_ext_lookup(name, nlen, true);
    if (!f || f->nargs != n)
        return wr_error(r->err, WRIT_EJSON, "%s: `%.*s` is not an extension function taking %zu arguments",
                        rd_what(r), (int)(nlen > 64 ? 64 : nlen), name, n);
    cv_value args_v[8];
    if (n > 8)
        return wr_error(r->err, WRIT_EJSON, "%s: too many extension arguments", rd_what(r));
    if (++r->depth > CEDAR_JSON_MAX_DEPTH)
        return wr_error(r->err, WRIT_ELIMIT, "%s: values nest deeper than %d levels", rd_what(r),
                        CEDAR_JSON_MAX_DEPTH);
    for (size_t i = 0; i < n; i++) {
        writ_status st = read_value(r, json_array_get(args, i), NULL, &args_v[i]);
        if (st)
            return st;
    }
    r->depth--;
    const char *msg = NULL;
    if (f->fn(r->a, args_v, out, &msg) < 0)
        return wr_error(r->err, WRIT_EJSON, "%s: error while evaluating `%.*s`: %s", rd_what(r),
                        (int)(nlen > 64 ? 64 : nlen), name, msg ? msg : "invalid arguments");
    return WRIT_OK;
}

static writ_status read_extn(rd *r, const json_t *o, const cs_type *t, cv_value *out)
{
    const json_t *fn = json_object_get(o, "fn");
    const json_t *arg = json_object_get(o, "arg");
    const json_t *args = json_object_get(o, "args");
    if (json_is_string(fn) && !arg && json_is_array(args)) {
        writ_status st = read_extn_call(r, fn, args, out);
        if (st)
            return st;
        if (t && (t->kind != CS_EXT || out->type != CV_EXT || out->u.ext->kind != t->ext))
            return mismatch(
                r, t, out->type == CV_EXT ? cv_ext_kind_name(out->u.ext->kind) : cv_type_name(out->type));
        return WRIT_OK;
    }
    if (!json_is_string(fn) || !json_is_string(arg))
        return wr_error(r->err, WRIT_EJSON, "%s: an extension value needs string fields \"fn\" and \"arg\"",
                        rd_what(r));
    const char *msg = NULL;
    if (cedar_ext_construct(r->a, json_string_value(fn), json_string_length(fn), json_string_value(arg),
                            json_string_length(arg), out, &msg) < 0)
        return wr_error(r->err, WRIT_EJSON, "%s: %s(\"%.*s\"): %s", rd_what(r), json_string_value(fn),
                        (int)(json_string_length(arg) > 64 ? 64 : json_string_length(arg)),
                        json_string_value(arg), msg ? msg : "invalid extension value");
    if (t && (t->kind != CS_EXT || out->u.ext->kind != t->ext)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s", cv_ext_kind_name(out->u.ext->kind));
        return mismatch(r, t, buf);
    }
    return WRIT_OK;
}

static writ_status read_entity(rd *r, const json_t *uidobj, const cs_type *t, cv_value *out)
{
    const cv_uid *u;
    /* The value's place is formatted only for an error message: the
     * reference is read first without it, and again with it on failure. */
    writ_error quiet;
    writ_status st = uid_from_pair(r->a, uidobj, "", &u, &quiet);
    if (st)
        return uid_from_pair(r->a, uidobj, rd_what(r), &u, r->err);
    if (t && (t->kind != CS_ENTITY || !cv_string_eq(t->name, u->type))) {
        char buf[160], msg[200];
        snprintf(msg, sizeof msg, "entity %s", uid_text(u, buf, sizeof buf));
        return mismatch(r, t, msg);
    }
    *out = cv_entity(u);
    return WRIT_OK;
}

static const cs_attr *find_attr(const cs_type *t, const char *k, size_t n)
{
    size_t lo = 0, hi = t->nattrs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cv_string *s = t->attrs[mid].name;
        size_t m = s->len < n ? s->len : n;
        int c = memcmp(s->data, k, m);
        if (!c)
            c = s->len < n ? -1 : s->len > n;
        if (!c)
            return &t->attrs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A record: every key read (typed by the schema's attribute when t is a
 * record type), then sorted. */
static writ_status read_record(rd *r, const json_t *o, const cs_type *t, cv_value *out)
{
    size_t n = json_object_size(o);
    cv_field *f = n ? wr_arena_alloc(r->a, n * sizeof *f) : NULL;
    if (n && !f)
        return wr_error(r->err, WRIT_ENOMEM, "out of memory");
    size_t i = 0;
    const char *k0;
    size_t klen0;
    json_t *v;
    const rd_path *outer = r->path;
    rd_path here = {outer, NULL, 0};
    json_object_keylen_foreach((json_t *)o, k0, klen0, v)
    {
        char *kb = wr_arena_alloc(r->a, klen0 + 1);
        if (!kb)
            return wr_error(r->err, WRIT_ENOMEM, "out of memory");
        size_t klen = key_decode(k0, klen0, kb);
        const char *k = kb;
        const cs_attr *at = NULL;
        if (t) {
            at = find_attr(t, k, klen);
            if (!at)
                return wr_error(r->err, WRIT_ESCHEMA,
                                "%s: attribute `%.*s` should not exist according to the schema", rd_what(r),
                                (int)(klen > 64 ? 64 : klen), k);
        }
        f[i].key = cv_string_new(r->a, k, klen);
        if (!f[i].key)
            return wr_error(r->err, WRIT_ENOMEM, "out of memory");
        const cv_value *sv = r->subst && !outer && json_is_null(v) ? cv_record_get(r->subst, k, klen) : NULL;
        if (sv) {
            /* read already (cedar_json_fast_split) */
            f[i++].v = *sv;
            continue;
        }
        here.key = k;
        here.klen = klen;
        r->path = &here;
        writ_status st = read_value(r, v, at ? at->type : NULL, &f[i].v);
        r->path = outer;
        if (st)
            return st;
        i++;
    }
    *out = cv_record_new(r->a, f, n);
    if (out->type == CV_NONE)
        return wr_error(r->err, WRIT_ENOMEM, "out of memory");
    if (t)
        for (size_t a = 0; a < t->nattrs; a++)
            if (t->attrs[a].required &&
                !cv_record_get(out->u.rec, t->attrs[a].name->data, t->attrs[a].name->len))
                return wr_error(r->err, WRIT_ESCHEMA, "%s: required attribute `%s` is missing", rd_what(r),
                                t->attrs[a].name->data);
    return WRIT_OK;
}

static writ_status read_set(rd *r, const json_t *arr, const cs_type *elem, cv_value *out)
{
    size_t n = json_array_size(arr);
    cv_value *items = n ? wr_arena_alloc(r->a, n * sizeof *items) : NULL;
    if (n && !items)
        return wr_error(r->err, WRIT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        writ_status st = read_value(r, json_array_get(arr, i), elem, &items[i]);
        if (st)
            return st;
    }
    *out = cv_set_new(r->a, items, n);
    return out->type == CV_NONE ? wr_error(r->err, WRIT_ENOMEM, "out of memory") : WRIT_OK;
}

static writ_status read_value(rd *r, const json_t *j, const cs_type *t, cv_value *out)
{
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        if (t && t->kind != CS_BOOL)
            return mismatch(r, t, "bool");
        *out = cv_bool(json_is_true(j));
        return WRIT_OK;
    case JSON_INTEGER:
        if (t && t->kind != CS_LONG)
            return mismatch(r, t, "long");
        *out = cv_long((int64_t)json_integer_value(j));
        return WRIT_OK;
    case JSON_REAL:
        return wr_error(r->err, WRIT_EJSON, "%s: numbers must be integers (no fraction or exponent)",
                        rd_what(r));
    case JSON_NULL:
        return wr_error(r->err, WRIT_EJSON, "%s: found a `null`; JSON nulls are not allowed in Cedar",
                        rd_what(r));
    case JSON_STRING:
        if (t && t->kind == CS_EXT) {
            /* an extension-typed value may be the constructor's argument */
            const char *msg = NULL;
            const char *fn = ext_ctor_for(t->ext);
            if (cedar_ext_construct(r->a, fn, strlen(fn), json_string_value(j), json_string_length(j), out,
                                    &msg) < 0)
                return wr_error(r->err, WRIT_ESCHEMA, "%s: `%.*s` is not a valid %s value: %s", rd_what(r),
                                (int)(json_string_length(j) > 64 ? 64 : json_string_length(j)),
                                json_string_value(j), cv_ext_kind_name(t->ext), msg ? msg : "invalid");
            return WRIT_OK;
        }
        if (t && t->kind != CS_STRING)
            return mismatch(r, t, "string");
        *out = cv_str(jstr(r->a, j));
        return out->u.s ? WRIT_OK : wr_error(r->err, WRIT_ENOMEM, "out of memory");
    case JSON_ARRAY:
        if (t && t->kind != CS_SET)
            return mismatch(r, t, "set");
        if (++r->depth > CEDAR_JSON_MAX_DEPTH)
            return wr_error(r->err, WRIT_ELIMIT, "%s: values nest deeper than %d levels", rd_what(r),
                            CEDAR_JSON_MAX_DEPTH);
        {
            writ_status st = read_set(r, j, t ? t->elem : NULL, out);
            r->depth--;
            return st;
        }
    case JSON_OBJECT:
        break;
    }
    /* objects: escapes first, then the schema's implicit forms, then records */
    const json_t *esc = json_object_get(j, "__entity");
    if (esc) {
        if (!json_is_object(esc))
            return wr_error(r->err, WRIT_EJSON, "%s: \"__entity\" must be an object with \"type\" and \"id\"",
                            rd_what(r));
        return read_entity(r, esc, t, out);
    }
    esc = json_object_get(j, "__extn");
    if (esc) {
        if (!json_is_object(esc))
            return wr_error(r->err, WRIT_EJSON, "%s: \"__extn\" must be an object with \"fn\" and \"arg\"",
                            rd_what(r));
        return read_extn(r, esc, t, out);
    }
    if (t && t->kind == CS_ENTITY)
        return read_entity(r, j, t, out);
    if (t && t->kind == CS_EXT)
        return read_extn(r, j, t, out);
    if (t && t->kind != CS_RECORD)
        return mismatch(r, t, "record");
    if (++r->depth > CEDAR_JSON_MAX_DEPTH)
        return wr_error(r->err, WRIT_ELIMIT, "%s: values nest deeper than %d levels", rd_what(r),
                        CEDAR_JSON_MAX_DEPTH);
    writ_status st = read_record(r, j, t, out);
    r->depth--;
    return st;
}

writ_status cedar_json_value(wr_arena *a, const json_t *j, const cs_type *t, const char *what, cv_value *out,
                             writ_error *err)
{
    rd r; /* r.buf is written before it is read (rd_what) */
    r.a = a;
    r.err = err;
    r.base = what ? what : "value";
    r.path = NULL;
    r.depth = 0;
    r.subst = NULL;
    *out = cv_none();
    return read_value(&r, j, t, out);
}

/* ---- entities */

static bool type_listed(const cv_string *type, const cv_string **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cv_string_eq(list[i], type))
            return true;
    return false;
}

static bool enum_has(const cs_entity_type *et, const cv_string *id)
{
    for (size_t i = 0; i < et->nenum; i++)
        if (cv_string_eq(et->enum_ids[i], id))
            return true;
    return false;
}

/* Is target a transitive ancestor of action `from` in the schema?  An
 * iterative walk with a visited mark per schema action. */
static bool schema_action_reaches(const writ_schema *s, const cs_action *from, const cv_uid *target,
                                  bool *oom)
{
    bool *seen = wr_calloc(s->nactions ? s->nactions : 1, sizeof *seen);
    const cs_action **stack = wr_malloc((s->nactions ? s->nactions : 1) * sizeof *stack);
    bool found = false;
    if (!seen || !stack) {
        *oom = true;
        goto out;
    }
    size_t sp = 0;
    stack[sp++] = from;
    seen[from - s->actions] = true;
    while (sp && !found) {
        const cs_action *a = stack[--sp];
        for (size_t i = 0; i < a->nparents && !found; i++) {
            if (cv_uid_eq(a->parents[i], target)) {
                found = true;
                break;
            }
            const cs_action *pa = cedar_schema_action(s, a->parents[i]);
            if (pa && !seen[pa - s->actions]) {
                seen[pa - s->actions] = true;
                stack[sp++] = pa;
            }
        }
    }
out:
    wr_free(seen);
    wr_free(stack);
    return found;
}

/* Does an action entity from the file match the schema's declaration?  It
 * may have no attributes or tags, and its parents must give the same
 * ancestors as the schema's (the file may list transitive ones). */
static bool action_matches(const writ_schema *s, const cs_action *act, const cv_record *attrs,
                           const cv_record *tags, const cv_uid **parents, size_t np, bool *oom)
{
    if (attrs->n || tags->n)
        return false;
    for (size_t i = 0; i < np; i++)
        if (!schema_action_reaches(s, act, parents[i], oom))
            return false;
    for (size_t k = 0; k < act->nparents; k++) {
        bool found = false;
        for (size_t i = 0; i < np && !found; i++) {
            found = cv_uid_eq(parents[i], act->parents[k]);
            const cs_action *pa = found ? NULL : cedar_schema_action(s, parents[i]);
            if (pa)
                found = schema_action_reaches(s, pa, act->parents[k], oom);
        }
        if (!found)
            return false;
    }
    return true;
}

/* One element of the entities array.  *skip is set for an action entity
 * that the schema already supplies. */
static writ_status read_entity_entry(cedar_entities *es, const json_t *e, size_t idx, const writ_schema *s,
                                     writ_error *err)
{
    wr_arena *a = cedar_entities_arena(es);
    char where[64], ubuf[160], what[256];
    snprintf(where, sizeof where, "entity #%zu", idx);
    if (!json_is_object(e))
        return wr_error(err, WRIT_EJSON, "%s: expected an object, found %s", where, json_kind(e));
    const json_t *ju = json_object_get(e, "uid");
    const json_t *jattrs = json_object_get(e, "attrs");
    const json_t *jparents = json_object_get(e, "parents");
    const json_t *jtags = json_object_get(e, "tags");
    if (!ju)
        return wr_error(err, WRIT_EJSON, "%s: missing field `uid`", where);
    const cv_uid *uid;
    writ_status st = cedar_json_uid(a, ju, false, where, &uid, err);
    if (st)
        return st;
    uid_text(uid, ubuf, sizeof ubuf);
    if (!jattrs)
        return wr_error(err, WRIT_EJSON, "entity %s: missing field `attrs`", ubuf);
    if (!jparents)
        return wr_error(err, WRIT_EJSON, "entity %s: missing field `parents`", ubuf);
    if (!json_is_object(jattrs))
        return wr_error(err, WRIT_EJSON, "entity %s: `attrs` must be an object", ubuf);
    if (!json_is_array(jparents))
        return wr_error(err, WRIT_EJSON, "entity %s: `parents` must be an array", ubuf);
    if (jtags && !json_is_object(jtags))
        return wr_error(err, WRIT_EJSON, "entity %s: `tags` must be an object", ubuf);

    const cs_entity_type *et = NULL;
    const cs_action *act = NULL;
    if (s) {
        act = cedar_schema_action(s, uid);
        if (!act) {
            et = cedar_schema_entity_type(s, uid->type->data, uid->type->len);
            if (!et) {
                if (cedar_schema_is_action_type(s, uid->type))
                    return wr_error(
                        err, WRIT_ESCHEMA,
                        "found action entity %s, but it was not declared as an action in the schema", ubuf);
                return wr_error(err, WRIT_ESCHEMA,
                                "entity %s has type `%s` which is not declared in the schema", ubuf,
                                uid->type->data);
            }
            if (et->is_enum && !enum_has(et, uid->id))
                return wr_error(
                    err, WRIT_ESCHEMA,
                    "entity %s is of an enumerated entity type, but its id is not declared as a valid eid",
                    ubuf);
        }
    }

    /* attributes */
    cv_value attrs;
    snprintf(what, sizeof what, "entity %s", ubuf);
    if (act && json_object_size(jattrs))
        return wr_error(err, WRIT_ESCHEMA, "definition of action %s does not match its schema declaration",
                        ubuf);
    st = cedar_json_value(a, jattrs, et ? et->shape : NULL, what, &attrs, err);
    if (st)
        return st;
    /* tags */
    const cv_record *tags = &cv_empty_record;
    if (jtags && json_is_object(jtags) && json_object_size(jtags)) {
        if (et && !et->tags)
            return wr_error(err, WRIT_ESCHEMA,
                            "found a tag on %s, but no tags should exist on it according to the schema",
                            ubuf);
        size_t n = json_object_size(jtags), i = 0;
        cv_field *f = wr_arena_alloc(a, n * sizeof *f);
        if (!f)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        const char *k0;
        size_t klen0;
        json_t *v;
        json_object_keylen_foreach((json_t *)jtags, k0, klen0, v)
        {
            char *k = wr_arena_alloc(a, klen0 + 1);
            if (!k)
                return wr_error(err, WRIT_ENOMEM, "out of memory");
            size_t klen = key_decode(k0, klen0, k);
            snprintf(what, sizeof what, "entity %s, tag `%.*s`", ubuf, (int)(klen > 64 ? 64 : klen), k);
            f[i].key = cv_string_new(a, k, klen);
            if (!f[i].key)
                return wr_error(err, WRIT_ENOMEM, "out of memory");
            st = cedar_json_value(a, v, et ? et->tags : NULL, what, &f[i].v, err);
            if (st)
                return st;
            i++;
        }
        cv_value tv = cv_record_new(a, f, n);
        if (tv.type == CV_NONE)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        tags = tv.u.rec;
        if (act)
            return wr_error(err, WRIT_ESCHEMA,
                            "definition of action %s does not match its schema declaration", ubuf);
    }
    /* parents */
    size_t np = json_array_size(jparents);
    const cv_uid **parents = np ? wr_arena_alloc(a, np * sizeof *parents) : NULL;
    if (np && !parents)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    for (size_t i = 0; i < np; i++) {
        snprintf(what, sizeof what, "entity %s, parent #%zu", ubuf, i);
        st = cedar_json_uid(a, json_array_get(jparents, i), false, what, &parents[i], err);
        if (st)
            return st;
        if (cedar_is_action_type(uid->type) && !cedar_is_action_type(parents[i]->type))
            return wr_error(err, WRIT_EJSON, "action %s has a non-action parent %s", ubuf,
                            uid_text(parents[i], what, sizeof what));
        if (et && !type_listed(parents[i]->type, et->parents, et->nparents))
            return wr_error(err, WRIT_ESCHEMA,
                            "%s is not allowed to have an ancestor of type `%s` according to the schema",
                            ubuf, parents[i]->type->data);
    }
    if (act) {
        /* the schema's definition is the one used; the file may repeat it */
        bool oom = false;
        bool ok = action_matches(s, act, attrs.u.rec, tags, parents, np, &oom);
        if (oom)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        if (!ok)
            return wr_error(err, WRIT_ESCHEMA,
                            "definition of action %s does not match its schema declaration", ubuf);
        return WRIT_OK;
    }
    bool oom;
    if (cedar_entities_add(es, uid, attrs.u.rec, tags, parents, np, &oom) < 0)
        return oom ? wr_error(err, WRIT_ENOMEM, "out of memory")
                   : wr_error(err, WRIT_EDUP, "duplicate entity entry %s", ubuf);
    return WRIT_OK;
}

static const cv_uid *uid_copy(wr_arena *a, const cv_uid *u)
{
    const cv_string *t = cv_string_new(a, u->type->data, u->type->len);
    const cv_string *i = t ? cv_string_new(a, u->id->data, u->id->len) : NULL;
    return i ? cv_uid_new(a, t, i) : NULL;
}

/* cedar_json_entities; *bad is the index of the entry that failed, or
 * SIZE_MAX when none did (cedar_json_entities_text finds its position). */
static writ_status entities_of(const json_t *j, const writ_schema *s, cedar_entities **out, size_t *bad,
                               writ_error *err)
{
    *out = NULL;
    *bad = SIZE_MAX;
    if (!json_is_array(j))
        return wr_error(err, WRIT_EJSON, "entities: expected a JSON array, found %s", json_kind(j));
    cedar_entities *es = cedar_entities_new();
    if (!es)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_status st = WRIT_OK;
    size_t n = json_array_size(j);
    for (size_t i = 0; i < n && !st; i++)
        if ((st = read_entity_entry(es, json_array_get(j, i), i, s, err)) != WRIT_OK && st != WRIT_ENOMEM)
            *bad = i;
    /* actions from the schema, with their groups, copied into the store's
     * arena: the store may outlive the schema */
    for (size_t i = 0; s && !st && i < s->nactions; i++) {
        const cs_action *act = &s->actions[i];
        wr_arena *a = cedar_entities_arena(es);
        const cv_uid *uid = uid_copy(a, act->uid);
        const cv_uid **parents = act->nparents ? wr_arena_alloc(a, act->nparents * sizeof *parents) : NULL;
        bool oom = !uid || (act->nparents && !parents);
        for (size_t k = 0; !oom && k < act->nparents; k++)
            oom = !(parents[k] = uid_copy(a, act->parents[k]));
        if (oom || (cedar_entities_add(es, uid, &cv_empty_record, &cv_empty_record, parents, act->nparents,
                                       &oom) < 0 &&
                    oom))
            st = wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    int fin = st ? 0 : cedar_entities_finish(es);
    if (fin == -2)
        st = wr_error(err, WRIT_ELIMIT,
                      "the entity hierarchy is too deep: its entities have more than %zu ancestors in all (each "
                      "entity keeps all of its ancestors)",
                      CEDAR_MAX_ANCESTOR_PAIRS);
    else if (fin < 0)
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
    /* the hierarchy must be acyclic, as the reference requires */
    for (size_t i = 0; !st && i < cedar_entities_count(es); i++) {
        const cedar_entity *e = cedar_entities_at(es, i);
        if (cedar_entity_has_ancestor(e, e->uid)) {
            char ubuf[160];
            st = wr_error(err, WRIT_EJSON, "the entity hierarchy has a cycle containing %s",
                          uid_text(e->uid, ubuf, sizeof ubuf));
        }
    }
    if (st) {
        cedar_entities_free(es);
        return st;
    }
    *out = es;
    return WRIT_OK;
}

writ_status cedar_json_entities(const json_t *j, const writ_schema *s, cedar_entities **out, writ_error *err)
{
    size_t bad;
    return entities_of(j, s, out, &bad, err);
}

/* "LINE:COL: " before err's message, as the policy parser writes its
 * errors (and err->line, col and offset set), unless it has one. */
static void at_position(const char *text, size_t len, size_t off, writ_error *err)
{
    if (!err)
        return;
    if (!err->line) {
        cedar_text_position(text, len, off, &err->line, &err->col);
        err->offset = off;
    }
    char pos[32];
    int k = snprintf(pos, sizeof pos, "%u:%u: ", err->line, err->col);
    if (k <= 0 || !strncmp(err->msg, pos, (size_t)k))
        return;
    size_t n = strnlen(err->msg, sizeof err->msg - 1), p = (size_t)k;
    if (n + p > sizeof err->msg - 1)
        n = sizeof err->msg - 1 - p; /* the message's end gives way */
    memmove(err->msg + p, err->msg, n);
    memcpy(err->msg, pos, p);
    err->msg[p + n] = '\0';
}

writ_status cedar_json_entities_text(const char *text, size_t len, const writ_schema *s, cedar_entities **out,
                                     writ_error *err)
{
    *out = NULL;
    json_t *j = cedar_json_load(text, len, err);
    if (!j) {
        if (err && err->line && err->code != WRIT_ENOMEM)
            at_position(text, len, err->offset, err);
        return err ? err->code : WRIT_EJSON;
    }
    size_t bad;
    writ_status st = entities_of(j, s, out, &bad, err);
    json_decref(j);
    /* the entry that failed, by its place in the text: jansson keeps no
     * positions of the values it read */
    if (st && bad != SIZE_MAX) {
        wr_jpos_step at = {NULL, bad};
        at_position(text, len, wr_jpos_find(text, len, &at, 1, 0), err);
    }
    return st;
}

/* ---- requests */

writ_status cedar_json_context(wr_arena *a, const json_t *j, const writ_schema *s, const cv_uid *action,
                               const cv_record **out, writ_error *err)
{
    const cs_action *act = (s && action) ? cedar_schema_action(s, action) : NULL;
    const cs_type *t = act ? act->context : NULL;
    cv_value v;
    if (!j || json_is_null(j)) {
        if (t && t->nattrs) {
            for (size_t i = 0; i < t->nattrs; i++)
                if (t->attrs[i].required)
                    return wr_error(err, WRIT_ESCHEMA, "context: required attribute `%s` is missing",
                                    t->attrs[i].name->data);
        }
        *out = &cv_empty_record;
        return WRIT_OK;
    }
    if (!json_is_object(j) || json_object_get(j, "__entity") || json_object_get(j, "__extn"))
        return wr_error(err, WRIT_EJSON, "context: expected a JSON object (a record)");
    writ_status st = cedar_json_value(a, j, t, "context", &v, err);
    if (st)
        return st;
    *out = v.u.rec;
    return WRIT_OK;
}

writ_status cedar_json_context_subst(wr_arena *a, const json_t *j, const cv_record *subst,
                                     const cv_record **out, writ_error *err)
{
    return cedar_json_context_facts(a, j, subst, NULL, 0, out, err);
}

/* ---- the decision path's context: the split's values, the tree's
 * members and the caller's facts merged into one record.
 *
 * This is the hottest reading of a server decision, so it avoids what the
 * general reader pays per member: a placeholder (json null) that the split
 * read already keeps the split's key and value (no key copy, no new
 * string), a fact is built straight from its parts, and the record is not
 * sorted from scratch -- the split's record is sorted already, so only the
 * few other members (kept members, facts) are sorted and the two runs are
 * merged. */

/* Byte order of two keys, like cv_string_cmp (keys are short: a loop beats
 * a call to memcmp). */
static int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    if (n && a[0] != b[0]) /* most compares end at the first byte */
        return (unsigned char)a[0] < (unsigned char)b[0] ? -1 : 1;
    int c = n > 1 ? memcmp(a + 1, b + 1, n - 1) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

/* Index of key in r (sorted), or SIZE_MAX. */
static size_t record_index(const cv_record *r, const char *k, size_t n)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(r->f[mid].key->data, r->f[mid].key->len, k, n);
        if (!c)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

static int fact_index(const cedar_fact *f, size_t nf, const char *k, size_t n)
{
    for (size_t i = 0; i < nf; i++)
        if (f[i].name.n == n && cv_bytes_eq(f[i].name.p, k, n))
            return (int)i;
    return -1;
}

/* A fact's value, as its JSON form (reqbuild.h) reads. */
static writ_status fact_value(rd *r, const cedar_fact *f, cv_value *out)
{
    if (f->value) { /* made once (cedar_fact_freeze) */
        *out = *f->value;
        return WRIT_OK;
    }
    wr_arena *a = r->a;
    switch (f->kind) {
    case CEDAR_FACT_STRING:
        *out = cv_str_new(a, f->s.p, f->s.n);
        break;
    case CEDAR_FACT_LONG:
        *out = cv_long(f->l);
        break;
    case CEDAR_FACT_EXT: {
        const char *msg = NULL;
        if (cedar_ext_construct(a, f->fn, strlen(f->fn), f->s.p, f->s.n, out, &msg) < 0)
            return wr_error(r->err, WRIT_EJSON, "%s: %s(\"%.*s\"): %s", rd_what(r), f->fn,
                            (int)(f->s.n > 64 ? 64 : f->s.n), f->s.p, msg ? msg : "invalid extension value");
        break;
    }
    case CEDAR_FACT_STRINGS: {
        cv_value *items = f->n ? wr_arena_alloc(a, f->n * sizeof *items) : NULL;
        if (f->n && !items)
            return wr_error(r->err, WRIT_ENOMEM, "out of memory");
        for (size_t i = 0; i < f->n; i++)
            if ((items[i] = cv_str_new(a, f->items[i].p, f->items[i].n)).type == CV_NONE)
                return wr_error(r->err, WRIT_ENOMEM, "out of memory");
        *out = cv_set_new(a, items, f->n);
        break;
    }
    case CEDAR_FACT_RECORD: {
        cv_field *fs = f->n ? wr_arena_alloc(a, f->n * sizeof *fs) : NULL;
        if (f->n && !fs)
            return wr_error(r->err, WRIT_ENOMEM, "out of memory");
        for (size_t i = 0; i < f->n; i++) {
            fs[i].key = cv_string_new(a, f->keys[i], strlen(f->keys[i]));
            fs[i].v = cv_str_new(a, f->items[i].p, f->items[i].n);
            if (!fs[i].key || fs[i].v.type == CV_NONE)
                return wr_error(r->err, WRIT_ENOMEM, "out of memory");
        }
        *out = cv_record_new(a, fs, f->n);
        break;
    }
    default:
        return wr_error(r->err, WRIT_EINVAL, "%s: a fact of no known kind", rd_what(r));
    }
    return out->type == CV_NONE ? wr_error(r->err, WRIT_ENOMEM, "out of memory") : WRIT_OK;
}

/* After a member failed: an object with "__entity" or "__extn" is no
 * record, and that is the error the context gets (as cedar_json_context
 * says it, before reading any member). */
static writ_status member_failed(wr_arena *a, const json_t *j, writ_status st, const cv_record **out,
                                 writ_error *err)
{
    if (json_object_get(j, "__entity") || json_object_get(j, "__extn"))
        return cedar_json_context(a, j, NULL, NULL, out, err);
    return st;
}

/* context_merge's usual case: a lean split whose tree holds no member
 * (the bench's context), so the record is the base and the facts merged
 * in one pass (the facts in name order: a few compares of their names
 * instead of a search of the base for each, a sort and a second merge).
 * false: not done (a fact failed, or out of memory), and the general way
 * below then gives the answer, its error included, as before. */
static bool merge_flat(rd *r, const cv_record *base, const cedar_fact *facts, size_t nfacts,
                       const cv_record **out)
{
    /* The facts' name order: the last one this thread used (the server's
     * facts come in the same order every time) when it still holds -- a
     * permutation whose names strictly increase is the one order -- else
     * sorted anew. */
    static _Thread_local struct {
        size_t nf;
        unsigned char ord[32];
    } last;
    bool same = last.nf == nfacts;
    for (size_t i = 1; i < nfacts && same; i++)
        same = key_cmp(facts[last.ord[i - 1]].name.p, facts[last.ord[i - 1]].name.n,
                       facts[last.ord[i]].name.p, facts[last.ord[i]].name.n) < 0;
    if (!same) {
        for (size_t i = 0; i < nfacts; i++) { /* (insertion sort of their indexes) */
            size_t w = i;
            while (w > 0 && key_cmp(facts[last.ord[w - 1]].name.p, facts[last.ord[w - 1]].name.n,
                                    facts[i].name.p, facts[i].name.n) > 0) {
                last.ord[w] = last.ord[w - 1];
                w--;
            }
            last.ord[w] = (unsigned char)i;
        }
        last.nf = nfacts;
    }
    const unsigned char *ord = last.ord;
    size_t ns = base ? base->n : 0;
    if (ns + nfacts == 0) {
        *out = &cv_empty_record;
        return true;
    }
    cv_record *rec = wr_arena_alloc(r->a, sizeof *rec + (ns + nfacts) * sizeof(cv_field));
    if (!rec)
        return false;
    rd_path here = {NULL, NULL, 0};
    size_t i = 0, k = 0, w = 0;
    while (i < ns || k < nfacts) {
        const cedar_fact *fk = k < nfacts ? &facts[ord[k]] : NULL;
        int c = !fk       ? -1
                : i == ns ? 1
                          : key_cmp(base->f[i].key->data, base->f[i].key->len, fk->name.p, fk->name.n);
        if (c < 0 || (c == 0 && fk->if_absent)) { /* the caller's member */
            rec->f[w++] = base->f[i++];
            k += c == 0;
            continue;
        }
        i += c == 0; /* (replaced) */
        here.key = fk->name.p;
        here.klen = fk->name.n;
        r->path = &here;
        writ_status st = fact_value(r, fk, &rec->f[w].v);
        r->path = NULL;
        if (st || !(rec->f[w].key = fk->key ? fk->key : cv_string_new(r->a, fk->name.p, fk->name.n)))
            return false;
        w++;
        k++;
    }
    rec->n = w;
    *out = w ? rec : &cv_empty_record;
    return true;
}

/* whole: subst is a lean split's base (every member not in j), else a
 * placeholder split's (only j's json null members take its values). */
static writ_status context_merge(wr_arena *a, const json_t *j, const cv_record *subst, bool whole,
                                 const cedar_fact *facts, size_t nfacts, const cv_record **out,
                                 writ_error *err)
{
    if (nfacts > 32)
        return wr_error(err, WRIT_EINVAL, "cedar_json_context_facts: more than 32 facts");
    if (j && json_is_null(j))
        j = NULL;
    if (j && !json_is_object(j))
        return cedar_json_context(a, j, NULL, NULL, out, err);
    rd r;
    r.a = a;
    r.err = err;
    r.base = "context";
    r.path = NULL;
    r.depth = 1; /* the members of the context record, as read_value counts */
    r.subst = NULL;
    size_t n = j ? json_object_size(j) : 0, ns = subst ? subst->n : 0;
    if (whole && n == 0 && merge_flat(&r, subst, facts, nfacts, out))
        return WRIT_OK;
    /* hit[i]: the split's member i is in the context (a placeholder still
     * in the tree; whole: every one not replaced by a fact) */
    unsigned char hitbuf[128], *hit = hitbuf;
    if (ns > sizeof hitbuf && !(hit = wr_arena_alloc(a, ns)))
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    if (ns)
        memset(hit, whole, ns);
    /* the other members: read from the tree, then the facts */
    cv_field *f = n + nfacts ? wr_arena_alloc(a, (n + nfacts) * sizeof *f) : NULL;
    if (n + nfacts && !f)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    size_t no = 0, nhit = whole ? ns : 0;
    uint32_t present = 0; /* facts whose member the tree has (if_absent: the member stays) */
    bool escape = false;
    rd_path here = {NULL, NULL, 0};
    /* the iterator itself (json_object_keylen_foreach finds each member's
     * iterator again from its key, three times a member) */
    for (void *it = j ? json_object_iter((json_t *)j) : NULL; it;
         it = json_object_iter_next((json_t *)j, it)) {
        const char *k0 = json_object_iter_key(it);
        size_t klen0 = json_object_iter_key_len(it);
        json_t *v = json_object_iter_value(it);
        const char *k = k0;
        size_t klen = klen0;
        if (memchr(k0, 1, klen0)) {
            char *kb = wr_arena_alloc(a, klen0 + 1);
            if (!kb)
                return wr_error(err, WRIT_ENOMEM, "out of memory");
            klen = key_decode(k0, klen0, kb);
            k = kb;
        }
        if ((klen == 8 && !memcmp(k, "__entity", 8)) || (klen == 6 && !memcmp(k, "__extn", 6)))
            escape = true;
        int fi = nfacts ? fact_index(facts, nfacts, k, klen) : -1;
        if (fi >= 0) {
            if (!facts[fi].if_absent)
                continue; /* the fact replaces it: not read */
            present |= (uint32_t)1 << fi;
        }
        if (ns && !whole && json_is_null(v)) {
            size_t si = record_index(subst, k, klen);
            if (si != SIZE_MAX) { /* read already (cedar_json_fast_split) */
                nhit += !hit[si];
                hit[si] = 1;
                continue;
            }
        }
        if (!(f[no].key = cv_string_new(a, k, klen)))
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        here.key = k;
        here.klen = klen;
        r.path = &here;
        writ_status st = read_value(&r, v, NULL, &f[no].v);
        r.path = NULL;
        if (st)
            return member_failed(a, j, st, out, err);
        no++;
    }
    for (size_t i = 0; i < nfacts; i++) {
        if (present & ((uint32_t)1 << i))
            continue;
        if (whole && ns) { /* base's member: the caller's stays, or the fact replaces it */
            size_t si = record_index(subst, facts[i].name.p, facts[i].name.n);
            if (si != SIZE_MAX) {
                if (facts[i].if_absent)
                    continue;
                nhit -= hit[si];
                hit[si] = 0;
            }
        }
        here.key = facts[i].name.p;
        here.klen = facts[i].name.n;
        r.path = &here;
        writ_status st = fact_value(&r, &facts[i], &f[no].v);
        r.path = NULL;
        if (st)
            return escape ? member_failed(a, j, st, out, err) : st;
        if (!(f[no].key = facts[i].key ? facts[i].key : cv_string_new(a, facts[i].name.p, facts[i].name.n)))
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        no++;
    }
    if (escape)
        return cedar_json_context(a, j, NULL, NULL, out, err);
    /* Every key is distinct (the tree's are; a fact is added only where the
     * tree has no member of its name, or its member was skipped), so the
     * record is the two sorted runs merged. */
    if (no <= 16) { /* the usual few: an insertion sort without calls */
        for (size_t i = 1; i < no; i++) {
            cv_field x = f[i];
            size_t w = i;
            while (w > 0 && key_cmp(f[w - 1].key->data, f[w - 1].key->len, x.key->data, x.key->len) > 0) {
                f[w] = f[w - 1];
                w--;
            }
            f[w] = x;
        }
    } else if (!cv_fields_sort(a, f, no)) {
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    if (nhit == 0 && no == 0) {
        *out = &cv_empty_record;
        return WRIT_OK;
    }
    if (nhit == 0) {
        cv_record *rec = wr_arena_alloc(a, sizeof *rec + no * sizeof(cv_field));
        if (!rec)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        memcpy(rec->f, f, no * sizeof *f);
        rec->n = no;
        *out = rec;
        return WRIT_OK;
    }
    cv_record *rec = wr_arena_alloc(a, sizeof *rec + (nhit + no) * sizeof(cv_field));
    if (!rec)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    size_t w = 0, i = 0, o = 0;
    while (i < ns || o < no) {
        if (i < ns && !hit[i]) {
            i++;
            continue;
        }
        if (o < no && (i == ns || key_cmp(f[o].key->data, f[o].key->len, subst->f[i].key->data,
                                          subst->f[i].key->len) < 0))
            rec->f[w++] = f[o++];
        else
            rec->f[w++] = subst->f[i++];
    }
    rec->n = w;
    *out = rec;
    return WRIT_OK;
}

writ_status cedar_json_context_facts(wr_arena *a, const json_t *j, const cv_record *subst,
                                     const cedar_fact *facts, size_t nfacts, const cv_record **out,
                                     writ_error *err)
{
    return context_merge(a, j, subst, false, facts, nfacts, out, err);
}

writ_status cedar_json_context_whole(wr_arena *a, const json_t *j, const cv_record *base,
                                     const cedar_fact *facts, size_t nfacts, const cv_record **out,
                                     writ_error *err)
{
    return context_merge(a, j, base, true, facts, nfacts, out, err);
}

writ_status cedar_request_validate(const writ_schema *s, const cv_uid *principal, const cv_uid *action,
                                   const cv_uid *resource, writ_error *err)
{
    char b1[160], b2[160];
    const cs_action *act = cedar_schema_action(s, action);
    if (!act)
        return wr_error(err, WRIT_EVALIDATE, "request's action %s is not declared in the schema",
                        uid_text(action, b1, sizeof b1));
    const cv_uid *who[2] = {principal, resource};
    const char *role[2] = {"principal", "resource"};
    for (int k = 0; k < 2; k++) {
        const cv_uid *u = who[k];
        const cs_entity_type *et = cedar_schema_entity_type(s, u->type->data, u->type->len);
        if (!et)
            return wr_error(err, WRIT_EVALIDATE, "%s type `%s` is not declared in the schema", role[k],
                            u->type->data);
        const cv_string **list = k ? act->resources : act->principals;
        size_t n = k ? act->nresources : act->nprincipals;
        if (!type_listed(u->type, list, n))
            return wr_error(err, WRIT_EVALIDATE, "%s type `%s` is not valid for action %s", role[k],
                            u->type->data, uid_text(action, b2, sizeof b2));
        if (et->is_enum && !enum_has(et, u->id))
            return wr_error(err, WRIT_EVALIDATE,
                            "%s %s is of an enumerated entity type, but its id is not declared", role[k],
                            uid_text(u, b1, sizeof b1));
    }
    return WRIT_OK;
}

writ_status cedar_json_request(const json_t *j, const writ_schema *s, bool validate, struct writ_request *rq,
                               writ_error *err)
{
    if (!json_is_object(j))
        return wr_error(err, WRIT_EJSON, "request: expected a JSON object, found %s", json_kind(j));
    static const char *const names[3] = {"principal", "action", "resource"};
    const cv_uid *u[3];
    for (int k = 0; k < 3; k++) {
        const json_t *x = json_object_get(j, names[k]);
        if (!x)
            return wr_error(err, WRIT_EJSON, "request: missing field `%s`", names[k]);
        writ_status st = cedar_json_uid(rq->arena, x, true, names[k], &u[k], err);
        if (st)
            return st;
    }
    rq->principal = u[0];
    rq->action = u[1];
    rq->resource = u[2];
    if (s && validate) {
        writ_status st = cedar_request_validate(s, u[0], u[1], u[2], err);
        if (st)
            return st;
    }
    writ_status st = cedar_json_context(rq->arena, json_object_get(j, "context"), s, u[1], &rq->context, err);
    if (st == WRIT_ESCHEMA && validate) {
        st = WRIT_EVALIDATE;
        if (err)
            err->code = st;
    }
    return st;
}
