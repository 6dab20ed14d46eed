/* serve.h - approvals in `writ serve`: the module the command plugs into
 * the server (server.h: srv_ext).  Its gate is the approval step of the
 * decision path (gate.c); its endpoint GET/POST /approvals[/ID] (api.c);
 * it starts the webhook sender once the server listens (PUBLIC_URL may
 * name the port), sweeps expired approvals into the audit log on each tick
 * and adds the webhook's counters to /metrics. */
#ifndef WRIT_APPROVAL_SERVE_H
#define WRIT_APPROVAL_SERVE_H

#include "server/server_int.h"

typedef struct wr_approvals_srv wr_approvals_srv;

/* A module for one run of the server: NULL when out of memory. */
wr_approvals_srv *wr_approvals_srv_new(void);
/* Its srv_ext (valid while m lives). */
const srv_ext *wr_approvals_srv_ext(wr_approvals_srv *m);
void wr_approvals_srv_free(wr_approvals_srv *m);

/* ---- between the module's files */
/* PUBLIC_URL without a trailing '/'; NULL until the server listens. */
const char *wr_approvals_srv_base(const wr_approvals_srv *m);
/* GET /approvals, GET and POST /approvals/ID (api.c; arg: the module). */
void wr_approvals_http(void *arg, srv *s, struct MHD_Connection *c, const char *url, const char *method,
                       const char *body, size_t len, srv_reply *r);

#endif
