"""Benchmark: one 事務局からのお知らせ to 10,000 members through a local SMTP server (aiosmtpd), with the
mail-rate limit lifted.

    .venv/bin/python bench/announcement_bench.py [--members 10000] [--concurrency 4]

Each part runs in its own child process, so its time and peak memory are its own:
1. seeding the members straight into a temporary SQLite file (real migrations);
2. the baseline: the same number of pre-built messages handed to the same SMTP server through the same
   transport (`SmtpTransport`, one connection per message, as the app sends) with the same concurrency —
   what the server and transport allow, with no database and no templates;
3. the real announcement: create it, flip it to sending, build the delivery rows (`announcements.build`),
   then `announcements.deliver` (claim, compose both parts, send, record each outcome).

Prints build time, send time, mails/s and peak memory, and the announcement's figures as ratios of the
baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.timestamps import to_db  # noqa: E402
from services.clock import FrozenClock  # noqa: E402
from services.context import build_context, open_context  # noqa: E402
from services.mailer import OutgoingMail, SmtpTransport, build_message  # noqa: E402
from services.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 12:00 JST
BODY = """2026年度の総会を、次のとおり開きます。会員の皆さまのご出席をお待ちしております。

- 日時：2026年12月12日(土) 14:00〜16:00
- 会場：本部 3階 大会議室（オンラインでも参加できます）
- 議題：2026年度の活動報告、2027年度の計画と予算

ご欠席の場合は、[お問い合わせ](https://portal.example.jp/contact)から委任状の送付をご依頼ください。
"""


def settings_for(database: Path, port: int = 0) -> Settings:
    return Settings(
        database=database,
        base_url="https://portal.example.jp",
        secret_key="bench-" + "k" * 40,
        scheduler=False,
        log_requests=False,
        mail_from="つどい学会 <office@tsudoi.example.jp>",
        smtp_url=f"smtp://127.0.0.1:{port}?starttls=off" if port else None,
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------ child processes


async def seed(database: Path, members: int, concurrency: int) -> None:
    app = await open_context(build_context(settings_for(database), FrozenClock(NOW)))
    stamp = to_db(NOW)
    async with app.db.write() as conn:
        await conn.executemany(
            "INSERT INTO members (id, member_number, family_name, given_name, email, prefecture, created_at, "
            "updated_at) VALUES (?, ?, '山田', '花子', ?, '東京都', ?, ?)",
            [(i, f"{i:06d}", f"member{i:06d}@example.jp", stamp, stamp) for i in range(1, members + 1)],
        )
    await app.update_org({"digest_rate_per_second": "0", "digest_concurrency": str(concurrency)})
    await app.db.close()


async def baseline(port: int, members: int, concurrency: int) -> dict[str, Any]:
    """The ceiling: pre-built messages through the app's SMTP transport, same concurrency, nothing else."""
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}?starttls=off")
    mail = OutgoingMail(
        to="member000001@example.jp",
        subject="【集い会員ポータル】2026年度 総会のご案内",
        text=BODY * 3,
        html="<p>" + BODY.replace("\n", "<br>") * 3 + "</p>",
    )
    message = build_message(mail, sender="つどい学会 <office@tsudoi.example.jp>", now=NOW)
    left = members

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await transport.deliver(message)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"send": elapsed, "mails": members, "peak_mb": peak_mb()}


async def announcement(database: Path, port: int) -> dict[str, Any]:
    from db import announcements as announcement_db
    from services import announcements

    app = await open_context(build_context(settings_for(database, port), FrozenClock(NOW)))
    started = time.perf_counter()
    form = announcements.AnnouncementForm(
        announcements.empty_values() | {"title": "2026年度 総会のご案内", "body_md": BODY}
    )
    announcement_id = await announcements.create(app, form, actor_id=1)
    assert await announcements.send_now(app, announcement_id, actor_id=1, recipients=0)
    await announcements.build(app, announcement_id)
    built = time.perf_counter()
    report = await announcements.deliver(app, announcement_id)
    finished = time.perf_counter()
    row = await announcement_db.get(app.db, announcement_id)
    counts = (await announcements.counts(app, [announcement_id]))[announcement_id]
    await app.db.close()
    return {
        "build": built - started,
        "send": finished - built,
        "mails": report.sent,
        "failed": report.failed,
        "status": row["status"] if row else "",
        "recorded_sent": counts.sent,
        "peak_mb": peak_mb(),
    }


# --------------------------------------------------------------------------------------- the sink


class CountingSink:
    """A real SMTP server on loopback that counts what it accepts (and the recipients, for a check)."""

    def __init__(self) -> None:
        self.count = 0
        self.recipients: set[str] = set()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self._lock:
            self.count += 1
            self.recipients.update(envelope.rcpt_tos)
        return "250 OK"


def child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--child", choices=["seed", "baseline", "announcement"], help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "seed":
        asyncio.run(seed(args.database, args.members, args.concurrency))
        print(json.dumps({}))
        return
    if args.child == "baseline":
        print(json.dumps(asyncio.run(baseline(args.port, args.members, args.concurrency))))
        return
    if args.child == "announcement":
        print(json.dumps(asyncio.run(announcement(args.database, args.port))))
        return

    sink = CountingSink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory(prefix="tsudoi-announcement-bench-") as folder:
            database = Path(folder) / "bench.sqlite3"
            common = ["--members", str(args.members), "--concurrency", str(args.concurrency)]
            t0 = time.perf_counter()
            child("--child", "seed", "--database", str(database), *common)
            seeded = time.perf_counter() - t0
            base = child("--child", "baseline", "--port", str(port), *common)
            sink_after_baseline = sink.count
            sink.recipients.clear()
            real = child("--child", "announcement", "--database", str(database), "--port", str(port), *common)
            delivered = sink.count - sink_after_baseline
            distinct = len(sink.recipients)
    finally:
        controller.stop()

    base_rate = base["mails"] / base["send"]
    real_rate = real["mails"] / real["send"]
    total = real["build"] + real["send"]
    print(
        f"recipients: {args.members:,}  concurrency: {args.concurrency}  rate limit: lifted  SMTP: aiosmtpd on loopback"
    )
    print(f"seeding (child process): {seeded:.1f} s")
    print(
        f"baseline (pre-built messages, same transport and concurrency): {base['send']:.2f} s, "
        f"{base_rate:.0f} mails/s, peak {base['peak_mb']:.0f} MB"
    )
    print(
        f"announcement: build {real['build']:.2f} s + send {real['send']:.2f} s = {total:.2f} s, "
        f"{real_rate:.0f} mails/s, peak {real['peak_mb']:.0f} MB; status {real['status']}, "
        f"sent {real['mails']:,} (recorded {real['recorded_sent']:,}), failed {real['failed']}; "
        f"the server accepted {delivered:,} for {distinct:,} distinct recipients"
    )
    print(f"ratio announcement / baseline, mails/s: {real_rate / base_rate:.3f}")
    print(f"ratio announcement / baseline, send time: {real['send'] / base['send']:.3f}")
    print(f"ratio announcement / baseline, build+send time: {total / base['send']:.3f}")
    print(f"ratio announcement / baseline, peak memory: {real['peak_mb'] / base['peak_mb']:.3f}")


if __name__ == "__main__":
    main()
