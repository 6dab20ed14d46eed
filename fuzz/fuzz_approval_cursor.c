/* fuzz_approval_cursor.c - libFuzzer target for the cursor of GET /approvals
 * (src/approval/approval.c: wr_approval_cursor_parse).
 *
 * Input: the cursor text as a client sends it (any bytes, up to a NUL).
 * Besides "no crash", it aborts when an accepted cursor names a place that
 * wr_approval_cursor writes differently (one spelling per place), a time
 * before 0, or an id that is not the shape of an id; and when a place
 * written and parsed back is not the same place. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "approval/approval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[256];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    wr_approval_pos p;
    memset(&p, 0, sizeof p);
    if (wr_approval_cursor_parse(s, &p)) {
        char again[WR_APPROVAL_CURSOR_MAX];
        wr_approval_cursor(&p, again);
        if (strcmp(again, s) || p.created_ms < 0 || !wr_approval_id_ok(p.id))
            abort();
    }
    /* the other way: a place from the input's bytes, written, parses back */
    if (size >= 8) {
        wr_approval_pos q;
        memset(&q, 0, sizeof q);
        int64_t ms = 0;
        memcpy(&ms, data, 8);
        q.created_ms = ms < 0 ? -(ms + 1) : ms;
        size_t k = size - 8 < sizeof q.id - 1 ? size - 8 : sizeof q.id - 1;
        memcpy(q.id, data + 8, k);
        q.id[k] = '\0';
        if (wr_approval_id_ok(q.id)) {
            char c[WR_APPROVAL_CURSOR_MAX];
            wr_approval_pos back;
            wr_approval_cursor(&q, c);
            if (!wr_approval_cursor_parse(c, &back) || back.created_ms != q.created_ms || strcmp(back.id, q.id))
                abort();
        }
    }
    return 0;
}
