#!/usr/bin/env bash
# install.sh BUILD_DIR WRIT - libwrit as its users get it: `cmake --install`
# into a temporary prefix, then
#   - the shared library exports writ_* and nothing else (nm -D), and every
#     global of the static one has a module prefix (nm -g);
#   - examples/embed builds against the installed tree through pkg-config
#     and through the CMake package, and decides (allow, deny, out of the
#     token's scope, a forged token);
#   - the Python binding's tests pass against the installed library.
set -uo pipefail
BUILD=${1:?usage: install.sh BUILD_DIR WRIT}
WRIT=${2:?usage: install.sh BUILD_DIR WRIT}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EX="$REPO/examples"
TMP=$(mktemp -d /tmp/writ-libtest.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0 PASSES=0
ok() { PASSES=$((PASSES + 1)); echo "ok   $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL $*"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got <$2> want <$3>"; fi; }

P="$TMP/prefix"
cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; bad "cmake --install"; }
LIB=$(ls "$P"/lib*/libwrit.so 2>/dev/null | head -1)
[ -n "$LIB" ] && ok "installed $(basename "$(readlink -f "$LIB")")" || { bad "libwrit.so installed"; echo "$PASSES passed, $FAILS failed"; exit 1; }
LIBDIR=$(dirname "$LIB")
for f in include/writ/writ.h include/writ/cedar.h include/writ/token.h include/writ/identity.h; do
    [ -f "$P/$f" ] && ok "installed $f" || bad "installed $f"
done
[ -f "$LIBDIR/libwrit.a" ] && ok "static library installed" || bad "static library installed"
check "SONAME" "$(objdump -p "$LIB" | awk '/SONAME/ {print $2}')" "libwrit.so.0"

# Only writ_* (the version node WRIT_0 is an absolute symbol, not code).
nm -D --defined-only "$LIB" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' | sort >"$TMP/exports"
other=$(grep -v '^writ_' "$TMP/exports" | tr '\n' ' ')
check "exports only writ_*" "$other" ""
n=$(wc -l <"$TMP/exports")
[ "$n" -ge 90 ] && ok "exports $n writ_* functions" || bad "exports writ_* functions: only $n"
# every exported function is declared in a public header, and the reverse
for s in $(cat "$TMP/exports"); do grep -qw "$s" "$P"/include/writ/*.h || bad "$s exported but not declared"; done
for s in $(grep -ho 'WRIT_API[^(]*\bwrit_[a-z0-9_]*(' "$P"/include/writ/*.h | grep -o 'writ_[a-z0-9_]*($' | tr -d '(' | sort -u); do
    grep -qx "$s" "$TMP/exports" || bad "$s declared but not exported"
done
ok "exports match the public headers"
# ... and every function the headers declare, WRIT_API or not: gcc lists each
# prototype a translation unit sees (-aux-info), with the header it is in.
printf '#include <writ/cedar.h>\n#include <writ/token.h>\n' >"$TMP/all.c"
if gcc -std=c11 -I"$P/include" -aux-info "$TMP/protos" -c "$TMP/all.c" -o "$TMP/all.o" 2>"$TMP/aux.log"; then
    missing=$(grep "$P/include/writ/" "$TMP/protos" | grep -o '\bwrit_[a-z0-9_]* *(' | tr -d '( ' | sort -u |
        while read -r f; do grep -qx "$f" "$TMP/exports" || printf '%s ' "$f"; done)
    check "every function the headers declare is exported" "$missing" ""
else
    cat "$TMP/aux.log"; bad "listing the headers' prototypes (gcc -aux-info)"
fi
# The headers on their own, as C11 and as C++ (whose programs must link: extern "C").
for h in writ cedar identity token; do
    printf '#include <writ/%s.h>\nint main(void) { return 0; }\n' "$h" >"$TMP/h_$h.c"
    gcc -std=c11 -Wall -Wextra -Werror -pedantic -I"$P/include" -c "$TMP/h_$h.c" -o /dev/null 2>"$TMP/h.log" ||
        { cat "$TMP/h.log"; bad "writ/$h.h compiles alone as C11 (-Wall -Wextra -Werror -pedantic)"; }
done
CXX=$(command -v c++ || command -v clang++ || true)
if [ -z "$CXX" ]; then bad "no C++ compiler (c++ or clang++) to check the headers from C++"; else
    cat >"$TMP/cxx.cpp" <<'CXX'
#include <writ/cedar.h>
#include <writ/identity.h>
#include <writ/token.h>
int main()
{
    writ_policyset *ps = nullptr;
    writ_error err;
    const char text[] = "permit(principal, action, resource);";
    if (writ_policyset_parse(text, sizeof text - 1, &ps, &err) != WRIT_OK)
        return 1;
    int rc = writ_policyset_count(ps) == 1 && writ_scope_covers("a*", "ab") ? 0 : 1;
    writ_policyset_free(ps);
    return rc;
}
CXX
    if "$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic "$TMP/cxx.cpp" -o "$TMP/cxx" \
        $(PKG_CONFIG_PATH="$LIBDIR/pkgconfig" pkg-config --cflags --libs libwrit) >"$TMP/cxx.log" 2>&1 && LD_LIBRARY_PATH="$LIBDIR" "$TMP/cxx"; then
        ok "a C++ program includes the headers and links (extern \"C\")"
    else
        cat "$TMP/cxx.log"; bad "a C++ program includes the headers and links (extern \"C\")"
    fi
fi
# The static archive has no hidden visibility to protect its names from a
# host's: every global it defines carries a module prefix.
nm -g --defined-only "$LIBDIR/libwrit.a" | awk 'NF == 3 {print $3}' | sort -u >"$TMP/globals"
other=$(grep -v -E '^(writ_|wr_|cedar_|cv_|cs_|sb_)' "$TMP/globals" | tr '\n' ' ')
check "libwrit.a defines only prefixed globals (writ_ wr_ cedar_ cv_ cs_ sb_)" "$other" ""

# The embedding example, built from the installed tree only.
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
# pkg-config's directories are where the files went (the .pc finds its prefix from its own place)
check "pkg-config includedir" "$(realpath -m "$(pkg-config --variable=includedir libwrit)")" "$(realpath "$P/include")"
check "pkg-config libdir" "$(realpath -m "$(pkg-config --variable=libdir libwrit)")" "$(realpath "$LIBDIR")"
# writ_json_parse hands out jansson trees, freed with json_decref: the flags link jansson too
cat >"$TMP/jp.c" <<'JP'
#include <jansson.h>
#include <writ/cedar.h>
int main(void)
{
    writ_error err;
    json_t *j = writ_json_parse("{\"a\": [1, 2]}", 13, &err);
    int rc = j && json_array_size(json_object_get(j, "a")) == 2 ? 0 : 1;
    json_decref(j);
    return rc;
}
JP
if gcc -std=c11 -Wall -Wextra -Werror "$TMP/jp.c" -o "$TMP/jp" $(pkg-config --cflags --libs libwrit) >"$TMP/jp.log" 2>&1 &&
    LD_LIBRARY_PATH="$LIBDIR" "$TMP/jp"; then ok "a program freeing writ_json_parse's tree links with pkg-config's flags"
else cat "$TMP/jp.log"; bad "a program freeing writ_json_parse's tree links with pkg-config's flags"; fi
cp "$REPO"/examples/embed/embed.c "$REPO"/examples/embed/Makefile "$REPO"/examples/embed/CMakeLists.txt "$TMP/"
if make -s -C "$TMP" embed >"$TMP/make.log" 2>&1; then ok "example builds with pkg-config"; else
    cat "$TMP/make.log"; bad "example builds with pkg-config"; fi
if cmake -S "$TMP" -B "$TMP/cm" -DCMAKE_PREFIX_PATH="$P" >"$TMP/cm.log" 2>&1 && cmake --build "$TMP/cm" >>"$TMP/cm.log" 2>&1; then
    ok "example builds with find_package(Writ)"; else cat "$TMP/cm.log"; bad "example builds with find_package(Writ)"; fi
case "$(ldd "$TMP/embed" 2>/dev/null | awk '/libwrit/ {print $3}')" in
"$LIBDIR"/*) ok "example links the installed libwrit" ;;
*) deps=$(LD_LIBRARY_PATH="$LIBDIR" ldd "$TMP/embed") # (not piped into grep -q: pipefail and SIGPIPE)
   [[ "$deps" == *"$LIBDIR/libwrit"* ]] && ok "example links the installed libwrit" ||
    bad "example links the installed libwrit: $(ldd "$TMP/embed" | grep writ)" ;;
esac

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null && "$WRIT" keys jwks --key "$TMP/k.pem" >"$TMP/jwks.json"
"$WRIT" keys generate --out "$TMP/other.pem" >/dev/null
AG=spiffe://corp.example/agents/analyst
mint() { "$WRIT" token mint --key "$1" --issuer https://writ.test --audience corp.example --subject $AG \
    --purpose weekly-report --action read --resource 'Writ::Dataset::"usage-*' --ttl 300; }
TOK=$(mint "$TMP/k.pem")
FORGED=$(mint "$TMP/other.pem")
run() { LD_LIBRARY_PATH="$LIBDIR" "$TMP/embed" "$EX/policies.cedar" "$EX/entities.json" "$EX/schema.cedarschema" \
    "$TMP/jwks.json" https://writ.test corp.example "$@"; }
out=$(run "$TOK" read 'Writ::Dataset::"usage-metrics"'); rc=$?
check "example: allowed read, the policy by its @id" "$rc $out" "0 allow read-own-team"
out=$(run "$TOK" read 'Writ::Dataset::"payroll"'); rc=$?
check "example: resource outside the token's scope" "$rc $out" "1 deny (outside the task token's scope)"
out=$(run "$TOK" write 'Writ::Dataset::"usage-metrics"'); rc=$?
check "example: action outside the token's scope" "$rc ${out%% *}" "1 deny"
out=$(run "$FORGED" read 'Writ::Dataset::"usage-metrics"'); rc=$?
check "example: token signed by another key" "$rc ${out%% (*}" "1 deny"
reason=${out#deny (token: }; reason=${reason%%:*}
case "$out" in *"token: $reason: $reason:"*) bad "example: the token's reason said twice: $out" ;;
*) ok "example: the token's reason said once ($reason)" ;; esac
out=$(run "$TOK" read 'Writ::Dataset::"usage-metrics' 2>&1); rc=$?
check "example: bad resource is an error" "$rc" "2"
# what embedders copy frees what it made on every way out (valgrind: no definite leak)
vg() { LD_LIBRARY_PATH="$LIBDIR" valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect "$TMP/embed" "$EX/policies.cedar" "$EX/entities.json" \
    "$EX/schema.cedarschema" "$TMP/jwks.json" https://writ.test corp.example "$@" >/dev/null 2>"$TMP/vg.log"; }
if ! command -v valgrind >/dev/null; then bad "valgrind is missing (scripts/test.sh installs it)"; else
    for args in "read|Writ::Dataset::\"usage-metrics\"" "read|Writ::Dataset::\"payroll\"" \
        "write|Writ::Dataset::\"usage-metrics\"" "read|Writ::Dataset::\"usage-metrics"; do
        vg "$TOK" "${args%%|*}" "${args#*|}"; rc=$?
        [ $rc -ne 99 ] && ok "example under valgrind: $args (exit $rc)" || { cat "$TMP/vg.log"; bad "example under valgrind: $args"; }
    done
    vg "$FORGED" read 'Writ::Dataset::"usage-metrics"'; rc=$?
    [ $rc -ne 99 ] && ok "example under valgrind: forged token (exit $rc)" || { cat "$TMP/vg.log"; bad "example under valgrind: forged token"; }
fi
# an id too long for the example's buffers is refused, not cut to another id
long=$(printf 'Writ::Dataset::"usage-%05000d"' 0)
out=$(run "$TOK" read "$long" 2>&1); rc=$?
check "example: an over-long resource is refused as such" "$rc ${out##*: }" "2 too long"

# The Python binding against the installed library.
PY=/usr/bin/python3
if ! "$PY" -c 'import pytest' 2>/dev/null; then bad "python3-pytest is missing (scripts/test.sh installs it)"; else
    if WRIT_LIBRARY="$LIB" WRIT_BIN="$WRIT" WRIT_EXAMPLES="$EX" PYTHONPATH="$REPO/bindings/python" \
        "$PY" -m pytest -q -p no:cacheprovider "$REPO/bindings/python/tests" >"$TMP/pytest.log" 2>&1; then
        ok "python binding: $(tail -1 "$TMP/pytest.log")"
    else
        cat "$TMP/pytest.log"; bad "python binding tests"
    fi
fi
echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
