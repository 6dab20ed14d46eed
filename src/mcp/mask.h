/* mask.h - what the gateway adds to a request for the upstream, masked in
 * the answer as its bytes arrive.
 *
 * The upstream's credential is the gateway's, never the agent's: an upstream
 * that shows it (a debug page, a careless error message, a tool echoing its
 * headers) would hand every agent the key to the upstream without Writ.  So
 * each occurrence in what the upstream sends back is masked ('*', as long as
 * it was): the bytes added, and the mcp_mask_hold() before them (one cut in
 * two by the network).  A stream hands out no byte that a match arriving
 * later could still cover (it keeps the hold back); an SSE stream hands out
 * whole events only, and a credential holds no line end.
 *
 * The token Writ mints for a call (mcp_credential NAME token AUDIENCE) is a
 * credential too, and a replayable one: shown to the agent, it calls the
 * upstream with it directly for up to 60 s.  It is this request's own, so
 * this request's answer is masked for it, alike: the whole JWT, and its
 * signature on its own.  Without the signature, what is left (header and
 * payload, whose claims the agent knows anyway) is no token: nobody but Writ
 * can sign them again; and an echo that shows the token in parts (split at
 * its dots, each on its line or in its JSON member) shows the signature
 * whole, which is masked.  A JWT holds only base64url and dots, which no
 * JSON encoder escapes, so a JSON string holds it as it is.
 *
 * Other calls' tokens are as good: an upstream that shows its request log
 * would hand one agent the tokens minted for another's calls.  Every JWT
 * Writ signs with a key starts with the same text, the header naming that
 * key, so each JWT that starts with this call's token's header is masked
 * whole: the header and its '.', then the payload, a '.' and the signature,
 * as far as base64url goes.  One cut by the network is followed into the
 * next bytes (run), so only the header needs the hold.
 *
 * Each of these is looked for in the bytes as the upstream sent them, not
 * as another has masked them already (seen: the hold's bytes before the new
 * ones), so that what is masked is the same whatever pieces the answer
 * came in, and a credential that happens to share bytes with a token's
 * header cannot hide it.
 *
 * Not recognised: a token transformed on the way (its signature decoded, in
 * hex, in another alphabet, \u-escaped by hand), another call's token split
 * at its dots, one signed with a key this call's token was not (rotated out
 * within its last 60 s). */
#ifndef WRIT_MCP_MASK_H
#define WRIT_MCP_MASK_H

#include <stdbool.h>
#include <stddef.h>

#include "util/sbuf.h"

#define MCP_MASK_MIN 8 /* a shorter credential would mask ordinary text: not masked */

typedef struct mcp_mask {
    const char *cred; /* the upstream's credential (borrowed), NULL = none */
    size_t cred_len;
    const char *jwt; /* the token minted for this call (borrowed), NULL = none */
    size_t jwt_len, sig_len, head_len; /* head_len: its header and the '.' after it */
    unsigned char run; /* where the last bytes seen are inside a JWT (mask.c) */
    sbuf seen;         /* the hold's last bytes as they came, then the new ones */
} mcp_mask;

/* Masking the upstream's credential cred[0..n) (NULL, or shorter than
 * MCP_MASK_MIN: none). */
void mcp_mask_init(mcp_mask *m, const char *cred, size_t n);

/* The token minted for this call, jwt[0..n) (it must outlive m's use), in
 * place of any before. */
void mcp_mask_token(mcp_mask *m, const char *jwt, size_t n);

/* p[0..len) is the answer as kept (at least the hold before `from`), its
 * bytes from `from` on just added: masks them, and the hold before them.
 * false: out of memory, nothing masked (the answer must not go out). */
bool mcp_mask_add(mcp_mask *m, char *p, size_t len, size_t from);

void mcp_mask_free(mcp_mask *m);

/* How many bytes at the end of what arrived a stream keeps back until more
 * comes (or the answer ends): a credential may end in what comes next. */
size_t mcp_mask_hold(const mcp_mask *m);

#endif
