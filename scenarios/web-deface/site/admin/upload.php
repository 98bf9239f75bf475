<?php
require __DIR__ . '/inc/common.php';
$user = cms_require_login();

if ($_SERVER['REQUEST_METHOD'] !== 'POST' || !isset($_FILES['image'])
    || $_FILES['image']['error'] !== UPLOAD_ERR_OK) {
    header('Location: /admin/?upload=error');
    exit;
}
// お知らせ画像の登録。元のファイル名のまま uploads/ に保存する。
// TODO: 拡張子・ファイル形式のチェック（次期改修で対応予定）
$name = basename((string) $_FILES['image']['name']);
if ($name === '' || $name[0] === '.') {
    header('Location: /admin/?upload=error');
    exit;
}
move_uploaded_file($_FILES['image']['tmp_name'], CMS_UPLOAD_DIR . $name);
cms_log('upload user=' . cms_clean($user) . ' file=' . cms_clean($name));
header('Location: /admin/?upload=ok&file=' . rawurlencode($name));
