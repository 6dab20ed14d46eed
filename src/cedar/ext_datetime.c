/* ext_datetime.c - the datetime extension: datetime("..."), duration("..."),
 * offset, durationSince, toDate, toTime, toMilliseconds .. toDays.
 *
 * A datetime is i64 milliseconds since the Unix epoch, a duration i64
 * milliseconds; both are ordered by < <= > >= (the evaluator asks
 * cedar_ext_orderable).  Any arithmetic that leaves i64 is an error, as in
 * the reference; values outside years 0000..9999 are reachable with offset()
 * even though no literal can write them.
 *
 * Literal rules, all confirmed against cedar-wasm 4.13:
 *   datetime -> date | date 'T' hh ':' mm ':' ss ('.' sss)? ('Z' | [+-] hhmm)
 *     date is YYYY-MM-DD with exactly 4-2-2 ASCII digits (0000..9999, year 0
 *     is a leap year: proleptic Gregorian), checked for calendar validity;
 *     hh < 24, mm < 60, ss < 60 (no leap second); exactly three ms digits;
 *     offset hh < 24, mm < 60, no ':' inside it, lower-case 'z'/'t' refused.
 *     The offset is subtracted: 00:00:00+0100 is 23:00:00Z the day before.
 *   duration -> '-'? (N 'd')? (N 'h')? (N 'm')? (N 's')? (N 'ms')?
 *     at least one part, units in that order and each at most once, N any
 *     number of ASCII digits; one leading '-' negates every part.
 */
#include "cedar/ext_impl.h"

#include <stdio.h>

#define MS_PER_DAY 86400000LL

static bool digits(const char *s, size_t n, unsigned *v)
{
    unsigned r = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        r = r * 10 + (unsigned)(s[i] - '0');
    }
    *v = r;
    return true;
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil: count in 400-year eras from March 1st). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

