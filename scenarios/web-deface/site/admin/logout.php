<?php
require __DIR__ . '/inc/common.php';
$_SESSION = [];
session_destroy();
header('Location: /admin/login.php');
