/* embed.c - Writ's engine inside another program: load the policies, the
 * entities and the schema once, verify the agent's task token, and decide
 * one tool call in-process.
 *
 *   embed POLICIES ENTITIES SCHEMA JWKS ISSUER AUDIENCE TOKEN ACTION RESOURCE
 *
 * RESOURCE is a Cedar uid (Writ::Repository::"payments-api").  Prints
 * "allow" or "deny" with the determining policies; exit 0 allow, 1 deny,
 * 2 error.  (The example leaves out what `writ serve` adds: revocations,
 * the sensitivity ceiling, audit; the context facts are fixed here.)  Built against the installed library:
 *   cc embed.c $(pkg-config --cflags --libs libwrit) */
#include <writ/cedar.h>
#include <writ/token.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 4096 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 4096);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int fail(const char *what, const writ_error *err)
{
    if (err->line)
        fprintf(stderr, "embed: %s:%u:%u: %s\n", what, err->line, err->col, err->msg);
    else
        fprintf(stderr, "embed: %s: %s\n", what, err->msg);
    return 2;
}

/* A JSON string literal of s into out[cap] (quotes and backslashes
 * escaped; control characters are refused, as is a value too long for out:
 * a cut value would be another id).  false when refused. */
static bool json_str(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || o + 4 > cap)
            return false;
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o++] = '"';
    out[o] = '\0';
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: embed POLICIES ENTITIES SCHEMA JWKS ISSUER AUDIENCE TOKEN ACTION RESOURCE\n");
        return 2;
    }
    const char *files[4] = {argv[1], argv[2], argv[3], argv[4]};
    char *text[4] = {NULL, NULL, NULL, NULL};
    size_t len[4];
    writ_error err;
    writ_policyset *ps = NULL;
    writ_schema *schema = NULL;
    writ_entities *es = NULL;
    writ_token_verifier *v = NULL;
    writ_task_token *tok = NULL;
    writ_request *rq = NULL;
    writ_authorizer *az = NULL;
    int rc = 2; /* every way out below goes through `done`, which frees what was made */
    for (int i = 0; i < 4; i++)
        if (!(text[i] = slurp(files[i], &len[i]))) {
            fprintf(stderr, "embed: cannot read %s\n", files[i]);
            goto done;
        }
    if (writ_schema_parse(text[2], len[2], &schema, &err)) {
        rc = fail(files[2], &err);
        goto done;
    }
    /* policies named by their @id, as writ serve and the Python binding name them */
    if (writ_policyset_parse_flags(text[0], len[0], WRIT_PS_ID_ANNOTATION, &ps, &err)) {
        rc = fail(files[0], &err);
        goto done;
    }
    if (writ_entities_parse(text[1], len[1], schema, &es, &err)) {
        rc = fail(files[1], &err);
        goto done;
    }
    if (writ_token_verifier_from_jwks(text[3], len[3], argv[5], 16, &v, &err)) {
        rc = fail(files[3], &err);
        goto done;
    }

    /* Who is asking, for which task: only what the verified token says. */
    writ_reason why;
    writ_token_check chk = {.audience = argv[6]};
    if (writ_token_verify(v, &chk, argv[7], strlen(argv[7]), &tok, &why, &err)) {
        printf("deny (token: %s)\n", err.msg); /* err.msg starts with the reason */
        rc = 1;
        goto done;
    }

    /* The token bounds what the task may do, whatever the policies say. */
    writ_task_scope sc;
    writ_task_token_scope(tok, &sc);
    if (!writ_scope_list_covers(sc.actions, sc.n_actions, argv[8]) ||
        (sc.n_resources && !writ_scope_list_covers(sc.resources, sc.n_resources, argv[9]))) {
        printf("deny (outside the task token's scope)\n");
        rc = 1;
        goto done;
    }

    /* The request, from the token's facts and the call; a value too long
     * for these buffers is refused (cut, it would be another id). */
    char agent[4200], purpose[2100], task[1100], action[600], resource[4200], req[16384];
    const char *what = NULL;
    if (!json_str(agent, sizeof agent, writ_task_token_holder(tok)))
        what = "agent";
    else if (!json_str(purpose, sizeof purpose,
                       writ_task_token_purpose(tok) ? writ_task_token_purpose(tok) : ""))
        what = "purpose";
    else if (!json_str(task, sizeof task, writ_task_token_txn(tok)))
        what = "task";
    else if (!json_str(action, sizeof action, argv[8]))
        what = "action";
    else if (!json_str(resource, sizeof resource, argv[9]))
        what = "resource";
    if (what) {
        fprintf(stderr, "embed: %s: too long\n", what);
        goto done;
    }
    snprintf(
        req, sizeof req,
        "{\"principal\": {\"type\": \"Writ::Agent\", \"id\": %s},"
        " \"action\": {\"type\": \"Writ::Action\", \"id\": %s},"
        " \"resource\": %s,"
        " \"context\": {\"task\": {\"id\": %s, \"purpose\": %s}, \"chain_depth\": %u,"
        " \"destination\": \"internal\", \"time\": \"2026-12-03T10:00:00Z\", \"source_ip\": \"127.0.0.1\"}}",
        agent, action, resource, task, purpose, writ_task_token_depth(tok));

    writ_decision d;
    if (!(az = writ_authorizer_new()))
        fprintf(stderr, "embed: out of memory\n");
    else if (writ_request_parse(req, strlen(req), schema, false, &rq, &err))
        rc = fail("request", &err);
    else if (writ_authorize(az, ps, es, rq, &d) != WRIT_OK)
        printf("deny (could not decide)\n"), rc = 1;
    else {
        printf("%s", d.allow ? "allow" : "deny");
        for (size_t i = 0; i < d.nreasons; i++)
            printf(" %s", d.reasons[i]);
        for (size_t i = 0; i < d.nerrors; i++)
            printf(" [error in %s: %s]", d.errors[i].policy_id, d.errors[i].message);
        printf("\n");
        rc = d.allow ? 0 : 1;
    }
done:
    writ_request_free(rq);
    writ_authorizer_free(az);
    writ_task_token_free(tok);
    writ_token_verifier_free(v);
    writ_entities_free(es);
    writ_policyset_free(ps);
    writ_schema_free(schema);
    for (int i = 0; i < 4; i++)
        free(text[i]);
    return rc;
}
