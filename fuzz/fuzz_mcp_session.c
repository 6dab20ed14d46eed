/* fuzz_mcp_session.c - libFuzzer target for reading a client's
 * Mcp-Session-Id (src/mcp/session.c).
 *
 * Input: byte 0 picks the agent (of two), the rest is the id (NUL-cut, as
 * a header value is).  Besides "no crash": an id that unwraps was made for
 * that agent (the same id wraps back from what it holds; another agent's
 * unwrap refuses it), and the upstream id read is visible ASCII.  The
 * input's own ids start from seeds made with the target's key (fixed, so
 * that the corpus stays valid). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mcp_sessions *k;
    if (!k && !(k = mcp_sessions_new("fuzz key", 8)))
        abort();
    if (size < 1 || size > 4096)
        return 0;
    static const char *const agents[] = {"spiffe://corp.example/agents/a", "spiffe://corp.example/agents/b"};
    const char *agent = agents[data[0] & 1], *other = agents[!(data[0] & 1)];
    char id[4097], up[256], again[512];
    memcpy(id, data + 1, size - 1);
    id[size - 1] = '\0';
    if (!mcp_session_unwrap(k, "everything", agent, id, up, sizeof up))
        return 0;
    for (const char *p = up; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7E)
            abort();
    if (!mcp_session_wrap(k, "everything", agent, up, again, sizeof again) || strcmp(again, id))
        abort();
    if (mcp_session_unwrap(k, "everything", other, id, up, sizeof up))
        abort();
    return 0;
}
