#!/bin/sh
# 課税データ取込バッチ（みなとシステムズ 導入時作成）
# 毎朝 fs01 の共有フォルダから課税台帳を手元にコピーする。
# ※ パスワード変更時はここも書き換えること
FS_USER=tanaka
FS_PASS='Zeimu#2024'
SRC='/srv/share/税務課/住民税課税台帳_R6.csv'
mkdir -p "$HOME/Documents/課税"
sshpass -p "$FS_PASS" scp -q -o StrictHostKeyChecking=no "$FS_USER@fs01:$SRC" "$HOME/Documents/課税/"
