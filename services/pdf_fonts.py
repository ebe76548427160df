"""Finding and embedding a Japanese font for the PDFs the app generates (receipts, letters)."""

from __future__ import annotations

import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

logger = logging.getLogger(__name__)

FONT_SETTING = "TSUDOI_PDF_FONT"  # Settings.pdf_font
FONT_FAMILY = "tsudoi-jp"

# pylopdf-fonts-jp ships Noto Sans JP (SIL OFL 1.1) as a plain data package, so a fresh
# machine gets a Japanese font from `pip install` alone, without root or apt.
_FONT_PACKAGE = "pylopdf_fonts_jp"
_FONT_PACKAGE_FILE = "NotoSansJP-Regular.otf"

# Debian's packages, for installs that prefer the system fonts (fonts-ipaexfont-gothic,
# fonts-noto-cjk). Index 0 of the Noto CJK collection is the Japanese face.
_SYSTEM_FONTS: tuple[tuple[Path, int], ...] = (
    (Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"), 0),
    (Path("/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf"), 0),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 0),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf"), 0),
)


class JapaneseFontNotFoundError(RuntimeError):
    """No usable Japanese font: PDFs cannot be generated."""


@dataclass(frozen=True, slots=True)
class FontSource:
    """A font file and, for a collection (.ttc), which face inside it to use."""

    path: Path
    collection_index: int = 0


def _packaged_font() -> Path | None:
    try:
        resource = importlib.resources.files(_FONT_PACKAGE).joinpath(_FONT_PACKAGE_FILE)
    except ModuleNotFoundError:
        return None
    # The package is installed as plain files (not zipped), so the resource is a real path.
    path = Path(str(resource))
    return path if path.is_file() else None


def find_japanese_font(configured: str = "") -> FontSource:
    """Return the Japanese font to embed: `configured` (TSUDOI_PDF_FONT), the packaged font, then system fonts."""
    configured = configured.strip()
    if configured:
        path = Path(configured).expanduser()
        if path.is_file():
            return FontSource(path)
        # Falling through keeps receipts downloadable; the log tells the admin the setting is wrong.
        logger.warning("%s=%s is not a file; using the bundled Japanese font instead", FONT_SETTING, path)
    packaged = _packaged_font()
    if packaged is not None:
        return FontSource(packaged)
    for path, index in _SYSTEM_FONTS:
        if path.is_file():
            return FontSource(path, index)
    raise JapaneseFontNotFoundError(
        "PDFを作成するための日本語フォントが見つかりません。"
        f"pylopdf-fonts-jp をインストールするか、環境変数 {FONT_SETTING} にフォントファイルのパスを指定してください。"
    )


def add_japanese_font(pdf: FPDF, family: str = FONT_FAMILY, *, font: str = "") -> str:
    """Embed the Japanese font (`font`: TSUDOI_PDF_FONT) into `pdf` (subset on output); returns its family name."""
    source = find_japanese_font(font)
    pdf.add_font(family, "", source.path, collection_font_number=source.collection_index)
    return family
