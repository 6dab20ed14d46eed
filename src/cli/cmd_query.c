/* cmd_query.c - `writ query subject|resource|action`: AuthZEN search from
 * policy and entity files (src/search), each result decided by
 * writ_authorize with the body's context as written (no facts are added:
 * the command line has no task token, clock or connection). */
#include "cli/cli.h"
#include "search/search.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/sbuf.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLI_MAX_FILE (256u << 20)

static const char usage[] =
    "usage: writ query subject|resource|action --policies FILE [--entities FILE] [--schema FILE]\n"
    "                  (--request FILE | --body JSON) [--namespace NS] [--limit N] [--exhaustive]\n"
    "                  [--stats] [--repeat N] [--lines]\n"
    "  The body is an AuthZEN search request: {subject, action, resource, context?}; the\n"
    "  searched part has only a type.  Types get NS:: unless qualified; actions are\n"
    "  NS::Action::\"name\".  Prints {\"results\": [...]} (every result, or the first N).\n"
    "  --exhaustive decides every candidate (brute force, for comparison); --stats prints\n"
    "  the counts and the time (mean of --repeat runs after a warm-up) on stderr.  --lines: the request "
    "file\n"
    "  holds one body a line, and one answer a line is printed.\n"
    "  Exit status: 0, or 2 for bad input (an unknown type included).\n";

typedef struct q_ctx {
    const writ_policyset *ps;
    const writ_entities *es;
    const writ_schema *schema;
    writ_authorizer *az;
    writ_request *rq;
    writ_uid_parts part[3];
    int dim;
    json_t *ctx;
    json_t *props[3];
    const char *ptype[3]; /* full types of the parts, for properties */
    const char *echo;
    sbuf *out;
    size_t n;
    bool print;
    size_t unmade;      /* candidates whose request could not be made (each a deny) */
    writ_error unmade1; /* why, for the first of them */
} q_ctx;

/* A candidate whose request cannot be made is a deny, as on the server;
 * remembered so that an empty answer is not a silent one. */
static int q_unmade(q_ctx *x, const writ_error *err)
{
    if (x->print && x->unmade++ == 0)
        x->unmade1 = *err;
    return 0;
}

static int q_check(void *arg, const cv_uid *u)
{
    q_ctx *x = arg;
    writ_uid_parts p[3] = {x->part[0], x->part[1], x->part[2]};
    p[x->dim] = (writ_uid_parts){"", 0, u->type->data, u->type->len, u->id->data, u->id->len};
    writ_error err;
    memset(&err, 0, sizeof err);
    if (writ_request_fill(x->rq, x->schema, false, &p[0], &p[1], &p[2], x->ctx, &err))
        return q_unmade(x, &err);
    for (int d = 0; d < 3; d += 2) {
        if (!x->props[d])
            continue;
        const char *id = d == x->dim ? u->id->data : x->part[d].id;
        if (writ_request_add_attrs(x->rq, x->es, d == x->dim ? u->type->data : x->ptype[d], id, x->props[d],
                                   false, &err))
            return q_unmade(x, &err);
    }
    writ_decision dec;
    if (writ_authorize(x->az, x->ps, x->es, x->rq, &dec))
        return 0;
    return dec.allow ? 1 : 0;
}

static int q_emit(void *arg, const cv_uid *u)
{
    q_ctx *x = arg;
    if (!x->print)
        return 0;
    if (x->n++)
        sb_putc(x->out, ',');
    if (x->dim == 1) {
        sb_puts(x->out, "{\"name\":");
    } else {
        sb_puts(x->out, "{\"type\":");
        sb_json_str(x->out, x->echo);
        sb_puts(x->out, ",\"id\":");
    }
    sb_json_strn(x->out, u->id->data, u->id->len);
    sb_putc(x->out, '}');
    return sb_ok(x->out) ? 0 : -1;
}

static char *qualify(const char *ns, const char *type)
{
    sbuf b;
    sb_init(&b);
    if (*ns && !strstr(type, "::")) {
        sb_puts(&b, ns);
        sb_puts(&b, "::");
    }
    sb_puts(&b, type);
    sb_putc(&b, '\0');
    return sb_ok(&b) ? b.p : (sb_free(&b), NULL);
}

