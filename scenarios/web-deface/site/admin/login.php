<?php
require __DIR__ . '/inc/common.php';

$failed = false;
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $user = (string) ($_POST['user'] ?? '');
    $pass = (string) ($_POST['pass'] ?? '');
    $users = cms_users();
    if ($user !== '' && isset($users[$user]) && password_verify($pass, $users[$user])) {
        session_regenerate_id(true);
        $_SESSION['user'] = $user;
        cms_log('login ok user=' . cms_clean($user));
        header('Location: /admin/');
        exit;
    }
    // 試行回数の制限・ロックアウトは未実装
    cms_log('login failed user=' . cms_clean($user));
    $failed = true;
}
?>
<!DOCTYPE html>
<html lang="ja">
<head><meta charset="UTF-8"><title>MinatoCMS 管理画面 ログイン</title></head>
<body>
<h1>MinatoCMS 管理画面</h1>
<p>みなと市 公式ホームページ 更新システム</p>
<?php if ($failed): ?>
<p class="login-error">ユーザー名またはパスワードが違います。</p>
<?php endif; ?>
<form method="post" action="/admin/login.php">
<label>ユーザー名 <input name="user"></label><br>
<label>パスワード <input name="pass" type="password"></label><br>
<button type="submit">ログイン</button>
</form>
</body>
</html>
