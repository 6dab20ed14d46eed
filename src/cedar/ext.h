/* ext.h - Cedar extension types: ipaddr, decimal, datetime, duration.
 *
 * Each extension function is a row in one table: its name, whether it is
 * called as a function (`ip("10.0.0.1")`) or as a method
 * (`a.isInRange(b)`, receiver = args[0]), its arity (receiver included) and
 * the C function that computes it.  The parser looks names up here (an
 * unknown name is a parse error), the evaluator calls through the table, and
 * the JSON reader uses the constructors for `__extn` escapes.
 *
 * An implementation checks the types of its arguments itself; on a wrong
 * type or an invalid literal it returns -1 and sets *err to a static message
 * (e.g. "invalid decimal literal").  It allocates only from the given arena.
 */
#ifndef WRIT_CEDAR_EXT_H
#define WRIT_CEDAR_EXT_H

#include "cedar/value.h"

typedef int (*cedar_ext_impl)(wr_arena *a, const cv_value *args, cv_value *out, const char **err);

typedef struct cedar_extfn {
    const char *name;
    bool is_method;         /* called as receiver.name(args...) */
    uint8_t nargs;          /* including the receiver for methods */
    cedar_ext_impl fn;
} cedar_extfn;

/* Look up by name and call style; NULL when there is no such function. */
const cedar_extfn *cedar_ext_lookup(const char *name, size_t len, bool is_method);
/* Is there a function of that name in either style?  (For error messages.) */
bool cedar_ext_exists(const char *name, size_t len);

/* Parsers for the constructors' string forms; 0 on success, -1 if invalid.
 * They follow the reference implementation (Cedar 4.x) exactly:
 *   ip:       IPv4 dotted quad (no leading zeros), IPv6 (with ::, but not
 *             with embedded IPv4), optional /prefix; no zone ids.
 *   decimal:  -?digits.digits with 1..4 fractional digits, within i64 range.
 *   datetime: YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ, with .sss, or with
 *             +hhmm / -hhmm offsets.
 *   duration: e.g. 1d2h3m4s5ms, optional leading '-', units in order. */
int cedar_ip_parse(const char *s, size_t n, cv_ext *out);
int cedar_decimal_parse(const char *s, size_t n, cv_ext *out);
int cedar_datetime_parse(const char *s, size_t n, cv_ext *out);
int cedar_duration_parse(const char *s, size_t n, cv_ext *out);

/* Call a constructor by name ("ip", "decimal", "datetime", "duration") on a
 * string, as the JSON `__extn` escape does.  -1 with *err on failure. */
int cedar_ext_construct(wr_arena *a, const char *fn, size_t fnlen, const char *arg, size_t arglen,
                        cv_value *out, const char **err);

/* Print an extension value the way Cedar would construct it, e.g.
 * `decimal("1.2300")`, `ip("10.0.0.0/8")`.  snprintf-like. */
size_t cedar_ext_format(const cv_ext *x, char *buf, size_t cap);

/* Compare two datetimes or two durations for <, <=, >, >= (the evaluator
 * calls this when both operands are CV_EXT of the same kind and that kind
 * supports ordering).  Returns false when the kinds are not orderable. */
bool cedar_ext_orderable(cv_ext_kind k);

#endif
