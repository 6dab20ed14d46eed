/* test_audit_spool.c - the PostgreSQL audit sink's local spool: batches
 * kept on disk in order, read back whole, counted across a restart, a torn
 * append cut, damage refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/audit_int.h"

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/writ-spool-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/spool.bin", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

/* A batch of n records from seq first (fields that vary with seq, one with
 * a shadow field, empty ones) and a checkpoint after the last when cp. */
typedef struct batch {
    au_rec r[8];
    au_cp_text c[1];
    char agent[8][32], prev[8][65], hash[8][65];
    size_t n, nc;
} batch;

static void make(batch *b, uint64_t first, size_t n, bool cp)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = first + i;
        snprintf(b->agent[i], sizeof b->agent[i], "Agent::\"a%llu\"", (unsigned long long)seq);
        memset(b->prev[i], 'a' + (int)(seq % 6), 64);
        memset(b->hash[i], '0' + (int)(seq % 10), 64);
        wr_audit_row *w = &b->r[i].row;
        w->seq = seq;
        w->e = (wr_audit_entry){.time_ms = 1700000000000 + (int64_t)seq,
                                .agent = b->agent[i],
                                .chain = "[]",
                                .task = "",
                                .action = "Action::\"read\"",
                                .resource = "Dataset::\"d\"",
                                .allow = seq % 2,
                                .policies = "[\"p1\"]",
                                .errors = "[]",
                                .shadow = seq % 3 ? "" : "{\"decision\":\"deny\"}"};
        w->prev = b->prev[i];
        w->hash = b->hash[i];
        w->replica = "r1";
        const char *f[AUDIT_FIELDS] = {w->e.agent,    w->e.chain,    w->e.task,   w->e.action,
                                       w->e.resource, w->e.policies, w->e.errors, w->e.shadow};
        for (int k = 0; k < AUDIT_FIELDS; k++)
            b->r[i].len[k] = strlen(f[k]);
    }
    b->n = n;
    if (cp) {
        b->c[0] = (au_cp_text){.seq = first + n - 1, .head = b->hash[n - 1], .time_ms = 42, .jws = "h.p.s"};
        b->nc = 1;
    }
}

static void same(const batch *want, const au_batch *got)
{
    assert_int_equal(got->n, want->n);
    assert_int_equal(got->nc, want->nc);
    for (size_t i = 0; i < want->n; i++) {
        const wr_audit_row *a = &want->r[i].row, *b = &got->r[i].row;
        assert_int_equal(b->seq, a->seq);
        assert_int_equal(b->e.time_ms, a->e.time_ms);
        assert_int_equal(b->e.allow, a->e.allow);
        assert_string_equal(b->e.agent, a->e.agent);
        assert_string_equal(b->e.chain, a->e.chain);
        assert_string_equal(b->e.task, a->e.task);
        assert_string_equal(b->e.action, a->e.action);
        assert_string_equal(b->e.resource, a->e.resource);
        assert_string_equal(b->e.policies, a->e.policies);
        assert_string_equal(b->e.errors, a->e.errors);
        assert_string_equal(b->e.shadow, a->e.shadow);
        assert_string_equal(b->prev, a->prev);
        assert_string_equal(b->hash, a->hash);
        assert_string_equal(b->replica, "r1");
        for (int k = 0; k < AUDIT_FIELDS; k++)
            assert_int_equal(got->r[i].len[k], want->r[i].len[k]);
    }
    for (size_t i = 0; i < want->nc; i++) {
        assert_int_equal(got->c[i].seq, want->c[i].seq);
        assert_int_equal(got->c[i].time_ms, want->c[i].time_ms);
        assert_string_equal(got->c[i].head, want->c[i].head);
        assert_string_equal(got->c[i].jws, want->c[i].jws);
    }
}

static au_spool *open_spool(void)
{
    au_spool *q = NULL;
    writ_error err;
    assert_int_equal(au_spool_file_open(path, &q, &err), WRIT_OK);
    return q;
}

static off_t size_of(void)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

