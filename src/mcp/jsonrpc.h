/* jsonrpc.h - one JSON-RPC 2.0 message of MCP, parsed and classified; error
 * answers built.
 *
 * MCP 2025-11-25's Streamable HTTP transport carries one message per POST
 * body (batches were removed in 2025-06-18), so a body is exactly one JSON
 * object; a JSON array is refused (-32600, "batches are not supported").
 *
 * Classification (the JSON-RPC 2.0 spec, narrowed as MCP narrows it):
 *   request       "jsonrpc":"2.0", "method": string, "id": string|integer
 *   notification  "jsonrpc":"2.0", "method": string, no "id"
 *   response      "jsonrpc":"2.0", "id": string|integer, "result": any
 *   error         "jsonrpc":"2.0", "id": string|integer|null,
 *                 "error": {"code": integer, "message": string, "data"?}
 * "params", when present, must be an object (MCP's params are objects): an
 * array is -32602, any other value (null included) -32600.  An id that is
 * null (in a request), a fraction, a bool, an object or an array is -32600:
 * MCP ids are strings or integers.  A message with both "method" and
 * "result"/"error", or with both "result" and "error", is -32600.  Other
 * members are ignored.
 *
 * The text is read with writ_json_parse (duplicate keys refused, integers
 * exact in 64 bits, NUL allowed in strings), after two checks of our own
 * that give named errors: the size (MCP_RPC_ELIMIT_SIZE) and the nesting
 * depth of arrays and objects (MCP_RPC_ELIMIT_DEPTH, found by a scan of the
 * bytes before anything is built, so a deep text costs no memory).  An
 * integer outside the 64-bit range anywhere in the message makes it
 * refused whole (-32600 with its position): Writ never rounds a number it
 * may decide on.
 *
 * Error codes (what to answer with):
 *   -32700 not JSON (syntax, bad UTF-8, duplicate key, empty body)
 *   -32600 JSON, but not a valid message (shape, batch, limits, big integer)
 *   -32602 valid message, bad params (params an array; tools/call name)
 *   -32603 internal (out of memory)
 *
 * Ownership: an mcp_rpc_msg owns its tree (root); id, method, params,
 * result and error point into it and live until mcp_rpc_msg_clear().  An
 * mcp_rpc_fail owns a reference to the id it could read (NULL when none),
 * released by mcp_rpc_fail_clear().  Text from mcp_rpc_error_text() is
 * wr_malloc'd; free it with wr_free.
 */
#ifndef WRIT_MCP_JSONRPC_H
#define WRIT_MCP_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "writ/writ.h"

#define MCP_RPC_DEFAULT_MAX_SIZE ((size_t)4 << 20)
#define MCP_RPC_DEFAULT_MAX_DEPTH 64u

/* JSON-RPC error codes. */
#define MCP_RPC_PARSE_ERROR (-32700)
#define MCP_RPC_INVALID_REQUEST (-32600)
#define MCP_RPC_METHOD_NOT_FOUND (-32601)
#define MCP_RPC_INVALID_PARAMS (-32602)
#define MCP_RPC_INTERNAL_ERROR (-32603)

typedef enum mcp_rpc_kind {
    MCP_RPC_REQUEST = 1,
    MCP_RPC_NOTIFICATION,
    MCP_RPC_RESPONSE,
    MCP_RPC_ERROR_RESPONSE,
} mcp_rpc_kind;

/* Why a message was refused (beside the JSON-RPC code). */
typedef enum mcp_rpc_why {
    MCP_RPC_OK = 0,
    MCP_RPC_EJSON,        /* not JSON: syntax, encoding, empty body */
    MCP_RPC_EDUPKEY,      /* an object has the same key twice */
    MCP_RPC_ELIMIT_SIZE,  /* body larger than limits.max_size */
    MCP_RPC_ELIMIT_DEPTH, /* arrays/objects nested deeper than limits.max_depth */
    MCP_RPC_ENUMBER,      /* an integer outside int64 or a real outside double */
    MCP_RPC_EBATCH,       /* a JSON array: batches are not supported */
    MCP_RPC_ESHAPE,       /* not a JSON-RPC 2.0 message (see the table above) */
    MCP_RPC_EPARAMS,      /* params (or tools/call name/arguments) malformed */
    MCP_RPC_ENOMEM,
} mcp_rpc_why;

