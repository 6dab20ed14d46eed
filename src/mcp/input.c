/* input.c - tool arguments to Cedar's JSON value format (see input.h). */
#include "mcp/input.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cedar/ext.h"
#include "cedar/ext_impl.h"
#include "cedar/json.h"
#include "util/arena.h"
#include "cedar/schema.h"
#include "jcs/jcs.h"
#include "util/error.h"

typedef struct conv {
    unsigned max_depth;
    size_t max_values, max_bytes;
    size_t values, bytes;
    char path[200]; /* where the last error is, for the message */
} conv;

int mcp_input_decimal_text(double v, char *buf, size_t cap)
{
    if (cap < 32 || !isfinite(v))
        return 0;
    if (v == 0) {
        snprintf(buf, cap, "0.0");
        return 1;
    }
    char d[18];
    int n;
    int k = wr_num_shortest(v, d, &n); /* |v| = 0.d x 10^n */
    if (k - n > 4 || n > 15)           /* >4 fraction digits, or >= 10^15 */
        return 0;
    size_t w = 0;
    if (v < 0)
        buf[w++] = '-';
    if (n <= 0) {
        buf[w++] = '0';
    } else {
        for (int i = 0; i < n; i++)
            buf[w++] = i < k ? d[i] : '0';
    }
    buf[w++] = '.';
    if (k <= n) {
        buf[w++] = '0';
    } else {
        for (int i = n; i < 0; i++)
            buf[w++] = '0';
        for (int i = n > 0 ? n : 0; i < k; i++)
            buf[w++] = d[i];
    }
    buf[w] = 0;
    cv_ext x;
    return cedar_decimal_check(buf, w, &x) == NULL;
}

/* JavaScript reads a JSON number as a double: past 2^53 an integer is
 * rounded (9007199254740993 is 9007199254740992 to a Node upstream), so a
 * policy (or an approver) would see one number and the upstream act on
 * another.  Such integers are refused: send them as strings. */
#define EXACT_MAX 9007199254740992.0 /* 2^53 */

/* A number with no fraction is an integer whatever its spelling: 2.0, 2e0
 * and -0.0 are the upstream's 2 and 0 (JSON has one number type, and
 * JavaScript and JSON Schema's "integer" agree), so Cedar sees a Long, as
 * for 2.  Else `[1,2,3].contains(context.input.id)` is false for the
 * decimal 2.0, with no error to fail closed on.  A finite v is strictly
 * within +-2^53 (check_exact_real refused the rest), so the cast is exact. */
static bool whole(double v, json_int_t *out)
{
    if (!isfinite(v) || v != trunc(v))
        return false;
    *out = (json_int_t)v;
    return true;
}

static json_t *decimal_json(const char *text)
{
    return json_pack("{s{ssss}}", "__extn", "fn", "decimal", "arg", text);
}

/* The schema type of `input` for the hinted action, or NULL. */
static const cs_type *hint_type(const mcp_input_hint *h)
{
    if (!h || !h->schema || !h->action_type || !h->action_id)
        return NULL;
    const writ_schema *s = h->schema;
    size_t tl = strlen(h->action_type), il = strlen(h->action_id);
    for (size_t i = 0; i < s->nactions; i++) {
        const cv_uid *u = s->actions[i].uid;
        if (u->type->len != tl || u->id->len != il || memcmp(u->type->data, h->action_type, tl) ||
            memcmp(u->id->data, h->action_id, il))
            continue;
        const cs_type *ctx = s->actions[i].context;
        for (size_t a = 0; ctx && a < ctx->nattrs; a++)
            if (ctx->attrs[a].name->len == 5 && !memcmp(ctx->attrs[a].name->data, "input", 5))
                return ctx->attrs[a].type;
        return NULL;
    }
    return NULL;
}

static const cs_type *attr_type(const cs_type *t, const char *k, size_t kl)
{
    if (!t || t->kind != CS_RECORD)
        return NULL;
    for (size_t a = 0; a < t->nattrs; a++)
        if (t->attrs[a].name->len == kl && !memcmp(t->attrs[a].name->data, k, kl))
            return t->attrs[a].type;
    return NULL;
}

