/* toolschema.c - tools/list result -> .cedarschema text (see toolschema.h).
 *
 * A JSON Schema is turned into a Cedar type in two steps so that an
 * attribute is either printed whole or left out whole: ty_check() says
 * whether (and why not) a schema has a Cedar type, ty_print() prints one
 * that has.  Inside a record, a property whose schema has no type becomes a
 * comment line instead of an attribute.
 */
#include "mcp/toolschema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/sbuf.h"
#include "util/error.h"

static void indent(sbuf *b, int level)
{
    for (int i = 0; i < level; i++)
        sb_putn(b, "  ", 2);
}

/* A Cedar string literal: quotes and backslashes escaped, control
 * characters as \u{H}, other bytes (UTF-8) as they are. */
static void put_lit(sbuf *b, const char *s, size_t n)
{
    sb_putn(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_putn(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            sb_printf(b, "\\u{%x}", c);
        } else {
            sb_putn(b, s + i, 1);
        }
    }
    sb_putn(b, "\"", 1);
}

/* ---- JSON Schema -> Cedar type */

static const char *const unsupported_kw[] = {"oneOf", "anyOf", "allOf", "not", "$ref", "if", NULL};

/* The single non-null type of schema s in *type, and whether "null" was
 * also allowed.  NULL when there is one; else why not (static text or
 * written into why). */
static const char *one_type(const json_t *s, const char **type, bool *nullable)
{
    *nullable = false;
    *type = NULL;
    const json_t *t = json_object_get(s, "type");
    if (!t) {
        if (json_is_object(json_object_get(s, "properties"))) {
            *type = "object";
            return NULL;
        }
        return "its schema has no \"type\"";
    }
    if (json_is_string(t)) {
        *type = json_string_value(t);
        if (!strcmp(*type, "null"))
            return "type null has no Cedar type";
    } else if (json_is_array(t)) {
        for (size_t i = 0; i < json_array_size(t); i++) {
            const json_t *e = json_array_get(t, i);
            if (!json_is_string(e))
                return "its \"type\" list holds a non-string";
            if (!strcmp(json_string_value(e), "null")) {
                *nullable = true;
                continue;
            }
            if (*type)
                return "a union of types has no Cedar type";
            *type = json_string_value(e);
        }
        if (!*type)
            return "type null has no Cedar type";
    } else {
        return "its \"type\" is not a string";
    }
    return NULL;
}

/* NULL when s has a Cedar type, else why not.  why is scratch space. */
static const char *ty_check(const json_t *s, int depth, char *why, size_t whycap)
{
    if (!json_is_object(s))
        return "a boolean or non-object schema has no Cedar type";
    if (depth > MCP_TOOLSCHEMA_MAX_DEPTH)
        return "nested too deeply";
    for (int i = 0; unsupported_kw[i]; i++)
        if (json_object_get(s, unsupported_kw[i])) {
            snprintf(why, whycap, "%s has no Cedar type", unsupported_kw[i]);
            return why;
        }
    const char *type;
    bool nullable;
    const char *r = one_type(s, &type, &nullable);
    if (r)
        return r;
    if (!strcmp(type, "string") || !strcmp(type, "integer") || !strcmp(type, "number") ||
        !strcmp(type, "boolean"))
        return NULL;
    if (!strcmp(type, "array")) {
        const json_t *items = json_object_get(s, "items");
        if (!json_is_object(items))
            return "an array without one \"items\" schema has no Cedar type";
        return ty_check(items, depth + 1, why, whycap) ? "its items have no Cedar type" : NULL;
    }
    if (!strcmp(type, "object")) {
        if (!json_is_object(json_object_get(s, "properties")))
            return "an object without \"properties\" (a map) has no Cedar type";
        return NULL;
    }
    snprintf(why, whycap, "type \"%.40s\" has no Cedar type", type);
    return why;
}

static bool nullable_of(const json_t *s)
{
    const char *type;
    bool nullable;
    return json_is_object(s) && !one_type(s, &type, &nullable) && nullable;
}

static bool in_required(const json_t *req, const char *k, size_t kl)
{
    for (size_t i = 0; i < json_array_size(req); i++) {
        const json_t *e = json_array_get(req, i);
        if (json_is_string(e) && json_string_length(e) == kl && !memcmp(json_string_value(e), k, kl))
            return true;
    }
    return false;
}

