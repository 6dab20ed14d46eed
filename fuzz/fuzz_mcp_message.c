/* fuzz_mcp_message.c - libFuzzer target for the MCP gateway's message path:
 * one JSON-RPC message (mcp_rpc_parse), tools/call params, the arguments
 * converted to Cedar (mcp_input_to_cedar), and RFC 8785 canonical text.
 *
 * Besides "no crash", it checks properties that must hold for every input
 * and aborts when one does not:
 *   - every refusal has an error answer that parses back as an error
 *     response carrying the refused message's id (or null);
 *   - converted arguments are always accepted by writ_request_fill as
 *     context.input (no schema): what the gateway decides on is readable;
 *   - the arguments straight into Cedar values (mcp_input_to_values, the
 *     gateway's context without a schema) give what the Cedar reader makes
 *     of mcp_input_to_cedar's JSON, or the same refusal (mcpvalues_check.h);
 *   - mcp_rpc_answer_fast says "a response" only of what mcp_rpc_parse
 *     classifies as a response or error response;
 *   - the canonical text is a fixed point: parsing it and canonicalising
 *     again gives the same bytes (unless it spells an integer-valued real
 *     beyond int64, which jansson refuses to read back).
 * The first input byte picks small limits half of the time so the limit
 * paths are reached by short inputs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/input.h"
#include "jcs/jcs.h"
#include "mcp/jsonrpc.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#include "mcpvalues_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(const mcp_rpc_fail *f)
{
    char *t = mcp_rpc_fail_text(f);
    if (!t)
        abort();
    mcp_rpc_msg m;
    mcp_rpc_fail g;
    if (mcp_rpc_parse(t, strlen(t), NULL, &m, &g) != WRIT_OK || m.kind != MCP_RPC_ERROR_RESPONSE)
        abort();
    if (f->id ? !json_equal((json_t *)m.id, f->id) : !json_is_null(m.id))
        abort();
    mcp_rpc_msg_clear(&m);
    wr_free(t);
}

static void check_jcs(const json_t *v)
{
    char *c1 = NULL, *c2 = NULL;
    size_t n1, n2;
    writ_error err;
    if (wr_jcs(v, true, &c1, &n1, &err) != WRIT_OK)
        abort(); /* the parser's depth limit is far below JCS's */
    json_t *back = writ_json_parse(c1, n1, &err);
    if (!back) {
        if (!strstr(err.msg, "too big"))
            abort();
    } else {
        if (wr_jcs(back, true, &c2, &n2, &err) != WRIT_OK || n1 != n2 || memcmp(c1, c2, n1))
            abort();
        json_decref(back);
    }
    char hex[65];
    if (wr_jcs_sha256(v, true, hex, &err) != WRIT_OK || strlen(hex) != 64)
        abort();
    wr_free(c1);
    wr_free(c2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mcp_rpc_limits lim = {0, 0};
    mcp_input_limits ilim = {0, 0, 0};
    if (data[0] & 1) {
        lim.max_size = 64 + (data[0] >> 1) * 8;
        lim.max_depth = 1 + (data[0] >> 4);
        ilim.max_depth = 1 + (data[0] >> 5);
        ilim.max_values = 1 + (data[0] >> 2);
        ilim.max_bytes = 1 + (data[0] >> 1);
    }
    data++, size--;
    mcp_rpc_msg m;
    mcp_rpc_fail f;
    /* the gateway's check of an answer without a tree: never says "a
     * response" where mcp_rpc_parse (the gateway's limits) does not */
    if (mcp_rpc_answer_fast((const char *)data, size) == 1) {
        mcp_rpc_limits al = {.max_size = size + 1, .max_depth = 256};
        if (mcp_rpc_parse((const char *)data, size, &al, &m, &f) != WRIT_OK ||
            (m.kind != MCP_RPC_RESPONSE && m.kind != MCP_RPC_ERROR_RESPONSE))
            abort();
        mcp_rpc_msg_clear(&m);
    }
    if (mcp_rpc_parse((const char *)data, size, &lim, &m, &f) != WRIT_OK) {
        check_answer(&f);
        mcp_rpc_fail_clear(&f);
        return 0;
    }
    check_jcs(m.root);
    mcp_tool_call tc;
    if (mcp_rpc_tool_call(&m, &tc, &f) != WRIT_OK) {
        check_answer(&f);
        mcp_rpc_fail_clear(&f);
        mcp_rpc_msg_clear(&m);
        return 0;
    }
    char why[600];
    if (mcp_values_differ(tc.arguments, &ilim, why, sizeof why)) {
        fprintf(stderr, "%s\n", why);
        abort();
    }
    json_t *input = NULL;
    writ_error err;
    if (mcp_input_to_cedar(tc.arguments, &ilim, NULL, &input, &err) == WRIT_OK) {
        json_t *ctx = json_object();
        json_object_set_new(ctx, "input", input);
        writ_request *rq = writ_request_reusable();
        writ_uid_parts pr = {"", 0, "Agent", 5, "a", 1};
        writ_uid_parts ac = {"", 0, "Action", 6, tc.name, tc.name_len};
        writ_uid_parts rs = {"", 0, "McpServer", 9, "s", 1};
        if (rq && writ_request_fill(rq, NULL, false, &pr, &ac, &rs, ctx, &err) != WRIT_OK)
            abort();
        writ_request_free(rq);
        json_decref(ctx);
    }
    mcp_rpc_msg_clear(&m);
    return 0;
}