const char *cedar_datetime_check(const char *s, size_t n, cv_ext *out)
{
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, oh = 0, om = 0;
    bool offneg = false;
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return "invalid date pattern";
    if (n > 10) {
        if (n < 19 || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
            !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
            return "invalid hour/minute/second pattern";
        const char *r = s + 19;
        size_t rn = n - 19;
        if (rn >= 1 && r[0] == '.') {
            if (rn < 4 || !digits(r + 1, 3, &ms))
                return "invalid millisecond and/or offset pattern";
            r += 4;
            rn -= 4;
        }
        if (rn == 1 && r[0] == 'Z') {
            /* UTC */
        } else if (rn == 5 && (r[0] == '+' || r[0] == '-') && digits(r + 1, 2, &oh) &&
                   digits(r + 3, 2, &om)) {
            offneg = r[0] == '-';
        } else {
            return "invalid millisecond and/or offset pattern";
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return "invalid date";
    if (h >= 24 || mi >= 60 || sec >= 60)
        return "invalid hour/minute/second";
    if (oh >= 24 || om >= 60)
        return "invalid offset range";
    /* Years 0..9999 keep every term far inside i64. */
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
    int64_t off = (int64_t)oh * 3600 + (int64_t)om * 60;
    secs += offneg ? off : -off;
    out->kind = CVX_DATETIME;
    out->u.datetime = secs * 1000 + ms;
    return NULL;
}

int cedar_datetime_parse(const char *s, size_t n, cv_ext *out)
{
    return cedar_datetime_check(s, n, out) ? -1 : 0;
}

/* Unit i of a duration: 0 d, 1 h, 2 m, 3 s, 4 ms. */
static const int64_t unit_ms[5] = {MS_PER_DAY, 3600000, 60000, 1000, 1};

/* Each part N is read as u64 and must fit i64 (for ms with a '-', its
 * negation must), then N*unit is added with the sign: any overflow along
 * the way is an error.  All parts share one sign, so the running total only
 * moves away from zero and checking each step is the same as checking the
 * exact sum. */
const char *cedar_duration_check(const char *s, size_t n, cv_ext *out)
{
    static const char bad[] = "invalid duration pattern";
    static const char ovf[] = "duration overflows i64 milliseconds";
    size_t p = 0;
    bool neg = n > 0 && s[0] == '-';
    if (neg)
        p = 1;
    if (p == n)
        return bad;
    int last = -1;
    int64_t total = 0;
    bool overflow = false;
    while (p < n) {
        uint64_t v = 0;
        bool vbig = false;
        size_t start = p;
        while (p < n && s[p] >= '0' && s[p] <= '9') {
            if (__builtin_mul_overflow(v, (uint64_t)10, &v) ||
                __builtin_add_overflow(v, (uint64_t)(s[p] - '0'), &v))
                vbig = true;
            p++;
        }
        if (p == start || p == n)
            return bad;
        int u;
        switch (s[p]) {
        case 'd': u = 0; break;
        case 'h': u = 1; break;
        case 's': u = 3; break;
        case 'm':
            if (p + 1 < n && s[p + 1] == 's') {
                u = 4;
                p++;
            } else {
                u = 2;
            }
            break;
        default: return bad;
        }
        p++;
        if (u <= last)
            return bad;
        last = u;
        /* Syntax errors win over overflow, so keep scanning. */
        if (overflow)
            continue;
        int64_t part;
        if (vbig) {
            overflow = true;
        } else if (neg && u == 4 && v == (uint64_t)INT64_MAX + 1) {
            if (__builtin_add_overflow(total, INT64_MIN, &total))
                overflow = true;
        } else if (v > (uint64_t)INT64_MAX || __builtin_mul_overflow((int64_t)v, unit_ms[u], &part)) {
            overflow = true;
        } else if (neg ? __builtin_sub_overflow(total, part, &total)
                       : __builtin_add_overflow(total, part, &total)) {
            overflow = true;
        }
    }
    if (overflow)
        return ovf;
    out->kind = CVX_DURATION;
    out->u.duration = total;
    return NULL;
}

int cedar_duration_parse(const char *s, size_t n, cv_ext *out)
{
    return cedar_duration_check(s, n, out) ? -1 : 0;
}

/* ---- functions */

static int from_string(wr_arena *a, const cv_value *args, cv_value *out, const char **err,
                       const char *(*check)(const char *, size_t, cv_ext *))
{
    if (args[0].type != CV_STRING) {
        *err = "type error: expected string";
        return -1;
    }
    cv_ext x;
    const char *e = check(args[0].u.s->data, args[0].u.s->len, &x);
    if (e) {
        *err = e;
        return -1;
    }
    return cedar_ext_emit(a, &x, out, err);
}

int cedar_ext_datetime(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return from_string(a, args, out, err, cedar_datetime_check);
}

int cedar_ext_duration(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return from_string(a, args, out, err, cedar_duration_check);
}

static const char E_DT[] = "type error: expected datetime";
static const char E_DUR[] = "type error: expected duration";

#define ARG(x, i, kind, msg)                          \
    const cv_ext *x = cedar_ext_arg(args, i, kind);   \
    if (!x) {                                         \
        *err = msg;                                   \
        return -1;                                    \
    }

static int emit(wr_arena *a, cv_ext_kind k, int64_t v, cv_value *out, const char **err)
{
    cv_ext x;
    x.kind = k;
    if (k == CVX_DATETIME)
        x.u.datetime = v;
    else
        x.u.duration = v;
    return cedar_ext_emit(a, &x, out, err);
}

int cedar_ext_offset(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    ARG(t, 0, CVX_DATETIME, E_DT);
    ARG(d, 1, CVX_DURATION, E_DUR);
    int64_t r;
    if (__builtin_add_overflow(t->u.datetime, d->u.duration, &r)) {
        *err = "overflow when adding an offset to a datetime";
        return -1;
    }
    return emit(a, CVX_DATETIME, r, out, err);
}

int cedar_ext_duration_since(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    ARG(t, 0, CVX_DATETIME, E_DT);
    ARG(u, 1, CVX_DATETIME, E_DT);
    int64_t r;
    if (__builtin_sub_overflow(t->u.datetime, u->u.datetime, &r)) {
        *err = "overflow when computing the duration between datetimes";
        return -1;
    }
    return emit(a, CVX_DURATION, r, out, err);
}

/* Milliseconds into the day, in [0, MS_PER_DAY) also before 1970. */
static int64_t time_of_day(int64_t t)
{
    int64_t r = t % MS_PER_DAY;
    return r < 0 ? r + MS_PER_DAY : r;
}

/* Midnight of t's day; fails only near i64's minimum. */
int cedar_ext_to_date(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    ARG(t, 0, CVX_DATETIME, E_DT);
    int64_t r;
    if (__builtin_sub_overflow(t->u.datetime, time_of_day(t->u.datetime), &r)) {
        *err = "overflow when computing the date of a datetime";
        return -1;
    }
    return emit(a, CVX_DATETIME, r, out, err);
}

int cedar_ext_to_time(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    ARG(t, 0, CVX_DATETIME, E_DT);
    return emit(a, CVX_DURATION, time_of_day(t->u.datetime), out, err);
}

/* toX truncate toward zero, each step from the previous one as the
 * reference does (the same as one division, C's / truncates too). */
static int duration_in(const cv_value *args, cv_value *out, const char **err, int steps)
{
    static const int64_t div[4] = {1000, 60, 60, 24};
    ARG(d, 0, CVX_DURATION, E_DUR);
    int64_t v = d->u.duration;
    for (int i = 0; i < steps; i++)
        v /= div[i];
    *out = cv_long(v);
    return 0;
}

int cedar_ext_to_ms(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return duration_in(args, out, err, 0);
}

int cedar_ext_to_seconds(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return duration_in(args, out, err, 1);
}

int cedar_ext_to_minutes(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return duration_in(args, out, err, 2);
}

int cedar_ext_to_hours(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return duration_in(args, out, err, 3);
}

int cedar_ext_to_days(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    return duration_in(args, out, err, 4);
}

/* ---- printing */

/* Civil date of a day count from 1970-01-01 (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Within years 0000..9999 a datetime prints as the literal that parses back
 * to it (datetime("2024-10-15"), datetime("2024-10-15T11:38:02.101Z"));
 * outside, as Cedar itself writes every datetime:
 * datetime("1970-01-01").offset(duration("<ms>ms")). */
size_t cedar_datetime_format(const cv_ext *x, char *buf, size_t cap)
{
    static const int64_t lo = -62167219200000LL;  /* 0000-01-01T00:00:00Z */
    static const int64_t hi = 253402300799999LL;  /* 9999-12-31T23:59:59.999Z */
    int64_t t = x->u.datetime;
    if (t < lo || t > hi)
        return (size_t)snprintf(buf, cap, "datetime(\"1970-01-01\").offset(duration(\"%lldms\"))",
                                (long long)t);
    int64_t tod = time_of_day(t);
    int64_t days = (t - tod) / MS_PER_DAY;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (tod == 0)
        return (size_t)snprintf(buf, cap, "datetime(\"%04lld-%02u-%02u\")", (long long)y, m, d);
    unsigned ms = (unsigned)(tod % 1000), s = (unsigned)(tod / 1000 % 60),
             mi = (unsigned)(tod / 60000 % 60), h = (unsigned)(tod / 3600000);
    if (ms == 0)
        return (size_t)snprintf(buf, cap, "datetime(\"%04lld-%02u-%02uT%02u:%02u:%02uZ\")",
                                (long long)y, m, d, h, mi, s);
    return (size_t)snprintf(buf, cap, "datetime(\"%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ\")",
                            (long long)y, m, d, h, mi, s, ms);
}

/* duration("<ms>ms"), as Cedar writes it. */
size_t cedar_duration_format(const cv_ext *x, char *buf, size_t cap)
{
    return (size_t)snprintf(buf, cap, "duration(\"%lldms\")", (long long)x->u.duration);
}