/* Text inside a // comment: a control character (a newline would end
 * the comment) is written as '?'. */
static void put_comment_text(sbuf *b, const char *s)
{
    for (; *s; s++) {
        char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
        sb_putn(b, &c, 1);
    }
}

static void ty_print(sbuf *b, const json_t *s, int depth, int level);

/* The attributes of an object schema, one a line at level. */
static void record_body(sbuf *b, const json_t *s, int depth, int level)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const char *k;
    json_t *v;
    size_t kl;
    json_object_keylen_foreach((json_t *)props, k, kl, v)
    {
        char why[96];
        const char *no = ty_check(v, depth + 1, why, sizeof why);
        indent(b, level);
        if (no) {
            sb_puts(b, "// ");
            put_lit(b, k, kl);
            sb_puts(b, " left out: ");
            put_comment_text(b, no);
            sb_puts(b, "\n");
            continue;
        }
        put_lit(b, k, kl);
        if (!in_required(req, k, kl) || nullable_of(v))
            sb_putn(b, "?", 1);
        sb_puts(b, ": ");
        ty_print(b, v, depth + 1, level);
        sb_puts(b, ",\n");
    }
    const json_t *addl = json_object_get(s, "additionalProperties");
    if (!json_is_false(addl)) {
        indent(b, level);
        sb_puts(b, "// additional properties are not declared: a call that sends one fails validation\n");
    }
}

static void ty_print(sbuf *b, const json_t *s, int depth, int level)
{
    const char *type;
    bool nullable;
    (void)one_type(s, &type, &nullable); /* checked by ty_check */
    if (!strcmp(type, "string"))
        sb_puts(b, "String");
    else if (!strcmp(type, "integer"))
        sb_puts(b, "Long");
    else if (!strcmp(type, "number"))
        sb_puts(b, "decimal");
    else if (!strcmp(type, "boolean"))
        sb_puts(b, "Bool");
    else if (!strcmp(type, "array")) {
        sb_puts(b, "Set<");
        ty_print(b, json_object_get(s, "items"), depth + 1, level);
        sb_puts(b, ">");
    } else { /* object with properties */
        sb_puts(b, "{\n");
        record_body(b, s, depth, level + 1);
        indent(b, level);
        sb_puts(b, "}");
    }
}

/* ---- the fragment */

static bool ns_ok(const char *ns)
{
    const char *p = ns;
    for (;;) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
            return false;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
            p++;
        if (!*p)
            return true;
        if (p[0] != ':' || p[1] != ':')
            return false;
        p += 2;
    }
}

static const char ctx_common[] = "\"task\": { \"id\": String, \"purpose\": String },\n"
                                 "\"chain\": Set<String>,\n"
                                 "\"chain_depth\": Long,\n"
                                 "\"time\": datetime,\n"
                                 "\"source_ip\": ipaddr,\n"
                                 "\"destination\": String,\n"
                                 "\"sensitivity\": String,\n"
                                 "\"destinations\": Set<String>,\n"
                                 "\"tool\": {\n"
                                 "  \"name\": String,\n"
                                 "  \"annotations\": {\n"
                                 "    \"readOnlyHint\"?: Bool,\n"
                                 "    \"destructiveHint\"?: Bool,\n"
                                 "    \"idempotentHint\"?: Bool,\n"
                                 "    \"openWorldHint\"?: Bool,\n"
                                 "  },\n"
                                 "},\n";

/* ctx_common, each line indented to level. */
static void put_common(sbuf *b, int level)
{
    const char *p = ctx_common;
    while (*p) {
        const char *nl = strchr(p, '\n');
        indent(b, level);
        sb_putn(b, p, (size_t)(nl - p + 1));
        p = nl + 1;
    }
}

