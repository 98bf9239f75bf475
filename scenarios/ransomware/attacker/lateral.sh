#!/bin/sh
# Day 1, late: through vpn01 to fs01 with the admin password from the vendor's memo; look around.
. /root/ops/common.sh
vpn_access || { log "lateral: no access to vpn01"; exit 0; }
pw=$(fs_pw)
[ -n "$pw" ] || { log "lateral: no fs01 password"; exit 0; }
log "lateral to fs01 as fsadmin via $USER_ON_VPN@vpn01"
typed <<'CMDS' | timeout 150 sshpass -p "$pw" ssh -tt $SSHO -o PubkeyAuthentication=no -o ProxyCommand="$VIA -W %h:%p" fsadmin@fs01 > "$OPS/session-lateral.log" 2>&1
id
hostname
df -h /srv
ls -la /srv/share
ls -R /srv/share
ls -la /srv/backup
sudo -l
cat /etc/rsyncd.conf
exit
CMDS
log "lateral done rc=$?"
exit 0
