/* jsonrpc.c - parse and classify one JSON-RPC 2.0 message (see jsonrpc.h). */
#include "mcp/jsonrpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cedar/json.h"
#include "util/alloc.h"
#include "util/error.h"
#include "writ/cedar.h"

static void fail_set(mcp_rpc_fail *f, int code, mcp_rpc_why why, writ_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void fail_set(mcp_rpc_fail *f, int code, mcp_rpc_why why, writ_status st, const char *fmt, ...)
{
    f->code = code;
    f->why = why;
    memset(&f->err, 0, sizeof f->err);
    f->err.code = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err.msg, sizeof f->err.msg, fmt, ap);
    va_end(ap);
}

/* line:column (1-based, column in bytes) of offset off in text. */
static void position(mcp_rpc_fail *f, const char *text, size_t off)
{
    uint32_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n')
            line++, col = 1;
        else
            col++;
    }
    f->err.line = line;
    f->err.col = col;
    f->err.offset = off;
}

/* The first offset where arrays/objects nest deeper than max, or
 * (size_t)-1.  Brackets inside strings do not count; the scan does not
 * check the syntax (the JSON parser does, afterwards). */
static size_t too_deep(const char *t, size_t n, unsigned max)
{
    unsigned depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return i;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return (size_t)-1;
}

static bool id_ok(const json_t *id) { return json_is_string(id) || json_is_integer(id); }

static const char *kind_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a bool";
    default:
        return "null";
    }
}

/* Classify the parsed object j into m; 0 or a failure filled in f. */
static writ_status classify(json_t *j, mcp_rpc_msg *m, mcp_rpc_fail *f)
{
    json_t *id = json_object_get(j, "id");
    /* Keep the id for the error answer as soon as it is one we may echo. */
    if (id && id_ok(id))
        f->id = json_incref(id);
    const json_t *ver = json_object_get(j, "jsonrpc");
    if (!json_is_string(ver) || json_string_length(ver) != 3 || memcmp(json_string_value(ver), "2.0", 3)) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                 "invalid request: \"jsonrpc\" must be the string \"2.0\"");
        return WRIT_EINVAL;
    }
    const json_t *method = json_object_get(j, "method");
    const json_t *result = json_object_get(j, "result");
    const json_t *error = json_object_get(j, "error");
    if (method) {
        if (!json_is_string(method)) {
            fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                     "invalid request: \"method\" must be a string, not %s", kind_name(method));
            return WRIT_EINVAL;
        }
        if (result || error) {
            fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                     "invalid request: a message with \"method\" cannot have \"%s\"",
                     result ? "result" : "error");
            return WRIT_EINVAL;
        }
        if (id && !id_ok(id)) {
            fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                     "invalid request: \"id\" must be a string or an integer, not %s", kind_name(id));
            return WRIT_EINVAL;
        }
        const json_t *params = json_object_get(j, "params");
        if (params && !json_is_object(params)) {
            bool arr = json_is_array(params);
            fail_set(f, arr ? MCP_RPC_INVALID_PARAMS : MCP_RPC_INVALID_REQUEST,
                     arr ? MCP_RPC_EPARAMS : MCP_RPC_ESHAPE, WRIT_EINVAL,
                     "%s: \"params\" must be an object, not %s", arr ? "invalid params" : "invalid request",
                     kind_name(params));
            return WRIT_EINVAL;
        }
        m->kind = id ? MCP_RPC_REQUEST : MCP_RPC_NOTIFICATION;
        m->id = id;
        m->method = json_string_value(method);
        m->method_len = json_string_length(method);
        m->params = params;
        return WRIT_OK;
    }
    if (!result && !error) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                 "invalid request: a message needs \"method\" (request or notification) or \"result\" or "
                 "\"error\" (response)");
        return WRIT_EINVAL;
    }
    if (result && error) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                 "invalid request: a response cannot have both \"result\" and \"error\"");
        return WRIT_EINVAL;
    }
    if (!id || !(id_ok(id) || (error && json_is_null(id)))) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                 "invalid request: a response's \"id\" must be a string or an integer%s, not %s",
                 error ? " (or null)" : "", id ? kind_name(id) : "missing");
        return WRIT_EINVAL;
    }
    if (error) {
        const json_t *code = json_object_get(error, "code");
        const json_t *msg = json_object_get(error, "message");
        if (!json_is_object(error) || !json_is_integer(code) || !json_is_string(msg)) {
            fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                     "invalid request: \"error\" must be an object with an integer \"code\" and a string "
                     "\"message\"");
            return WRIT_EINVAL;
        }
    }
    m->kind = error ? MCP_RPC_ERROR_RESPONSE : MCP_RPC_RESPONSE;
    m->id = id;
    m->result = result;
    m->error = error;
    return WRIT_OK;
}

