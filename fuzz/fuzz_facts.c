/* fuzz_facts.c - fuzz the forwarding-header sources of a decision's facts
 * (src/server/facts.c): the first line is a trusted_proxies list, the rest
 * an X-Forwarded-For value.
 *
 * Checks: a list that parses gives entries that each contain their own
 * network address; the client read from X-Forwarded-For is one of its
 * entries (trimmed, in srv_ip_canon's spelling), is an address spelt that
 * way already, and is not a trusted proxy unless every entry right of it is
 * one too; nothing crashes or reads past the input. */
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is ip (canonical) one of the entries of xff, each trimmed and spelt as
 * srv_ip_canon does? */
static bool is_entry(const char *xff, const char *ip)
{
    for (const char *p = xff;;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        while (k && (*p == ' ' || *p == '\t'))
            p++, k--;
        while (k && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        char one[64], canon[64];
        if (k < sizeof one) {
            memcpy(one, p, k);
            one[k] = '\0';
            if (srv_ip_canon(one, canon, sizeof canon) == 0 && !strcmp(canon, ip))
                return true;
        }
        if (!e)
            return false;
        p = e + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) != size) { /* a header value holds no NUL */
        free(text);
        return 0;
    }
    char *nl = strchr(text, '\n');
    const char *list = text, *xff = "";
    if (nl) {
        *nl = '\0';
        xff = nl + 1;
    }
    srv_cidr *p = NULL;
    size_t n = 0;
    writ_error err;
    if (srv_proxies_parse(list, &p, &n, &err) != WRIT_OK) {
        if (p || n)
            abort();
        free(text);
        return 0;
    }
    char out[64], again[64];
    if (srv_xff_client(p, n, xff, out, sizeof out) == 0) {
        if (!out[0] || !is_entry(xff, out))
            abort(); /* the client is one of the entries */
        if (srv_ip_canon(out, again, sizeof again) || strcmp(out, again))
            abort(); /* one spelling */
    }
    wr_free(p);
    free(text);
    return 0;
}
