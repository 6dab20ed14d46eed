/* test_sbuf.c - the string builder (util/sbuf.h): appends that fit are
 * inline, the others grow the buffer; either way the bytes are the same,
 * NUL-terminated, and a failed buffer takes nothing more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/alloc.h"
#include "util/sbuf.h"

/* Appends of every size across the growth steps, against a plain copy. */
static void test_appends(void **state)
{
    (void)state;
    sbuf b;
    sb_init(&b);
    char *ref = malloc(1 << 16);
    size_t at = 0;
    unsigned seed = 7;
    for (int i = 0; i < 3000; i++) {
        seed = seed * 1103515245u + 12345u;
        char chunk[40];
        size_t n = (seed >> 16) % sizeof chunk;
        for (size_t k = 0; k < n; k++)
            chunk[k] = (char)('a' + (i + k) % 26);
        switch (i % 3) {
        case 0:
            sb_putn(&b, chunk, n);
            memcpy(ref + at, chunk, n);
            at += n;
            break;
        case 1:
            sb_putc(&b, chunk[0] = (char)('A' + i % 26));
            ref[at++] = chunk[0];
            break;
        default:
            chunk[n] = '\0';
            sb_puts(&b, chunk);
            memcpy(ref + at, chunk, n);
            at += n;
        }
        assert_true(sb_ok(&b));
        assert_int_equal(b.len, at);
        assert_true(b.cap > b.len);
        assert_int_equal(b.p[b.len], '\0');
    }
    assert_memory_equal(b.p, ref, at);
    /* exactly filling the room, one byte at a time */
    sbuf c;
    sb_init(&c);
    for (int i = 0; i < 1000; i++) {
        sb_putc(&c, 'x');
        assert_int_equal(c.len, (size_t)i + 1);
        assert_int_equal(c.p[c.len], '\0');
    }
    size_t len;
    char *t = sb_take(&c, &len);
    assert_int_equal(len, 1000);
    assert_int_equal(strspn(t, "x"), 1000);
    wr_free(t);
    sb_free(&b);
    free(ref);
}

/* A failed buffer (allocation refused) stays failed and unchanged. */
static void test_failed(void **state)
{
    (void)state;
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "abc");
    wr_alloc_set_fail_after(0);
    char big[600];
    memset(big, 'y', sizeof big);
    sb_putn(&b, big, sizeof big);
    wr_alloc_set_fail_after(-1);
    assert_false(sb_ok(&b));
    size_t len = b.len;
    sb_putc(&b, 'z');
    sb_puts(&b, "q");
    sb_putn(&b, "r", 1);
    assert_false(sb_ok(&b));
    assert_int_equal(b.len, len);
    assert_null(sb_take(&b, NULL));
    sbuf c;
    sb_init(&c);
    sb_putn(&c, "", 0);
    assert_true(sb_ok(&c));
    assert_int_equal(c.len, 0);
    sb_free(&c);
}

/* Every byte in a JSON string: as it is, escaped, or (a lone byte from
 * 0x80, not UTF-8) U+FFFD. */
static void test_json_bytes(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char in[3] = {'a', (char)c, 'b'}, want[16];
        if (c == '"' || c == '\\')
            snprintf(want, sizeof want, "\"a\\%cb\"", c);
        else if (c == '\n')
            snprintf(want, sizeof want, "\"a\\nb\"");
        else if (c == '\t')
            snprintf(want, sizeof want, "\"a\\tb\"");
        else if (c == '\r')
            snprintf(want, sizeof want, "\"a\\rb\"");
        else if (c < 0x20)
            snprintf(want, sizeof want, "\"a\\u%04xb\"", c);
        else if (c >= 0x80)
            snprintf(want, sizeof want, "\"a\\ufffdb\"");
        else
            snprintf(want, sizeof want, "\"a%cb\"", c);
        sbuf b;
        sb_init(&b);
        sb_json_strn(&b, in, 3);
        assert_true(sb_ok(&b));
        if (strcmp(b.p, want))
            fail_msg("byte 0x%02x: got %s, want %s", c, b.p, want);
        sb_free(&b);
    }
    sbuf b;
    sb_init(&b);
    sb_json_str(&b, "caf\xc3\xa9 \xe2\x82\xac");
    assert_string_equal(b.p, "\"caf\xc3\xa9 \xe2\x82\xac\"");
    sb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_failed),
        cmocka_unit_test(test_json_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
