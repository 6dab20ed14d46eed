/* cmd_authorize.c - `writ authorize`: decide one request, print JSON. */
#include "cli/cli.h"
#include "shadow/shadow.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_FILE (256u << 20)

static const char usage[] =
    "usage: writ authorize --policies FILE --request FILE [--entities FILE] [--schema FILE]\n"
    "                      [--validate] [--explain]\n"
    "  Decides the request (JSON: principal, action, resource, context) and prints\n"
    "  {\"decision\": \"allow\"|\"deny\", \"reasons\": [...], \"errors\": [...]}.  Policies are named by\n"
    "  @id; @mode(\"shadow\") ones are not enforced, and \"shadow\": {\"decision\", \"policies\"} says\n"
    "  when they would have changed the answer.\n"
    "  --explain adds, for a deny, \"explain\": {\"permits\": [...], \"forbids\": [...]}: each\n"
    "  permit whose scope matched with the first condition that did not hold, each\n"
    "  forbid that held with its conditions (source text, line, column).\n"
    "  Exit status: 0 allow, 1 deny, 2 bad input.\n";

static int bad_input(const char *what, const char *path, const writ_error *err)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "writ authorize: %s ", what);
    if (err)
        cli_file_error(prefix, path, err); /* PATH:LINE:COL: when the error has a position */
    else
        fprintf(stderr, "%s%s: %s\n", prefix, path, strerror(errno));
    return 2;
}

int cmd_authorize(int argc, char **argv)
{
    const char *pol = NULL, *ent = NULL, *req = NULL, *sch = NULL;
    bool validate = false, explain = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--policies") ? &pol
                          : !strcmp(a, "--entities") ? &ent
                          : !strcmp(a, "--request")  ? &req
                          : !strcmp(a, "--schema")   ? &sch : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (slot) {
            fprintf(stderr, "writ authorize: %s needs a FILE\n%s", a, usage);
            return 2;
        } else if (!strcmp(a, "--validate")) {
            validate = true;
        } else if (!strcmp(a, "--explain")) {
            explain = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "writ authorize: unexpected argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!pol || !req) {
        fprintf(stderr, "writ authorize: %s is required\n%s", !pol ? "--policies FILE" : "--request FILE", usage);
        return 2;
    }
    int rc = 2;
    size_t plen, elen = 2, rlen, slen;
    char *ptext = NULL, *etext = NULL, *rtext = NULL, *stext = NULL;
    writ_policyset *ps = NULL;
    shd_set *shadow = NULL;
    writ_schema *schema = NULL;
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    writ_authorizer *az = NULL;
    writ_error err;
    if (!(ptext = cli_read_file(pol, CLI_MAX_FILE, &plen))) {
        rc = bad_input("cannot read policies", pol, NULL);
        goto out;
    }
    if (writ_policyset_parse_flags(ptext, plen, WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW, &ps, &err) ||
        shd_load_live(ptext, plen, &shadow, &err)) {
        rc = bad_input("in policies", pol, &err);
        goto out;
    }
    if (sch) {
        if (!(stext = cli_read_file(sch, CLI_MAX_FILE, &slen))) {
            rc = bad_input("cannot read schema", sch, NULL);
            goto out;
        }
        if (writ_schema_parse(stext, slen, &schema, &err)) {
            rc = bad_input("in schema", sch, &err);
            goto out;
        }
    }
    if (ent) {
        if (!(etext = cli_read_file(ent, CLI_MAX_FILE, &elen))) {
            rc = bad_input("cannot read entities", ent, NULL);
            goto out;
        }
    } else {
        etext = strdup("[]");
    }
    if (!etext || writ_entities_parse(etext, elen, schema, &es, &err)) {
        rc = bad_input("in entities", ent ? ent : "(none)", &err);
        goto out;
    }
    if (!(rtext = cli_read_file(req, CLI_MAX_FILE, &rlen))) {
        rc = bad_input("cannot read request", req, NULL);
        goto out;
    }
    if (writ_request_parse(rtext, rlen, schema, validate, &rq, &err)) {
        rc = bad_input("in request", req, &err);
        goto out;
    }
    az = writ_authorizer_new();
    writ_decision d;
    writ_explanation x;
    writ_status st = !az       ? WRIT_ENOMEM
                     : explain ? writ_explain(az, ps, es, rq, &d, &x)
                               : writ_authorize(az, ps, es, rq, &d);
    if (st) {
        /* fail closed */
        printf("{\"decision\":\"deny\",\"reasons\":[],\"errors\":[{\"policy\":null,\"message\":\"%s\"}]}\n",
               writ_status_name(st));
        rc = 1;
        goto out;
    }
    json_t *o = json_object(), *reasons = json_array(), *errors = json_array();
    for (size_t i = 0; i < d.nreasons; i++)
        json_array_append_new(reasons, json_string(d.reasons[i]));
    for (size_t i = 0; i < d.nerrors; i++)
        json_array_append_new(errors, json_pack("{s:s,s:s}", "policy", d.errors[i].policy_id, "message",
                                                d.errors[i].message));
    json_object_set_new(o, "decision", json_string(d.allow ? "allow" : "deny"));
    json_object_set_new(o, "reasons", reasons);
    json_object_set_new(o, "errors", errors);
    if (explain && !d.allow) {
        char *text = writ_explanation_json(&x);
        json_t *xj = text ? json_loads(text, 0, NULL) : NULL;
        writ_free_string(text);
        if (!xj) {
            fprintf(stderr, "writ authorize: out of memory\n");
            json_decref(o);
            rc = 1;
            goto out;
        }
        json_object_set_new(o, "explain", xj);
    }
    char *sh = shadow ? shd_decide(shadow, es, rq, &d) : NULL;
    if (sh)
        json_object_set_new(o, "shadow", json_loads(sh, 0, NULL));
    wr_free(sh);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s) {
        puts(s);
        free(s);
    }
    rc = d.allow ? 0 : 1;
    const char *why = NULL, *fid = d.allow ? writ_policyset_forbid_error(ps, &d, &why) : NULL;
    if (fid) /* the same files, another answer from the server: say so */
        fprintf(stderr,
                "writ authorize: note: forbid %s failed to evaluate (%s) and was skipped, as Cedar decides; "
                "writ serve and writ test deny this request (forbid_error_denies = true, their default)\n",
                fid, why ? why : "an error");
out:
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_schema_free(schema);
    writ_policyset_free(ps);
    shd_free(shadow);
    free(ptext);
    free(etext);
    free(rtext);
    free(stext);
    return rc;
}
