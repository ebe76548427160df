"""Landed migrations are frozen: a database that already applied one never sees an edit to it.

0010_articles_more.sql was edited after it had landed (4d6e3cf added an index), so every database made in
between lacked the index and new arrivals answered 500 after the upgrade (issue 24). This test holds each
landed file's SHA-256; a changed file fails the suite.
"""

from __future__ import annotations

import hashlib

from db.database import MIGRATIONS_DIR, migration_files

# Every migration on main, by name. Append a line when a migration lands; never change one.
LANDED = {
    "0001_foundation.sql": "2e3ef8c2866a3dd660618142f47a10340e3a01a6a21dee8ea756695bf458504f",
    "0003_profile_email_change.sql": "f3b3874e06bd678169ec1ea6896573c21aa390c4aaac31b5d7c62353d387503f",
    "0004_membership.sql": "3fcb6e42339db340b7d5370b74b080790cd458bffce472cee1b28093e3806acc",
    "0005_articles.sql": "71da3ab02563188a5348e688bb7f8c610273257a7d7721f6a64a2082ae832a99",
    "0006_digests.sql": "ec660052ffc4cce344e5226e6cb15d2e30d2aeb47f89546f669528fa7775cc9c",
    "0007_payments.sql": "24cba2f829f28e1f1831fba0e1c5ad2a0ff508196bdbf1f8921d7f47d0d1027b",
    "0008_contact_help.sql": "bf5e2492cbcac23b5650fe30253957db2d48c4d45c6c219339eedc4ca0b6b270",
    "0009_admin.sql": "f129c6fefc65ae9d4e75e36a2f6eaca1a7653fc7677ba6a6a68c089ca624520c",
    "0010_articles_more.sql": "a3458dd80ce1b99bab00d9f2a071d86cd83c3d0be87d335351c1171bbc5854f6",
    "0011_article_match_index.sql": "ef4dba685778555ca021d9fee5782d598d9fafc51439a0b7b6ebb66e333dd5f8",
    "0012_repair_schema.sql": "186911e5fcddcf529ca4714d4f95df4f583372709bdada4df6f67211d0a0c0c9",
    "0013_receipt_snapshot.sql": "73b70b7de899e2839948b75cfddc4ebb406cf0149d098d47c3001851d3cc14f3",
    "0014_payment_link_expiry.sql": "4032f22423a94f73da3564b7a788817c5d5cd3a148a2864608dab9c812e3d4aa",
    "0015_login_failures.sql": "d18ef7b6c38110e7614bbfcf702e56a9882971662ab97d7466bf17ee040c143e",
    "0016_paid_tier_name.sql": "0c511b522d4ace23b2dcaf1548f38bf97b998a55a919d242ffa885ad2b1ca9f6",
    "0025_app_card.sql": "c636a7d3699dab53f4707b307a0f8d6a3b388f66e57f4bba9e29be280fdc9941",
    "0026_connect.sql": "9ce9f7a984bb7ad8b3de71f6103afa55a5f1e9193c4ccba13a0ec687ef3a289e",
    "0020_event_registration.sql": "4a710efb01433da44190e079943cfa5807d461f9fc698d06951867c83ae82c16",
    "0019_announcements_reminders.sql": "c107f0a85fcc7db8553267704824f6e5449d97411349a6fef1b3723b796c1595",
    "0018_inquiries_and_tier_fees.sql": "0e97ab284fab9bb329d4fa7857f11b120cdf1430f4db2864e68169959cfc42cb",
    "0022_staff_role.sql": "f7226df4336c4988c8c1168fda803b3e3f0d8a171b29109c01822102f556ff23",
    "0023_passkeys_sign_ins.sql": "446fd127a36f9e5856f791dfdb939706b9ab55df32fc93a67711f0838b3f6487",
    "0027_mypage_cache.sql": "1aa3de1c63a8a7706bf5540b176559a9448c3a78726c026b39f0819ff0531c85",
    "0028_leases.sql": "4047ba4e5289f2f333761ab9f7dbac6c50f3a69ee0a7b5a7dd87bea444e48ccf",
    "0029_mypage_cache_stars.sql": "6e9e994caedec63be99ef440e256054dc6c0e25ee1ddca80e7641ee3ba0b6278",
}


def sha256_of(name: str) -> str:
    # Line endings normalized, so a checkout with CRLF line endings hashes the same.
    return hashlib.sha256((MIGRATIONS_DIR / name).read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def test_no_landed_migration_was_edited_renamed_or_removed():
    present = {path.name for _, path in migration_files()}
    problems = []
    for name, digest in LANDED.items():
        if name not in present:
            problems.append(f"{name} was removed or renamed")
        elif sha256_of(name) != digest:
            problems.append(f"{name} was edited")
    assert not problems, (
        f"{'; '.join(problems)}. A landed migration never changes: databases that already applied it would "
        "not get the change. Restore it and add a new migration (db/migrations/NNNN_name.sql with the next "
        "number; see 0012_repair_schema.sql for IF NOT EXISTS and add-column-if-missing)."
    )


def test_every_migration_is_recorded_as_landed():
    unrecorded = {path.name: sha256_of(path.name) for _, path in migration_files() if path.name not in LANDED}
    assert not unrecorded, (
        "New migrations: add them to LANDED in tests/unit/test_migrations_frozen.py once final: "
        + ", ".join(f'"{name}": "{digest}"' for name, digest in sorted(unrecorded.items()))
    )


def test_a_new_migration_is_numbered_above_every_landed_one():
    highest = max(int(name[:4]) for name in LANDED)
    low = [path.name for number, path in migration_files() if path.name not in LANDED and number <= highest]
    assert not low, (
        f"{', '.join(low)}: number it above {highest:04d}. A database already at version {highest} applies only "
        "migrations numbered above it (0003-0008 landing after 0009 left early databases without them)."
    )