writ_status mcp_rpc_parse(const char *text, size_t len, const mcp_rpc_limits *limits, mcp_rpc_msg *out,
                          mcp_rpc_fail *f)
{
    memset(out, 0, sizeof *out);
    memset(f, 0, sizeof *f);
    size_t max_size = limits && limits->max_size ? limits->max_size : MCP_RPC_DEFAULT_MAX_SIZE;
    unsigned max_depth = limits && limits->max_depth ? limits->max_depth : MCP_RPC_DEFAULT_MAX_DEPTH;
    if (len > max_size) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ELIMIT_SIZE, WRIT_ELIMIT,
                 "message of %zu bytes exceeds the limit of %zu bytes", len, max_size);
        return WRIT_ELIMIT;
    }
    size_t deep = too_deep(text, len, max_depth);
    if (deep != (size_t)-1) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ELIMIT_DEPTH, WRIT_ELIMIT,
                 "arrays and objects nested deeper than %u levels", max_depth);
        position(f, text, deep);
        return WRIT_ELIMIT;
    }
    size_t k = 0;
    while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r'))
        k++;
    if (k == len) {
        fail_set(f, MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, WRIT_EJSON, "parse error: the message is empty");
        return WRIT_EJSON;
    }
    writ_error je;
    json_t *j = writ_json_parse(text, len, &je);
    if (!j) {
        /* jansson says "too big integer" / "real number overflow". */
        bool num = strstr(je.msg, "too big") || strstr(je.msg, "overflow");
        if (je.code == WRIT_ENOMEM)
            fail_set(f, MCP_RPC_INTERNAL_ERROR, MCP_RPC_ENOMEM, WRIT_ENOMEM, "out of memory");
        else if (num)
            fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ENUMBER, WRIT_EJSON,
                     "invalid request: a number out of range (%s); integers must fit in 64 bits", je.msg);
        else if (je.code == WRIT_EDUP)
            fail_set(f, MCP_RPC_PARSE_ERROR, MCP_RPC_EDUPKEY, WRIT_EDUP, "parse error: %s", je.msg);
        else
            fail_set(f, MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, WRIT_EJSON, "parse error: %s", je.msg);
        f->err.line = je.line;
        f->err.col = je.col;
        f->err.offset = je.offset;
        return f->err.code;
    }
    if (json_is_array(j)) {
        json_decref(j);
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_EBATCH, WRIT_EINVAL,
                 "invalid request: batches (JSON arrays) are not supported; send one message per request");
        return WRIT_EINVAL;
    }
    if (!json_is_object(j)) {
        fail_set(f, MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, WRIT_EINVAL,
                 "invalid request: a message must be a JSON object, not %s", kind_name(j));
        json_decref(j);
        return WRIT_EINVAL;
    }
    writ_status st = classify(j, out, f);
    if (st) {
        json_decref(j);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->root = j;
    json_decref(f->id);
    f->id = NULL;
    return WRIT_OK;
}

