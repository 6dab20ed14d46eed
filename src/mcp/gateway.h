/* gateway.h - `writ serve` as an MCP gateway (issue 9).
 *
 * MCP clients connect to /mcp/NAME (Streamable HTTP: POST a message, GET
 * the server's stream, DELETE to end a session) with a Writ task token;
 * the gateway authenticates every message, decides it through the
 * server's one decision path (srv_decide_ask, audited), and forwards what
 * is allowed to upstream NAME (upstream.h) with the upstream's credential,
 * never the agent's token.  tools/list (resources/list, prompts/list) is
 * filtered per agent by partial evaluation with context.input unknown.
 *
 * The server knows nothing of this module: cli/cmd_serve.c hands the
 * routes below to srv_run_ext (server.h).  Routes:
 *   /mcp/NAME                                      the transport
 *   /.well-known/oauth-protected-resource/mcp/NAME RFC 9728 metadata
 *   /.well-known/oauth-authorization-server        RFC 8414 metadata
 */
#ifndef WRIT_MCP_GATEWAY_H
#define WRIT_MCP_GATEWAY_H

#include "server/config.h"
#include "server/server.h"
#include "writ/writ.h"

typedef struct mcp_gw mcp_gw;

/* Open the upstreams and credentials cfg names (cfg must outlive g). */
WRIT_MUST_CHECK writ_status mcp_gateway_open(const srv_config *cfg, mcp_gw **out, writ_error *err);
/* The extension routes for srv_run_ext (valid while g lives). */
const srv_ext *mcp_gateway_ext(mcp_gw *g);
void mcp_gateway_close(mcp_gw *g);

#endif
