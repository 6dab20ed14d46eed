/* srctext.h - Cedar source text, shared by the policy parser (parser.c) and
 * the schema parser (schema.c): UTF-8 checks, line/column positions and
 * string-literal escapes. */
#ifndef WRIT_CEDAR_SRCTEXT_H
#define WRIT_CEDAR_SRCTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Check that s[0..n) is well-formed UTF-8; returns the offset of the first
 * bad byte or n. */
size_t cedar_utf8_check(const char *s, size_t n);

/* UTF-8 of a scalar value into out; returns its length (1-4). */
size_t cedar_utf8_put(unsigned char out[4], uint32_t cp);

/* Compute 1-based line and column (in bytes) of an offset. */
void cedar_text_position(const char *src, size_t len, size_t off, uint32_t *line, uint32_t *col);

/* String literal escapes:
 *   \n \r \t \\ \0 \' \"   \xHH (HH <= 7f)   \u{H..H} (1-6 hex digits, a
 *   Unicode scalar value)
 * (\* exists in patterns only; the policy parser handles it.)  s[*i] is the
 * backslash; on success *cp is the code point and *i is past the escape;
 * on failure -1, with *i past the text to quote in the message. */
int cedar_lex_escape(const char *s, size_t n, size_t *i, uint32_t *cp);

/* Unescape a literal's body s[0..n) into out (room for n bytes: an escape
 * is never shorter than its UTF-8).  Returns the length, or -1 with *bad
 * at the offending backslash. */
long cedar_lex_unescape(const char *s, size_t n, char *out, size_t *bad);

#endif