static const char *str_at(json_t *j, const char *part, const char *key)
{
    json_t *v = json_object_get(json_object_get(j, part), key);
    return json_is_string(v) && json_string_length(v) > 0 &&
                   !memchr(json_string_value(v), 0, json_string_length(v))
               ? json_string_value(v)
               : NULL;
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "writ query: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

typedef struct q_conf {
    const writ_policyset *ps;
    const writ_schema *schema;
    const writ_entities *es;
    const char *ns;
    long limit, repeat;
    bool exhaustive, stats;
} q_conf;

/* One search: 0 printed, 2 bad input (the message on stderr). */
static int query_one(const q_conf *cf, int kind, const char *kname, const char *text, size_t len,
                     const char *src)
{
    int rc = 2;
    char *ft[3] = {NULL, NULL, NULL};
    sbuf out;
    sb_init(&out);
    q_ctx x;
    memset(&x, 0, sizeof x);
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *j = writ_json_parse(text, len, &err);
    if (!j) {
        fprintf(stderr, "writ query: in request %s: malformed JSON at line %u, column %u: %s\n", src,
                err.line, err.col, err.msg);
        return 2;
    }
    /* the parts: the searched one needs a type, the others a type and an id */
    const char *stype = str_at(j, "subject", "type"), *sid = str_at(j, "subject", "id"),
               *aname = str_at(j, "action", "name"), *rtype = str_at(j, "resource", "type"),
               *rid = str_at(j, "resource", "id");
    const char *missing = !stype                ? "subject.type"
                          : kind != 0 && !sid   ? "subject.id"
                          : kind != 2 && !aname ? "action.name"
                          : !rtype              ? "resource.type"
                          : kind != 1 && !rid   ? "resource.id"
                                                : NULL;
    json_t *ctx = json_object_get(j, "context");
    if (missing) {
        rc = fail("the request needs %s (a non-empty string)%s", missing, "");
        goto out;
    }
    if (ctx && !json_is_object(ctx) && !json_is_null(ctx)) {
        rc = fail("context must be an object%s%s", "", "");
        goto out;
    }
    sbuf at;
    sb_init(&at);
    sb_puts(&at, cf->ns);
    sb_puts(&at, *cf->ns ? "::Action" : "Action");
    sb_putc(&at, '\0');
    ft[0] = qualify(cf->ns, stype);
    ft[1] = sb_ok(&at) ? at.p : NULL;
    ft[2] = qualify(cf->ns, rtype);
    if (!ft[0] || !ft[1] || !ft[2]) {
        rc = fail("out of memory%s%s", "", "");
        goto out;
    }
    int dim = kind == 0 ? 0 : kind == 1 ? 2 : 1;
    const char *ids[3] = {kind == 0 ? "" : sid, kind == 2 ? "" : aname, kind == 1 ? "" : rid};
    json_t *pp[3] = {json_object_get(json_object_get(j, "subject"), "properties"), NULL,
                     json_object_get(json_object_get(j, "resource"), "properties")};
    wr_search q = {
        .kind = kind == 0   ? WR_SEARCH_SUBJECT
                : kind == 1 ? WR_SEARCH_RESOURCE
                            : WR_SEARCH_ACTION,
        .ps = cf->ps,
        .es = cf->es,
        .schema = cf->schema,
        .type = {ft[0], ft[1], ft[2]},
        .id = {ids[0], ids[1], ids[2]},
        .id_len = {strlen(ids[0]), strlen(ids[1]), strlen(ids[2])},
        .props = {json_is_object(pp[0]) && json_object_size(pp[0]) > 0, false,
                  json_is_object(pp[2]) && json_object_size(pp[2]) > 0},
        .exhaustive = cf->exhaustive,
    };
    x.ps = cf->ps;
    x.es = cf->es;
    x.schema = cf->schema;
    x.az = writ_authorizer_new();
    x.rq = writ_request_reusable();
    x.dim = dim;
    x.ctx = json_is_object(ctx) ? ctx : NULL;
    x.echo = kind == 0 ? stype : rtype;
    x.out = &out;
    for (int d = 0; d < 3; d++) {
        x.part[d] = (writ_uid_parts){"", 0, ft[d], strlen(ft[d]), ids[d], strlen(ids[d])};
        x.ptype[d] = ft[d];
        x.props[d] = q.props[d] ? pp[d] : NULL;
    }
    if (!x.az || !x.rq) {
        rc = fail("out of memory%s%s", "", "");
        goto out;
    }
    wr_search_stats st;
    uint64_t next = WR_SEARCH_END;
    double total = 0, best = -1;
    for (long r = 0; r < cf->repeat; r++) {
        x.print = r == cf->repeat - 1;
        out.len = 0;
        x.n = 0;
        x.unmade = 0;
        sb_puts(&out, "{\"results\":[");
        uint64_t t0 = wr_mono_ns();
        writ_status s = wr_search_run(&q, 0, cf->limit > 0 ? (size_t)cf->limit : SIZE_MAX, q_check, q_emit,
                                      &x, &next, &st, &err);
        double ms = (double)(wr_mono_ns() - t0) / 1e6;
        if (r > 0 || cf->repeat == 1) { /* with --repeat, the first run warms the caches */
            total += ms;
            best = best < 0 || ms < best ? ms : best;
        }
        if (s) {
            rc = fail("%s%s", s == WRIT_EINVAL ? err.msg : writ_status_name(s), "");
            goto out;
        }
    }
    sb_puts(&out, "]}");
    if (!sb_ok(&out)) {
        rc = fail("out of memory%s%s", "", "");
        goto out;
    }
    printf("%.*s\n", (int)out.len, out.p);
    if (x.unmade)
        fprintf(stderr,
                "writ query: %zu candidate%s denied because the request could not be made (the first: %s)%s\n",
                x.unmade, x.unmade == 1 ? "" : "s", x.unmade1.msg,
                cf->schema ? "; with --schema the body's context must be as the action's context type declares it "
                             "(every required attribute, no other)"
                           : "");
    if (cf->stats)
        fprintf(stderr,
                "search %s: %zu candidates, %zu permits, %zu decided, %zu results%s, %.3f ms (mean of %ld, "
                "fastest %.3f ms)\n",
                kname, st.candidates, st.permits, st.checked, st.allowed,
                next != WR_SEARCH_END ? " (more)" : "", total / (double)(cf->repeat > 1 ? cf->repeat - 1 : 1),
                cf->repeat > 1 ? cf->repeat - 1 : 1, best);
    rc = 0;
out:
    writ_authorizer_free(x.az);
    writ_request_free(x.rq);
    json_decref(j);
    sb_free(&out);
    for (int d = 0; d < 3; d++)
        wr_free(ft[d]); /* sbuf buffers */
    return rc;
}

int cmd_query(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int kind = !strcmp(argv[1], "subject")    ? 0
               : !strcmp(argv[1], "resource") ? 1
               : !strcmp(argv[1], "action")   ? 2
                                              : -1;
    if (kind < 0)
        return fail("unknown search '%s': subject, resource or action%s", argv[1], "");
    const char *pol = NULL, *ent = NULL, *sch = NULL, *reqf = NULL, *body = NULL;
    q_conf cf = {.ns = "", .limit = -1, .repeat = 1};
    bool lines = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--policies")    ? &pol
                            : !strcmp(a, "--entities")  ? &ent
                            : !strcmp(a, "--schema")    ? &sch
                            : !strcmp(a, "--request")   ? &reqf
                            : !strcmp(a, "--body")      ? &body
                            : !strcmp(a, "--namespace") ? &cf.ns
                                                        : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if ((!strcmp(a, "--limit") || !strcmp(a, "--repeat")) && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > 1000000)
                return fail("%s needs a number from 1 to 1000000, not '%s'", a, argv[i]);
            *(!strcmp(a, "--limit") ? &cf.limit : &cf.repeat) = v;
        } else if (!strcmp(a, "--exhaustive")) {
            cf.exhaustive = true;
        } else if (!strcmp(a, "--stats")) {
            cf.stats = true;
        } else if (!strcmp(a, "--lines")) {
            lines = true;
        } else {
            fprintf(stderr, "writ query: unexpected argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!pol || (!reqf == !body) || (lines && !reqf)) {
        fputs(usage, stderr);
        return 2;
    }
    int rc = 2;
    size_t plen, elen = 2, slen, blen;
    char *ptext = NULL, *etext = NULL, *stext = NULL, *btext = NULL;
    writ_policyset *ps = NULL;
    writ_schema *schema = NULL;
    writ_entities *es = NULL;
    writ_error err;
    memset(&err, 0, sizeof err);
    if (!(ptext = cli_read_file(pol, CLI_MAX_FILE, &plen))) {
        rc = fail("cannot read policies %s: %s", pol, strerror(errno));
        goto out;
    }
    if (writ_policyset_parse(ptext, plen, &ps, &err)) {
        cli_file_error("writ query: in policies ", pol, &err);
        goto out;
    }
    if (sch) {
        if (!(stext = cli_read_file(sch, CLI_MAX_FILE, &slen))) {
            rc = fail("cannot read schema %s: %s", sch, strerror(errno));
            goto out;
        }
        if (writ_schema_parse(stext, slen, &schema, &err)) {
            cli_file_error("writ query: in schema ", sch, &err);
            goto out;
        }
    }
    etext = ent ? cli_read_file(ent, CLI_MAX_FILE, &elen) : strdup("[]");
    if (!etext) {
        rc = fail("cannot read entities %s: %s", ent, strerror(errno));
        goto out;
    }
    if (writ_entities_parse(etext, elen, schema, &es, &err)) {
        cli_file_error("writ query: in entities ", ent ? ent : "(none)", &err);
        rc = 2;
        goto out;
    }
    if (reqf && !(btext = cli_read_file(reqf, CLI_MAX_FILE, &blen))) {
        rc = fail("cannot read request %s: %s", reqf, strerror(errno));
        goto out;
    }
    cf.ps = ps;
    cf.schema = schema;
    cf.es = es;
    if (lines) {
        /* one body a line, one answer a line; a bad line fails the run */
        rc = 0;
        for (char *ln = btext; ln && *ln;) {
            char *nl = strchr(ln, '\n');
            size_t n = nl ? (size_t)(nl - ln) : strlen(ln);
            if (n && query_one(&cf, kind, argv[1], ln, n, reqf) != 0) {
                puts("{\"error\":true}"); /* keeps answers on their lines */
                rc = 2;
            }
            ln = nl ? nl + 1 : NULL;
        }
    } else {
        rc = query_one(&cf, kind, argv[1], reqf ? btext : body, reqf ? blen : strlen(body),
                       reqf ? reqf : "(--body)");
    }
out:
    writ_entities_free(es);
    writ_schema_free(schema);
    writ_policyset_free(ps);
    free(ptext);
    free(etext);
    free(stext);
    free(btext);
    return rc;
}
