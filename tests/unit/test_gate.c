/* test_gate.c - the approval step of the one decision path as a module's
 * hook (server.h: srv_ext.gate): srv_decide_ask calls the gate exactly for
 * an allow that rests on @approval("required") permits alone, with the
 * request's fields, lets it turn the allow into a deny and add its part to
 * the answer (srv_outcome_json); with no gate registered such an allow is
 * a deny naming why (fail closed), and every other decision is untouched.
 * A real policy snapshot and the real decision path; only the gate is the
 * test's own (the approvals module's is tested through tests/server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/server_int.h"
#include "util/alloc.h"

static const char policies[] = "@approval(\"required\")\n"
                               "permit(principal == User::\"alice\", action == Action::\"pay\", resource);\n"
                               "permit(principal == User::\"bob\", action, resource);\n"
                               "@approval(\"required\")\n"
                               "permit(principal == User::\"bob\", action == Action::\"pay\", resource);\n"
                               "@review(\"required\")\n"
                               "permit(principal == User::\"carol\", action, resource);\n";

typedef struct fixture {
    char path[64];
    srv_config cfg;
    srv s;
    srv_ext ext;
} fixture;

/* What the test's gate saw and does. */
static struct {
    int calls;
    char agent[64], resource[64];
    bool hold; /* deny and attach a pending approval; else let the allow through */
} seen;

static void ref_json(const srv_outcome *o, sbuf *b)
{
    sb_puts(b, ",\"approval\":{\"id\":");
    sb_json_str(b, o->appr.id);
    sb_putc(b, '}');
}

static void test_gate(void *arg, srv *s, const srv_snapshot *snap, const srv_ask *a, const json_t *ctx,
                      const char *agent, const char *resource, const char *task, const char *chain,
                      srv_outcome *out, sbuf *extra)
{
    fixture *f = arg;
    assert_ptr_equal(s, &f->s);
    assert_non_null(snap);
    assert_non_null(a);
    assert_true(json_is_object(ctx));
    assert_null(task);
    assert_null(chain);
    assert_true(out->allow);
    seen.calls++;
    snprintf(seen.agent, sizeof seen.agent, "%s", agent);
    snprintf(seen.resource, sizeof seen.resource, "%s", resource);
    sb_puts(extra, "{\"approval\":{\"step\":\"requested\"}}");
    if (seen.hold) {
        out->allow = false;
        out->failed = true;
        snprintf(out->error, sizeof out->error, "approval required: approval apr_t is pending");
        out->appr.state = SRV_APPR_PENDING;
        snprintf(out->appr.id, sizeof out->appr.id, "apr_t");
        out->appr.json = ref_json;
    }
}

static void free_authorizer(void *p) { writ_authorizer_free(p); }

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->path, sizeof f->path, "/tmp/test_gate_XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, policies, sizeof policies - 1), (ssize_t)(sizeof policies - 1));
    close(fd);
    srv_config_defaults(&f->cfg);
    f->s.cfg = &f->cfg;
    static char no_prefix[] = "", action_type[] = "Action";
    f->s.type_prefix = no_prefix;
    f->s.action_type = action_type;
    met_init(&f->s.met);
    writ_error err;
    assert_int_equal(srv_facts_open(&f->s, &err), WRIT_OK);
    assert_int_equal(snap_store_open(f->path, NULL, NULL, NULL, &f->s.store, &err), WRIT_OK);
    assert_int_equal(pthread_key_create(&f->s.az_key, free_authorizer), 0);
    f->ext = (srv_ext){.gate = test_gate, .arg = f};
    memset(&seen, 0, sizeof seen);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    /* the key's destructor runs for threads that exit, not this one */
    writ_authorizer_free(pthread_getspecific(f->s.az_key));
    pthread_key_delete(f->s.az_key);
    snap_store_close(f->s.store);
    srv_facts_close(&f->s);
    srv_config_free(&f->cfg);
    unlink(f->path);
    free(f);
    return 0;
}

/* Decide principal User::who, action Action::act on Doc::"d1". */
static void decide(fixture *f, const char *who, const char *act, bool quiet, srv_outcome *o)
{
    srv_ask a = {
        .principal = srv_uid_parts(&f->s, "User", 4, who, strlen(who)),
        .action = srv_uid_parts(&f->s, "Action", 6, act, strlen(act)),
        .resource = srv_uid_parts(&f->s, "Doc", 3, "d1", 2),
        .quiet = quiet,
    };
    srv_snapshot *snap = snap_acquire(f->s.store);
    srv_decide_ask(&f->s, snap, &a, o);
    snap_release(snap);
}

/* The answer's context as srv_outcome_json writes it. */
static char *context_json(fixture *f, const srv_outcome *o)
{
    sbuf b;
    sb_init(&b);
    srv_snapshot *snap = snap_acquire(f->s.store);
    srv_outcome_json(snap, o, &b);
    snap_release(snap);
    assert_true(sb_ok(&b));
    return b.p;
}

static void no_gate_fails_closed(void **state)
{
    fixture *f = *state;
    srv_outcome o;
    decide(f, "alice", "pay", false, &o);
    assert_false(o.allow);
    assert_true(o.failed);
    assert_string_equal(o.error, "approval required, but approvals are not available on this server");
    assert_int_equal(o.appr.state, SRV_APPR_NONE);
    /* a search's candidate too */
    decide(f, "alice", "pay", true, &o);
    assert_false(o.allow);
    assert_true(o.failed);
    /* what needs no approval is decided as ever */
    decide(f, "bob", "pay", false, &o); /* a permit without @approval applies too */
    assert_true(o.allow);
    decide(f, "carol", "pay", false, &o); /* another annotation does not hold (any @approval value
                                             but "required" refuses the policies: approvals.sh) */
    assert_true(o.allow);
    decide(f, "alice", "read", false, &o); /* no permit: Cedar's deny, no approval asked */
    assert_false(o.allow);
    assert_false(o.failed);
}

static void gate_called_for_held_allows_only(void **state)
{
    fixture *f = *state;
    f->s.gate = &f->ext;
    srv_outcome o;
    seen.hold = true;
    decide(f, "alice", "pay", false, &o);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.agent, "User::\"alice\"");
    assert_string_equal(seen.resource, "Doc::\"d1\"");
    assert_false(o.allow);
    assert_string_equal(o.error, "approval required: approval apr_t is pending");
    char *j = context_json(f, &o);
    assert_non_null(strstr(j, ",\"approval\":{\"id\":\"apr_t\"}"));
    wr_free(j);
    /* not asked: another permit applies, a non-required value, a deny */
    decide(f, "bob", "pay", false, &o);
    decide(f, "carol", "pay", false, &o);
    decide(f, "alice", "read", false, &o);
    assert_int_equal(seen.calls, 1);
    /* a gate that lets the allow through: allowed, nothing attached */
    seen.hold = false;
    decide(f, "alice", "pay", false, &o);
    assert_int_equal(seen.calls, 2);
    assert_true(o.allow);
    j = context_json(f, &o);
    assert_null(strstr(j, "apr_t"));
    assert_non_null(strstr(j, "\"obligations\":{\"approval\":\"required\""));
    wr_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_gate_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(gate_called_for_held_allows_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
