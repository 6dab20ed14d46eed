/* json_keys.h - NUL bytes in JSON object keys, which jansson refuses.
 *
 * Cedar record keys may hold any string, NUL included, and the conformance
 * corpus has such keys.  jansson keeps key lengths but its parser refuses a
 * key containing "\u0000".  So before parsing, every key that contains
 * \u0000 or \u0001 is rewritten to an injective form free of NUL:
 *
 *     key  ->  \u0001\u0004 + key with \u0001 -> \u0001\u0002, \u0000 -> \u0001\u0003
 *
 * A key holding byte 0x01 after parsing is therefore always an encoded one
 * (raw control characters cannot appear in JSON text), and
 * cedar_json_key_decode() restores it.  Keys without those characters, the
 * overwhelming majority, are untouched and the text is not copied. */
#ifndef WRIT_CEDAR_JSON_KEYS_H
#define WRIT_CEDAR_JSON_KEYS_H

#include "cedar/value.h"

/* NULL when the text needs no rewrite; otherwise a wr_malloc'd copy with
 * its length in *out_len (free with wr_free). */
char *cedar_json_keys_encode(const char *text, size_t len, size_t *out_len);

/* The key as Cedar sees it, built in arena a (NULL on OOM). */
const cv_string *cedar_json_key_decode(wr_arena *a, const char *k, size_t klen);

/* The jansson spelling of a Cedar key (for lookups): writes into buf
 * (cap >= 2 + 2 * klen) and returns its length. */
size_t cedar_json_key_encode(const char *k, size_t klen, char *buf);

#endif
