/* test_whsig.c - the Standard Webhooks signature of approval_webhook POSTs
 * (src/approval/whsig.c): secrets read strictly (whsec_ + canonical,
 * padded base64 of 24..64 bytes; what is wrong is said, the secret never),
 * signatures against vectors computed apart (Python's hmac and base64),
 * ids, and the secret file: configured, or made once in the state folder
 * (0600, never through a link) and read again after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "approval/approval.h"
#include "util/alloc.h"

/* 32 bytes 0x01..0x20 */
#define SECRET32 "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define SECRET24 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX" /* 24 bytes */

static bool parse(const char *s, wr_whsig_key *k, char *why, size_t wn)
{
    return wr_whsig_parse(s, strlen(s), k, why, wn);
}

static void test_parse(void **state)
{
    (void)state;
    wr_whsig_key k;
    char why[128];
    assert_true(parse(SECRET32, &k, why, sizeof why));
    assert_int_equal(k.n, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(k.k[i], i + 1);
    /* the bounds: 24 bytes (no padding) and 64 (two '=') */
    assert_true(parse("whsec_q6urq6urq6urq6urq6urq6urq6urq6ur", &k, why, sizeof why));
    assert_int_equal(k.n, 24);
    assert_int_equal(k.k[23], 0xab);
    assert_true(parse(
        "whsec_zc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3NzQ==", &k,
        why, sizeof why));
    assert_int_equal(k.n, 64);
    assert_int_equal(k.k[63], 0xcd);

    static const struct {
        const char *s, *why;
    } bad[] = {
        {"", "it is empty"},
        {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "does not start with whsec_"},
        {"WHSEC_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "does not start with whsec_"},
        {"whsec_", "nothing follows whsec_"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA", "not a multiple of 4"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA= ", "character 45 after whsec_"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRob HB0eHyA=", "a space or tab"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRob-B0eHyA=", "base64url"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRob_B0eHyA=", "base64url"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=HB0eHyA=", "'=' before the end"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHy=A", "'=' before the end"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA!", "not A-Z a-z 0-9 + /"},
        {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "decodes to 23 bytes, not 24 to 64"},
        {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
         "decodes to 65 bytes"},
        {"whsec_c2hvcnQ=", "decodes to 5 bytes"},
        /* stray bits before the padding: other decoders might read another key */
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB=", "not canonical"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        k.n = 99;
        if (parse(bad[i].s, &k, why, sizeof why))
            fail_msg("accepted <%s>", bad[i].s);
        assert_int_equal(k.n, 0);
        if (!strstr(why, bad[i].why))
            fail_msg("<%s>: <%s> lacks <%s>", bad[i].s, why, bad[i].why);
    }
    /* the length given is the secret: a line end after it is not read */
    assert_true(wr_whsig_parse(SECRET32 "\n", strlen(SECRET32), &k, why, sizeof why));
    assert_false(wr_whsig_parse(SECRET32 "\n", strlen(SECRET32) + 1, &k, why, sizeof why));
    /* NUL inside */
    assert_false(
        wr_whsig_parse("whsec_AQID\0AUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", 51, &k, why, sizeof why));
    /* no message repeats the secret's base64 */
    assert_false(parse("whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB=", &k, why, sizeof why));
    assert_null(strstr(why, "AQID"));
}

/* Vectors computed with Python's hmac, hashlib and base64 over the same
 * bytes ("<id>.<ts>." + body), body holding a NUL and a line end. */
static void test_sign(void **state)
{
    (void)state;
    wr_whsig_key k;
    char why[128], sig[WR_WHSIG_SIG_MAX];
    assert_true(parse(SECRET32, &k, why, sizeof why));
    static const char body[] = "{\"id\":\"apr_x\",\"note\":\"a\0b\nc\"}";
    size_t blen = sizeof body - 1;
    assert_true(wr_whsig_sign(&k, "msg_test1", 1700000000, body, blen, sig));
    assert_string_equal(sig, "v1,37ItfmAcGG8Jo2yb5CpTR0d7zQv4YP6GrtG1Q5i6wuU=");
    assert_int_equal(strlen(sig), WR_WHSIG_SIG_MAX - 1);
    assert_true(wr_whsig_sign(&k, "msg_test1", 1700000001, body, blen, sig));
    assert_string_equal(sig, "v1,9ap67rjdOXEI4q7k/WNa2xcAxVAssgOgsxyDpwpDtBE=");
    assert_true(wr_whsig_sign(&k, "msg_empty", 0, NULL, 0, sig));
    assert_string_equal(sig, "v1,NozMWmX6CW9qRCxoLeuXN//giQV/ndvbQ2+XvN+rdz0=");
    /* every byte counts: one changed, or one left off */
    char tampered[sizeof body];
    memcpy(tampered, body, sizeof body);
    tampered[blen - 2] ^= 1;
    assert_true(wr_whsig_sign(&k, "msg_test1", 1700000000, tampered, blen, sig));
    assert_string_not_equal(sig, "v1,37ItfmAcGG8Jo2yb5CpTR0d7zQv4YP6GrtG1Q5i6wuU=");
    assert_true(wr_whsig_sign(&k, "msg_test1", 1700000000, body, blen - 1, sig));
    assert_string_not_equal(sig, "v1,37ItfmAcGG8Jo2yb5CpTR0d7zQv4YP6GrtG1Q5i6wuU=");
    /* refused: no key, no id, an id with '.' (it would blur the fields) */
    wr_whsig_key none = {.n = 0};
    assert_false(wr_whsig_sign(&none, "msg_test1", 1, body, blen, sig));
    assert_string_equal(sig, "");
    assert_false(wr_whsig_sign(&k, "", 1, body, blen, sig));
    assert_false(wr_whsig_sign(&k, "msg.1", 1, body, blen, sig));
    assert_false(wr_whsig_sign(NULL, "msg_1", 1, body, blen, sig));
    wr_whsig_clear(&k);
    assert_int_equal(k.n, 0);
}

static void test_ids(void **state)
{
    (void)state;
    char a[WR_WHSIG_ID_MAX], b[WR_WHSIG_ID_MAX];
    assert_true(wr_whsig_new_id(a));
    assert_true(wr_whsig_new_id(b));
    assert_int_equal(strlen(a), 26);
    assert_memory_equal(a, "msg_", 4);
    assert_string_not_equal(a, b);
    for (const char *p = a + 4; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/writ-whsig.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char own[256], cfg[256], other[256];
    snprintf(own, sizeof own, "%s/webhook.secret", dir);
    snprintf(cfg, sizeof cfg, "%s/configured.secret", dir);
    snprintf(other, sizeof other, "%s/elsewhere", dir);
    wr_whsig_keys k1, k2;
    writ_error err;
    char *path = NULL;
    bool made = false;

    /* made on the first call: 0600, one line, 32 bytes */
    assert_int_equal(wr_whsig_load("", dir, &k1, &path, &made, &err), WRIT_OK);
    assert_true(made);
    assert_string_equal(path, own);
    wr_free(path);
    assert_int_equal(k1.n, 1);
    assert_int_equal(k1.k[0].n, 32);
    struct stat st;
    assert_int_equal(lstat(own, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    char text[128] = "";
    FILE *f = fopen(own, "rb");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    assert_int_equal(n, 6 + 44 + 1);
    assert_memory_equal(text, "whsec_", 6);
    assert_int_equal(text[n - 1], '\n');
    /* read again, the same key, not made */
    assert_int_equal(wr_whsig_load(NULL, dir, &k2, &path, &made, &err), WRIT_OK);
    assert_false(made);
    wr_free(path);
    assert_int_equal(k2.n, 1);
    assert_int_equal(k2.k[0].n, 32);
    assert_memory_equal(k1.k[0].k, k2.k[0].k, 32);
    /* no leftover temporary file */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", own);
    assert_int_not_equal(access(tmp, F_OK), 0);

    /* Writ's own file readable by others: refused, naming it */
    assert_int_equal(chmod(own, 0644), 0);
    assert_int_equal(wr_whsig_load("", dir, &k2, &path, &made, &err), WRIT_EINVAL);
    assert_null(path);
    assert_int_equal(k2.n, 0);
    assert_non_null(strstr(err.msg, own));
    assert_non_null(strstr(err.msg, "0644"));
    /* ... or a symbolic link (to a secret of someone's choosing): refused */
    put(other, SECRET32 "\n");
    assert_int_equal(unlink(own), 0);
    assert_int_equal(symlink(other, own), 0);
    assert_int_not_equal(wr_whsig_load("", dir, &k2, &path, &made, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(k2.n, 0);
    assert_int_equal(unlink(own), 0);

    /* configured: one secret a line (CRLF or LF ends, empty lines skipped):
     * during a rotation the new one and the old */
    put(cfg, "\n" SECRET32 "\r\n\r\n" SECRET24 "\n");
    assert_int_equal(wr_whsig_load(cfg, dir, &k2, &path, &made, &err), WRIT_OK);
    assert_false(made);
    assert_string_equal(path, cfg);
    wr_free(path);
    assert_int_equal(k2.n, 2);
    assert_int_equal(k2.k[0].n, 32);
    assert_int_equal(k2.k[0].k[31], 0x20);
    assert_int_equal(k2.k[1].n, 24);
    put(cfg, SECRET32);
    assert_int_equal(wr_whsig_load(cfg, dir, &k2, &path, &made, &err), WRIT_OK);
    wr_free(path);
    assert_int_equal(k2.n, 1);
    assert_int_not_equal(access(own, F_OK), 0); /* none made in the state folder */
    /* configured through a link: followed (mounted secrets are links) */
    char lnk[300];
    snprintf(lnk, sizeof lnk, "%s/link.secret", dir);
    assert_int_equal(symlink(cfg, lnk), 0);
    assert_int_equal(wr_whsig_load(lnk, dir, &k2, &path, &made, &err), WRIT_OK);
    wr_free(path);
    /* malformed or missing: refused, naming the file and the fault, never the secret */
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "it holds no secret"},
        {"\n\r\n", "it holds no secret"},
        {SECRET32 "\r\nsecond line\n", "line 2: it does not start with whsec_"},
        {SECRET32 "\n" SECRET32 "\n\n" SECRET32 "\n" SECRET24 "\n" SECRET24 "\n", "line 6: more than 4 secrets"},
        {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n", "does not start with whsec_"},
        {SECRET32 "\nwhsec_c2hvcnQ=\n", "line 2: it decodes to 5 bytes"},
        {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA= \n", "character 45"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(cfg, bad[i].text);
        assert_int_equal(wr_whsig_load(cfg, dir, &k2, &path, &made, &err), WRIT_EINVAL);
        if (!strstr(err.msg, "approval_webhook_secret_file") || !strstr(err.msg, cfg) ||
            !strstr(err.msg, bad[i].why))
            fail_msg("<%s>: %s", bad[i].text, err.msg);
        assert_null(strstr(err.msg, "AQID"));
        assert_null(path);
        assert_int_equal(k2.n, 0);
    }
    assert_int_equal(unlink(cfg), 0);
    assert_int_equal(wr_whsig_load(cfg, dir, &k2, &path, &made, &err), WRIT_EIO);
    assert_non_null(strstr(err.msg, cfg));
    assert_non_null(strstr(err.msg, "No such file"));
    /* a folder is no secret file */
    assert_int_equal(wr_whsig_load(dir, dir, &k2, &path, &made, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
    /* no state folder to make it in: the error names the file */
    char gone[300];
    snprintf(gone, sizeof gone, "%s/missing", dir);
    assert_int_equal(wr_whsig_load("", gone, &k2, &path, &made, &err), WRIT_EIO);
    assert_non_null(strstr(err.msg, "webhook.secret"));

    assert_int_equal(unlink(lnk), 0);
    assert_int_equal(unlink(other), 0);
    assert_int_equal(rmdir(dir), 0);
    wr_whsig_clear_all(&k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_sign),
                                       cmocka_unit_test(test_ids), cmocka_unit_test(test_files)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
