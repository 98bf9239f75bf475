"""The image catalogue as a person reads it: plain text for the terminal, and
docs/images.md (Japanese, then English, then the catalogue) for scenario authors."""
from __future__ import annotations

from pathlib import Path

from range.catalogue import ImageDescription, Package

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "images.md"
GUIDE_PATH = Path(__file__).resolve().parent / "images" / "catalogue-guide.md"
# Japanese names of the roles; a role without one is shown by its folder name.
TITLES_JA = {
    "attacker": "攻撃者・C2サーバ", "base": "共通の土台", "database": "データベースサーバ",
    "dns": "DNSサーバ", "fileserver": "ファイルサーバ", "loghost": "ログサーバ",
    "mail": "メールサーバ", "router": "ルータ・ファイアウォール", "webserver": "公開Webサーバ",
    "workstation": "職員端末",
}


def notable_packages(image: ImageDescription, base: ImageDescription | None) -> tuple[Package, ...]:
    """What the image installs on purpose beyond the base image (for base: its own choice)."""
    if base is None or image.name == "base":
        chosen = set(base_choice(image))
        return tuple(p for p in image.packages if p.name in chosen)
    inherited = {p.name for p in base.packages if p.manual}
    return tuple(p for p in image.packages if p.manual and p.name not in inherited)


def base_choice(image: ImageDescription) -> list[str]:
    """The packages range/images/base/packages.txt names (the rest is Debian's minbase)."""
    listed = (Path(__file__).resolve().parent / "images" / "base" / "packages.txt").read_text(encoding="utf-8")
    names = {line.strip() for line in listed.splitlines() if line.strip() and not line.startswith("#")}
    return sorted(names & {p.name for p in image.packages})


def notable_accounts(image: ImageDescription, base: ImageDescription | None) -> list[str]:
    """Accounts with a login shell, that own files (www-data, mysql) or that the role's packages add."""
    inherited = {a.name for a in base.accounts} if base is not None else set()
    return [a.name for a in image.accounts if a.login or a.owns_files or a.name not in inherited]


def language_lines(image: ImageDescription) -> list[tuple[str, str]]:
    lines = []
    if image.php:
        lines.append((f"PHP {image.php}", ", ".join(image.php_modules)))
    if image.python:
        lines.append((f"Python {image.python}", ", ".join(image.python_modules)))
    if image.perl:
        lines.append((f"Perl {image.perl}", ""))
    return lines


def text(image: ImageDescription, base: ImageDescription | None) -> str:
    """``mamori images describe NAME``: what an author needs, in the terminal."""
    packages = notable_packages(image, base)
    rows = [
        f"{image.name} — {image.summary}",
        f"  ports:          {', '.join(image.ports) or '-'}",
        f"  start scripts:  {', '.join('/etc/mamori/start.d/' + s for s in image.start_scripts) or '-'}",
        f"  runs:           {' '.join(image.command)}",
        f"  packages:       {', '.join(f'{p.name} {p.version}' for p in packages) or '-'}"
        f"  ({len(image.packages)} installed in all: --json lists them)",
    ]
    for label, modules in language_lines(image):
        rows.append(f"  {label + ':':<15} {modules or '-'}")
    rows += [
        f"  accounts:       {', '.join(notable_accounts(image, base))} (all: --json)",
        f"  commands:       {', '.join(image.commands)}",
    ]
    return "\n".join(rows) + "\n"


def markdown(catalogue: dict[str, ImageDescription]) -> str:
    """The whole of docs/images.md: the hand-written guide, then one section per image."""
    base = catalogue.get("base")
    parts = [GUIDE_PATH.read_text(encoding="utf-8").rstrip("\n"), "", "## カタログ / Catalogue", ""]
    parts.append(
        "`mamori images describe --write` がイメージそのものから読んだ内容です（手で編集しないでください）。"
        "全パッケージとバージョンは `mamori images describe NAME --json` で見られます。"
    )
    parts += ["", "What `mamori images describe --write` read from the images themselves (do not edit by hand). "
              "Every package with its version: `mamori images describe NAME --json`.", ""]
    for name in sorted(catalogue):
        parts += image_section(catalogue[name], base)
    return "\n".join(parts).rstrip("\n") + "\n"


def image_section(image: ImageDescription, base: ImageDescription | None) -> list[str]:
    title = TITLES_JA.get(image.name)
    heading = f"### `{image.name}`" + (f" — {title}" if title else "")
    start = ", ".join(f"`{s}`" for s in image.start_scripts) or "—"
    packages = ", ".join(f"{p.name} ({p.version})" for p in notable_packages(image, base)) or "—"
    rows = [
        ("ポート / Ports", ", ".join(f"`{p}`" for p in image.ports) or "—"),
        ("起動スクリプト / Start scripts (`/etc/mamori/start.d/`)", start),
        ("主なパッケージ / Notable packages", packages),
    ]
    rows += [(f"言語 / Language: {label}", modules or "—") for label, modules in language_lines(image)]
    rows += [
        ("アカウント / Accounts", ", ".join(f"`{a}`" for a in notable_accounts(image, base))),
        ("コマンド / Commands", ", ".join(f"`{c}`" for c in image.commands)),
    ]
    described = image.summary.replace("<", "\\<").replace(">", "\\>").replace("*", "\\*")  # literal, not HTML
    lines = [heading, "", described, "", "| 項目 / Item | 内容 / Contents |", "| --- | --- |"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return lines + [""]
