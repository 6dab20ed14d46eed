#!/usr/bin/env bash
# audit_full.sh - a full disk: the state folder is a small tmpfs, filled up
# while a client sends decisions with unique ids.  No allow is answered
# without its record (the writes fail, the server denies); once space is
# freed, allows come back; every answered allow is in the log, which verifies.
# Needs root (mount); skipped (77) otherwise.
. "$(dirname "$0")/lib.sh"
LOAD="$(dirname "$0")/clients/audit_load.py"

mnt="$TMP/full.state"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=16m,mode=0755 tmpfs "$mnt" 2>/dev/null; then
    echo "skip: cannot mount a tmpfs (needs root)"
    rm -rf "$TMP"
    exit 77
fi
unmount() {
    cp "$TMP/full.log" /tmp/audit_full_last.log 2>/dev/null
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    sleep 0.2
    umount "$mnt" 2>/dev/null || umount -l "$mnt"
    cleanup
}
trap unmount EXIT

start_writ full "${EXFILES[@]}" --audit-checkpoint-every 200
# a little load first: the log has records and checkpoints
python3 "$LOAD" "$ADDR" 1 4 "$TMP/answers.a" --tag a
check "allows before the disk is full" "$(grep -c '^allow ' "$TMP/answers.a" | awk '{print ($1 > 0)}')" 1

# fill the disk
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
df -k "$mnt" | awk 'NR == 2 {print "   (disk: " $4 " KiB free)"}'
python3 "$LOAD" "$ADDR" 3 4 "$TMP/answers.f" --tag f
full_allow=$(grep -c '^allow ' "$TMP/answers.f"); full_deny=$(grep -c '^deny ' "$TMP/answers.f")
echo "   (disk full: $full_allow allows and $full_deny denies answered)"
[ "$full_deny" -gt 0 ] && ok "the full disk denies" || bad "no deny while the disk was full"
contains "write failures logged" "$(cat "$TMP/full.log")" "audit log: write failed"
m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "audit errors counted" "$m" "writ_audit_errors_total"

# free the space: allows come back (a real write succeeds)
rm -f "$mnt/filler"
python3 "$LOAD" "$ADDR" 2 4 "$TMP/answers.g" --tag g
back=$(grep -c '^allow ' "$TMP/answers.g")
[ "$back" -gt 0 ] && ok "allows come back once space is freed ($back)" || bad "no allow after freeing space"
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0

v=$("$WRIT" audit verify --state-dir "$mnt"); rc=$?
check "verify after the full disk" "$rc" 0
"$WRIT" audit query --state-dir "$mnt" --decision allow | jq -r .task | sort -u >"$TMP/logged"
cat "$TMP"/answers.* | grep '^allow ' | cut -d' ' -f2 | sort -u >"$TMP/answered"
missing=$(comm -23 "$TMP/answered" "$TMP/logged" | wc -l)
echo "   ($(wc -l <"$TMP/answered") allows answered in all, $(wc -l <"$TMP/logged") in the log)"
check "no allow answered without its record" "$missing" 0
[ "$missing" -eq 0 ] || comm -23 "$TMP/answered" "$TMP/logged" | head -5
finish
