/* test_approval.c - the parts of src/approval/ that need no server: the
 * binding (each bound field changes it, nothing else does), ids, times, uid
 * texts, the JSON of an approval, the Approval entity's attributes, and
 * claims made safe for Cedar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "approval/approval.h"
#include "jose/jose.h"
#include "util/alloc.h"

static wr_approval sample(void)
{
    wr_approval a;
    memset(&a, 0, sizeof a);
    a.agent = (char *)"Writ::Agent::\"ci-bot\"";
    a.action = (char *)"deploy";
    a.resource = (char *)"Writ::Service::\"payments\"";
    a.task_id = (char *)"t1";
    a.task_purpose = (char *)"release";
    a.chain = (char *)"[\"root-bot\",\"ci-bot\"]";
    strcpy(a.input_sha256, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    a.input = (char *)"{\"v\":1}";
    return a;
}

static void test_binding(void **state)
{
    (void)state;
    wr_approval a = sample(), b = sample();
    wr_approval_bind(&a);
    assert_int_equal(strlen(a.binding), 64);
    wr_approval_bind(&b);
    assert_string_equal(a.binding, b.binding);
    /* not bound: input text (its SHA-256 is), times, id */
    b.input = (char *)"{}";
    b.created_ms = 5;
    strcpy(b.id, "x");
    wr_approval_bind(&b);
    assert_string_equal(a.binding, b.binding);
    /* bound: each of these */
    for (int i = 0; i < 6; i++) {
        wr_approval c = sample();
        switch (i) {
        case 5:
            c.task_purpose = (char *)"other"; /* shown to the approver, so bound */
            break;
        case 0:
            c.agent = (char *)"changed";
            break;
        case 1:
            c.action = (char *)"changed";
            break;
        case 2:
            c.resource = (char *)"changed";
            break;
        case 3:
            c.task_id = (char *)"changed";
            break;
        default:
            c.chain = (char *)"changed";
            break;
        }
        wr_approval_bind(&c);
        assert_string_not_equal(a.binding, c.binding);
    }
    wr_approval c = sample();
    c.input_sha256[0] = '5';
    wr_approval_bind(&c);
    assert_string_not_equal(a.binding, c.binding);
    /* fields are length-prefixed: moving a byte between two is a change */
    wr_approval d = sample(), e = sample();
    d.action = (char *)"deplo";
    d.resource = (char *)"yWrit::Service::\"payments\"";
    wr_approval_bind(&d);
    wr_approval_bind(&e);
    assert_string_not_equal(d.binding, e.binding);
    /* no task = NULL and "" alike */
    wr_approval f = sample(), g = sample();
    f.task_id = NULL;
    g.task_id = (char *)"";
    wr_approval_bind(&f);
    wr_approval_bind(&g);
    assert_string_equal(f.binding, g.binding);
}

