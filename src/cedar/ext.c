/* ext.c - the table of Cedar's extension functions and what is shared by
 * all four types: lookup, the JSON `__extn` constructor call, printing and
 * which types the comparison operators accept.  The types themselves live
 * in ext_ip.c, ext_decimal.c and ext_datetime.c.
 */
#include "cedar/ext_impl.h"

#include <stdio.h>
#include <string.h>

/* Names exactly as Cedar 4.x spells them; nargs counts the receiver. */
static const cedar_extfn table[] = {
    {"ip", false, 1, cedar_ext_ip},
    {"isIpv4", true, 1, cedar_ext_is_ipv4},
    {"isIpv6", true, 1, cedar_ext_is_ipv6},
    {"isLoopback", true, 1, cedar_ext_is_loopback},
    {"isMulticast", true, 1, cedar_ext_is_multicast},
    {"isInRange", true, 2, cedar_ext_is_in_range},

    {"decimal", false, 1, cedar_ext_decimal},
    {"lessThan", true, 2, cedar_ext_dec_lt},
    {"lessThanOrEqual", true, 2, cedar_ext_dec_le},
    {"greaterThan", true, 2, cedar_ext_dec_gt},
    {"greaterThanOrEqual", true, 2, cedar_ext_dec_ge},

    {"datetime", false, 1, cedar_ext_datetime},
    {"duration", false, 1, cedar_ext_duration},
    {"offset", true, 2, cedar_ext_offset},
    {"durationSince", true, 2, cedar_ext_duration_since},
    {"toDate", true, 1, cedar_ext_to_date},
    {"toTime", true, 1, cedar_ext_to_time},
    {"toMilliseconds", true, 1, cedar_ext_to_ms},
    {"toSeconds", true, 1, cedar_ext_to_seconds},
    {"toMinutes", true, 1, cedar_ext_to_minutes},
    {"toHours", true, 1, cedar_ext_to_hours},
    {"toDays", true, 1, cedar_ext_to_days},
};

#define NTABLE (sizeof table / sizeof table[0])

static bool name_is(const cedar_extfn *f, const char *name, size_t len)
{
    return strlen(f->name) == len && memcmp(f->name, name, len) == 0;
}

const cedar_extfn *cedar_ext_lookup(const char *name, size_t len, bool is_method)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (table[i].is_method == is_method && name_is(&table[i], name, len))
            return &table[i];
    return NULL;
}

bool cedar_ext_exists(const char *name, size_t len)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (name_is(&table[i], name, len))
            return true;
    return false;
}

int cedar_ext_emit(wr_arena *a, const cv_ext *x, cv_value *out, const char **err)
{
    cv_ext *copy = wr_arena_alloc(a, sizeof *copy);
    if (!copy) {
        *err = "out of memory";
        return -1;
    }
    *copy = *x;
    *out = cv_ext_value(copy);
    return 0;
}

/* The reference accepts any extension function in `__extn` and applies it
 * to the string; only the constructors can succeed, the others fail their
 * type check.  An unknown name is its own error. */
int cedar_ext_construct(wr_arena *a, const char *fn, size_t fnlen, const char *arg, size_t arglen,
                        cv_value *out, const char **err)
{
    static const struct {
        const char *name;
        const char *(*check)(const char *, size_t, cv_ext *);
    } ctors[] = {
        {"ip", cedar_ip_check},
        {"decimal", cedar_decimal_check},
        {"datetime", cedar_datetime_check},
        {"duration", cedar_duration_check},
    };
    for (size_t i = 0; i < sizeof ctors / sizeof ctors[0]; i++) {
        if (strlen(ctors[i].name) != fnlen || memcmp(ctors[i].name, fn, fnlen) != 0)
            continue;
        cv_ext x;
        const char *e = ctors[i].check(arg, arglen, &x);
        if (e) {
            *err = e;
            return -1;
        }
        return cedar_ext_emit(a, &x, out, err);
    }
    *err = cedar_ext_exists(fn, fnlen) ? "type error: extension function is not a constructor"
                                       : "extension function does not exist";
    return -1;
}

size_t cedar_ext_format(const cv_ext *x, char *buf, size_t cap)
{
    switch (x->kind) {
    case CVX_IPADDR: return cedar_ip_format(x, buf, cap);
    case CVX_DECIMAL: return cedar_decimal_format(x, buf, cap);
    case CVX_DATETIME: return cedar_datetime_format(x, buf, cap);
    case CVX_DURATION: return cedar_duration_format(x, buf, cap);
    }
    return (size_t)snprintf(buf, cap, "<unknown extension value>");
}

/* Cedar 4.13 overloads < <= > >= for datetime and duration only; on two
 * decimals or two ipaddrs they are type errors ("expected one of [long,
 * datetime, duration]"), decimals compare with lessThan() and friends. */
bool cedar_ext_orderable(cv_ext_kind k)
{
    return k == CVX_DATETIME || k == CVX_DURATION;
}
