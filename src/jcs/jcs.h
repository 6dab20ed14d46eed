/* jcs.h - RFC 8785 (JSON Canonicalization Scheme) text of a JSON value, and
 * its SHA-256.
 *
 * The canonical text is what the gateway hashes for the audit record's
 * argument hash and (later) for approvals' input_sha256: two argument
 * objects that differ only in member order, whitespace or number spelling
 * (1.0 / 1 / 1e0) hash alike.
 *
 * Rules (RFC 8785 section 3.2):
 *   - no whitespace; object members sorted by their keys compared as
 *     sequences of UTF-16 code units (not UTF-8 bytes: U+10000 and above
 *     sort below U+E000..U+FFFF);
 *   - strings: `"` and `\` escaped as \" and \\, U+0008 U+0009 U+000A
 *     U+000C U+000D as \b \t \n \f \r, the other controls below U+0020 as
 *     \u00xx (lower-case hex), everything else (including '/', DEL,
 *     U+2028) as its UTF-8 bytes;
 *   - numbers as ECMAScript's Number.prototype.toString spells the double
 *     (shortest digits that read back to the same double, then
 *     ECMAScript's choice between plain and exponent notation; -0 is "0").
 *
 * One deliberate difference: jansson keeps integers as exact int64, and an
 * integer outside +-2^53 is printed with all its digits instead of being
 * rounded to a double first as a JavaScript JCS library would.  For every
 * integer a double holds exactly the two agree; for the others Writ's
 * hash differs from the JavaScript one (so an approval computed in
 * JavaScript for such an input never matches: closed), and two different
 * integers never hash alike.
 *
 * Keys.  A tree from writ_json_parse()/cedar_json_load() may hold object
 * keys re-encoded for U+0000 (see src/cedar/json.c: U+0001 is an escape
 * character in keys).  With cedar_keys set the keys are decoded first, so
 * the canonical text is that of the JSON text the client sent.
 *
 * Limits: nesting deeper than WR_JCS_MAX_DEPTH is WRIT_ELIMIT (the
 * message parser's depth limit is lower).  Non-finite reals cannot come
 * from a parsed text; given one, the result is WRIT_EINVAL.
 *
 * Ownership: the functions read the tree and never keep it; *out text is
 * allocated with wr_malloc and freed with wr_free by the caller.  On error
 * *out is NULL.
 */
#ifndef WRIT_JCS_JCS_H
#define WRIT_JCS_JCS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "writ/writ.h"

#define WR_JCS_MAX_DEPTH 256

/* Largest text wr_num_es() writes, NUL included ("-1.2345678901234567e-308"). */
#define WR_NUM_ES_MAX 32

/* The shortest decimal digits of a finite, non-zero double's magnitude:
 * writes k digits (no leading or trailing zero, k <= 17) into digits and
 * returns k; *point is n such that |v| = 0.DIGITS x 10^n.  Among the
 * shortest digit strings that read back to v, the one closest to v. */
int wr_num_shortest(double v, char digits[18], int *point);

/* ECMAScript Number::toString(v) into buf (cap >= WR_NUM_ES_MAX); returns
 * the length, or 0 for NaN/infinity (nothing written but ""). */
size_t wr_num_es(double v, char *buf, size_t cap);

/* The canonical text of v (any JSON value). */
WRIT_MUST_CHECK writ_status wr_jcs(const json_t *v, bool cedar_keys, char **out, size_t *len,
                                    writ_error *err);

/* Lower-case hex SHA-256 of wr_jcs(v) into hex (65 bytes with the NUL).
 * On error hex is the empty string. */
WRIT_MUST_CHECK writ_status wr_jcs_sha256(const json_t *v, bool cedar_keys, char hex[65], writ_error *err);

#endif
