/* fuzz_mcp_stdio.c - libFuzzer target for the stdio upstream's message path
 * (src/mcp/upstream.c): the line splitter on the process's stdout, reading
 * an answer's id, rewriting a request's id and putting the original back.
 *
 * Input: byte 0 picks the line limit (1..256, or 64 KiB), byte 1 seeds the
 * chunk sizes; the rest is the byte stream.  Besides "no crash", it aborts
 * when a property fails:
 *   - the lines out of the splitter, however the stream is cut into chunks,
 *     are exactly the non-empty lines of the stream (a trailing "\r"
 *     removed) of at most the limit; each longer one comes out as its
 *     length and its id scan (mcp/idscan.h), the same scan as of the whole
 *     line at once, and the splitter goes on after it;
 *   - the id scanner agrees with jansson: an answer id it reads is the one
 *     up_stdio_answer_id reads from any line jansson parses, and an answer
 *     with one top-level "id", no escape in the line and an id of at most
 *     MCP_IDSCAN_MAX bytes gets its id read; a request it reads is refused
 *     with one line, an error answer with the request's id;
 *   - a rewritten message is one line (no "\n" or "\r"), parses back,
 *     carries the new id, and with the original id put back (as an answer's
 *     is) equals the message sent, the id included;
 *   - an answer whose id is read gets the caller's id and is otherwise the
 *     same message;
 *   - the process's own request is answered with one line that parses, is
 *     an answer (never read as one of ours) and carries the request's id;
 *     anything else gets no answer. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/upstream_int.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct got {
    char **lines;
    size_t *lens;
    size_t n;
    /* the lines past the limit: their lengths and what their scan said */
    uint64_t *long_lens;
    long long *long_ids; /* the answer id, -1 when none */
    size_t nlong;
} got;

static long long scan_answer(const mcp_idscan *sc)
{
    uint64_t id;
    return mcp_idscan_answer(sc, &id) ? (long long)id : -1;
}

static void collect_long(void *ctx, const mcp_idscan *sc, uint64_t len)
{
    got *g = ctx;
    g->long_lens = realloc(g->long_lens, (g->nlong + 1) * sizeof *g->long_lens);
    g->long_ids = realloc(g->long_ids, (g->nlong + 1) * sizeof *g->long_ids);
    g->long_lens[g->nlong] = len;
    g->long_ids[g->nlong++] = scan_answer(sc);
}

/* The id scanner on p[0..n) (cut in two at a point of n's choosing) against jansson. */
static void check_scan(const char *p, size_t n)
{
    mcp_idscan sc;
    mcp_idscan_init(&sc);
    size_t cut = n ? (n * 7 + 3) % (n + 1) : 0;
    mcp_idscan_feed(&sc, p, cut);
    mcp_idscan_feed(&sc, p + cut, n - cut);
    uint64_t sid, jid;
    bool sa = mcp_idscan_answer(&sc, &sid);
    json_t *m = NULL;
    bool ja = up_stdio_answer_id(p, n, &jid, &m);
    json_t *v = memchr(p, 0, n) ? NULL : json_loadb(p, n, 0, NULL);
    if (sa && v && (!ja || jid != sid))
        abort();
    size_t vs, ve;
    if (ja && jid > 0 && !memchr(p, '\\', n) && up_json_id_span(p, n, &vs, &ve) &&
        ve - vs <= MCP_IDSCAN_MAX && (!sa || sid != jid))
        abort();
    /* a request of the process's too long to keep: refused with one line,
     * an error answer carrying its id */
    char *no = up_stdio_refusal_long(&sc);
    if (no) {
        size_t nl = strlen(no);
        json_t *a = json_loads(no, 0, NULL);
        if (!nl || no[nl - 1] != '\n' || memchr(no, '\n', nl - 1) || memchr(no, '\r', nl) || !a ||
            !json_object_get(a, "error") || json_object_get(a, "method") ||
            (v && !json_equal(json_object_get(a, "id"), json_object_get(v, "id"))))
            abort();
        json_decref(a);
        wr_free(no);
    }
    json_decref(v);
    json_decref(m);
}

static void collect(void *ctx, const char *line, size_t len)
{
    got *g = ctx;
    if (memchr(line, '\n', len) || !len)
        abort();
    g->lines = realloc(g->lines, (g->n + 1) * sizeof *g->lines);
    g->lens = realloc(g->lens, (g->n + 1) * sizeof *g->lens);
    g->lines[g->n] = malloc(len ? len : 1);
    memcpy(g->lines[g->n], line, len);
    g->lens[g->n++] = len;
}

