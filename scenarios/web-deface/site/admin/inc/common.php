<?php
// MinatoCMS 1.2 共通処理 — (c) 株式会社ミナトウェブ
// 利用者は /var/www/cms/users.json（ユーザー名 => password_hash）で管理する。
// パスワード変更は root で: minato-cms-passwd ユーザー名

const CMS_USERS = '/var/www/cms/users.json';
const CMS_UPLOAD_DIR = '/var/www/html/uploads/';

session_name('MINATOCMS');
session_start();
openlog('minato-cms', LOG_PID, LOG_AUTH);

function cms_log(string $message): void
{
    $ip = $_SERVER['REMOTE_ADDR'] ?? '-';
    syslog(LOG_NOTICE, $message . ' ip=' . $ip);
}

function cms_users(): array
{
    $users = json_decode((string) @file_get_contents(CMS_USERS), true);
    return is_array($users) ? $users : [];
}

function cms_require_login(): string
{
    if (empty($_SESSION['user'])) {
        header('Location: /admin/login.php');
        exit;
    }
    return $_SESSION['user'];
}

function cms_clean(string $value): string
{
    return substr(preg_replace('/[^A-Za-z0-9_.@-]/', '?', $value), 0, 64);
}

function h(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES, 'UTF-8');
}
