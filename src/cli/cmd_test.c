/* cmd_test.c - `writ test FILE...`: run policy test files (authoring/ptest.c). */
#include "authoring/ptest.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: writ test FILE...\n"
                            "  Runs policy test files (JSON: policies, schema, entities and cases, each an\n"
                            "  AuthZEN request with the expected decision and, optionally, reasons and\n"
                            "  errors; see docs/POLICY_TESTS.md).  Prints ok/FAIL per case, what differed\n"
                            "  and why the engine decided so, then `N passed, N failed`.\n"
                            "  Exit status: 0 all passed, 1 a case failed, 2 a bad file or argument.\n";

int cmd_test(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "writ test: unexpected option '%s'\n%s", argv[i], usage);
            return 2;
        }
    pt_totals t = {0, 0};
    size_t bad = 0;
    for (int i = 1; i < argc; i++)
        if (pt_run_file(argv[i], stdout, stderr, &t))
            bad++;
    printf("%zu passed, %zu failed", t.passed, t.failed);
    if (bad)
        printf(", %zu bad file%s", bad, bad == 1 ? "" : "s");
    putchar('\n');
    fflush(stdout);
    return bad ? 2 : t.failed ? 1 : 0;
}
