/* approval.c - binding, ids, times and the JSON of approvals (approval.h). */
#include "approval/approval.h"
#include "jose/jose.h"
#include "util/alloc.h"
#include "util/text.h"

#include <openssl/evp.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void hash_field(EVP_MD_CTX *md, const char *s)
{
    if (!s)
        s = "";
    uint64_t n = strlen(s);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (56 - 8 * i));
    EVP_DigestUpdate(md, len, sizeof len);
    EVP_DigestUpdate(md, s, (size_t)n);
}

void wr_approval_bind(wr_approval *a)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    a->binding[0] = '\0';
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return; /* an empty binding: the store refuses it (fail closed) */
    }
    /* v2: the task's purpose too, which the approver is shown (v1 bound the
     * id only: a token of the same task id with another purpose used it) */
    hash_field(md, "writ-approval-v2");
    hash_field(md, a->agent);
    hash_field(md, a->task_id);
    hash_field(md, a->task_purpose);
    hash_field(md, a->chain);
    hash_field(md, a->action);
    hash_field(md, a->resource);
    hash_field(md, a->input_sha256);
    if (EVP_DigestFinal_ex(md, d, &dl) == 1 && dl == 32)
        wr_hex(a->binding, d, 32);
    EVP_MD_CTX_free(md);
}

int wr_approval_new_id(char id[40])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    memcpy(id, "apr_", 4);
    wr_b64url_encode(r, sizeof r, id + 4);
    return 0;
}

bool wr_approval_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 40)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

void wr_approval_cursor(const wr_approval_pos *p, char out[WR_APPROVAL_CURSOR_MAX])
{
    char text[64];
    int n = snprintf(text, sizeof text, "%lld.%s", (long long)p->created_ms, p->id);
    if (n < 0 || (size_t)n >= sizeof text || wr_b64url_enc_len((size_t)n) >= WR_APPROVAL_CURSOR_MAX) {
        out[0] = '\0'; /* an id longer than ids are: no cursor reads as it */
        return;
    }
    wr_b64url_encode((const unsigned char *)text, (size_t)n, out);
}

bool wr_approval_cursor_parse(const char *s, wr_approval_pos *p)
{
    size_t len = strlen(s), tl = 0;
    unsigned char *raw = NULL;
    char text[64];
    if (!len || len >= WR_APPROVAL_CURSOR_MAX || !wr_b64url_decode(s, len, &raw, &tl))
        return false;
    bool ok = tl < sizeof text && !memchr(raw, '\0', tl);
    if (ok)
        memcpy(text, raw, tl);
    wr_free(raw);
    if (!ok)
        return false;
    text[tl] = '\0';
    char *dot = strchr(text, '.'), *end = NULL;
    if (!dot)
        return false;
    *dot = '\0';
    errno = 0;
    long long ms = strtoll(text, &end, 10);
    if (errno || end == text || *end || ms < 0 || !wr_approval_id_ok(dot + 1))
        return false;
    p->created_ms = ms;
    snprintf(p->id, sizeof p->id, "%s", dot + 1);
    /* one spelling per place ("+5", "05" and " 5" are not cursors) */
    char again[WR_APPROVAL_CURSOR_MAX];
    wr_approval_cursor(p, again);
    return strcmp(again, s) == 0;
}

void wr_approval_time(int64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03dZ", base, (int)(ms % 1000));
}

static void put_opt_str(sbuf *b, const char *s)
{
    if (s)
        sb_json_str(b, s);
    else
        sb_puts(b, "null");
}

/* Put stored JSON text as it is when it parses, else as a string. */
static void put_json_text(sbuf *b, const char *text, const char *fallback)
{
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    if (j) {
        char *t = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (t) {
            sb_puts(b, t);
            free(t); /* jansson's allocator */
            return;
        }
    }
    sb_puts(b, fallback);
}

/* "BASE/approvals/ID" as a JSON string */
static void put_url(sbuf *b, const char *base, const char *id)
{
    sbuf u;
    sb_init(&u);
    sb_puts(&u, base ? base : "");
    sb_puts(&u, "/approvals/");
    sb_puts(&u, id);
    if (sb_ok(&u))
        sb_json_strn(b, u.p, u.len);
    else
        sb_puts(b, "null");
    sb_free(&u);
}

void wr_approval_ref_json(sbuf *b, const char *id, const char *status, int64_t expires_ms, const char *base,
                          const char *decided_by, const char *reason)
{
    char t[40];
    wr_approval_time(expires_ms, t);
    sb_puts(b, "{\"id\":");
    sb_json_str(b, id);
    sb_puts(b, ",\"status\":");
    sb_json_str(b, status);
    sb_puts(b, ",\"expires_at\":");
    sb_json_str(b, t);
    sb_puts(b, ",\"url\":");
    put_url(b, base, id);
    if (decided_by) {
        sb_puts(b, ",\"decided_by\":");
        sb_json_str(b, decided_by);
        sb_puts(b, ",\"reason\":");
        put_opt_str(b, reason);
    }
    sb_putc(b, '}');
}

