/* serve.h - AuthZEN search in `writ serve`: the module the command plugs
 * into the server (server.h: srv_ext), its three endpoints
 * POST /access/v1/search/{subject,resource,action} (search_http.c). */
#ifndef WRIT_SEARCH_SERVE_H
#define WRIT_SEARCH_SERVE_H

#include "server/server.h"

/* The module (static: it keeps no state of its own). */
const srv_ext *wr_search_srv_ext(void);

#endif
