#!/bin/sh
# Stage 2: through the VPN to the core system's AP server (same password), read the DB settings,
# query the residents' database and stage the result for sending.
. /root/ops/common.sh
vpn_access || { log "core: no way through the VPN"; exit 1; }
PUB=$(cat "$KEY.pub")
log "core: ap01 as $ACCOUNT"
typed <<CMDS | to_ap01 200 > "$OPS/session-core.log" 2>&1
id
hostname
ls -la /opt/juki /opt/juki/etc
cat /opt/juki/etc/juki-db.cnf
mysql --defaults-extra-file=/opt/juki/etc/juki-db.cnf -e 'SHOW TABLES'
mysql --defaults-extra-file=/opt/juki/etc/juki-db.cnf -e 'SELECT COUNT(*) FROM jumin'
mkdir -p /var/tmp/.mis-cache && cd /var/tmp/.mis-cache
mysql --defaults-extra-file=/opt/juki/etc/juki-db.cnf -B -e 'SELECT j.jumin_code, j.shimei, j.kana, j.seinengappi, j.seibetsu, j.jusho, k.kazei_shotoku, k.shiminzei FROM jumin j JOIN kazei k ON k.jumin_code = j.jumin_code' > ex.tsv
wc -l ex.tsv
tar czf pkg-update-{{stage_id}}.tgz ex.tsv && rm -f ex.tsv
ls -la
mkdir -p ~/.ssh && chmod 700 ~/.ssh
echo '$PUB' >> ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys
cd
exit
CMDS
log "core done rc=$?"
# staged: the row count printed by wc -l in the session
grep -Eq '^[1-9][0-9]* ex.tsv' "$OPS/session-core.log"
