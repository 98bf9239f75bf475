# The appliance's history before the exercise: the vendor's scheduled maintenance from its head
# office, and one short night-time login from elsewhere three nights ago. Run once at start-up.
vendor=$(getent hosts gw.midori-is.example | awk '{print $1; exit}')
other=$(getent hosts {{attacker_domain}} | awk '{print $1; exit}')
log=/var/log/vpn/session.log
mkdir -p /var/log/vpn
{
    echo "# rasvpn session log (vpn01) - rotated monthly"
    for spec in "41 10:02 11:48" "27 13:31 15:05" "20 09:46 10:20" "13 14:03 16:12" "6 10:15 11:02"; do
        set -- $spec
        day=$(date -d "$1 days ago" +%F)
        echo "$day $2:$(printf %02d $(( $1 % 60 ))) vpn01 rasvpn: LOGIN user={{account}} src=$vendor"
        echo "$day $3:$(printf %02d $(( ($1 * 7) % 60 ))) vpn01 rasvpn: LOGOUT user={{account}} src=$vendor"
    done
    day=$(date -d "3 days ago" +%F)
    echo "$day 02:47:13 vpn01 rasvpn: LOGIN user={{account}} src=$other"
    echo "$day 02:48:02 vpn01 rasvpn: LOGOUT user={{account}} src=$other"
} > "$log"
chmod 0640 "$log"
