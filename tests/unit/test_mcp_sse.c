/* test_mcp_sse.c - the Server-Sent Events framing (mcp/sse.h): events read
 * as the WHATWG standard reads them, whatever the line endings, and written
 * back so that reading them again gives the same events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/sse.h"

typedef struct want {
    const char *data; /* NULL: no data field */
    const char *other;
} want;

/* Reads s, expects the events w[0..nw) and the tail. */
static void check(const char *s, size_t n, const want *w, size_t nw, const char *tail)
{
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    size_t at = 0, k = 0;
    int got;
    while ((got = mcp_sse_next(s, n, &at, &ev)) == 1) {
        assert_true(k < nw);
        assert_int_equal(ev.has_data, w[k].data != NULL);
        if (w[k].data) {
            assert_int_equal(ev.data.len, strlen(w[k].data));
            assert_memory_equal(ev.data.len ? ev.data.p : "", w[k].data, ev.data.len);
        }
        assert_int_equal(ev.other.len, strlen(w[k].other));
        assert_memory_equal(ev.other.len ? ev.other.p : "", w[k].other, ev.other.len);
        k++;
    }
    assert_int_equal(got, 0);
    assert_int_equal(k, nw);
    assert_int_equal(n - at, strlen(tail));
    assert_memory_equal(s + at, tail, n - at);
    mcp_sse_event_clear(&ev);
}
#define CHECK(s, tail, ...)                                                                                  \
    do {                                                                                                     \
        const want w_[] = {__VA_ARGS__};                                                                     \
        check(s, sizeof(s) - 1, w_, sizeof w_ / sizeof w_[0], tail);                                         \
    } while (0)

static void test_line_endings(void **state)
{
    (void)state;
    /* LF, CR LF and a lone CR all end a line, mixed in one stream */
    CHECK("event: message\ndata: {\"a\":1}\n\n", "", {"{\"a\":1}", "event: message\n"});
    CHECK("event: message\r\ndata: {\"a\":1}\r\n\r\n", "", {"{\"a\":1}", "event: message\n"});
    CHECK("event: message\rdata: {\"a\":1}\r\r", "", {"{\"a\":1}", "event: message\n"});
    CHECK("data: 1\r\n\rdata: 2\n\r\n", "", {"1", ""}, {"2", ""});
}

static void test_fields(void **state)
{
    (void)state;
    /* one space after the colon is removed, not two; no space is fine */
    CHECK("data:x\n\ndata:  y\n\n", "", {"x", ""}, {" y", ""});
    /* data lines join with "\n"; a bare "data" is an empty line of data */
    CHECK("data: a\ndata\ndata: b\n\n", "", {"a\n\nb", ""});
    /* the priming event: an id and empty data */
    CHECK("id: 7\ndata:\n\n", "", {"", "id: 7\n"});
    /* comments, retry, unknown fields and a "database" field are not data */
    CHECK(": hi\nretry: 10\ndatabase: no\nx\n\n", "", {NULL, ": hi\nretry: 10\ndatabase: no\nx\n"});
}

static void test_bom_and_tail(void **state)
{
    (void)state;
    CHECK("\xEF\xBB\xBF"
          "data: 1\n\n",
          "", {"1", ""});
    /* a BOM only at the start of the stream: a line starting with one later
     * is a field no client knows, dropped, since an event written back
     * first in a stream (mcp_sse_put) would lose the mark and turn it into
     * a data field no check saw */
    CHECK("data: 1\n\n\xEF\xBB\xBF"
          "data: 2\n\n",
          "", {"1", ""}, {NULL, ""});
    CHECK("data: 1\n\xEF\xBB\xBF"
          "data: 2\nid: 3\n\xEF\xBB\xBF\n\n",
          "", {"1", "id: 3\n"});
    CHECK("\xEF\xBB\xBF\xEF\xBB\xBF"
          "data: 2\n\n",
          "", {NULL, ""});
    /* no blank line after the last event: it is the tail, no event */
    CHECK("data: 1\n\ndata: 2\n", "data: 2\n", {"1", ""});
    CHECK("data: 1\n\ndata: 2", "data: 2", {"1", ""});
    /* blank lines alone end empty events: nothing but the blank line */
    CHECK("\n\n", "", {NULL, ""}, {NULL, ""});
    const char *s = "";
    size_t at = 0;
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    assert_int_equal(mcp_sse_next(s, 0, &at, &ev), 0);
    assert_int_equal(at, 0);
    mcp_sse_event_clear(&ev);
}