/* The code points wr_json_visible escapes, as sorted inclusive ranges:
 * controls (tab, line feed and carriage return are JSON's whitespace),
 * Unicode's format characters (Cf), default ignorables, separators and the
 * spaces other than U+0020 (with the braille blank, which draws as one). */
static const uint32_t wr_hidden_ranges[][2] = {
    {0x00, 0x08},         {0x0B, 0x0C},         {0x0E, 0x1F},         {0x7F, 0xA0},
    {0xAD, 0xAD},         {0x34F, 0x34F},       {0x600, 0x605},       {0x61C, 0x61C},
    {0x6DD, 0x6DD},       {0x70F, 0x70F},       {0x890, 0x891},       {0x8E2, 0x8E2},
    {0x115F, 0x1160},     {0x1680, 0x1680},     {0x17B4, 0x17B5},     {0x180B, 0x180F},
    {0x2000, 0x200F},     {0x2028, 0x202F},     {0x205F, 0x206F},     {0x2800, 0x2800},
    {0x3000, 0x3000},     {0x3164, 0x3164},     {0xFE00, 0xFE0F},     {0xFEFF, 0xFEFF},
    {0xFFA0, 0xFFA0},     {0xFFF0, 0xFFFB},     {0x110BD, 0x110BD},   {0x110CD, 0x110CD},
    {0x13430, 0x1343F},   {0x1BCA0, 0x1BCA3},   {0x1D173, 0x1D17A},   {0xE0000, 0xE0FFF},
};

static bool hidden_cp(uint32_t cp)
{
    size_t lo = 0, hi = sizeof wr_hidden_ranges / sizeof wr_hidden_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < wr_hidden_ranges[mid][0])
            hi = mid;
        else if (cp > wr_hidden_ranges[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* The code point of the UTF-8 sequence at s (n > 0 bytes left) and its
 * length; 0 when it is not valid UTF-8 (overlong, surrogate, past U+10FFFF,
 * cut short). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80               ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (!len || len > n)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

void wr_json_visible(const char *in, size_t n, sbuf *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, run = 0; /* run: where the bytes copied as they are start */
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_next(s + i, n - i, &cp);
        if (len && !hidden_cp(cp)) {
            i += len;
            continue;
        }
        sb_putn(out, in + run, i - run);
        if (!len)
            sb_puts(out, "\\ufffd");
        else if (cp < 0x10000)
            sb_printf(out, "\\u%04x", (unsigned)cp);
        else
            sb_printf(out, "\\u%04x\\u%04x", (unsigned)(0xD800 + ((cp - 0x10000) >> 10)),
                      (unsigned)(0xDC00 + ((cp - 0x10000) & 0x3FF)));
        i += len ? len : 1;
        run = i;
    }
    sb_putn(out, in + run, n - run);
}

/* The approval's JSON as its fields spell it (wr_approval_json shows it). */
static void approval_json_text(sbuf *b, const wr_approval *a, const char *base, const char *owner)
{
    char c[40], e[40];
    wr_approval_time(a->created_ms, c);
    wr_approval_time(a->expires_ms, e);
    sb_puts(b, "{\"id\":");
    sb_json_str(b, a->id);
    sb_puts(b, ",\"status\":");
    sb_json_str(b, wr_approval_status_name(a->status));
    sb_puts(b, ",\"agent\":");
    put_opt_str(b, a->agent);
    sb_puts(b, ",\"action\":");
    put_opt_str(b, a->action);
    sb_puts(b, ",\"resource\":");
    put_opt_str(b, a->resource);
    sb_puts(b, ",\"task\":");
    /* a purpose is bound with or without a task id: shown either way */
    if ((a->task_id && *a->task_id) || (a->task_purpose && *a->task_purpose)) {
        sb_puts(b, "{\"id\":");
        sb_json_str(b, a->task_id ? a->task_id : "");
        sb_puts(b, ",\"purpose\":");
        put_opt_str(b, a->task_purpose);
        sb_putc(b, '}');
    } else {
        sb_puts(b, "null");
    }
    sb_puts(b, ",\"chain\":");
    put_json_text(b, a->chain, "[]");
    sb_puts(b, ",\"input_sha256\":");
    sb_json_str(b, a->input_sha256);
    sb_puts(b, ",\"input\":");
    put_json_text(b, a->input, "{}");
    sb_puts(b, ",\"created_at\":");
    sb_json_str(b, c);
    sb_puts(b, ",\"expires_at\":");
    sb_json_str(b, e);
    sb_puts(b, ",\"decided_by\":");
    put_opt_str(b, a->decided_by);
    sb_puts(b, ",\"reason\":");
    put_opt_str(b, a->decided_by ? a->reason : NULL);
    if (base) {
        sb_puts(b, ",\"url\":");
        put_url(b, base, a->id);
    }
    if (owner) {
        sb_puts(b, ",\"owner\":");
        sb_json_str(b, owner);
    }
    sb_putc(b, '}');
}

/* Every reader of it is shown every character: people read it in a
 * terminal (the CLI, curl), in the console and in what a webhook posts. */
void wr_approval_json(sbuf *b, const wr_approval *a, const char *base, const char *owner)
{
    sbuf t;
    sb_init(&t);
    approval_json_text(&t, a, base, owner);
    if (sb_ok(&t))
        wr_json_visible(t.p, t.len, b);
    else
        b->failed = true; /* out of memory: b fails too */
    sb_free(&t);
}

int wr_uid_split(const char *uid, char **type, char **id)
{
    *type = *id = NULL;
    const char *q = uid ? strchr(uid, '"') : NULL;
    if (!q || q - uid < 3 || q[-1] != ':' || q[-2] != ':')
        return -1;
    json_t *j = json_loads(q, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_string(j)) {
        json_decref(j);
        return -1;
    }
    *type = wr_strndup(uid, (size_t)(q - 2 - uid));
    *id = wr_strndup(json_string_value(j), json_string_length(j));
    json_decref(j);
    if (!*type || !*id) {
        wr_free(*type);
        wr_free(*id);
        *type = *id = NULL;
        return -1;
    }
    return 0;
}

static json_t *entity_ref(const char *uid)
{
    char *type, *id;
    if (wr_uid_split(uid, &type, &id))
        return NULL;
    json_t *r = json_pack("{s:{s:s,s:s}}", "__entity", "type", type, "id", id);
    wr_free(type);
    wr_free(id);
    return r;
}

/* Drop the null members of v's objects, in place: an approval's input
 * shows the nulls the call holds (gate.c), and Cedar reads the input
 * without them, as the call's own decision did. */
static void drop_nulls(json_t *v, int depth)
{
    if (depth > 64)
        return;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) drop_nulls(e, depth + 1);
        return;
    }
    const char *k;
    json_t *e;
    void *tmp;
    json_object_foreach_safe(v, tmp, k, e)
    {
        if (json_is_null(e))
            json_object_del(v, k);
        else
            drop_nulls(e, depth + 1);
    }
}

