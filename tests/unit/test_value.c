/* test_value.c - the value module: canonical sets and records, ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cedar/value.h"

/* Records keep the LAST of equal keys, whatever the size (insertion sort
 * below 17 fields, merge sort above), and come out sorted by key. */
static void test_record_last_wins(void **state)
{
    (void)state;
    wr_arena *a = wr_arena_new(0);
    for (size_t n = 1; n <= 64; n++) {
        cv_field f[128];
        char key[32];
        /* n distinct keys in reverse order, then the same keys again with new values */
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof key, "k%03zu", n - 1 - i);
            f[i].key = cv_string_new(a, key, strlen(key));
            f[i].v = cv_long(1);
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof key, "k%03zu", i);
            f[n + i].key = cv_string_new(a, key, strlen(key));
            f[n + i].v = cv_long(2);
        }
        assert_true(cv_fields_have_duplicate(f, 2 * n));
        cv_value r = cv_record_new(a, f, 2 * n);
        assert_int_equal(r.type, CV_RECORD);
        assert_int_equal(r.u.rec->n, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(r.u.rec->f[i].v.u.l, 2);
            if (i)
                assert_true(cv_string_cmp(r.u.rec->f[i - 1].key, r.u.rec->f[i].key) < 0);
        }
    }
    wr_arena_free(a);
}

static void test_set_canonical(void **state)
{
    (void)state;
    wr_arena *a = wr_arena_new(0);
    cv_value items[] = {cv_long(3), cv_str_new(a, "b", 1), cv_long(1), cv_bool(true), cv_long(3),
                        cv_str_new(a, "a", 1), cv_str_new(a, "b", 1), cv_entity_new(a, "U", 1, "x", 1)};
    cv_value s = cv_set_new(a, items, sizeof items / sizeof items[0]);
    assert_int_equal(s.type, CV_SET);
    assert_int_equal(s.u.set->n, 6);
    for (size_t i = 1; i < s.u.set->n; i++)
        assert_true(cv_compare(s.u.set->v[i - 1], s.u.set->v[i]) < 0);
    assert_true(cv_set_contains(s.u.set, cv_long(3)));
    assert_true(cv_set_contains(s.u.set, cv_entity_new(a, "U", 1, "x", 1)));
    assert_false(cv_set_contains(s.u.set, cv_long(2)));
    cv_value t = cv_set_new(a, items + 2, 4);   /* 1, true, 3, "a" */
    assert_false(cv_equal(s, t));
    cv_value u = cv_set_new(a, (cv_value[]){cv_str_new(a, "a", 1), cv_long(3), cv_bool(true), cv_long(1)}, 4);
    assert_true(cv_equal(t, u));
    char buf[128];
    cv_format(u, buf, sizeof buf);
    assert_string_equal(buf, "[true, 1, 3, \"a\"]");
    wr_arena_free(a);
}

/* cv_bytes_eq against memcmp: every length up to 40, a difference at every
 * position, at odd offsets (the word loads are unaligned). */
static void test_bytes_eq(void **state)
{
    (void)state;
    char x[64], y[64];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t off = 0; off < 3; off++) {
            for (size_t i = 0; i < n; i++)
                x[off + i] = y[1 + i] = (char)('a' + i % 26);
            assert_true(cv_bytes_eq(x + off, y + 1, n));
            for (size_t d = 0; d < n; d++) {
                y[1 + d] ^= 0x20;
                assert_false(cv_bytes_eq(x + off, y + 1, n));
                assert_int_equal(cv_bytes_eq(x + off, y + 1, n), !memcmp(x + off, y + 1, n));
                y[1 + d] ^= 0x20;
            }
        }
    }
}

/* cv_record_find (hash scan up to 16 fields, search above) finds what
 * cv_record_get finds, and nothing that is absent. */
static void test_record_find(void **state)
{
    (void)state;
    wr_arena *a = wr_arena_new(0);
    for (size_t n = 0; n <= 40; n++) {
        cv_field f[40];
        char key[32];
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof key, "attr_%zu", i * 7 % 41);
            f[i].key = cv_string_new(a, key, strlen(key));
            f[i].v = cv_long((int64_t)i);
        }
        cv_value r = cv_record_new(a, f, n);
        assert_int_equal(r.type, CV_RECORD);
        for (size_t k = 0; k < 41; k++) {
            snprintf(key, sizeof key, "attr_%zu", k);
            const cv_string *s = cv_string_new(a, key, strlen(key));
            assert_ptr_equal(cv_record_find(r.u.rec, s), cv_record_get(r.u.rec, key, strlen(key)));
        }
        for (size_t i = 0; i < n; i++) {
            const cv_value *v = cv_record_find(r.u.rec, f[i].key);
            assert_non_null(v);
            assert_int_equal(v->u.l, (int64_t)i);
        }
    }
    wr_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_last_wins),
        cmocka_unit_test(test_set_canonical),
        cmocka_unit_test(test_bytes_eq),
        cmocka_unit_test(test_record_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
