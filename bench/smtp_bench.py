"""Benchmark: mails per second through the real delivery engine to a local SMTP server (aiosmtpd), with
the mail-rate limit lifted, over 1 connection and over N.

    .venv/bin/python bench/smtp_bench.py [--mails 5000] [--connections 4]

Every part runs in its own process, so the server never shares an event loop (or a core's time slice)
with the sender, and each sender's figures are its own:
- the server: aiosmtpd on loopback, counting messages, connections and each recipient's messages;
- seeding: `--mails` members straight into a temporary SQLite file (real migrations);
- the baseline (the transport's ceiling): one aiosmtplib connection sending one pre-built message
  `--mails` times, one after another — no database, no templates, no engine;
- the engine, twice: a 事務局からのお知らせ to every member (`announcements.build` then `deliver`: claim,
  compose, write, send, record each outcome), first with TSUDOI_SMTP_CONNECTIONS=1, then with
  `--connections`; the messages in flight (同時に送る数, `--concurrency`, by default the larger of 4 and
  `--connections`) are the same in both runs, so only the connections differ.

Prints mails/s of each, as ratios of the baseline, the gain of N connections over 1, and what the server
counted (every member exactly once; connections opened).
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
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.timestamps import to_db  # noqa: E402
from services.clock import FrozenClock  # noqa: E402
from services.context import build_context, open_context  # noqa: E402
from services.mailer import OutgoingMail, WireWriter  # noqa: E402
from services.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 12:00 JST
SENDER = "つどい学会 <office@tsudoi.example.jp>"
BODY = """2026年度の総会を、次のとおり開きます。会員の皆さまのご出席をお待ちしております。

- 日時：2026年12月12日(土) 14:00〜16:00
- 会場：本部 3階 大会議室（オンラインでも参加できます）
- 議題：2026年度の活動報告、2027年度の計画と予算

