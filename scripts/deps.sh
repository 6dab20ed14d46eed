# deps.sh - sourced by the scripts: install missing Debian packages.
#
# install_deps PKG[:COMMAND]...: apt-get installs those of PKG that are not
# installed (with :COMMAND, that are not installed and whose COMMAND is not on
# the PATH either, e.g. npm:npm where Node.js came from elsewhere), running
# `apt-get update` first only when something is missing.  Quiet, but errors
# are shown.  Uses sudo when not root.  Returns non-zero on failure.
install_deps() {
    local missing=() p cmd
    for p in "$@"; do
        cmd=
        if [[ "$p" == *:* ]]; then cmd=${p#*:}; p=${p%%:*}; fi
        [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1 && continue
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; return 1; }
        sudo=(sudo)
    fi
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; return 1; }
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || { echo "deps: apt-get install failed: ${missing[*]}" >&2; return 1; }
}
