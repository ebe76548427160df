"""Member CSV import (UTF-8 with or without BOM, or Excel's Shift_JIS/cp932): check every row, then all or nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import anyio.to_thread

from db import admin_members as queries
from db.members import PROFILE_COLUMNS
from services.context import AppContext
from services.initial_passwords import NewMember, create_members
from services.japanese import normalize_member_number
from services.org import OrgSettings
from services.password_flow import initial_password_length, policy_from_org
from services.password_policy import check_password, failed, generate_initial_password, ime_hint
from services.profile import LABELS, validate_profile
from services.spreadsheet import csv_bytes

COLUMNS: tuple[str, ...] = ("member_number", *PROFILE_COLUMNS)
OPTIONAL_COLUMNS: tuple[str, ...] = ("initial_password",)
COLUMN_LABELS: dict[str, str] = {
    "member_number": "会員番号",
    **LABELS,
    "initial_password": "初期パスワード",
    "_row": "行",
}
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
NUMBER_ERROR = "会員番号は数字（20桁まで）で入力してください。"


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, size)."""


@dataclass
class RowResult:
    line: int
    values: dict[str, str]
    clean: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def display_name(self) -> str:
        return f"{self.values.get('family_name', '')} {self.values.get('given_name', '')}".strip()

    def messages(self) -> list[str]:
        out = []
        for name, message in self.errors.items():
            label = COLUMN_LABELS.get(name, name)
            # Profile messages mostly name their field already (「電話番号は…」); say it once.
            out.append(message if message.startswith(label) else f"{label}: {message}")
        return out


@dataclass
class ImportReport:
    dry_run: bool
    encoding: str = ""
    rows: list[RowResult] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    created: int = 0
    generated_passwords: int = 0

    @property
    def error_rows(self) -> list[RowResult]:
        return [row for row in self.rows if not row.ok]

    @property
    def ok(self) -> bool:
        return not self.file_errors and bool(self.rows) and not self.error_rows

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.encoding:
            out.append(f"文字コード: {self.encoding}")
        out.extend(self.file_errors)
        if self.rows:
            out.append(f"{len(self.rows)} 行を確認しました。エラーのある行: {len(self.error_rows)} 行")
        for row in self.error_rows:
            number = row.values.get("member_number", "")
            for message in row.messages():
                out.append(f"{row.line}行目（会員番号 {number or '未入力'}）: {message}")
        if not self.ok:
            out.append("取り込みは行いませんでした。エラーを直してから、もう一度実行してください。")
        elif self.dry_run:
            out.append(
                f"エラーはありません（確認のみ）。--dry-run を付けずに実行すると {len(self.rows)} 名を登録します。"
            )
        else:
            out.append(
                f"{self.created} 名を登録しました（初期パスワードを生成: {self.generated_passwords} 名）。"
                "初期パスワードのお知らせは管理画面の「初期パスワード通知」から印刷してください。"
            )
        return out


