/* ext_decimal.c - the decimal extension: decimal("..."), lessThan,
 * lessThanOrEqual, greaterThan, greaterThanOrEqual.
 *
 * A decimal is an i64 counting units of 10^-4.  Literal syntax (checked
 * against cedar-wasm 4.13): -?[0-9]+\.[0-9]+ with one to four fractional
 * digits, ASCII only, no '+', no exponent, no spaces; leading zeros are fine.
 * The sign belongs to the whole literal, so "-0.5" is -0.5 (older Cedar read
 * it as +0.5) and "-0.0" equals "0.0".  The range is exactly i64's:
 * "-922337203685477.5808" is valid, one unit further is an overflow.
 * Decimals are not ordered by < <= > >= in Cedar 4.13 (a type error); only
 * the four methods compare them.
 */
#include "cedar/ext_impl.h"

#include <stdio.h>

/* decimal -> '-'? digit+ '.' digit{1,4}
 * The value is accumulated with the literal's sign so that i64's minimum,
 * whose magnitude has no positive i64, parses too. */
const char *cedar_decimal_check(const char *s, size_t n, cv_ext *out)
{
    static const char bad[] = "invalid decimal literal";
    size_t p = 0;
    bool neg = false;
    if (p < n && s[p] == '-') {
        neg = true;
        p++;
    }
    size_t int_start = p;
    while (p < n && s[p] >= '0' && s[p] <= '9')
        p++;
    size_t int_end = p;
    if (int_end == int_start || p >= n || s[p] != '.')
        return bad;
    p++;
    size_t frac_start = p;
    while (p < n && s[p] >= '0' && s[p] <= '9')
        p++;
    if (p == frac_start || p != n)
        return bad;
    size_t frac_len = n - frac_start;
    if (frac_len > 4)
        return "too many digits after the decimal point (at most 4)";

    int64_t v = 0;
    int sign = neg ? -1 : 1;
    for (size_t i = int_start; i < int_end; i++) {
        if (__builtin_mul_overflow(v, (int64_t)10, &v) ||
            __builtin_add_overflow(v, (int64_t)(sign * (s[i] - '0')), &v))
            return "overflow when converting to decimal";
    }
    for (size_t i = 0; i < 4; i++) {
        int d = i < frac_len ? s[frac_start + i] - '0' : 0;
        if (__builtin_mul_overflow(v, (int64_t)10, &v) ||
            __builtin_add_overflow(v, (int64_t)(sign * d), &v))
            return "overflow when converting to decimal";
    }
    out->kind = CVX_DECIMAL;
    out->u.decimal = v;
    return NULL;
}

int cedar_decimal_parse(const char *s, size_t n, cv_ext *out)
{
    return cedar_decimal_check(s, n, out) ? -1 : 0;
}

int cedar_ext_decimal(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    if (args[0].type != CV_STRING) {
        *err = "type error: expected string";
        return -1;
    }
    cv_ext x;
    const char *e = cedar_decimal_check(args[0].u.s->data, args[0].u.s->len, &x);
    if (e) {
        *err = e;
        return -1;
    }
    return cedar_ext_emit(a, &x, out, err);
}

/* Both arguments must be decimals; sets *l and *r. */
static int two_decimals(const cv_value *args, int64_t *l, int64_t *r, const char **err)
{
    const cv_ext *x = cedar_ext_arg(args, 0, CVX_DECIMAL);
    const cv_ext *y = cedar_ext_arg(args, 1, CVX_DECIMAL);
    if (!x || !y) {
        *err = "type error: expected decimal";
        return -1;
    }
    *l = x->u.decimal;
    *r = y->u.decimal;
    return 0;
}

int cedar_ext_dec_lt(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    int64_t l, r;
    if (two_decimals(args, &l, &r, err))
        return -1;
    *out = cv_bool(l < r);
    return 0;
}

int cedar_ext_dec_le(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    int64_t l, r;
    if (two_decimals(args, &l, &r, err))
        return -1;
    *out = cv_bool(l <= r);
    return 0;
}

int cedar_ext_dec_gt(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    int64_t l, r;
    if (two_decimals(args, &l, &r, err))
        return -1;
    *out = cv_bool(l > r);
    return 0;
}

int cedar_ext_dec_ge(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    int64_t l, r;
    if (two_decimals(args, &l, &r, err))
        return -1;
    *out = cv_bool(l >= r);
    return 0;
}

/* decimal("-1.2300"): always four fractional digits. */
size_t cedar_decimal_format(const cv_ext *x, char *buf, size_t cap)
{
    int64_t v = x->u.decimal;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    return (size_t)snprintf(buf, cap, "decimal(\"%s%llu.%04llu\")", v < 0 ? "-" : "",
                            (unsigned long long)(mag / 10000), (unsigned long long)(mag % 10000));
}