static void check_message(const char *p, size_t n)
{
    static uint64_t wire = 1;
    char *line = NULL, *orig_text = NULL;
    up_msg_kind kind;
    json_t *orig = NULL;
    bool init;
    uint64_t nid = wire++ % 1000000007u;
    if (up_stdio_rewrite(p, n, nid, &line, &kind, &orig, &orig_text, &init, NULL) == WRIT_OK) {
        if (strchr(line, '\n') || strchr(line, '\r'))
            abort();
        json_t *back = json_loads(line, JSON_ALLOW_NUL, NULL);
        json_t *sent = json_loadb(p, n, JSON_ALLOW_NUL, NULL);
        if (!back || !sent)
            abort();
        if (kind == UP_MSG_REQUEST) {
            json_t *id = json_object_get(back, "id");
            if (!json_is_integer(id) || (uint64_t)json_integer_value(id) != nid || !orig || !orig_text)
                abort();
            /* The caller's id put back as the stdio upstream does with an
             * answer: the message is the one sent. */
            char *again = up_stdio_restore(line, strlen(line), back, orig_text);
            json_t *a = again ? json_loads(again, JSON_ALLOW_NUL, NULL) : NULL;
            if (!a || !json_equal(a, sent) || !json_equal(json_object_get(a, "id"), orig))
                abort();
            json_decref(a);
            wr_free(again);
        } else if (orig || orig_text || !json_equal(back, sent)) {
            abort();
        }
        json_decref(back);
        json_decref(sent);
        wr_free(line);
        wr_free(orig_text);
        json_decref(orig);
    }
    uint64_t id;
    json_t *msg;
    bool answer = up_stdio_answer_id(p, n, &id, &msg);
    char *no = up_stdio_refusal(p, n, msg);
    if (no) {
        size_t nl = strlen(no);
        json_t *req = json_loadb(p, n, JSON_ALLOW_NUL, NULL);
        json_t *ans = json_loads(no, JSON_ALLOW_NUL, NULL);
        uint64_t aid;
        json_t *amsg = NULL;
        if (!nl || no[nl - 1] != '\n' || memchr(no, '\n', nl - 1) || memchr(no, '\r', nl) || !req || !ans ||
            !json_is_string(json_object_get(req, "method")) || json_object_get(ans, "method") ||
            !json_equal(json_object_get(ans, "id"), json_object_get(req, "id")) ||
            (!json_object_get(ans, "result") == !json_object_get(ans, "error")))
            abort();
        /* an answer to its request, with its id: ours only if it used a number of ours */
        if (up_stdio_answer_id(no, nl - 1, &aid, &amsg) && !json_is_integer(json_object_get(req, "id")))
            abort();
        json_decref(amsg);
        json_decref(req);
        json_decref(ans);
        wr_free(no);
    }
    if (answer) {
        json_t *want = json_string("caller-id");
        char *t = up_stdio_restore(p, n, msg, "\"caller-id\"");
        json_t *again = t ? json_loads(t, JSON_ALLOW_NUL, NULL) : NULL;
        if (!again || !json_equal(json_object_get(again, "id"), want))
            abort();
        json_object_set(msg, "id", want);
        if (!json_equal(again, msg))
            abort();
        json_decref(again);
        wr_free(t);
        json_decref(want);
    }
    json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = data[0] == 255 ? 65536 : (size_t)data[0] + 1;
    unsigned seed = data[1];
    const char *p = (const char *)data + 2;
    size_t n = size - 2;

    /* The splitter, fed in pseudo-random chunks. */
    up_lines l;
    up_lines_init(&l, max);
    got g = {0};
    bool ok = true;
    for (size_t off = 0; off < n && ok;) {
        seed = seed * 1103515245u + 12345u;
        size_t k = 1 + (seed >> 16) % 97;
        if (k > n - off)
            k = n - off;
        ok = up_lines_feed(&l, p + off, k, collect, collect_long, &g);
        off += k;
    }
    /* The reference: split the whole stream at once. */
    size_t i = 0, il = 0, start = 0;
    for (size_t j = 0; j < n; j++) {
        if (p[j] != '\n')
            continue;
        size_t len = j - start;
        if (len && p[j - 1] == '\r')
            len--;
        if (len > max) {
            mcp_idscan sc;
            mcp_idscan_init(&sc);
            mcp_idscan_feed(&sc, p + start, j - start);
            if (il >= g.nlong || g.long_lens[il] != j - start || g.long_ids[il] != scan_answer(&sc))
                abort();
            check_scan(p + start, j - start);
            il++;
        } else if (len) {
            if (i >= g.n || g.lens[i] != len || memcmp(g.lines[i], p + start, len))
                abort();
            i++;
        }
        start = j + 1;
    }
    if (!ok || i != g.n || il != g.nlong)
        abort();
    for (size_t k = 0; k < g.n; k++) {
        check_message(g.lines[k], g.lens[k]);
        check_scan(g.lines[k], g.lens[k]);
        free(g.lines[k]);
    }
    free(g.lines);
    free(g.lens);
    free(g.long_lens);
    free(g.long_ids);
    up_lines_free(&l);
    /* The whole input as one message, too. */
    check_message(p, n);
    check_scan(p, n);
    return 0;
}