ご欠席の場合は、[お問い合わせ](https://portal.example.jp/contact)から委任状の送付をご依頼ください。
"""


def settings_for(database: Path, port: int = 0, connections: int = 1) -> Settings:
    return Settings(
        database=database,
        base_url="https://portal.example.jp",
        secret_key="bench-" + "k" * 40,
        scheduler=False,
        log_requests=False,
        mail_from=SENDER,
        smtp_url=f"smtp://127.0.0.1:{port}?starttls=off" if port else None,
        smtp_connections=connections,
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------------- the server


def serve() -> None:
    """aiosmtpd on loopback; prints its port, then answers 'stats' and 'reset' on stdin until EOF."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    lock = threading.Lock()
    counts: dict[str, Any] = {"messages": 0, "connections": 0, "recipients": Counter()}

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
            with lock:
                counts["messages"] += 1
                counts["recipients"].update(envelope.rcpt_tos)
            return "250 OK"

    class CountingController(Controller):
        def factory(self) -> SMTP:  # called once per accepted connection
            with lock:
                counts["connections"] += 1
            return super().factory()  # type: ignore[no-any-return,no-untyped-call]

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = CountingController(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    counts["connections"] = 0  # start() made one itself, to see the server answer
    print(json.dumps({"port": port}), flush=True)
    try:
        for line in sys.stdin:
            with lock:
                if line.strip() == "stats":
                    recipients: Counter[str] = counts["recipients"]
                    stats = {
                        "messages": counts["messages"],
                        "connections": counts["connections"],
                        "distinct": len(recipients),
                        "most_to_one": max(recipients.values(), default=0),
                    }
                    print(json.dumps(stats), flush=True)
                elif line.strip() == "reset":
                    counts.update(messages=0, connections=0, recipients=Counter())
                    print(json.dumps({}), flush=True)
    finally:
        controller.stop()


class ServerProcess:
    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 — our own interpreter and script
            [sys.executable, __file__, "--child", "server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self._read()["port"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ------------------------------------------------------------------------------------ child processes


async def seed(database: Path, members: int) -> None:
    app = await open_context(build_context(settings_for(database), FrozenClock(NOW)))
    stamp = to_db(NOW)
    async with app.db.write() as conn:
        await conn.executemany(
            "INSERT INTO members (id, member_number, family_name, given_name, email, prefecture, created_at, "
            "updated_at) VALUES (?, ?, '山田', '花子', ?, '東京都', ?, ?)",
            [(i, f"{i:06d}", f"member{i:06d}@example.jp", stamp, stamp) for i in range(1, members + 1)],
        )
    await app.update_org({"digest_rate_per_second": "0"})
    await app.db.close()


async def baseline(port: int, mails: int) -> dict[str, Any]:
    """The transport's ceiling: one connection, one pre-built message sent `mails` times in a row."""
    import aiosmtplib

    mail = OutgoingMail(
        to="member000001@example.jp",
        subject="【集い会員ポータル】2026年度 総会のご案内",
        text=BODY * 2,
        html="<p>" + BODY.replace("\n", "<br>") * 2 + "</p>",
    )
    message = WireWriter(SENDER).write(mail, now=NOW)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    for _ in range(mails):
        await client.sendmail(message.envelope_from, [message.to], message.data)
    elapsed = time.perf_counter() - started
    await client.quit()
    return {"send": elapsed, "mails": mails, "bytes": len(message.data), "peak_mb": peak_mb()}


async def engine(database: Path, port: int, connections: int, concurrency: int) -> dict[str, Any]:
    from services import announcements

    app = await open_context(build_context(settings_for(database, port, connections), FrozenClock(NOW)))
    await app.update_org({"digest_rate_per_second": "0", "digest_concurrency": str(concurrency)})
    form = announcements.AnnouncementForm(
        announcements.empty_values() | {"title": f"2026年度 総会のご案内（{connections}）", "body_md": BODY}
    )
    announcement_id = await announcements.create(app, form, actor_id=1)
    assert await announcements.send_now(app, announcement_id, actor_id=1, recipients=0)
    started = time.perf_counter()
    await announcements.build(app, announcement_id)
    built = time.perf_counter()
    report = await announcements.deliver(app, announcement_id)
    finished = time.perf_counter()
    counts = (await announcements.counts(app, [announcement_id]))[announcement_id]
    await app.db.close()
    return {
        "build": built - started,
        "send": finished - built,
        "mails": report.sent,
        "failed": report.failed,
        "retrying": report.retrying,
        "recorded_sent": counts.sent,
        "peak_mb": peak_mb(),
    }


def child(*args: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 — our own interpreter and script
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=5_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="messages in flight; default max(4, connections)"
    )
    parser.add_argument("--child", choices=["server", "seed", "baseline", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "server":
        serve()
        return
    if args.child == "seed":
        asyncio.run(seed(args.database, args.mails))
        print(json.dumps({}))
        return
    if args.child == "baseline":
        print(json.dumps(asyncio.run(baseline(args.port, args.mails))))
        return
    if args.child == "engine":
        print(json.dumps(asyncio.run(engine(args.database, args.port, args.connections, args.concurrency))))
        return

    concurrency = args.concurrency or max(4, args.connections)
    server = ServerProcess()
    runs: dict[str, dict[str, Any]] = {}
    seen: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="tsudoi-smtp-bench-") as folder:
            database = Path(folder) / "bench.sqlite3"
            common = ["--mails", str(args.mails), "--port", str(server.port)]
            t0 = time.perf_counter()
            child("--child", "seed", "--database", str(database), *common)
            seeded = time.perf_counter() - t0
            runs["baseline"] = child("--child", "baseline", *common)
            seen["baseline"] = server.ask("stats")
            for connections in sorted({1, args.connections}):
                server.ask("reset")
                name = f"engine, {connections} connection{'s' if connections > 1 else ''}"
                runs[name] = child(
                    "--child",
                    "engine",
                    "--database",
                    str(database),
                    "--connections",
                    str(connections),
                    *common,
                )
                seen[name] = server.ask("stats")
    finally:
        server.stop()

    base_rate = runs["baseline"]["mails"] / runs["baseline"]["send"]
    print(
        f"mails: {args.mails:,}  rate limit: lifted  messages in flight: {concurrency}  "
        f"server: aiosmtpd on loopback in its own process  seeding: {seeded:.1f} s"
    )
    rates: dict[str, float] = {}
    for name, result in runs.items():
        rate = result["mails"] / result["send"]
        rates[name] = rate
        got = seen[name]
        extra = (
            f"; build {result['build']:.2f} s, sent {result['mails']:,} (recorded {result['recorded_sent']:,}), "
            f"failed {result['failed']}, retrying {result['retrying']}"
            if name != "baseline"
            else f" ({result['bytes']:,}-byte message)"
        )
        print(
            f"{name:<24} send {result['send']:6.2f} s  {rate:7.0f} mails/s  ratio to baseline {rate / base_rate:.3f}  "
            f"peak {result['peak_mb']:.0f} MB{extra}"
        )
        print(
            f"{'':<24} the server got {got['messages']:,} messages for {got['distinct']:,} recipients "
            f"(at most {got['most_to_one']} to one) over {got['connections']} connection(s)"
        )
    one = rates["engine, 1 connection"]
    many = rates[f"engine, {args.connections} connections"] if args.connections > 1 else one
    print(f"ratio {args.connections} connection(s) / 1 connection, mails/s: {many / one:.3f}")
    print(f"target ≥ 200 mails/s with {args.connections} connection(s):", "met" if many >= 200 else "NOT met")


if __name__ == "__main__":
    main()