static void path_add(conv *c, const char *k, size_t kl)
{
    /* snprintf(c->path + n, room, ".%.*s", min(kl, 40), k), by hand */
    size_t n = strlen(c->path);
    if (n + 2 < sizeof c->path) {
        size_t room = sizeof c->path - n - 1, l = strnlen(k, kl > 40 ? 40 : kl);
        c->path[n] = '.';
        if (l > room - 1)
            l = room - 1;
        memcpy(c->path + n + 1, k, l);
        c->path[n + 1 + l] = '\0';
    }
}

/* A walk's counters, with the limits given or the defaults. */
static conv conv_start(const mcp_input_limits *limits)
{
    conv c = {0};
    c.max_depth = limits && limits->max_depth ? limits->max_depth : MCP_INPUT_DEFAULT_MAX_DEPTH;
    c.max_values = limits && limits->max_values ? limits->max_values : MCP_INPUT_DEFAULT_MAX_VALUES;
    c.max_bytes = limits && limits->max_bytes ? limits->max_bytes : MCP_INPUT_DEFAULT_MAX_BYTES;
    return c;
}

/* The checks both walks (conv_value, cv_conv) make, in the same order, so
 * that both refuse the same arguments with the same words. */
static writ_status count_value(conv *c, writ_error *err)
{
    if (++c->values > c->max_values)
        return wr_error(err, WRIT_ELIMIT, "tool arguments: more than %zu values", c->max_values);
    return WRIT_OK;
}

static writ_status count_bytes(conv *c, size_t n, writ_error *err)
{
    c->bytes += n;
    if (c->bytes > c->max_bytes)
        return wr_error(err, WRIT_ELIMIT, "tool arguments: strings and keys exceed %zu bytes", c->max_bytes);
    return WRIT_OK;
}

static writ_status check_depth(const conv *c, unsigned depth, writ_error *err)
{
    if (depth >= c->max_depth)
        return wr_error(err, WRIT_ELIMIT, "tool arguments nested deeper than %u levels", c->max_depth);
    return WRIT_OK;
}

static writ_status check_exact(conv *c, json_int_t v, writ_error *err)
{
    if (v > (json_int_t)EXACT_MAX || v < -(json_int_t)EXACT_MAX)
        return wr_error(err, WRIT_EINVAL,
                        "tool arguments: the integer %" JSON_INTEGER_FORMAT " at input%s is beyond 2^53, where "
                        "an upstream reading JSON numbers as doubles (JavaScript) would round it; send it as a string",
                        v, c->path);
    return WRIT_OK;
}

/* A number spelled with a fraction or an exponent from 2^53 on: a double
 * there is whole but may not be the text's number, and as a String it would
 * equal no Long (a forbid on `id == 9007199254740992` skipped for 9.007e15
 * spelled 9007199254740992.0): refused, as an integer there is. */
static writ_status check_exact_real(conv *c, double v, writ_error *err)
{
    if (isfinite(v) && (v >= EXACT_MAX || v <= -EXACT_MAX))
        return wr_error(err, WRIT_EINVAL,
                        "tool arguments: the number %.17g at input%s is beyond 2^53, where a double is no longer "
                        "exact; send it as a string",
                        v, c->path);
    return WRIT_OK;
}

static writ_status check_key(conv *c, const char *k, size_t kl, writ_error *err)
{
    if ((kl == 6 && !memcmp(k, "__extn", 6)) || (kl == 8 && !memcmp(k, "__entity", 8)))
        return wr_error(err, WRIT_EINVAL,
                        "tool arguments: key \"%s\" at input%s is reserved by Cedar's JSON format "
                        "(it would read as an escape); such arguments are refused",
                        k, c->path);
    return count_bytes(c, kl, err);
}

