/* cmd_validate.c - `writ validate`: check policies (and an entity file)
 * against a schema with Cedar's strict-mode validator.
 *
 *   writ validate --schema F --policies F [--entities F]
 *
 * Prints each error and warning as `policyid: line:col: message` (warnings
 * marked), then `N policies, N errors, N warnings`.  Exit 0 when there are
 * no errors, 1 when there are (or a file does not parse: that is printed
 * with its position), 2 for bad usage.
 */
#include "cli/cli.h"
#include "writ/cedar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATE_MAX_FILE (64u << 20)

static const char usage_text[] = "usage: writ validate --schema F --policies F [--entities F]\n";

static char *load(const char *what, const char *path, size_t *len)
{
    char *t = cli_read_file(path, VALIDATE_MAX_FILE, len);
    if (!t)
        fprintf(stderr, "writ validate: cannot read %s %s: %s\n", what, path, strerror(errno));
    return t;
}

static void parse_error(const char *path, const writ_error *err) { cli_file_error("", path, err); }

int cmd_validate(int argc, char **argv)
{
    const char *schema_path = NULL, *pol_path = NULL, *ent_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (i + 1 < argc && !strcmp(a, "--schema"))
            schema_path = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--policies"))
            pol_path = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--entities"))
            ent_path = argv[++i];
        else {
            fprintf(stderr, "writ validate: unknown or incomplete option %s\n%s", a, usage_text);
            return 2;
        }
    }
    if (!schema_path || !pol_path) {
        fprintf(stderr, "writ validate: %s is required\n%s", !schema_path ? "--schema FILE" : "--policies FILE",
                usage_text);
        return 2;
    }
    int rc = 1;
    size_t slen, plen, elen;
    char *stext = NULL, *ptext = NULL, *etext = NULL;
    writ_schema *schema = NULL;
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_validation *v = NULL;
    writ_error err;
    if (!(stext = load("schema", schema_path, &slen)) || !(ptext = load("policies", pol_path, &plen)))
        goto done;
    if (writ_schema_parse(stext, slen, &schema, &err)) {
        parse_error(schema_path, &err);
        goto done;
    }
    if (writ_policyset_parse(ptext, plen, &ps, &err)) {
        parse_error(pol_path, &err);
        goto done;
    }
    writ_validate_options opt = {ptext, plen, false};
    if (writ_validate(schema, ps, &opt, &v, &err)) {
        fprintf(stderr, "writ validate: %s\n", err.msg);
        goto done;
    }
    for (size_t i = 0; i < v->nissues; i++) {
        const writ_validation_issue *it = &v->issues[i];
        printf("%s: %u:%u: %s%s\n", it->policy_id, it->line, it->col, it->warning ? "warning: " : "",
               it->message);
    }
    size_t ent_errors = 0;
    if (ent_path) {
        if (!(etext = load("entities", ent_path, &elen))) {
            ent_errors = 1;
        } else if (writ_entities_parse(etext, elen, schema, &es, &err)) {
            parse_error(ent_path, &err);
            ent_errors = 1;
        }
    }
    printf("%zu policies, %zu errors, %zu warnings\n", v->npolicies, v->nerrors + ent_errors, v->nwarnings);
    rc = v->nerrors || ent_errors ? 1 : 0;
done:
    writ_validation_free(v);
    writ_entities_free(es);
    writ_policyset_free(ps);
    writ_schema_free(schema);
    free(stext);
    free(ptext);
    free(etext);
    return rc;
}
