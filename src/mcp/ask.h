/* ask.h - a request to an MCP upstream, sent and waited for (blocking), and
 * an upstream's whole tools/list asked that way.
 *
 * `writ mcp schema` asks in a session of its own (initialize first); the
 * gateway asks in a client's session when a call names a tool while it has
 * seen no listing of that upstream since it started, so that the call's
 * context.tool.annotations are the ones the upstream declares (gateway.c,
 * list_on_miss).  The answer is the JSON-RPC response with the request's id:
 * the JSON body, or the SSE event holding it. */
#ifndef WRIT_MCP_ASK_H
#define WRIT_MCP_ASK_H

#include <jansson.h>

#include "mcp/upstream.h"

typedef struct mcp_ask_opts {
    const char *session_id;       /* NULL = none */
    const char *protocol_version; /* NULL = none */
    const char *const *headers;   /* "Name: value" lines (a credential) */
    size_t nheaders;
    unsigned timeout_ms; /* 0 = 60000 */
} mcp_ask_opts;

/* Send the request body (a JSON-RPC request whose id is id, a string) and
 * wait for its answer: the response (new reference), NULL with why.
 * sid_out (256 bytes, may be NULL) gets the upstream's Mcp-Session-Id. */
json_t *mcp_ask(mcp_upstream *u, const char *body, const char *id, const mcp_ask_opts *o, char *sid_out,
                char *why, size_t wn);

/* Every page of the upstream's tools/list (nextCursor followed, at most
 * max_pages): {"tools": [...]} (new reference), NULL with why.  o's
 * timeout bounds all the pages together, not each. */
json_t *mcp_ask_tools(mcp_upstream *u, const mcp_ask_opts *o, size_t max_pages, char *why, size_t wn);

#endif
