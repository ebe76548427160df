"""Queries on the taxonomy terms (regions, topics) and their closure table (every ancestor of a term)."""

from __future__ import annotations

import sqlite3

from db.database import Database

# ---------------------------------------------------------------- terms


async def all_terms(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM terms ORDER BY taxonomy, sort_order, name, id")


async def get_term(db: Database, term_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM terms WHERE id = ?", (term_id,))


async def term_by_slug(db: Database, taxonomy: str, slug: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM terms WHERE taxonomy = ? AND slug = ?", (taxonomy, slug))


async def slug_taken(db: Database, taxonomy: str, slug: str, *, except_id: int = 0) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM terms WHERE taxonomy = ? AND slug = ? AND id != ?", (taxonomy, slug, except_id)
    )
    return row is not None


async def term_usage(db: Database) -> dict[int, tuple[int, int, int]]:
    """Per term: (articles tagged with it, conditions choosing it, child terms), in one query."""
    rows = await db.fetchall(
        """
        SELECT t.id,
          (SELECT COUNT(*) FROM article_terms at WHERE at.term_id = t.id) AS articles,
          (SELECT COUNT(*) FROM condition_terms ct WHERE ct.term_id = t.id) AS conditions,
          (SELECT COUNT(*) FROM terms c WHERE c.parent_id = t.id) AS children
        FROM terms t
        """
    )
    return {int(r["id"]): (int(r["articles"]), int(r["conditions"]), int(r["children"])) for r in rows}


async def is_in_subtree(db: Database, root_id: int, term_id: int) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM term_closure WHERE ancestor_id = ? AND descendant_id = ?", (root_id, term_id)
    )
    return row is not None


async def create_term(
    db: Database, *, taxonomy: str, name: str, slug: str, parent_id: int | None, sort_order: int
) -> int:
    """Insert a term and its closure rows: itself, plus every ancestor of its parent."""
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "INSERT INTO terms (taxonomy, parent_id, name, slug, sort_order) VALUES (?, ?, ?, ?, ?)",
            (taxonomy, parent_id, name, slug, sort_order),
        )
        term_id = int(cursor.lastrowid or 0)
        await conn.execute(
            "INSERT INTO term_closure (ancestor_id, descendant_id) "
            "SELECT ancestor_id, ? FROM term_closure WHERE descendant_id = ? UNION SELECT ?, ?",
            (term_id, parent_id if parent_id is not None else -1, term_id, term_id),
        )
    return term_id


async def update_term(
    db: Database, term_id: int, *, name: str, slug: str, parent_id: int | None, sort_order: int
) -> None:
    """Rename or move a term; moving re-links its whole subtree under the new parent's ancestors.

    The caller has checked that the new parent is not inside the term's own subtree.
    """
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute("SELECT parent_id FROM terms WHERE id = ?", (term_id,))
        row = await cursor.fetchone()
        old_parent = row[0] if row else None
        await conn.execute(
            "UPDATE terms SET name = ?, slug = ?, parent_id = ?, sort_order = ? WHERE id = ?",
            (name, slug, parent_id, sort_order, term_id),
        )
        if old_parent == parent_id:
            return
        # Detach the subtree from every ancestor outside it, then attach it to the new parent's chain.
        await conn.execute(
            """
            DELETE FROM term_closure
            WHERE descendant_id IN (SELECT descendant_id FROM term_closure WHERE ancestor_id = :t)
              AND ancestor_id NOT IN (SELECT descendant_id FROM term_closure WHERE ancestor_id = :t)
            """,
            {"t": term_id},
        )
        if parent_id is not None:
            await conn.execute(
                """
                INSERT INTO term_closure (ancestor_id, descendant_id)
                SELECT above.ancestor_id, below.descendant_id
                FROM term_closure above CROSS JOIN term_closure below
                WHERE above.descendant_id = :p AND below.ancestor_id = :t
                """,
                {"p": parent_id, "t": term_id},
            )


async def delete_term(db: Database, term_id: int, *, move_to: int | None) -> None:
    """Delete a leaf term; its articles and conditions move to `move_to` first when one is given."""
    async with db.write() as conn:
        db.query_count += 1
        if move_to is not None:
            await conn.execute(
                "INSERT OR IGNORE INTO article_terms (article_id, term_id) "
                "SELECT article_id, ? FROM article_terms WHERE term_id = ?",
                (move_to, term_id),
            )
            await conn.execute(
                "INSERT OR IGNORE INTO condition_terms (condition_id, term_id) "
                "SELECT condition_id, ? FROM condition_terms WHERE term_id = ?",
                (move_to, term_id),
            )
        await conn.execute("DELETE FROM article_terms WHERE term_id = ?", (term_id,))
        await conn.execute("DELETE FROM condition_terms WHERE term_id = ?", (term_id,))
        await conn.execute(
            "DELETE FROM term_closure WHERE ancestor_id = ? OR descendant_id = ?", (term_id, term_id)
        )
        await conn.execute("DELETE FROM terms WHERE id = ?", (term_id,))


async def closure_pairs(db: Database) -> set[tuple[int, int]]:
    rows = await db.fetchall("SELECT ancestor_id, descendant_id FROM term_closure")
    return {(int(r[0]), int(r[1])) for r in rows}
