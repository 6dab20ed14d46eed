/* cmd_keys.c - `writ keys generate|jwks`: Writ's token signing keys.
 *
 *   writ keys generate --out FILE [--alg ES256|EdDSA]   new private key (0600), prints its kid
 *   writ keys jwks --key FILE [--key FILE...]           public JWKS of the keys, first = active */
#include "cli/cli.h"
#include "util/alloc.h"
#include "writ/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int keys_usage(void)
{
    fprintf(stderr, "usage: writ keys generate --out FILE [--alg ES256|EdDSA]\n"
                    "       writ keys jwks --key FILE [--key FILE...]\n");
    return 2;
}

writ_status cli_tok_load_keys(writ_keyring *kr, char **files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *pem = cli_tok_read(files[i], 65536, &len);
        if (!pem) {
            fprintf(stderr, "writ: cannot read key %s: %s\n", files[i], strerror(errno));
            return WRIT_EIO;
        }
        writ_error err;
        writ_status st = writ_keyring_add_pem(kr, pem, len, i == 0, NULL, &err);
        wr_free(pem);
        if (st != WRIT_OK) {
            fprintf(stderr, "writ: key %s: %s\n", files[i], err.msg);
            return st;
        }
    }
    if (n == 0) {
        fprintf(stderr, "writ: no --key given\n");
        return WRIT_EINVAL;
    }
    return WRIT_OK;
}

int cmd_keys(int argc, char **argv)
{
    if (argc < 2)
        return keys_usage();
    const char *sub = argv[1];
    const char *out = NULL, *alg = "ES256";
    char *keys[32];
    size_t nkeys = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--alg") && i + 1 < argc)
            alg = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc && nkeys < 32)
            keys[nkeys++] = argv[++i];
        else {
            fprintf(stderr, "writ keys: %s %s\n", argv[i],
                    !strcmp(argv[i], "--out") || !strcmp(argv[i], "--alg") || !strcmp(argv[i], "--key")
                        ? (nkeys < 32 ? "needs a value" : "given more than 32 times")
                        : "is not an option of writ keys");
            return keys_usage();
        }
    }
    writ_error err;
    writ_keyring *kr = writ_keyring_new();
    int rc = 1;
    if (!kr)
        return 1;
    if (!strcmp(sub, "generate")) {
        writ_key_alg ka = !strcmp(alg, "ES256") ? WRIT_KEY_ES256 : !strcmp(alg, "EdDSA") ? WRIT_KEY_EDDSA : 0;
        if (!out || !ka) {
            if (!out)
                fprintf(stderr, "writ keys generate: --out FILE is required\n");
            else
                fprintf(stderr, "writ keys generate: --alg: expected ES256 or EdDSA, got '%s'\n", alg);
            writ_keyring_free(kr);
            return keys_usage();
        }
        char kid[44];
        char *pem = NULL;
        size_t len;
        if (writ_keyring_generate(kr, ka, kid, &err) != WRIT_OK ||
            writ_keyring_private_pem(kr, NULL, &pem, &len, &err) != WRIT_OK) {
            fprintf(stderr, "writ: %s\n", err.msg);
            goto done;
        }
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) {
            fprintf(stderr, "writ: cannot create %s: %s\n", out, strerror(errno));
            writ_free_string(pem);
            goto done;
        }
        ssize_t w = write(fd, pem, len);
        writ_free_string(pem);
        if (w != (ssize_t)len || close(fd) != 0) {
            fprintf(stderr, "writ: cannot write %s\n", out);
            goto done;
        }
        printf("%s\n", kid);
        rc = 0;
    } else if (!strcmp(sub, "jwks")) {
        if (cli_tok_load_keys(kr, keys, nkeys) != WRIT_OK)
            goto done;
        char *jwks;
        size_t len;
        if (writ_keyring_jwks(kr, &jwks, &len, &err) != WRIT_OK) {
            fprintf(stderr, "writ: %s\n", err.msg);
            goto done;
        }
        printf("%s\n", jwks);
        writ_free_string(jwks);
        rc = 0;
    } else {
        fprintf(stderr, "writ keys: unknown command '%s' (generate or jwks)\n", sub);
        rc = keys_usage();
    }
done:
    writ_keyring_free(kr);
    return rc;
}
