/* session.h - MCP sessions bound to the agent that opened them.
 *
 * An upstream serves every agent with the one credential the gateway
 * injects, so its Mcp-Session-Id says nothing about who opened the session:
 * passed on as it is, any agent holding a task token for the upstream could
 * name another agent's session and read its server stream (GET), end it
 * (DELETE) or call tools inside it.  The MCP security guidance asks servers
 * to bind a session to its user; at a gateway that is the gateway's job.
 *
 * So the client never sees the upstream's id.  It gets
 *     "w1." base64url(upstream id) "." base64url(mac)
 * with mac the first 16 bytes of HMAC-SHA256 under the gateway's key over
 * the upstream's name, the agent (the token's holder) and the upstream id.
 * A request naming a session is forwarded only when the mac holds for the
 * agent of its own token and this upstream; anything else is a session the
 * gateway does not know (404, as the transport answers an unknown session:
 * the client starts a new one).  The key is derived from Writ's token
 * signing key, so replicas sharing that key accept each other's ids; with
 * no signing key it is random per process, and a restart ends the sessions
 * for clients (they open new ones). */
#ifndef WRIT_MCP_SESSION_H
#define WRIT_MCP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mcp_sessions mcp_sessions;

/* The binder under a key drawn from secret[0..n) (n == 0: a random key).
 * NULL when out of memory or OpenSSL fails. */
mcp_sessions *mcp_sessions_new(const void *secret, size_t n);
void mcp_sessions_free(mcp_sessions *b);

/* The id to give the client for upstream id up_sid on upstream name, opened
 * by agent, into out (cap bytes); false when it does not fit, the upstream
 * id is not visible ASCII (0x21-0x7E), or the mac fails. */
bool mcp_session_wrap(const mcp_sessions *b, const char *name, const char *agent, const char *up_sid,
                      char *out, size_t cap);

/* The upstream id inside a client's id, into out (cap bytes), when it was
 * given to agent for upstream name; false for any other id. */
bool mcp_session_unwrap(const mcp_sessions *b, const char *name, const char *agent, const char *id, char *out,
                        size_t cap);

#endif