void mcp_rpc_msg_clear(mcp_rpc_msg *m)
{
    if (!m)
        return;
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

void mcp_rpc_fail_clear(mcp_rpc_fail *f)
{
    if (!f)
        return;
    json_decref(f->id);
    memset(f, 0, sizeof *f);
}

bool mcp_rpc_is_method(const mcp_rpc_msg *m, const char *method)
{
    size_t n = strlen(method);
    return m->method && m->method_len == n && !memcmp(m->method, method, n);
}

bool mcp_rpc_tools_changed(const json_t *msg)
{
    const char *m = json_string_value(json_object_get(msg, "method"));
    return m && !strcmp(m, "notifications/tools/list_changed") && !json_object_get(msg, "id");
}

writ_status mcp_rpc_tool_call(const mcp_rpc_msg *m, mcp_tool_call *out, mcp_rpc_fail *f)
{
    memset(out, 0, sizeof *out);
    memset(f, 0, sizeof *f);
    const json_t *name = m->params ? json_object_get(m->params, "name") : NULL;
    const char *why = NULL;
    if (!name)
        why = "tools/call needs params.name";
    else if (!json_is_string(name))
        why = "params.name must be a string";
    else if (json_string_length(name) == 0)
        why = "params.name must not be empty";
    else if (memchr(json_string_value(name), 0, json_string_length(name)))
        why = "params.name must not contain U+0000";
    const json_t *args = m->params ? json_object_get(m->params, "arguments") : NULL;
    if (!why && args && !json_is_object(args) && !json_is_null(args))
        why = "params.arguments must be an object";
    if (why) {
        fail_set(f, MCP_RPC_INVALID_PARAMS, MCP_RPC_EPARAMS, WRIT_EINVAL, "invalid params: %s", why);
        if (m->id && id_ok(m->id))
            f->id = json_incref((json_t *)m->id);
        return WRIT_EINVAL;
    }
    out->name = json_string_value(name);
    out->name_len = json_string_length(name);
    out->arguments = json_is_object(args) ? args : NULL;
    return WRIT_OK;
}

/* ---- answers */

/* A copy of s with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD (jansson accepts only valid UTF-8). */
static char *utf8_clean(const char *s, size_t n)
{
    char *o = wr_malloc(n * 3 + 1);
    if (!o)
        return NULL;
    size_t w = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        bool ok = len > 0 && i + len <= n && !(len == 2 && c < 0xC2) && !(len == 4 && c > 0xF4);
        unsigned long cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; ok && k < len; k++) {
            ok = (u[i + k] & 0xC0) == 0x80;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (ok && len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok && len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
            ok = false;
        if (ok && c == 0)
            ok = false;
        if (ok) {
            memcpy(o + w, s + i, len);
            w += len;
            i += len;
        } else {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        }
    }
    o[w] = 0;
    return o;
}

char *mcp_rpc_error_text(const json_t *id, int code, const char *message, const json_t *data)
{
    if (!message)
        message = "";
    char *clean = utf8_clean(message, strlen(message));
    if (!clean)
        return NULL;
    json_t *e = json_object();
    json_t *r = json_object();
    json_t *idv = id && (json_is_string(id) || json_is_integer(id)) ? json_incref((json_t *)id) : json_null();
    bool ok = e && r && idv && !json_object_set_new(e, "code", json_integer(code)) &&
              !json_object_set_new(e, "message", json_string(clean)) &&
              (!data || !json_object_set(e, "data", (json_t *)data)) &&
              !json_object_set_new(r, "jsonrpc", json_string("2.0")) && !json_object_set(r, "id", idv) &&
              !json_object_set(r, "error", e);
    wr_free(clean);
    json_decref(idv);
    json_decref(e);
    char *text = NULL;
    if (ok) {
        /* jansson's allocator is malloc: copy into ours. */
        char *d = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (d) {
            text = wr_strndup(d, strlen(d));
            free(d);
        }
    }
    json_decref(r);
    return text;
}

char *mcp_rpc_fail_text(const mcp_rpc_fail *f)
{
    json_t *data = NULL;
    if (f->err.line) {
        data = json_pack("{sI sI sI}", "line", (json_int_t)f->err.line, "column", (json_int_t)f->err.col,
                         "offset", (json_int_t)f->err.offset);
        if (!data)
            return NULL;
    }
    char *t = mcp_rpc_error_text(f->id, f->code, f->err.msg, data);
    json_decref(data);
    return t;
}

int mcp_rpc_answer_fast(const char *text, size_t len)
{
    enum { JRPC, METHOD, RESULT, ERROR, ID };
    cedar_json_kinds err = {.n = 2, .name = {"code", "message"}};
    cedar_json_kinds top = {.n = 5,
                            .name = {"jsonrpc", "method", "result", "error", "id"},
                            .text = {"2.0"},
                            .inner = &err,
                            .inner_of = ERROR};
    if (cedar_json_fast_kinds(text, len, &top))
        return -1;
    const int *k = top.kind;
    bool result = k[RESULT] != 0, error = k[ERROR] != 0;
    bool ok = k[JRPC] == CEDAR_JK_STRING && top.is_text[JRPC] && !k[METHOD] && result != error &&
              (k[ID] == CEDAR_JK_STRING || k[ID] == CEDAR_JK_INTEGER || (error && k[ID] == CEDAR_JK_NULL)) &&
              (!error || (k[ERROR] == CEDAR_JK_OBJECT && err.kind[0] == CEDAR_JK_INTEGER &&
                          err.kind[1] == CEDAR_JK_STRING));
    return ok ? 1 : -1;
}
