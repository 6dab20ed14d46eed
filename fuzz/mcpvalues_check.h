/* mcpvalues_check.h - the MCP gateway's context.input both ways: straight
 * into Cedar values (mcp_input_to_values) and the way before it (the
 * Cedar-format JSON of mcp_input_to_cedar, read by the Cedar reader with
 * no schema).  Shared by tests/unit/test_mcp_input.c and
 * fuzz/fuzz_mcp_message.c.  Returns NULL when both agree (the same status,
 * the same message on a refusal, equal values with the same text), else
 * what differs. */
#ifndef WRIT_FUZZ_MCPVALUES_CHECK_H
#define WRIT_FUZZ_MCPVALUES_CHECK_H

#include <stdio.h>
#include <string.h>

#include "cedar/json.h"
#include "cedar/value.h"
#include "mcp/input.h"
#include "util/arena.h"

static const char *mcp_values_differ(const json_t *args, const mcp_input_limits *lim, char *why, size_t n)
{
    wr_arena *a1 = wr_arena_new(0), *a2 = wr_arena_new(0);
    if (!a1 || !a2) {
        wr_arena_free(a1);
        wr_arena_free(a2);
        return NULL; /* out of memory: nothing to compare */
    }
    writ_error e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    cv_value v1, v2 = cv_none();
    writ_status s1 = mcp_input_to_values(a1, args, lim, &v1, &e1);
    json_t *j = NULL;
    writ_status s2 = mcp_input_to_cedar(args, lim, NULL, &j, &e2);
    if (!s2)
        s2 = cedar_json_value(a2, j, NULL, "context", &v2, &e2);
    json_decref(j);
    const char *out = NULL;
    if (s1 != s2 || (s1 && strcmp(e1.msg, e2.msg))) {
        snprintf(why, n, "values %d '%s', json %d '%s'", (int)s1, e1.msg, (int)s2, e2.msg);
        out = why;
    } else if (!s1) {
        static char t1[4096], t2[4096];
        cv_format(v1, t1, sizeof t1);
        cv_format(v2, t2, sizeof t2);
        if (!cv_equal(v1, v2) || strcmp(t1, t2)) {
            snprintf(why, n, "values %.200s, json %.200s", t1, t2);
            out = why;
        }
    }
    wr_arena_free(a1);
    wr_arena_free(a2);
    return out;
}

#endif