/* Convert j (not null) typed t (may be NULL); *out a new tree. */
static writ_status conv_value(conv *c, const json_t *j, const cs_type *t, unsigned depth, json_t **out,
                              writ_error *err)
{
    *out = NULL;
    writ_status cst = count_value(c, err);
    if (cst)
        return cst;
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        *out = json_boolean(json_is_true(j));
        break;
    case JSON_STRING:
        if ((cst = count_bytes(c, json_string_length(j), err)))
            return cst;
        *out = json_stringn_nocheck(json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER: {
        json_int_t v = json_integer_value(j);
        if ((cst = check_exact(c, v, err)))
            return cst;
        if (t && t->kind == CS_EXT && t->ext == CVX_DECIMAL) {
            char buf[48];
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT ".0", v);
            cv_ext x;
            if (!cedar_decimal_check(buf, strlen(buf), &x)) {
                *out = decimal_json(buf);
                break;
            }
        }
        *out = json_integer(v);
        break;
    }
    case JSON_REAL: {
        char buf[WR_NUM_ES_MAX];
        double v = json_real_value(j);
        json_int_t w;
        if ((cst = check_exact_real(c, v, err)))
            return cst;
        /* whole: a Long, unless the schema says decimal */
        if ((!t || t->kind != CS_EXT || t->ext != CVX_DECIMAL) && whole(v, &w))
            *out = json_integer(w);
        else if (mcp_input_decimal_text(v, buf, sizeof buf))
            *out = decimal_json(buf);
        else if (wr_num_es(v, buf, sizeof buf))
            *out = json_string(buf);
        else
            return wr_error(err, WRIT_EINVAL, "tool arguments: a number that is not finite");
        break;
    }
    case JSON_ARRAY:
    case JSON_OBJECT: {
        if ((cst = check_depth(c, depth, err)))
            return cst;
        bool arr = json_is_array(j);
        json_t *o = arr ? json_array() : json_object();
        if (!o)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        if (arr) {
            const cs_type *et = t && t->kind == CS_SET ? t->elem : NULL;
            for (size_t i = 0; i < json_array_size(j); i++) {
                const json_t *e = json_array_get(j, i);
                if (json_is_null(e))
                    continue;
                json_t *ce;
                writ_status st = conv_value(c, e, et, depth + 1, &ce, err);
                if (st || json_array_append_new(o, ce)) {
                    json_decref(o);
                    return st ? st : wr_error(err, WRIT_ENOMEM, "out of memory");
                }
            }
        } else {
            const char *k;
            json_t *v;
            size_t kl;
            json_object_keylen_foreach((json_t *)j, k, kl, v)
            {
                if ((cst = check_key(c, k, kl, err))) {
                    json_decref(o);
                    return cst;
                }
                if (json_is_null(v))
                    continue;
                size_t plen = strlen(c->path);
                path_add(c, k, kl);
                json_t *cv;
                writ_status st = conv_value(c, v, attr_type(t, k, kl), depth + 1, &cv, err);
                c->path[plen] = 0;
                if (st || json_object_setn_new_nocheck(o, k, kl, cv)) {
                    json_decref(o);
                    return st ? st : wr_error(err, WRIT_ENOMEM, "out of memory");
                }
            }
        }
        *out = o;
        return WRIT_OK;
    }
    case JSON_NULL: /* callers skip nulls */
        return wr_error(err, WRIT_EINVAL, "tool arguments: unexpected null");
    }
    return *out ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
}

