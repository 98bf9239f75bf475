-- 住民情報システム（架空）: 住民記録と個人住民税の課税情報。氏名・住所などはすべて架空のデータです。
CREATE DATABASE IF NOT EXISTS juki CHARACTER SET utf8mb4;
USE juki;
CREATE TABLE jumin (
  jumin_code CHAR(11) PRIMARY KEY COMMENT '住民票コード',
  shimei VARCHAR(40) NOT NULL COMMENT '氏名',
  kana VARCHAR(60) NOT NULL COMMENT 'カナ氏名',
  seinengappi DATE NOT NULL COMMENT '生年月日',
  seibetsu CHAR(1) NOT NULL COMMENT '性別',
  jusho VARCHAR(120) NOT NULL COMMENT '住所',
  setai_no INT NOT NULL COMMENT '世帯番号'
) COMMENT '住民記録';
CREATE TABLE kazei (
  jumin_code CHAR(11) PRIMARY KEY COMMENT '住民票コード',
  nendo INT NOT NULL COMMENT '年度',
  kazei_shotoku INT NOT NULL COMMENT '課税所得（円）',
  shiminzei INT NOT NULL COMMENT '個人住民税額（円）'
) COMMENT '個人住民税 課税情報';
SET SESSION max_recursive_iterations = 100000;
INSERT INTO jumin
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {{records}})
SELECT CONCAT('3', LPAD(n * 7919 % 9999999999, 10, '0')),
       CONCAT(ELT(1 + n % 20, '佐藤','鈴木','高橋','田中','伊藤','渡辺','山本','中村','小林','加藤',
                              '吉田','山田','佐々木','山口','松本','井上','木村','林','清水','森'), ' ',
              ELT(1 + (n * 7) % 16, '陽翔','蓮','湊','大和','結衣','陽葵','凛','芽依',
                                    '健一','和子','浩','幸子','誠','洋子','学','恵子')),
       CONCAT(ELT(1 + n % 20, 'サトウ','スズキ','タカハシ','タナカ','イトウ','ワタナベ','ヤマモト','ナカムラ','コバヤシ','カトウ',
                              'ヨシダ','ヤマダ','ササキ','ヤマグチ','マツモト','イノウエ','キムラ','ハヤシ','シミズ','モリ'), ' ',
              ELT(1 + (n * 7) % 16, 'ハルト','レン','ミナト','ヤマト','ユイ','ヒマリ','リン','メイ',
                                    'ケンイチ','カズコ','ヒロシ','サチコ','マコト','ヨウコ','マナブ','ケイコ')),
       DATE_ADD('1935-01-01', INTERVAL (n * 4513) % 32000 DAY),
       IF((n * 7) % 16 < 4 OR (n * 7) % 16 IN (8, 10, 12, 14), '男', '女'),
       CONCAT('もみじ県かえで市', ELT(1 + n % 12, '本町','栄町','緑ヶ丘','桜台','東町','西町','南町','北町',
                                             '若葉','旭町','中央','川端'),
              1 + (n * 3) % 5, '丁目', 1 + (n * 11) % 28, '番', 1 + (n * 13) % 19, '号'),
       10000 + n DIV 2
FROM seq;
INSERT INTO kazei
SELECT jumin_code, 2024, ((CAST(SUBSTRING(jumin_code, 6) AS UNSIGNED) % 700) * 10000),
       ((CAST(SUBSTRING(jumin_code, 6) AS UNSIGNED) % 700) * 10000) DIV 10 + 5000
FROM jumin;
CREATE USER IF NOT EXISTS 'juki_app'@'%' IDENTIFIED BY 'Juki#App2021';
GRANT SELECT, INSERT, UPDATE ON juki.* TO 'juki_app'@'%';
FLUSH PRIVILEGES;
