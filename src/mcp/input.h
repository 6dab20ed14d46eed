/* input.h - a tool call's arguments (JSON) as the Cedar value `context.input`.
 *
 * The result is a JSON tree in Cedar's JSON value format (src/cedar/json.h)
 * to be put at "input" in the context given to writ_request_fill().  The
 * conversion (issue 9):
 *
 *   JSON object     -> record (members converted one by one)
 *   JSON array      -> set (Cedar sets have no order and no duplicates)
 *   integer         -> Long, within +-2^53 (a JavaScript upstream reads a
 *                      number as a double and would round one past that, so
 *                      the policy would see another number than the upstream:
 *                      refused, WRIT_EINVAL; outside int64 mcp_rpc_parse
 *                      refuses the whole message, -32600)
 *   string, bool    -> String, Bool
 *   fraction/exponent number with no fraction (2.0, 2e0, 20e-1, -0.0)
 *                   -> Long, as if spelled as an integer (2, 0), when
 *                      strictly within +-2^53 (else a String, as below): JSON has one number type and the upstream reads
 *                      2.0 as 2, so a policy's `==`, `in` or `contains` on
 *                      the Long 2 must see it (a decimal equals no Long, with
 *                      no error to fail closed on)
 *   any other fraction/exponent number (a JSON real):
 *                   -> decimal {"__extn":{"fn":"decimal","arg":"D"}} when the
 *                      number's shortest round-trip decimal spelling (the
 *                      digits ECMAScript would print: 0.1 is "0.1", not the
 *                      double's exact binary value) has at most 4 digits
 *                      after the point and lies within decimal's range
 *                      [-922337203685477.5808, 922337203685477.5807];
 *                      D has at least one digit after the point ("2.0",
 *                      "-0.25"; -0 is "0.0");
 *                   -> otherwise a String spelled exactly as ECMAScript's
 *                      Number.prototype.toString (and RFC 8785) spells it:
 *                      1.00001 -> "1.00001", 1e-7 -> "1e-7";
 *                   -> refused from 2^53 on (1e16, 9007199254740992.0,
 *                      1e300): a double there is whole but may not be the
 *                      text's number, and a String of it would equal no
 *                      Long, so a forbid on `==` would be skipped.
 *   null member     -> left out of its record
 *   null in an array-> left out of the set (a set cannot hold "nothing";
 *                      [1, null] reads as [1], as a null member reads as
 *                      absent)
 *
 * Escape keys.  Cedar's JSON reader takes an object with a key "__extn" or
 * "__entity" as an extension value or an entity reference, not a record.
 * An agent must not be able to forge an entity reference (or a decimal)
 * that way, and a rename could collide with another key, so arguments
 * holding such a key at any depth are refused: WRIT_EINVAL, answered as
 * -32602 by the gateway.
 *
 * Keys are copied as they are stored in the tree; the tree must come from
 * writ_json_parse()/mcp_rpc_parse() (whose key encoding for U+0000 the
 * Cedar reader undoes).
 *
 * Schema hint.  With a schema that declares the action with a context
 * attribute `input`, an integer where that type says decimal becomes the
 * decimal "N.0" (JSON Schema's "number" maps to decimal in `writ mcp
 * schema`, and 5 is a number), when within range; and a real with no
 * fraction where it says decimal stays the decimal "5.0".  Nothing else depends
 * on the schema: the Cedar reader checks the rest against it.
 *
 * Limits (a refusal is WRIT_ELIMIT with a message naming the limit):
 * nesting depth of arrays/objects (default 64), the number of values
 * (default 100000) and the bytes of strings and keys (default 4 MiB).
 *
 * Ownership: *out is a new tree owned by the caller (json_decref); on
 * failure *out is NULL.  args is only read.
 */
#ifndef WRIT_MCP_INPUT_H
#define WRIT_MCP_INPUT_H

#include <jansson.h>

#include "writ/cedar.h"
#include "writ/writ.h"

#define MCP_INPUT_DEFAULT_MAX_DEPTH 64u
#define MCP_INPUT_DEFAULT_MAX_VALUES ((size_t)100000)
#define MCP_INPUT_DEFAULT_MAX_BYTES ((size_t)4 << 20)

typedef struct mcp_input_limits {
    unsigned max_depth; /* 0 = default */
    size_t max_values;  /* 0 = default */
    size_t max_bytes;   /* 0 = default */
} mcp_input_limits;

/* Where the schema hint comes from (all optional: NULL schema = none). */
typedef struct mcp_input_hint {
    const writ_schema *schema;
    const char *action_type; /* e.g. "Writ::Action" */
    const char *action_id;   /* e.g. "everything/add" */
} mcp_input_hint;

/* args: the tool call's arguments, an object or NULL (= {}).  limits and
 * hint may be NULL. */
WRIT_MUST_CHECK writ_status mcp_input_to_cedar(const json_t *args, const mcp_input_limits *limits,
                                               const mcp_input_hint *hint, json_t **out, writ_error *err);

/* The same conversion straight into the Cedar value that reading
 * mcp_input_to_cedar's tree with no schema (as context.input) gives, in
 * arena a, without that tree: the same refusals with the same messages,
 * an equal value.  No schema hint (the gateway uses it only when there is
 * no schema).  For the decision path's direct context (gateway.c). */
struct wr_arena;
struct cv_value;
WRIT_MUST_CHECK writ_status mcp_input_to_values(struct wr_arena *a, const json_t *args,
                                                const mcp_input_limits *limits, struct cv_value *out,
                                                writ_error *err);

/* The decimal text of a finite double under the rule above into buf (cap
 * >= 32): 1 when it is a decimal, 0 when it must be a String. */
int mcp_input_decimal_text(double v, char *buf, size_t cap);

#endif
