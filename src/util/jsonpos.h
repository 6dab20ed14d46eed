/* jsonpos.h - where a value sits in JSON text.  jansson gives positions only
 * for syntax errors; a test file with a field of the wrong name or type is
 * well-formed JSON, and its error should still say line:column.  This finds
 * the place again in the text jansson read. */
#ifndef WRIT_UTIL_JSONPOS_H
#define WRIT_UTIL_JSONPOS_H

#include <stddef.h>

/* One step of a path: an object member (key != NULL) or an array item. */
typedef struct wr_jpos_step {
    const char *key;
    size_t index;
} wr_jpos_step;

/* The offset in text[0..len) of the value at path[0..n) (with at_key, of
 * the last step's member name instead).  Where the path cannot be followed
 * (or a key is written with escapes), the offset of the deepest value that
 * could be reached.  The text must be JSON that parsed; nesting deeper than
 * 256 levels stops the search there. */
size_t wr_jpos_find(const char *text, size_t len, const wr_jpos_step *path, size_t n, int at_key);

#endif