static int name_cmp(const void *pa, const void *pb)
{
    const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
    size_t la = json_string_length(a), lb = json_string_length(b);
    int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

writ_status mcp_toolschema(const json_t *list_result, const char *upstream, const mcp_toolschema_opts *opts,
                           char **out, size_t *len, writ_error *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    const char *ns = opts && opts->ns ? opts->ns : "";
    if (*ns && !ns_ok(ns))
        return wr_error(err, WRIT_EINVAL, "namespace `%.80s` is not Name or Name::Name", ns);
    if (!upstream || !*upstream)
        return wr_error(err, WRIT_EINVAL, "no upstream name");
    const json_t *tools = json_is_object(list_result) ? json_object_get(list_result, "tools") : NULL;
    if (!json_is_array(tools))
        return wr_error(err, WRIT_EINVAL, "not a tools/list result: no \"tools\" array");
    size_t nt = json_array_size(tools);
    for (size_t i = 0; i < nt; i++) {
        const json_t *t = json_array_get(tools, i);
        const json_t *name = json_object_get(t, "name");
        if (!json_is_object(t) || !json_is_string(name) || !json_string_length(name))
            return wr_error(err, WRIT_EINVAL, "tools[%zu]: a tool needs a non-empty string \"name\"", i);
    }
    /* Two tools with one name would be one action declared twice: sort the
     * names and compare neighbours. */
    const json_t **names = nt ? wr_calloc(nt, sizeof *names) : NULL;
    if (nt && !names)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    for (size_t i = 0; i < nt; i++)
        names[i] = json_object_get(json_array_get(tools, i), "name");
    if (nt > 1)
        qsort(names, nt, sizeof *names, name_cmp);
    for (size_t i = 1; i < nt; i++)
        if (!name_cmp(&names[i - 1], &names[i])) {
            wr_error(err, WRIT_EDUP, "tool \"%.80s\" is listed twice", json_string_value(names[i]));
            wr_free(names);
            return WRIT_EDUP;
        }
    wr_free(names);

    sbuf b;
    sb_init(&b);
    sb_puts(&b, "// Cedar schema fragment for the tools of MCP upstream ");
    put_lit(&b, upstream, strlen(upstream));
    sb_puts(&b, " (writ mcp schema).\n"
                "// One action per tool; context.input is typed from the tool's inputSchema.\n");
    int L = 0;
    if (*ns) {
        sb_printf(&b, "namespace %s {\n", ns);
        L = 1;
    }
    if (opts && opts->declare_agent) {
        indent(&b, L);
        sb_puts(&b, "entity Agent;\n");
    }
    indent(&b, L);
    sb_puts(&b, "entity McpServer;\n");
    size_t ul = strlen(upstream);
    for (size_t i = 0; i < nt; i++) {
        const json_t *t = json_array_get(tools, i);
        const json_t *name = json_object_get(t, "name");
        const json_t *in = json_object_get(t, "inputSchema");
        size_t nl = json_string_length(name);
        char *act = wr_malloc(ul + 1 + nl);
        if (!act) {
            b.failed = true;
            break;
        }
        memcpy(act, upstream, ul);
        act[ul] = '/';
        memcpy(act + ul + 1, json_string_value(name), nl);
        sb_puts(&b, "\n");
        indent(&b, L);
        sb_puts(&b, "action ");
        put_lit(&b, act, ul + 1 + nl);
        wr_free(act);
        sb_puts(&b, " appliesTo {\n");
        indent(&b, L + 1);
        sb_puts(&b, "principal: [Agent],\n");
        indent(&b, L + 1);
        sb_puts(&b, "resource: [McpServer],\n");
        indent(&b, L + 1);
        sb_puts(&b, "context: {\n");
        put_common(&b, L + 2);
        indent(&b, L + 2);
        sb_puts(&b, "\"input\": {\n");
        char why[96];
        const char *no =
            json_is_object(in) ? ty_check(in, 0, why, sizeof why) : "the tool has no inputSchema";
        const char *type;
        bool nullable;
        if (!no && (one_type(in, &type, &nullable) || strcmp(type, "object")))
            no = "its inputSchema is not an object schema";
        if (no) {
            indent(&b, L + 3);
            sb_puts(&b, "// input left empty: ");
            put_comment_text(&b, no);
            sb_puts(&b, "\n");
        } else {
            record_body(&b, in, 0, L + 3);
        }
        indent(&b, L + 2);
        sb_puts(&b, "},\n");
        indent(&b, L + 1);
        sb_puts(&b, "}\n");
        indent(&b, L);
        sb_puts(&b, "};\n");
    }
    if (*ns)
        sb_puts(&b, "}\n");
    size_t n = 0;
    if (!(*out = sb_take(&b, &n))) {
        sb_free(&b);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    if (len)
        *len = n;
    return WRIT_OK;
}