/* Written back, an event reads the same; the data can be replaced. */
static void test_put(void **state)
{
    (void)state;
    const char s[] = "event: message\r\ndata: a\r\ndata:\r\ndata:  b\r\n\r\n";
    mcp_sse_event ev, ev2;
    mcp_sse_event_init(&ev);
    mcp_sse_event_init(&ev2);
    size_t at = 0;
    assert_int_equal(mcp_sse_next(s, sizeof s - 1, &at, &ev), 1);
    sbuf out;
    sb_init(&out);
    mcp_sse_put(&out, &ev, NULL, 0);
    assert_string_equal(out.p, "event: message\ndata: a\ndata: \ndata:  b\n\n");
    size_t at2 = 0;
    assert_int_equal(mcp_sse_next(out.p, out.len, &at2, &ev2), 1);
    assert_int_equal(at2, out.len);
    assert_string_equal(ev2.data.p, ev.data.p);
    assert_string_equal(ev2.other.p, ev.other.p);
    /* a replacement, CR LF in it written as a line break */
    out.len = 0;
    mcp_sse_put(&out, &ev, "{\"x\":1}\r\nz", 10);
    assert_string_equal(out.p, "event: message\ndata: {\"x\":1}\ndata: z\n\n");
    /* an event without data stays without */
    out.len = 0;
    mcp_sse_event none;
    mcp_sse_event_init(&none);
    mcp_sse_put(&out, &none, NULL, 0);
    assert_string_equal(out.p, "\n");
    sb_free(&out);
    mcp_sse_event_clear(&ev);
    mcp_sse_event_clear(&ev2);
}

/* A stream arriving in pieces: where its complete events end. */
static void test_scan(void **state)
{
    (void)state;
    mcp_sse_scan sc = {0, false, false};
    /* a BOM's first bytes wait; a CR last waits for the next byte */
    assert_int_equal(mcp_sse_scan_end(&sc, "\xEF\xBB", 2, false), 0);
    const char s1[] = "\xEF\xBB\xBF"
                      "data: a\r\n\r";
    assert_int_equal(mcp_sse_scan_end(&sc, s1, sizeof s1 - 1, false), 0);
    const char s2[] = "\xEF\xBB\xBF"
                      "data: a\r\n\r\ndata: b\n";
    size_t end = mcp_sse_scan_end(&sc, s2, sizeof s2 - 1, false);
    assert_int_equal(end, 14); /* after the second "\r\n": CR LF is one line end */
    /* the rest, once the first event is taken away */
    sc.pos -= end;
    assert_int_equal(mcp_sse_scan_end(&sc, "data: b\n", 8, false), 0);
    assert_int_equal(mcp_sse_scan_end(&sc, "data: b\n\r", 9, false), 0);
    assert_int_equal(mcp_sse_scan_end(&sc, "data: b\n\r", 9, true), 9); /* the stream's end: a line end */
    /* a BOM and a blank line: an (empty) event, as mcp_sse_next reads it */
    mcp_sse_scan s0 = {0, false, false};
    assert_int_equal(mcp_sse_scan_end(&s0, "\xEF\xBB\xBF\n", 4, false), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_endings), cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bom_and_tail), cmocka_unit_test(test_put),
        cmocka_unit_test(test_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
