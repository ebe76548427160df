"""Member import from CSV (UTF-8 with or without BOM, or Excel's Shift_JIS/cp932) or an Excel workbook
(.xlsx): check every row, list what will change, then all or nothing."""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time

import anyio.to_thread
from openpyxl import load_workbook

from db import admin_members as queries
from db.members import PROFILE_COLUMNS
from services.charset import charset_mode
from services.charset import standard_forms as to_standard_forms
from services.context import AppContext
from services.initial_passwords import NewMember, create_members
from services.japanese import normalize_member_number
from services.org import OrgSettings
from services.password_flow import initial_password_length, policy_from_org
from services.password_policy import check_password, failed, generate_initial_password, ime_hint
from services.profile import LABELS, REQUIRED_FIELDS, validate_profile
from services.spreadsheet import csv_bytes

COLUMNS: tuple[str, ...] = ("member_number", *PROFILE_COLUMNS)
OPTIONAL_COLUMNS: tuple[str, ...] = ("initial_password",)
# A file must have these; any other known column may be left out (its cells count as empty).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "member_number",
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
)
COLUMN_LABELS: dict[str, str] = {
    "member_number": "会員番号",
    **LABELS,
    "initial_password": "初期パスワード",
    "_row": "行",
}
# Japanese header names people use in Excel, as aliases of the CSV column names.
JAPANESE_HEADERS: dict[str, str] = {
    "会員番号": "member_number",
    "姓": "family_name",
    "名": "given_name",
    "セイ": "family_kana",
    "メイ": "given_kana",
    "メールアドレス": "email",
    "電話番号": "phone",
    "郵便番号": "postal_code",
    "都道府県": "prefecture",
    "住所1": "address1",
    "住所2": "address2",
    "所属": "affiliation",
    "会員種別": "membership_type",
    "初期パスワード": "initial_password",
}
# Columns whose values the guide's character rule checks: the ones standard forms may replace.
TEXT_COLUMNS: tuple[str, ...] = (
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "address1",
    "address2",
    "affiliation",
    "membership_type",
)
MAX_FILE_BYTES = 5 * 1024 * 1024
# An .xlsx is a zip: its unpacked parts are capped too, so a small file cannot unpack into gigabytes.
MAX_XLSX_UNPACKED_BYTES = 60 * 1024 * 1024
MAX_COLUMNS = 100
MAX_ROWS = 20_000
NUMBER_ERROR = "会員番号は数字（20桁まで）で入力してください。"
XLSX_LABEL = "Excel ブック（.xlsx）"
NO_EMAIL_NOTE = "メールアドレスなし（お知らせは郵送）"


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, size)."""


def header_key(raw: str) -> str:
    """A header cell as a column lookup key: width-folded, no spaces, ASCII lowercased."""
    text = unicodedata.normalize("NFKC", raw).replace("\ufeff", "")
    return "".join(text.split()).lower()


_ALIASES: dict[str, str] = {
    **{header_key(name): name for name in (*COLUMNS, *OPTIONAL_COLUMNS)},
    **{header_key(label): name for label, name in JAPANESE_HEADERS.items()},
    **{header_key(label): name for name, label in COLUMN_LABELS.items() if name != "_row"},
}


@dataclass(frozen=True)
class Replacement:
    line: int
    column: str
    before: str
    after: str

    @property
    def label(self) -> str:
        return COLUMN_LABELS.get(self.column, self.column)


@dataclass
class RowResult:
    line: int
    values: dict[str, str]
    clean: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    padded_from: str = ""
    replacements: list[Replacement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def display_name(self) -> str:
        return f"{self.values.get('family_name', '')} {self.values.get('given_name', '')}".strip()

    @property
    def number(self) -> str:
        return self.clean.get("member_number") or self.values.get("member_number", "")

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
    notes: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    number_length: int = 0
    standard_forms: bool = False
    """Whether the replacements were applied (the admin chose 「標準の字形に置き換えて取り込む」)."""
    created: int = 0
    generated_passwords: int = 0

    @property
    def error_rows(self) -> list[RowResult]:
        return [row for row in self.rows if not row.ok]

    @property
    def ok(self) -> bool:
        return not self.file_errors and bool(self.rows) and not self.error_rows

    @property
    def padded(self) -> list[RowResult]:
        return [row for row in self.rows if row.padded_from]

    @property
    def replacements(self) -> list[Replacement]:
        return [item for row in self.rows for item in row.replacements]

    @property
    def without_email(self) -> list[RowResult]:
        return [row for row in self.rows if row.ok and not row.clean.get("email")]

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.encoding:
            out.append(f"文字コード: {self.encoding}")
        out.extend(self.file_errors)
        out.extend(self.notes)
        if self.unknown_columns:
            out.append("知らない列は取り込みません: " + ", ".join(self.unknown_columns))
        if self.missing_columns:
            out.append("ファイルにない列（空欄として扱います）: " + ", ".join(self.missing_columns))
        for row in self.padded:
            out.append(
                f"{row.line}行目: 会員番号を{self.number_length}桁に0で埋めます（{row.padded_from} → {row.number}）"
            )
        if self.replacements:
            verb = "置き換えます" if self.standard_forms else "置き換えられます（--standard-forms）"
            for item in self.replacements:
                out.append(
                    f"{item.line}行目: {item.label}を標準の字形に{verb}（{item.before} → {item.after}）"
                )
        if self.rows:
            out.append(f"{len(self.rows)} 行を確認しました。エラーのある行: {len(self.error_rows)} 行")
        if self.without_email:
            out.append(f"メールアドレスのない会員: {len(self.without_email)} 名（お知らせは郵送になります）")
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


@dataclass
class ParsedFile:
    label: str
    rows: list[tuple[int, dict[str, str]]]
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def decode_csv(content: bytes) -> tuple[str, str]:
    """The text and a label for its encoding: a BOM means UTF-8; otherwise strict UTF-8, then cp932."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="strict"), "UTF-8（BOM付き）"
    try:
        return content.decode("utf-8", errors="strict"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        # cp932 is Excel's Shift_JIS: it also has the NEC/IBM extensions (①, ㈱, 髙, 﨑), which the
        # row checks then judge by the organization's character setting.
        return content.decode("cp932", errors="strict"), "Shift_JIS（cp932）"
    except UnicodeDecodeError as error:
        raise ImportFileError(
            "ファイルの文字コードを判別できませんでした。UTF-8 または Shift_JIS（Excel の「CSV（コンマ区切り）」）で保存してください。"
        ) from error


def _columns(header: list[str]) -> tuple[list[str | None], list[str], list[str]]:
    """Each header cell's column name (None: ignored), the unknown headers, the missing optional columns."""
    names: list[str | None] = []
    unknown: list[str] = []
    for raw in header:
        key = header_key(raw)
        if not key:
            names.append(None)
            continue
        name = _ALIASES.get(key)
        if name is None:
            unknown.append(raw.strip().lstrip("\ufeff")[:40])
        names.append(name)
    found = [name for name in names if name]
    problems = []
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        problems.append(
            "見出し行に次の列がありません: " + ", ".join(f"{COLUMN_LABELS[n]}（{n}）" for n in missing)
        )
    duplicated = sorted({name for name in found if found.count(name) > 1})
    if duplicated:
        problems.append(
            "見出し行で同じ列が2回以上あります: "
            + ", ".join(f"{COLUMN_LABELS[n]}（{n}）" for n in duplicated)
        )
    if problems:
        raise ImportFileError(
            " / ".join(problems)
            + "。1行目は列名（member_number, family_name, … または 会員番号, 姓, 名, セイ, メイ, …）にしてください。"
        )
    optional = [name for name in (*COLUMNS, *OPTIONAL_COLUMNS) if name not in REQUIRED_COLUMNS]
    absent = [f"{COLUMN_LABELS[name]}（{name}）" for name in optional if name not in found]
    return names, unknown[:20], absent


def _collect(
    names: list[str | None], cells: Iterator[tuple[int, list[str]]], *, count_cells: bool
) -> list[tuple[int, dict[str, str]]]:
    rows: list[tuple[int, dict[str, str]]] = []
    for line, row in cells:
        if not any(cell.strip() for cell in row):
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError(f"行が多すぎます（{MAX_ROWS}行まで）。ファイルを分けて取り込んでください。")
        values = {name: (row[i] if i < len(row) else "") for i, name in enumerate(names) if name}
        values["_cells"] = "ok" if not count_cells or len(row) == len(names) else f"{len(row)}/{len(names)}"
        rows.append((line, values))
    return rows


def parse_csv(content: bytes) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """Rows keyed by column name with their line numbers in the file (the header is line 1)."""
    parsed = _parse_csv(content)
    return parsed.label, parsed.rows


def _parse_csv(content: bytes) -> ParsedFile:
    text, encoding = decode_csv(content)
    if "\x00" in text:
        raise ImportFileError(
            "CSVファイルではないようです。Excel で「CSV」または「Excel ブック（.xlsx）」形式で保存したファイルを選んでください。"
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
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(
            f"列が多すぎます（{MAX_COLUMNS}列まで）。会員の列だけを残して保存してください。"
        )
    names, unknown, missing = _columns(header)

    def cells() -> Iterator[tuple[int, list[str]]]:
        for row in reader:
            yield reader.line_num, row

    try:
        rows = _collect(names, cells(), count_cells=True)
    except csv.Error as error:
        raise ImportFileError(f"{reader.line_num}行目をCSVとして読み取れませんでした（{error}）。") from error
    return ParsedFile(encoding, rows, unknown, missing)


def _cell_text(value: object) -> str:
    """An Excel cell as the text a person sees: 103 (a number) is "103", 1.0 is "1", a date is 2026-04-01."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e20:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


BROKEN_XLSX = (
    "Excel ファイルを読み取れませんでした（ファイルが壊れているか、.xlsx 形式ではありません）。"
    "Excel で開き直し、「Excel ブック（.xlsx）」または「CSV UTF-8」で保存してから選んでください。"
)


def _parse_xlsx(content: bytes) -> ParsedFile:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            names = {item.filename for item in members}
            unpacked = sum(item.file_size for item in members)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise ImportFileError(BROKEN_XLSX) from error
    if "xl/workbook.xml" not in names:
        raise ImportFileError(BROKEN_XLSX)
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportFileError(
            "Excel ファイルの中身が大きすぎます。会員の表だけを残すか、ファイルを分けて取り込んでください。"
        )
    notes: list[str] = []
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            sheets = workbook.worksheets
            if not sheets:
                raise ImportFileError("Excel ファイルにシートがありません。")
            sheet = sheets[0]
            if len(sheets) > 1:
                notes.append(f"最初のシート「{sheet.title}」を読み取りました（ほかのシートは読みません）。")
            values = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
            header_cells = next(values, None)
            if header_cells is None or not any(_cell_text(v).strip() for v in header_cells):
                raise ImportFileError(
                    "シートの1行目が空です。1行目に見出し（会員番号、姓、名、…）、2行目から会員を入力してください。"
                )
            header = [_cell_text(v) for v in header_cells]
            while header and not header[-1].strip():
                header.pop()
            names_, unknown, missing = _columns(header)

            def cells() -> Iterator[tuple[int, list[str]]]:
                for index, row in enumerate(values, start=2):
                    yield index, [_cell_text(v) for v in row]

            rows = _collect(names_, cells(), count_cells=False)
        finally:
            workbook.close()
    except ImportFileError:
        raise
    except (
        Exception
    ) as error:  # openpyxl raises many kinds (KeyError, ParseError, TypeError…) on a broken file
        raise ImportFileError(BROKEN_XLSX) from error
    return ParsedFile(XLSX_LABEL, rows, unknown, missing, notes)


def parse_file(content: bytes, filename: str = "") -> ParsedFile:
    """CSV or .xlsx, told apart by the content (a renamed file is still read for what it is)."""
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError("ファイルが大きすぎます（5MBまで）。ファイルを分けて取り込んでください。")
    if not content.strip():
        raise ImportFileError("ファイルが空です。見出し行と会員の行があるファイルを選んでください。")
    suffix = filename.lower().rpartition(".")[2] if "." in filename else ""
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            "古い Excel 形式（.xls）は読み取れません。Excel で「Excel ブック（.xlsx）」または「CSV UTF-8」で保存し直してください。"
        )
    if content.startswith(b"PK\x03\x04"):
        parsed = _parse_xlsx(content)
        if suffix and suffix != "xlsx":
            parsed.notes.insert(
                0,
                f"ファイル名は .{suffix} ですが、中身が Excel ブック（.xlsx）だったため Excel として読み取りました。",
            )
        return parsed
    if suffix == "xlsx":
        raise ImportFileError(
            "ファイル名は .xlsx ですが、Excel ブックではありません。Excel で開いて「Excel ブック（.xlsx）」で保存し直してください。"
        )
    return _parse_csv(content)


def check_row(
    line: int,
    values: dict[str, str],
    *,
    org: OrgSettings,
    pad_to: int = 0,
    standard: bool = False,
) -> RowResult:
    """The same checks as the profile form (e-mail optional: without one, letters go by post), plus the
    member number (padded with zeros to pad_to when shorter) and an optional initial password. Under the
    guide's character rule each name variant with a standard form is listed, and replaced when standard."""
    cells = values.pop("_cells", "ok")
    result = RowResult(line=line, values=values)
    if cells != "ok":
        found, expected = cells.split("/")
        result.errors["_row"] = (
            f'列の数（{found}）が見出し行（{expected}）と合いません。引用符（"）や区切りのコンマをご確認ください。'
        )
    mode = charset_mode(org.name_charset)
    profile_values = {name: values.get(name, "") for name in COLUMNS if name != "member_number"}
    if mode == "jis0208":
        for name in TEXT_COLUMNS:
            value = profile_values.get(name, "")
            replaced = to_standard_forms(value)
            if replaced != value:
                result.replacements.append(Replacement(line, name, value.strip(), replaced.strip()))
                if standard:
                    profile_values[name] = replaced
    clean, errors = validate_profile(profile_values, required=REQUIRED_FIELDS - {"email"}, charset=mode)
    number = normalize_member_number(values.get("member_number", ""))
    if number is None:
        errors = {
            "member_number": NUMBER_ERROR
            if values.get("member_number", "").strip()
            else "会員番号を入力してください。",
            **errors,
        }
    else:
        if pad_to and len(number) < pad_to:
            result.padded_from = number
            number = number.zfill(pad_to)
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


def common_number_length(setting: int, database_lengths: set[int], file_numbers: Iterable[str]) -> int:
    """The one length of the organization's member numbers, or 0 when there is none to go by.

    The setting wins. While it is unset, the lengths that show the numbering are those of the numbers in
    the database and of the file's numbers that kept a leading zero; when they are one length and no
    number in the file is longer, shorter numbers lost their zeros in Excel."""
    if setting > 0:
        return setting
    numbers = list(file_numbers)
    evidence = set(database_lengths) | {len(n) for n in numbers if n.startswith("0")}
    if len(evidence) != 1:
        return 0
    length = evidence.pop()
    return length if all(len(n) <= length for n in numbers) else 0


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


async def check_content(
    app: AppContext,
    content: bytes,
    *,
    dry_run: bool = True,
    filename: str = "",
    standard_forms: bool = False,
) -> ImportReport:
    """Read the file and check every row; nothing is written. standard_forms applies the listed
    replacements of name variants (the guide's character rule only)."""
    report = ImportReport(dry_run=dry_run, standard_forms=standard_forms)
    try:
        parsed = await anyio.to_thread.run_sync(parse_file, content, filename)
    except ImportFileError as error:
        report.file_errors.append(str(error))
        return report
    report.encoding = parsed.label
    report.notes = parsed.notes
    report.unknown_columns = parsed.unknown_columns
    report.missing_columns = parsed.missing_columns
    if not parsed.rows:
        report.file_errors.append("会員の行がありません。見出し行の下に会員を1行ずつ入力してください。")
        return report
    org = app.org
    typed = [normalize_member_number(values.get("member_number", "")) for _, values in parsed.rows]
    length = common_number_length(
        org.member_number_length,
        await queries.member_number_lengths(app.db),
        [number for number in typed if number],
    )
    report.number_length = length
    report.rows = await anyio.to_thread.run_sync(
        lambda: [
            check_row(line, values, org=org, pad_to=length, standard=standard_forms)
            for line, values in parsed.rows
        ]
    )
    numbers = [row.clean["member_number"] for row in report.rows if row.clean.get("member_number")]
    emails = [row.clean["email"] for row in report.rows if row.clean.get("email")]
    taken_numbers = await queries.existing_numbers(app.db, numbers)
    taken_emails = await queries.existing_emails(app.db, emails)
    _mark_duplicates(report.rows, "member_number", "会員番号", {n: n for n in taken_numbers})
    _mark_duplicates(report.rows, "email", "メールアドレス", taken_emails)
    return report


async def import_members_file(
    context: AppContext,
    content: bytes,
    *,
    dry_run: bool = False,
    actor_id: int | None = None,
    filename: str = "",
    standard_forms: bool = False,
) -> ImportReport:
    """Check the file; unless dry_run, create every member in one transaction (or none on any error).
    Rows without an initial password get a generated one; every new member gets a letter waiting."""
    report = await check_content(
        context, content, dry_run=dry_run, filename=filename, standard_forms=standard_forms
    )
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
