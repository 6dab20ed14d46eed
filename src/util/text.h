/* text.h - tiny character helpers shared by the readers. */
#ifndef WRIT_UTIL_TEXT_H
#define WRIT_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

/* Does s begin with the URI scheme "spiffe:" (scheme compared
 * case-insensitively, as URI schemes are)? */
static inline bool wr_looks_spiffe(const char *s, size_t len)
{
    return len >= 7 && !strncasecmp(s, "spiffe:", 7);
}

/* Value of a hex digit, or -1. */
static inline int wr_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