static void in_order(void **state)
{
    (void)state;
    au_spool *q = open_spool();
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_true(au_spool_empty(q));
    batch b[3];
    make(&b[0], 1, 3, false);
    make(&b[1], 4, 1, true);
    make(&b[2], 5, 8, false);
    for (int i = 0; i < 3; i++)
        assert_int_equal(au_spool_append(q, b[i].r, b[i].n, b[i].c, b[i].nc), 0);
    assert_int_equal(au_spool_records(q), 12);
    for (int i = 0; i < 3; i++) {
        au_batch got;
        assert_int_equal(au_spool_peek(q, &got), 1);
        same(&b[i], &got);
        au_batch_free(&got);
        /* peeking again gives the same batch until it is popped */
        assert_int_equal(au_spool_peek(q, &got), 1);
        assert_int_equal(got.r[0].row.seq, b[i].r[0].row.seq);
        au_batch_free(&got);
        assert_int_equal(au_spool_pop(q), 0);
    }
    assert_true(au_spool_empty(q));
    assert_int_equal(au_spool_records(q), 0);
    au_batch none;
    assert_int_equal(au_spool_peek(q, &none), 0);
    assert_int_equal(size_of(), 0); /* emptied once all is shipped */
    au_spool_file_close(q);
}

static void survives_restart(void **state)
{
    (void)state;
    au_spool *q = open_spool();
    batch b[2];
    make(&b[0], 10, 2, true);
    make(&b[1], 12, 5, false);
    for (int i = 0; i < 2; i++)
        assert_int_equal(au_spool_append(q, b[i].r, b[i].n, b[i].c, b[i].nc), 0);
    au_spool_file_close(q);
    q = open_spool();
    assert_int_equal(au_spool_records(q), 7);
    au_batch got;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(au_spool_peek(q, &got), 1);
        same(&b[i], &got);
        au_batch_free(&got);
        assert_int_equal(au_spool_pop(q), 0);
    }
    au_spool_file_close(q);
}

/* A crash in the middle of an append (never acknowledged): cut at open,
 * whatever point it stopped at. */
static void torn_tail_cut(void **state)
{
    (void)state;
    au_spool *q = open_spool();
    batch b[2];
    make(&b[0], 1, 4, false);
    make(&b[1], 5, 4, false);
    assert_int_equal(au_spool_append(q, b[0].r, b[0].n, NULL, 0), 0);
    off_t one = size_of();
    assert_int_equal(au_spool_append(q, b[1].r, b[1].n, NULL, 0), 0);
    off_t two = size_of();
    au_spool_file_close(q);
    off_t cuts[] = {one + 3, one + 12, two - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        assert_int_equal(truncate(path, cuts[k]), 0);
        q = open_spool();
        assert_int_equal(au_spool_records(q), 4);
        assert_int_equal(size_of(), one);
        au_batch got;
        assert_int_equal(au_spool_peek(q, &got), 1);
        same(&b[0], &got);
        au_batch_free(&got);
        /* appends go on after the cut */
        assert_int_equal(au_spool_append(q, b[1].r, b[1].n, NULL, 0), 0);
        assert_int_equal(size_of(), two);
        au_spool_file_close(q);
    }
}

/* A damaged batch with acknowledged ones after it: refused, left as is. */
static void damage_refused(void **state)
{
    (void)state;
    au_spool *q = open_spool();
    batch b[2];
    make(&b[0], 1, 4, false);
    make(&b[1], 5, 4, false);
    assert_int_equal(au_spool_append(q, b[0].r, b[0].n, NULL, 0), 0);
    assert_int_equal(au_spool_append(q, b[1].r, b[1].n, NULL, 0), 0);
    off_t sz = size_of();
    au_spool_file_close(q);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 40), 1);
    close(fd);
    writ_error err;
    assert_int_equal(au_spool_file_open(path, &q, &err), WRIT_EVALIDATE);
    assert_non_null(strstr(err.msg, "damaged"));
    assert_int_equal(size_of(), sz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_tail_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(damage_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
