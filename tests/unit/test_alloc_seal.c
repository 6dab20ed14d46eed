/* test_alloc_seal.c - writ_set_allocator after libwrit allocated is refused
 * (writ.h), also when that allocation went through jansson alone: a tree
 * from writ_json_parse, freed later with json_decref, would otherwise reach
 * the new allocator's free.  Its own binary: the allocator is set once per
 * process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <jansson.h>

#include "writ/cedar.h"

#define MAGIC 0x57524954u
/* a host allocator that tags its blocks: anything else reaching its free fails the test */
static void *tag_malloc(void *user, size_t n)
{
    (void)user;
    uint32_t *p = malloc(n + 16);
    if (!p)
        return NULL;
    p[0] = MAGIC;
    return (char *)p + 16;
}
static void tag_free(void *user, void *q)
{
    (void)user;
    if (!q)
        return;
    uint32_t *p = (uint32_t *)((char *)q - 16);
    if (p[0] != MAGIC)
        fail_msg("a block the host allocator never gave out reached its free");
    free(p);
}
static void *tag_realloc(void *user, void *q, size_t n)
{
    if (!q)
        return tag_malloc(user, n);
    uint32_t *p = (uint32_t *)((char *)q - 16);
    if (p[0] != MAGIC)
        fail_msg("a block the host allocator never gave out reached its realloc");
    p = realloc(p, n + 16);
    return p ? (char *)p + 16 : NULL;
}

static void test_set_after_json_parse(void **state)
{
    (void)state;
    writ_error err;
    json_t *j = writ_json_parse("{\"a\": [1, 2, 3]}", 16, &err);
    assert_non_null(j);
    assert_int_equal(writ_set_allocator(tag_malloc, tag_realloc, tag_free, NULL), WRIT_EINVAL);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_set_after_json_parse)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