static void test_ids_and_times(void **state)
{
    (void)state;
    char a[40], b[40];
    assert_int_equal(wr_approval_new_id(a), 0);
    assert_int_equal(wr_approval_new_id(b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 26);
    assert_memory_equal(a, "apr_", 4);
    assert_true(wr_approval_id_ok(a));
    assert_false(wr_approval_id_ok(""));
    assert_false(wr_approval_id_ok("../etc"));
    assert_false(wr_approval_id_ok("a b"));
    assert_false(wr_approval_id_ok("0123456789012345678901234567890123456789"));
    char t[40];
    wr_approval_time(1796288825123, t);
    assert_string_equal(t, "2026-12-03T09:07:05.123Z");
    wr_approval_time(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
}

/* b64url of text: a cursor's spelling of any text */
static void b64(const char *text, char out[WR_APPROVAL_CURSOR_MAX])
{
    assert_true(wr_b64url_enc_len(strlen(text)) < WR_APPROVAL_CURSOR_MAX);
    wr_b64url_encode((const unsigned char *)text, strlen(text), out);
}

static void test_cursor(void **state)
{
    (void)state;
    wr_approval_pos p = {1796288825123, "apr_AbC-d_09"}, q;
    char c[WR_APPROVAL_CURSOR_MAX], t[WR_APPROVAL_CURSOR_MAX];
    wr_approval_cursor(&p, c);
    b64("1796288825123.apr_AbC-d_09", t);
    assert_string_equal(c, t);
    assert_true(wr_approval_cursor_parse(c, &q));
    assert_int_equal(q.created_ms, p.created_ms);
    assert_string_equal(q.id, p.id);
    /* the longest id */
    memset(p.id, 'z', 39);
    p.id[39] = '\0';
    p.created_ms = INT64_MAX;
    wr_approval_cursor(&p, c);
    assert_true(wr_approval_cursor_parse(c, &q));
    assert_string_equal(q.id, p.id);
    assert_true(q.created_ms == INT64_MAX);
    /* not cursors */
    const char *texts[] = {"5",        "5.",        ".apr_x",   "x.apr_x",
                           "-5.apr_x", "+5.apr_x",  "05.apr_x", " 5.apr_x",
                           "5.apr x",  "5.apr_x.y", "5.apr/x",  "99999999999999999999.apr_x",
                           "5 .apr_x"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        b64(texts[i], t);
        assert_false(wr_approval_cursor_parse(t, &q));
    }
    b64("5.apr_x", t);
    assert_true(wr_approval_cursor_parse(t, &q));
    assert_int_equal(q.created_ms, 5);
    assert_false(wr_approval_cursor_parse("", &q));
    assert_false(wr_approval_cursor_parse("NS5hcHJfeA==", &q)); /* padded */
    assert_false(wr_approval_cursor_parse("NS5hcHJfeA!", &q));
    assert_false(wr_approval_cursor_parse("NS5hcHJfeA\n", &q));
    assert_false(wr_approval_cursor_parse("NS5hcHJfeB", &q)); /* unused bits set */
    b64("5.apr_x", t);
    assert_string_equal(t, "NS5hcHJfeA");
    /* a NUL inside */
    unsigned char nul[] = {'5', '.', 'a', 0, 'b'};
    wr_b64url_encode(nul, sizeof nul, t);
    assert_false(wr_approval_cursor_parse(t, &q));
    /* too long */
    char big[200];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(wr_approval_cursor_parse(big, &q));
}

static void test_uid_split(void **state)
{
    (void)state;
    char *type, *id;
    assert_int_equal(wr_uid_split("Writ::Agent::\"spiffe://x/a\\\"b\"", &type, &id), 0);
    assert_string_equal(type, "Writ::Agent");
    assert_string_equal(id, "spiffe://x/a\"b");
    wr_free(type);
    wr_free(id);
    assert_int_equal(wr_uid_split("Agent", &type, &id), -1);
    assert_int_equal(wr_uid_split("\"x\"", &type, &id), -1);
    assert_int_equal(wr_uid_split("A::\"unterminated", &type, &id), -1);
    assert_int_equal(wr_uid_split(NULL, &type, &id), -1);
}

static void test_json(void **state)
{
    (void)state;
    wr_approval a = sample();
    strcpy(a.id, "apr_x");
    a.status = WR_APPROVAL_PENDING;
    a.created_ms = 1000;
    a.expires_ms = 901000;
    sbuf b;
    sb_init(&b);
    wr_approval_json(&b, &a, "https://w.example", "alice@corp.example");
    assert_true(sb_ok(&b));
    json_t *j = json_loadb(b.p, b.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(j, "url")), "https://w.example/approvals/apr_x");
    assert_string_equal(json_string_value(json_object_get(j, "owner")), "alice@corp.example");
    assert_true(json_is_null(json_object_get(j, "decided_by")));
    assert_true(json_is_null(json_object_get(j, "reason")));
    assert_int_equal(json_array_size(json_object_get(j, "chain")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "input"), "v")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "task"), "purpose")), "release");
    assert_string_equal(json_string_value(json_object_get(j, "expires_at")), "1970-01-01T00:15:01.000Z");
    json_decref(j);
    sb_free(&b);
    /* no task: null; decided: by and reason */
    a.task_id = NULL;
    a.task_purpose = NULL;
    a.decided_by = (char *)"admin";
    a.reason = (char *)"ok \"quoted\"";
    sb_init(&b);
    wr_approval_json(&b, &a, NULL, NULL);
    j = json_loadb(b.p, b.len, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "task")));
    assert_null(json_object_get(j, "url"));
    assert_null(json_object_get(j, "owner"));
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "ok \"quoted\"");
    json_decref(j);
    sb_free(&b);
    /* a purpose without a task id is bound: it is shown too */
    a.task_id = (char *)"";
    a.task_purpose = (char *)"wipe the backups";
    sb_init(&b);
    wr_approval_json(&b, &a, NULL, NULL);
    j = json_loadb(b.p, b.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "task"), "id")), "");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "task"), "purpose")), "wipe the backups");
    json_decref(j);
    sb_free(&b);
    sb_init(&b);
    wr_approval_ref_json(&b, "apr_y", "pending", 1000, "http://h:1", NULL, NULL);
    assert_string_equal(
        b.p, "{\"id\":\"apr_y\",\"status\":\"pending\",\"expires_at\":\"1970-01-01T00:00:01.000Z\","
             "\"url\":\"http://h:1/approvals/apr_y\"}");
    sb_free(&b);
}

