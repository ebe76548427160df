"""The `litestar tsudoi …` commands (demo, create-admin, import-members, backup, restore, replica-config,
doctor, reset-admin-mfa, send-digests, send-reminders, add-oidc-client), registered by app.py as a Litestar CLI
plugin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import click
from click import Group
from litestar.plugins import CLIPluginProtocol

from services.context import AppContext, build_context, open_context
from services.settings import get_settings


def _run(job: Callable[[AppContext], Awaitable[int]]) -> None:
    """Run one CLI job against the configured database, then exit with its code."""

    async def main() -> int:
        context = await open_context(build_context(get_settings()))
        try:
            return await job(context)
        finally:
            await context.close()

    raise SystemExit(asyncio.run(main()))


@click.group(name="tsudoi", help="Tsudoi の運用コマンド")
def tsudoi_cli() -> None:
    pass


@tsudoi_cli.command(name="demo", help="Load demo data (idempotent) and print the demo logins.")
def demo_command() -> None:
    from services.demo import load_demo

    async def job(context: AppContext) -> int:
        for line in await load_demo(context):
            click.echo(line)
        return 0

    _run(job)


@tsudoi_cli.command(name="create-admin", help="Create an admin account.")
@click.option("--member-number", prompt="管理者のログインID（数字）")
@click.option("--email", prompt="メールアドレス")
@click.option("--password", prompt="パスワード", hide_input=True, confirmation_prompt=True)
def create_admin_command(member_number: str, email: str, password: str) -> None:
    from services.accounts import AccountError, create_admin

    async def job(context: AppContext) -> int:
        try:
            await create_admin(context, member_number=member_number, email=email, password=password)
        except AccountError as error:
            click.echo(str(error), err=True)
            return 1
        click.echo(f"管理者 {member_number} を作成しました。")
        return 0

    _run(job)


@tsudoi_cli.command(name="import-members", help="Import members from a CSV or .xlsx file (all or nothing).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and write nothing.")
@click.option(
    "--standard-forms",
    is_flag=True,
    help="Replace name variants (髙→高, 﨑→崎) with their standard forms (the guide's character rule).",
)
def import_members_command(file: Path, dry_run: bool, standard_forms: bool) -> None:
    from services.member_import import import_members_file

    content = file.read_bytes()

    async def job(context: AppContext) -> int:
        report = await import_members_file(
            context, content, dry_run=dry_run, filename=file.name, standard_forms=standard_forms
        )
        for line in report.lines():
            click.echo(line)
        return 0 if report.ok else 1

    _run(job)


@tsudoi_cli.command(name="backup", help="Write a consistent copy of the database to DEST.")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(dest: Path) -> None:
    from services.backup import cli_backup

    async def job(context: AppContext) -> int:
        size = await cli_backup(context, dest)
        click.echo(f"バックアップを {dest} に保存しました（{size:,} バイト、整合性チェック済み）。")
        return 0

    _run(job)


@tsudoi_cli.command(
    name="restore", help="Replace the database with a backup or the replica (stop the app first)."
)
@click.argument("source", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--from-replica", is_flag=True, help="Restore from the Litestream replica (TSUDOI_REPLICA_URL)."
)
@click.option(
    "--timestamp", "timestamp_text", default="", help="With --from-replica: as it was at this ISO time."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(source: Path | None, from_replica: bool, timestamp_text: str, yes: bool) -> None:
    import secrets

    from services import replication
    from services.backup import RestoreError, restore
    from services.serving_lock import DataFolderBusy, ServingLock

    settings = get_settings()
    database = settings.database
    if from_replica == (source is not None) or (timestamp_text and not from_replica):
        click.echo(
            "復元元を1つ指定してください: バックアップのファイル、または --from-replica（--timestamp はこちらだけ）。",
            err=True,
        )
        raise SystemExit(2)
    at = None
    try:
        if from_replica and timestamp_text:
            at = replication.parse_timestamp(timestamp_text, settings.tz)
    except replication.ReplicaError as error:
        click.echo(str(error), err=True)
        raise SystemExit(2) from None
    lock = ServingLock(database.parent, exclusive=True)
    try:
        lock.acquire()
    except DataFolderBusy:
        click.echo(
            f"アプリが {database} を使って動いているため、復元できません。"
            "アプリを止めてから（例: systemctl stop tsudoi）もう一度実行してください。",
            err=True,
        )
        raise SystemExit(1) from None
    fetched: Path | None = None
    try:
        if replication.daemon_answers(settings):
            raise RestoreError(
                f"Litestream が {database} を複製中のため、復元できません。"
                "止めてから（例: systemctl stop tsudoi-litestream）もう一度実行してください。"
            )
        if from_replica:
            point = f"{at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S} 時点" if at else "最新"
            origin = f"複製先 {replication.display_url(settings.replica_url)} の{point}"
        else:
            origin = str(source)
        if not yes:
            click.confirm(
                f"{database} を {origin} の内容で置き換えます。よろしいですか？", abort=True, default=False
            )
        if from_replica:
            fetched = database.parent / "tmp" / f"replica-restore-{secrets.token_hex(6)}.sqlite3"
            replication.fetch_replica(settings, fetched, at)
        restore_from = fetched if fetched is not None else source
        assert restore_from is not None
        safety = restore(restore_from, database)
        replication.forget_position(database)
    except (RestoreError, replication.ReplicaError) as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    finally:
        if fetched is not None:
            replication.remove_sqlite_files(fetched)
        lock.release()
    if safety is not None:
        click.echo(f"置き換える前のデータを {safety} に保存しました。")
    click.echo(
        f"{origin} から復元しました。アプリ{'と Litestream ' if settings.replication else ''}を起動してください。"
    )


@tsudoi_cli.command(
    name="replica-config", help="Write Litestream's config for TSUDOI_REPLICA_URL and print it."
)
def replica_config_command() -> None:
    from services import replication

    settings = get_settings()
    try:
        path = replication.write_config(settings)
    except replication.ReplicaError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    click.echo(path.read_text(encoding="utf-8"), nl=False)
    click.echo(
        f"# {path} に書きました。litestream replicate -config {path.resolve()} で複製を始めます。", err=True
    )


@tsudoi_cli.command(name="doctor", help="Check whether this install is ready for members (exit 1 if not).")
def doctor_command() -> None:
    from services.doctor import report_lines, run_checks

    async def job(context: AppContext) -> int:
        results = await run_checks(context)
        for line in report_lines(results):
            click.echo(line)
        return 0 if all(check.ok for check in results) else 1

    _run(job)


@tsudoi_cli.command(
    name="reset-admin-mfa",
    help="Forget an admin's second factor (a lost phone); the next login enrols again.",
)
@click.option("--member-number", prompt="管理者のログインID（数字）")
def reset_admin_mfa_command(member_number: str) -> None:
    from db import members as member_queries
    from services.admin_mfa import reset

    async def job(context: AppContext) -> int:
        member = await member_queries.get_by_number(context.db, member_number.strip())
        if member is None or member["role"] != "admin":
            click.echo(f"管理者 {member_number} が見つかりません。", err=True)
            return 1
        await reset(context, int(member["id"]))
        click.echo(
            f"管理者 {member_number} の二段階認証を解除しました。次回のログインで登録し直してください。"
        )
        return 0

    _run(job)


@tsudoi_cli.command(name="send-digests", help="Send the digest due at --at (default: now), exactly once.")
@click.option("--kind", type=click.Choice(["weekly", "daily"]), required=True)
@click.option("--at", "at_text", default="", help="ISO time (org time zone if no offset).")
@click.option("--dry-run", is_flag=True, help="Print who would get what; send and record nothing.")
def send_digests_command(kind: str, at_text: str, dry_run: bool) -> None:
    from services.digests import cli_send_digests

    async def job(context: AppContext) -> int:
        return await cli_send_digests(context, kind, at_text, dry_run=dry_run, echo=click.echo)

    _run(job)


@tsudoi_cli.command(
    name="add-oidc-client", help="Register an OpenID Connect client; prints its id (and secret)."
)
@click.option("--name", required=True, help="The service's name, shown to members on the consent page.")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact redirect URI (repeatable)."
)
@click.option(
    "--post-logout-redirect-uri", "logout_uris", multiple=True, help="Where to return after logout."
)
@click.option("--public", "is_public", is_flag=True, help="A public client (no secret; PKCE S256 required).")
@click.option("--refresh-tokens", is_flag=True, help="Also issue refresh tokens.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["profile", "email", "membership"]),
    help="Claims the client may ask for (default: all). openid is always included.",
)
def add_oidc_client_command(
    name: str,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    is_public: bool,
    refresh_tokens: bool,
    scopes: tuple[str, ...],
) -> None:
    from services.oidc import clients

    async def job(context: AppContext) -> int:
        clean, errors = clients.validate(
            {
                "name": name,
                "redirect_uris": "\n".join(redirect_uris),
                "post_logout_redirect_uris": "\n".join(logout_uris),
                "is_public": is_public,
                "refresh_tokens": refresh_tokens,
                "scopes": list(scopes) or ["profile", "email", "membership"],
            }
        )
        if errors:
            for message in errors.values():
                click.echo(message, err=True)
            return 2
        new_client = await clients.register(context, clean, actor_id=None)
        click.echo(f"client_id: {new_client.client_id}")
        if new_client.secret:
            click.echo(f"client_secret: {new_client.secret}")
        click.echo(f"issuer: {context.settings.base_url.rstrip('/')}")
        return 0

    _run(job)


@tsudoi_cli.command(
    name="send-reminders", help="Send the fee reminders due at --at (default: now), each once."
)
@click.option("--at", "at_text", default="", help="ISO time (org time zone if no offset).")
@click.option("--dry-run", is_flag=True, help="Print who would get which reminder; send and record nothing.")
def send_reminders_command(at_text: str, dry_run: bool) -> None:
    from services.fee_reminders import cli_send_reminders

    async def job(context: AppContext) -> int:
        return await cli_send_reminders(context, at_text, dry_run=dry_run, echo=click.echo)

    _run(job)


class TsudoiCLI(CLIPluginProtocol):
    def on_cli_init(self, cli: Group) -> None:
        cli.add_command(tsudoi_cli)
