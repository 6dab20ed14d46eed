/* fuzz_ext.c - fuzz the four extension literal parsers (ip, decimal,
 * datetime, duration).
 *
 * The input goes to every parser as (pointer, length).  Whatever parses is
 * printed with cedar_ext_format, the literal inside the printed call is
 * parsed again and must give the same value (abort otherwise), and every
 * method in the table is applied to it, so the arithmetic paths (overflow
 * checks, range masks) run under the sanitizers too. */
#include "cedar/ext.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*parse_fn)(const char *, size_t, cv_ext *);

static bool same(const cv_ext *a, const cv_ext *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case CVX_IPADDR:
        return a->u.ip.v6 == b->u.ip.v6 && a->u.ip.prefix == b->u.ip.prefix &&
               memcmp(a->u.ip.addr, b->u.ip.addr, 16) == 0;
    case CVX_DECIMAL: return a->u.decimal == b->u.decimal;
    case CVX_DATETIME: return a->u.datetime == b->u.datetime;
    case CVX_DURATION: return a->u.duration == b->u.duration;
    }
    return false;
}

/* The printed form is name("literal") except for datetimes outside years
 * 0..9999, printed as datetime("1970-01-01").offset(...): skip those. */
static void roundtrip(const cv_ext *x, parse_fn parse)
{
    char buf[128];
    size_t n = cedar_ext_format(x, buf, sizeof buf);
    if (n >= sizeof buf)
        abort();
    if (strstr(buf, ".offset("))
        return;
    const char *open = strchr(buf, '"');
    const char *close = open ? strchr(open + 1, '"') : NULL;
    if (!close)
        abort();
    cv_ext y;
    if (parse(open + 1, (size_t)(close - open - 1), &y) != 0 || !same(x, &y))
        abort();
}

static const char *const methods[] = {
    "isIpv4", "isIpv6", "isLoopback", "isMulticast", "isInRange", "lessThan",
    "lessThanOrEqual", "greaterThan", "greaterThanOrEqual", "offset", "durationSince",
    "toDate", "toTime", "toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static wr_arena *arena;
    static const parse_fn parsers[4] = {cedar_ip_parse, cedar_decimal_parse, cedar_datetime_parse,
                                        cedar_duration_parse};
    if (!arena && !(arena = wr_arena_new(0)))
        abort();
    /* An exact-size copy, so reading past the length is caught. */
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);

    cv_value vals[8];
    size_t nvals = 0;
    for (int i = 0; i < 4; i++) {
        cv_ext x;
        if (parsers[i](s, size, &x) != 0)
            continue;
        roundtrip(&x, parsers[i]);
        cv_ext *c = wr_arena_alloc(arena, sizeof *c);
        if (!c)
            abort();
        *c = x;
        vals[nvals++] = cv_ext_value(c);
    }
    /* Every method on every parsed value, the binary ones on every pair.
     * No input parses as both a datetime and a duration, so add extreme
     * values of both to reach the overflow paths of offset and friends. */
    cv_ext ext_max = {.kind = CVX_DURATION, .u.duration = INT64_MAX};
    cv_ext ext_min = {.kind = CVX_DURATION, .u.duration = INT64_MIN};
    cv_ext dt_min = {.kind = CVX_DATETIME, .u.datetime = INT64_MIN};
    vals[nvals++] = cv_ext_value(&ext_max);
    vals[nvals++] = cv_ext_value(&ext_min);
    vals[nvals++] = cv_ext_value(&dt_min);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        const cedar_extfn *f = cedar_ext_lookup(methods[m], strlen(methods[m]), true);
        if (!f)
            abort();
        for (size_t i = 0; i < nvals; i++) {
            for (size_t j = 0; j < (f->nargs == 2 ? nvals : 1); j++) {
                cv_value args[2] = {vals[i], vals[j]}, out;
                const char *err = NULL;
                if (f->fn(arena, args, &out, &err) != 0 && !err)
                    abort();
            }
        }
    }
    free(s);
    wr_arena_reset(arena);
    return 0;
}
