# The IT Policy Division's register of the vendor's approved remote-maintenance work (dates follow
# the appliance's history, written the same way at start-up).
out="/home/csirt/保守作業申請一覧.csv"
{
    echo "申請番号,作業日,作業時間,作業者,接続元,作業内容,承認"
    n=118
    for spec in "41 10:00-12:00 定期パッチ適用（ap01）" "27 13:30-15:30 帳票レイアウト修正（ap01）" "20 09:30-10:30 DBバックアップ設定確認（db01）" "13 14:00-16:30 税制改正対応モジュール適用（ap01/db01）" "6 10:00-11:30 定期パッチ適用（ap01）"; do
        set -- $spec
        echo "MIS-$(date +%Y)-$n,$(date -d "$1 days ago" +%F),$2,木村（みどり情報システム）,gw.midori-is.example,$3,情報政策課長"
        n=$((n + 1))
    done
} > "$out"
chown csirt "$out"
