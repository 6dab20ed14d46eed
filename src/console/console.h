/* console.h - the web pages Writ serves to humans (today: the approvals
 * console), compiled into the binary from src/console/ (no build step, no
 * files to install). */
#ifndef WRIT_CONSOLE_CONSOLE_H
#define WRIT_CONSOLE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wr_page {
    const unsigned char *body;
    size_t len;
    const char *content_type;
} wr_page;

/* The asset for a URL under /console/ ("/console/approvals" is the page,
 * "/console/approvals.js" its script ...); false when there is none. */
bool wr_console_find(const char *url, wr_page *out);

/* The headers every console answer carries: the page runs no inline script
 * and loads nothing from elsewhere, and may not be framed (an approve
 * button under someone else's page would be clickjacking). */
#define WR_CONSOLE_CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "          \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

#endif