writ_status mcp_input_to_cedar(const json_t *args, const mcp_input_limits *limits, const mcp_input_hint *hint,
                               json_t **out, writ_error *err)
{
    *out = NULL;
    if (args && !json_is_object(args))
        return wr_error(err, WRIT_EINVAL, "tool arguments must be a JSON object");
    conv c = conv_start(limits);
    if (!args) {
        *out = json_object();
        return *out ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    return conv_value(&c, args, hint_type(hint), 0, out, err);
}

/* ---- straight to Cedar values (mcp_input_to_values)
 *
 * The same walk as conv_value, with the same checks in the same order (so
 * the same refusals), but each value is built as the Cedar value that
 * reading conv_value's JSON would give (json.c's read_value without a
 * type): records keep their keys as the reader decodes them and are
 * sorted by cv_record_new, arrays become sets by cv_set_new, decimals are
 * constructed from the same text.  tests/unit/test_mcp_input.c and
 * fuzz_mcp_message.c compare the two. */
static writ_status cv_conv(conv *c, wr_arena *a, const json_t *j, unsigned depth, cv_value *out,
                           writ_error *err)
{
    *out = cv_none();
    writ_status cst = count_value(c, err);
    if (cst)
        return cst;
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        *out = cv_bool(json_is_true(j));
        return WRIT_OK;
    case JSON_STRING:
        if ((cst = count_bytes(c, json_string_length(j), err)))
            return cst;
        *out = cv_str_new(a, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        if ((cst = check_exact(c, json_integer_value(j), err)))
            return cst;
        *out = cv_long((int64_t)json_integer_value(j));
        return WRIT_OK;
    case JSON_REAL: {
        char buf[WR_NUM_ES_MAX];
        double v = json_real_value(j);
        const char *msg = NULL;
        json_int_t w;
        if ((cst = check_exact_real(c, v, err)))
            return cst;
        if (whole(v, &w)) {
            *out = cv_long((int64_t)w);
            return WRIT_OK;
        }
        if (mcp_input_decimal_text(v, buf, sizeof buf)) {
            if (cedar_ext_construct(a, "decimal", 7, buf, strlen(buf), out, &msg) < 0)
                return wr_error(err, WRIT_ENOMEM, "out of memory"); /* checked: only OOM */
        } else if (wr_num_es(v, buf, sizeof buf)) {
            *out = cv_str_new(a, buf, strlen(buf));
        } else {
            return wr_error(err, WRIT_EINVAL, "tool arguments: a number that is not finite");
        }
        break;
    }
    case JSON_ARRAY:
    case JSON_OBJECT: {
        if ((cst = check_depth(c, depth, err)))
            return cst;
        if (json_is_array(j)) {
            size_t n = json_array_size(j), w = 0;
            cv_value *items = n ? wr_arena_alloc(a, n * sizeof *items) : NULL;
            if (n && !items)
                return wr_error(err, WRIT_ENOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) {
                const json_t *e = json_array_get(j, i);
                if (json_is_null(e))
                    continue;
                writ_status st = cv_conv(c, a, e, depth + 1, &items[w], err);
                if (st)
                    return st;
                w++;
            }
            *out = cv_set_new(a, items, w);
            break;
        }
        size_t n = json_object_size(j), w = 0;
        cv_field *f = n ? wr_arena_alloc(a, n * sizeof *f) : NULL;
        if (n && !f)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        const char *k;
        json_t *v;
        size_t kl;
        json_object_keylen_foreach((json_t *)j, k, kl, v)
        {
            if ((cst = check_key(c, k, kl, err)))
                return cst;
            if (json_is_null(v))
                continue;
            /* the key as the Cedar reader decodes it */
            const char *dk = k;
            size_t dl = kl;
            if (memchr(k, 1, kl)) {
                char *kb = wr_arena_alloc(a, kl + 1);
                if (!kb)
                    return wr_error(err, WRIT_ENOMEM, "out of memory");
                dl = cedar_json_key_decode(k, kl, kb);
                dk = kb;
            }
            if (!(f[w].key = cv_string_new(a, dk, dl)))
                return wr_error(err, WRIT_ENOMEM, "out of memory");
            size_t plen = strlen(c->path);
            path_add(c, k, kl);
            writ_status st = cv_conv(c, a, v, depth + 1, &f[w].v, err);
            c->path[plen] = 0;
            if (st)
                return st;
            w++;
        }
        *out = cv_record_new(a, f, w);
        break;
    }
    case JSON_NULL: /* callers skip nulls */
        return wr_error(err, WRIT_EINVAL, "tool arguments: unexpected null");
    }
    return out->type != CV_NONE ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
}

writ_status mcp_input_to_values(wr_arena *a, const json_t *args, const mcp_input_limits *limits,
                                cv_value *out, writ_error *err)
{
    *out = cv_none();
    if (args && !json_is_object(args))
        return wr_error(err, WRIT_EINVAL, "tool arguments must be a JSON object");
    conv c = conv_start(limits);
    if (!args) {
        *out = cv_record_new(a, NULL, 0);
        return out->type != CV_NONE ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    return cv_conv(&c, a, args, 0, out, err);
}