typedef struct mcp_rpc_limits {
    size_t max_size;    /* bytes of the body; 0 = MCP_RPC_DEFAULT_MAX_SIZE */
    unsigned max_depth; /* arrays + objects; 0 = MCP_RPC_DEFAULT_MAX_DEPTH */
} mcp_rpc_limits;

typedef struct mcp_rpc_msg {
    mcp_rpc_kind kind;
    json_t *root;         /* the whole message (owned) */
    const json_t *id;     /* string or integer; JSON null for an error response
                             without id; NULL for a notification */
    const char *method;   /* requests and notifications, else NULL */
    size_t method_len;    /* (a method may hold NUL; compare with the length) */
    const json_t *params; /* object, or NULL when absent */
    const json_t *result; /* responses */
    const json_t *error;  /* error responses: the error object */
} mcp_rpc_msg;

typedef struct mcp_rpc_fail {
    int code; /* the JSON-RPC error code to answer with */
    mcp_rpc_why why;
    json_t *id;     /* the message's id when it could be read (owned
                       reference), else NULL: answer with id null */
    writ_error err; /* message; line/col/offset when there is a position */
} mcp_rpc_fail;

/* Parse one message.  limits may be NULL (defaults).  On success *out is
 * filled and f is cleared; on failure *out is zeroed, f says why and the
 * status is WRIT_EJSON, WRIT_EDUP, WRIT_ELIMIT, WRIT_EINVAL (shape) or
 * WRIT_ENOMEM. */
WRIT_MUST_CHECK writ_status mcp_rpc_parse(const char *text, size_t len, const mcp_rpc_limits *limits,
                                          mcp_rpc_msg *out, mcp_rpc_fail *f);
void mcp_rpc_msg_clear(mcp_rpc_msg *m);
void mcp_rpc_fail_clear(mcp_rpc_fail *f);

/* Is text a JSON-RPC response or error response (what mcp_rpc_parse
 * would classify as one, at any limits of at least 64 levels and len + 1
 * bytes)?  Read without a tree (cedar_json_fast_kinds): 1 when it surely
 * is one, -1 when that reading cannot tell (not one, or text outside the
 * quick reader's subset): then ask mcp_rpc_parse. */
int mcp_rpc_answer_fast(const char *text, size_t len);

/* Is m a request or notification for exactly this method? */
bool mcp_rpc_is_method(const mcp_rpc_msg *m, const char *method);

/* Is msg (a parsed message, any JSON) the notification by which a server
 * says its list of tools changed (notifications/tools/list_changed)? */
bool mcp_rpc_tools_changed(const json_t *msg);

/* tools/call: params.name (a non-empty string without NUL) and
 * params.arguments (an object; absent or null reads as no arguments, NULL).
 * The pointers are into m.  Failure is -32602 (f->id set from m). */
typedef struct mcp_tool_call {
    const char *name;
    size_t name_len;
    const json_t *arguments;
} mcp_tool_call;
WRIT_MUST_CHECK writ_status mcp_rpc_tool_call(const mcp_rpc_msg *m, mcp_tool_call *out, mcp_rpc_fail *f);

/* The text {"jsonrpc":"2.0","id":ID,"error":{"code":C,"message":M,"data":D}}
 * (compact, one line, no newline).  id NULL or JSON null gives "id":null;
 * a string or integer id is echoed exactly.  data NULL leaves "data" out.
 * message is UTF-8 (invalid bytes are replaced by U+FFFD); NULL = "".
 * NULL on out of memory or when data is not serialisable. */
char *mcp_rpc_error_text(const json_t *id, int code, const char *message, const json_t *data);

/* The same for a refusal: code, message and, when there is a position,
 * data {"line","column","offset"}. */
char *mcp_rpc_fail_text(const mcp_rpc_fail *f);

#endif
