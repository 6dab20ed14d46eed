/* idscan.h - the id of a JSON-RPC message too long to keep, read as its
 * bytes pass.
 *
 * The stdio upstream keeps each line of the process's stdout, at most
 * max_answer bytes (upstream_stdio.c).  A longer line is not kept: its
 * bytes go through this scanner on their way out, and at the line's end it
 * tells which request the line answers, so that that request alone ends
 * with an error.  Whole messages are read by jansson; this only scans:
 *   - it follows strings (escapes included) and counts the nesting depth,
 *     so that only members of the top-level object are looked at (brackets
 *     are counted, not matched: it is no validator);
 *   - it notes which of the top-level keys "id", "method", "result" and
 *     "error" appear, and whether a key is spelled with an escape (then it
 *     cannot tell which keys there are: no id);
 *   - it keeps the text of the top-level "id" value, at most MCP_IDSCAN_MAX
 *     bytes (longer, an object or an array, or "id" twice: no id).
 * Text that is not one JSON object as far as the scan can tell (anything
 * before or after it, a key that is not a string, a ':' missing, a raw
 * control character in a string) has no id.  Its memory is the struct,
 * whatever the line's length; the bytes may come in pieces of any size. */
#ifndef WRIT_MCP_IDSCAN_H
#define WRIT_MCP_IDSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MCP_IDSCAN_MAX 64 /* bytes of an id's text kept */

typedef struct mcp_idscan {
    uint64_t depth;       /* arrays and objects open inside a member's value */
    unsigned char state;  /* where in the top-level object (idscan.c) */
    bool esc;             /* in a string, after a backslash */
    bool nested_str;      /* in a string inside a member's value (depth > 0) */
    unsigned char member; /* the key of the member being read (K_* in idscan.c) */
    unsigned char seen;   /* the keys met (bits of K_*), and whether one had an escape */
    unsigned char klen;   /* bytes of the key being read, up to sizeof key + 1 */
    char key[8];
    bool id_twice, id_unfit; /* "id" met again; its value an object, an array or too long */
    unsigned char idlen;
    char id[MCP_IDSCAN_MAX];
} mcp_idscan;

/* Ready for a new line. */
void mcp_idscan_init(mcp_idscan *s);

/* The next n bytes of the line (no "\n" among them). */
void mcp_idscan_feed(mcp_idscan *s, const char *p, size_t n);

/* At the line's end: the text of its top-level "id" value as it was
 * written (a string with its quotes and escapes), *len bytes; NULL when the
 * line is not one JSON object with exactly one such member whose value is
 * a string, number or literal of at most MCP_IDSCAN_MAX bytes. */
const char *mcp_idscan_id(const mcp_idscan *s, size_t *len);

/* At the line's end: the id's text, as mcp_idscan_id, when the line is a
 * request of the process's own (it has a "method" too); else NULL. */
const char *mcp_idscan_request(const mcp_idscan *s, size_t *len);

/* At the line's end: whether it is a response (an id, "result" or "error",
 * no "method") whose id is a non-negative integer, as up_stdio_answer_id
 * reads a line it keeps; *id then holds it. */
bool mcp_idscan_answer(const mcp_idscan *s, uint64_t *id);

#endif