static void test_attrs(void **state)
{
    (void)state;
    wr_approval a = sample();
    json_t *at = wr_approval_attrs(&a);
    assert_non_null(at);
    json_t *ag = json_object_get(json_object_get(at, "agent"), "__entity");
    assert_string_equal(json_string_value(json_object_get(ag, "type")), "Writ::Agent");
    assert_string_equal(json_string_value(json_object_get(ag, "id")), "ci-bot");
    json_t *tg = json_object_get(json_object_get(at, "target"), "__entity");
    assert_string_equal(json_string_value(json_object_get(tg, "id")), "payments");
    assert_string_equal(json_string_value(json_object_get(at, "action")), "deploy");
    assert_int_equal(json_integer_value(json_object_get(at, "chain_depth")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(at, "input"), "v")), 1);
    json_decref(at);
    /* an input that is no object (AuthZEN's context.input may be any value)
     * is the input as it is: approvers can still be decided on */
    a.input = (char *)"\"{\\\"amount\\\":10}\"";
    at = wr_approval_attrs(&a);
    assert_non_null(at);
    assert_string_equal(json_string_value(json_object_get(at, "input")), "{\"amount\":10}");
    json_decref(at);
    a.input = (char *)"[1,{\"k\":null}]";
    at = wr_approval_attrs(&a);
    assert_non_null(at);
    assert_int_equal(json_array_size(json_object_get(at, "input")), 2);
    assert_int_equal(json_object_size(json_array_get(json_object_get(at, "input"), 1)), 0);
    json_decref(at);
    a.input = (char *)"not json";
    assert_null(wr_approval_attrs(&a));
    a.agent = (char *)"not a uid";
    assert_null(wr_approval_attrs(&a));
}

static void test_claims(void **state)
{
    (void)state;
    json_t *c = json_loads("{\"sub\":\"alice\",\"email\":\"a@x\",\"n\":3,\"f\":1.5,\"nul\":null,"
                           "\"groups\":[\"ops\",null,{\"__entity\":{\"type\":\"T\",\"id\":\"i\"}}],"
                           "\"forged\":{\"__entity\":{\"type\":\"Writ::User\",\"id\":\"root\"}},"
                           "\"__extn\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\"},\"nested\":{\"ok\":true}}",
                           0, NULL);
    assert_non_null(c);
    json_t *k = wr_claims_cedar(c);
    assert_non_null(k);
    assert_string_equal(json_string_value(json_object_get(k, "email")), "a@x");
    assert_int_equal(json_integer_value(json_object_get(k, "n")), 3);
    assert_string_equal(json_string_value(json_object_get(k, "f")), "1.5");
    assert_null(json_object_get(k, "nul"));
    assert_null(json_object_get(k, "__extn"));
    assert_int_equal(json_object_size(json_object_get(k, "forged")), 0); /* the escape key is gone */
    json_t *g = json_object_get(k, "groups");
    assert_int_equal(json_array_size(g), 2); /* "ops" and an emptied record; the null left out */
    assert_true(json_is_true(json_object_get(json_object_get(k, "nested"), "ok")));
    json_decref(k);
    json_decref(c);
    k = wr_claims_cedar(NULL);
    assert_int_equal(json_object_size(k), 0);
    json_decref(k);
}

/* what wr_json_visible makes of in */
static void visible(const char *in, size_t n, const char *want)
{
    sbuf b;
    sb_init(&b);
    wr_json_visible(in, n, &b);
    assert_true(sb_ok(&b));
    assert_string_equal(b.p ? b.p : "", want);
    sb_free(&b);
}

#define VISIBLE(in, want) visible(in, sizeof in - 1, want)

static void test_visible(void **state)
{
    (void)state;
    /* JSON's whitespace, ASCII and ordinary letters as they are */
    VISIBLE("{\"a\":\t\"caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80\"}\r\n",
            "{\"a\":\t\"caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80\"}\r\n");
    /* ESC, DEL, C1 (U+009B CSI), NBSP, soft hyphen, CGJ */
    VISIBLE("\x1b[2J\x7f\xc2\x9b\xc2\xa0\xc2\xad\xcd\x8f", "\\u001b[2J\\u007f\\u009b\\u00a0\\u00ad\\u034f");
    /* bidi override and isolate, zero-width space, line separator, VS16, BOM, ideographic space, braille blank */
    VISIBLE("\xe2\x80\xae\xe2\x81\xa6\xe2\x80\x8b\xe2\x80\xa8\xef\xb8\x8f\xef\xbb\xbf\xe3\x80\x80\xe2\xa0\x80",
            "\\u202e\\u2066\\u200b\\u2028\\ufe0f\\ufeff\\u3000\\u2800");
    /* past the BMP: a tag character and a musical format control, as surrogate pairs */
    VISIBLE("\xf3\xa0\x80\x81\xf0\x9d\x85\xb3", "\\udb40\\udc01\\ud834\\udd73");
    /* invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
    VISIBLE("a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x80", "a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd");
    /* a NUL byte too */
    VISIBLE("x\0y", "x\\u0000y");
    /* an approval's JSON is written so */
    wr_approval a = sample();
    strcpy(a.id, "apr_v");
    a.input = (char *)"{\"to\":\"acct-\xe2\x80\xae" "1000\"}";
    sbuf b;
    sb_init(&b);
    wr_approval_json(&b, &a, NULL, NULL);
    assert_non_null(strstr(b.p, "\"input\":{\"to\":\"acct-\\u202e1000\"}"));
    sb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binding),   cmocka_unit_test(test_ids_and_times), cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_uid_split), cmocka_unit_test(test_json),          cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_claims),    cmocka_unit_test(test_visible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
