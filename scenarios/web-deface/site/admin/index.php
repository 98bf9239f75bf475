<?php
require __DIR__ . '/inc/common.php';
$user = cms_require_login();
$files = array_values(array_diff(scandir(CMS_UPLOAD_DIR) ?: [], ['.', '..']));
?>
<!DOCTYPE html>
<html lang="ja">
<head><meta charset="UTF-8"><title>MinatoCMS 管理画面</title></head>
<body>
<h1>MinatoCMS 管理画面</h1>
<p>ログイン中: <?= h($user) ?>　<a href="/admin/logout.php">ログアウト</a></p>
<?php if (($_GET['upload'] ?? '') === 'ok'): ?>
<p class="notice">画像を登録しました: <?= h((string) ($_GET['file'] ?? '')) ?></p>
<?php elseif (($_GET['upload'] ?? '') === 'error'): ?>
<p class="notice">画像を登録できませんでした。</p>
<?php endif; ?>
<h2>お知らせ画像の登録</h2>
<form method="post" action="/admin/upload.php" enctype="multipart/form-data">
<input type="file" name="image">
<button type="submit">登録</button>
</form>
<h2>登録済みの画像</h2>
<ul>
<?php foreach ($files as $file): ?>
<li><a href="/uploads/<?= h(rawurlencode($file)) ?>"><?= h($file) ?></a></li>
<?php endforeach; ?>
</ul>
</body>
</html>