def decode_csv(content: bytes) -> tuple[str, str]:
    """The text and a label for its encoding: a BOM means UTF-8; otherwise strict UTF-8, then cp932."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="strict"), "UTF-8（BOM付き）"
    try:
        return content.decode("utf-8", errors="strict"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        # cp932 is Excel's Shift_JIS: it also has the NEC/IBM extensions (①, ㈱), which the
        # row checks then report as platform-dependent characters.
        return content.decode("cp932", errors="strict"), "Shift_JIS（cp932）"
    except UnicodeDecodeError as error:
        raise ImportFileError(
            "ファイルの文字コードを判別できませんでした。UTF-8 または Shift_JIS（Excel の「CSV（コンマ区切り）」）で保存してください。"
        ) from error


def parse_csv(content: bytes) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """Rows keyed by column name with their line numbers in the file (the header is line 1)."""
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError("ファイルが大きすぎます（5MBまで）。ファイルを分けて取り込んでください。")
    text, encoding = decode_csv(content)
    if "\x00" in text:
        raise ImportFileError(
            "CSVファイルではないようです。Excel で「CSV」形式で保存したファイルを選んでください。"
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(
            "ファイルが空です。見出し行と会員の行があるCSVファイルを選んでください。"
        ) from None
    except csv.Error as error:
        raise ImportFileError(f"CSVとして読み取れませんでした（{error}）。") from error
    names = [name.strip().lstrip("\ufeff").lower() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    unknown = [name for name in names if name and name not in COLUMNS and name not in OPTIONAL_COLUMNS]
    problems = []
    if missing:
        problems.append("見出し行に次の列がありません: " + ", ".join(missing))
    if unknown:
        problems.append("見出し行に知らない列があります: " + ", ".join(unknown[:10]))
    duplicated = sorted({name for name in names if name and names.count(name) > 1})
    if duplicated:
        problems.append("見出し行で同じ列が2回以上あります: " + ", ".join(duplicated))
    if problems:
        raise ImportFileError(
            " / ".join(problems) + "。1行目は列名（member_number, family_name, …）にしてください。"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(
                    f"行が多すぎます（{MAX_ROWS}行まで）。ファイルを分けて取り込んでください。"
                )
            values = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(names) if name}
            values["_cells"] = "ok" if len(cells) == len(names) else f"{len(cells)}/{len(names)}"
            rows.append((line, values))
    except csv.Error as error:
        raise ImportFileError(f"{reader.line_num}行目をCSVとして読み取れませんでした（{error}）。") from error
    return encoding, rows


def check_row(line: int, values: dict[str, str], *, org: OrgSettings) -> RowResult:
    """The same checks as the profile form, plus the member number and an optional initial password."""
    cells = values.pop("_cells", "ok")
    result = RowResult(line=line, values=values)
    if cells != "ok":
        found, expected = cells.split("/")
        result.errors["_row"] = (
            f'列の数（{found}）が見出し行（{expected}）と合いません。引用符（"）や区切りのコンマをご確認ください。'
        )
    profile_values = {name: values.get(name, "") for name in COLUMNS if name != "member_number"}
    clean, errors = validate_profile(profile_values)
    number = normalize_member_number(values.get("member_number", ""))
    if number is None:
        errors = {
            "member_number": NUMBER_ERROR
            if values.get("member_number", "").strip()
            else "会員番号を入力してください。",
            **errors,
        }
    else:
        clean["member_number"] = number
    password = values.get("initial_password", "")
    if password:
        policy = policy_from_org(org)
        hint = ime_hint(password, policy)
        problems = [
            rule.message
            for rule in failed(check_password(password, member_number=number or "", policy=policy))
        ]
        if hint:
            problems.insert(0, hint)
        if problems:
            errors["initial_password"] = " ".join(problems)
        else:
            clean["initial_password"] = password
    result.errors.update(errors)
    result.clean = clean
    return result


def _mark_duplicates(rows: Iterable[RowResult], key: str, label: str, existing: Mapping[str, str]) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        value = row.clean.get(key, "")
        if not value or key in row.errors:
            continue
        folded = value.lower() if key == "email" else value
        if folded in existing:
            row.errors[key] = f"{label} {value} はすでに登録されています（会員番号 {existing[folded]}）。"
        elif folded in seen:
            row.errors[key] = f"{label} {value} がファイルの {seen[folded]}行目と重複しています。"
        else:
            seen[folded] = row.line


async def check_content(app: AppContext, content: bytes, *, dry_run: bool = True) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    try:
        encoding, parsed = await anyio.to_thread.run_sync(parse_csv, content)
    except ImportFileError as error:
        report.file_errors.append(str(error))
        return report
    report.encoding = encoding
    if not parsed:
        report.file_errors.append("会員の行がありません。見出し行の下に会員を1行ずつ入力してください。")
        return report
    org = app.org
    report.rows = await anyio.to_thread.run_sync(
        lambda: [check_row(line, values, org=org) for line, values in parsed]
    )
    numbers = [row.clean["member_number"] for row in report.rows if row.clean.get("member_number")]
    emails = [row.clean["email"] for row in report.rows if row.clean.get("email")]
    taken_numbers = await queries.existing_numbers(app.db, numbers)
    taken_emails = await queries.existing_emails(app.db, emails)
    _mark_duplicates(report.rows, "member_number", "会員番号", {n: n for n in taken_numbers})
    _mark_duplicates(report.rows, "email", "メールアドレス", taken_emails)
    return report


async def import_members_file(
    context: AppContext, content: bytes, *, dry_run: bool = False, actor_id: int | None = None
) -> ImportReport:
    """Check the file; unless dry_run, create every member in one transaction (or none on any error).
    Rows without an initial password get a generated one; every new member gets a letter waiting."""
    report = await check_content(context, content, dry_run=dry_run)
    if dry_run or not report.ok:
        return report
    policy = policy_from_org(context.org)
    members: list[NewMember] = []
    for row in report.rows:
        password = row.clean.pop("initial_password", "")
        generated = not password
        if generated:
            password = generate_initial_password(policy, initial_password_length(policy))
            report.generated_passwords += 1
        number = row.clean.pop("member_number")
        members.append(
            NewMember(member_number=number, password=password, profile=dict(row.clean), generated=generated)
        )
    try:
        await create_members(context, members, actor_id=actor_id, source="import")
    except queries.DuplicateMember as error:
        # Someone registered the same number or e-mail between the check and the write.
        report.file_errors.append(
            f"取り込み中に重複が見つかりました（{error}）。もう一度確認からやり直してください。"
        )
        report.generated_passwords = 0
        return report
    report.created = len(members)
    return report


def template_csv() -> bytes:
    """An example file for the admin to start from (UTF-8 with BOM, so Excel opens it)."""
    return csv_bytes(
        [*COLUMNS, *OPTIONAL_COLUMNS],
        [
            [
                "000101",
                "山田",
                "花子",
                "ヤマダ",
                "ハナコ",
                "hanako@example.jp",
                "03-1234-5678",
                "100-0001",
                "東京都",
                "千代田区千代田1-1",
                "",
                "つどい大学",
                "正会員",
                "",
            ]
        ],
    )
