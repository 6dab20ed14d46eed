/* text.h - tiny character helpers shared by the readers. */
#ifndef WRIT_UTIL_TEXT_H
#define WRIT_UTIL_TEXT_H

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
