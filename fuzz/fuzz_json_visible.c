/* fuzz_json_visible.c - libFuzzer target for the escaping of what a
 * person reads of an approval (src/approval/approval.c: wr_json_visible,
 * which the API, the webhook and the CLI write their JSON through).
 *
 * Input: any bytes (a server's answer, as the CLI gets it).  Besides "no
 * crash", it aborts when the output is not a fixed point (escaping it again
 * changes it: a control, bidi, invisible character or invalid UTF-8 was
 * left raw), and when an input that is JSON does not give JSON of the same
 * value (an input with a raw NUL byte is no JSON). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "approval/approval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    sbuf out, again;
    sb_init(&out);
    sb_init(&again);
    wr_json_visible((const char *)data, size, &out);
    if (!sb_ok(&out))
        abort();
    wr_json_visible(out.p ? out.p : "", out.len, &again);
    if (!sb_ok(&again) || again.len != out.len || (out.len && memcmp(again.p, out.p, out.len)))
        abort();
    /* (jansson reads a raw NUL as the end of the text: "1\0" is no JSON) */
    json_t *in = memchr(data, 0, size) ? NULL
                                       : json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (in) {
        json_t *back = json_loadb(out.p ? out.p : "", out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!back || !json_equal(in, back))
            abort();
        json_decref(back);
    }
    json_decref(in);
    sb_free(&out);
    sb_free(&again);
    return 0;
}