json_t *wr_approval_attrs(const wr_approval *a)
{
    json_t *agent = entity_ref(a->agent), *target = entity_ref(a->resource);
    json_t *input = a->input ? json_loads(a->input, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : json_object();
    json_t *chain = a->chain ? json_loads(a->chain, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : json_array();
    json_t *task = json_pack("{s:s,s:s}", "id", a->task_id ? a->task_id : "", "purpose",
                             a->task_purpose ? a->task_purpose : "");
    json_t *out = NULL;
    drop_nulls(input, 0);
    /* the input as it is: a record as a rule, but AuthZEN's context.input
     * may be any value (a string, a number, an array), and its approval is
     * decided on like any other (a policy's `resource.input has amount` is
     * then an error: no permit) */
    if (agent && target && input && task) {
        /* the depth: hops from the root, as context.chain_depth counts them */
        size_t n = json_is_array(chain) ? json_array_size(chain) : 0;
        out = json_pack("{s:O,s:s,s:O,s:O,s:O,s:I}", "agent", agent, "action", a->action ? a->action : "",
                        "target", target, "task", task, "input", input, "chain_depth",
                        (json_int_t)(n > 0 ? n - 1 : 0));
    }
    json_decref(agent);
    json_decref(target);
    json_decref(input);
    json_decref(chain);
    json_decref(task);
    return out;
}

static json_t *claim_value(const json_t *v, int depth)
{
    if (depth > 32)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
    case JSON_INTEGER:
    case JSON_TRUE:
    case JSON_FALSE:
        return json_copy((json_t *)v);
    case JSON_REAL: {
        char t[64];
        snprintf(t, sizeof t, "%.17g", json_real_value(v));
        return json_string(t);
    }
    case JSON_ARRAY: {
        json_t *o = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            json_t *c = claim_value(e, depth + 1);
            if (c)
                json_array_append_new(o, c);
        }
        return o;
    }
    case JSON_OBJECT: {
        json_t *o = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            if (!strcmp(k, "__entity") || !strcmp(k, "__extn") || !strcmp(k, "__expr"))
                continue;
            json_t *c = claim_value(e, depth + 1);
            if (c)
                json_object_set_new(o, k, c);
        }
        return o;
    }
    default:
        return NULL;
    }
}

json_t *wr_claims_cedar(const json_t *claims)
{
    return json_is_object(claims) ? claim_value(claims, 0) : json_object();
}
