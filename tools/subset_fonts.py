"""`python -m tools.subset_fonts`: (re)make the core cuts of DejaVu Sans the PDF renderer uses
for most invoices (see src/penvoice/documents/fonts/README.md).

fpdf2 parses every glyph of a font for each document (it subsets, in place, what it embeds),
so the 6,253-glyph DejaVu Sans costs tens of milliseconds per render and face. The core cut
keeps the scripts most invoices are written in and drops the OpenType layout tables fpdf2
never reads without text shaping; a document with any character outside it uses the full
font as before. The output is deterministic: the tests regenerate it and compare bytes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

FONTS = Path(__file__).resolve().parents[1] / "src" / "penvoice" / "documents" / "fonts"
CUTS = {
    "DejaVuSans.ttf": "DejaVuSans-core.ttf",
    "DejaVuSans-Bold.ttf": "DejaVuSans-Bold-core.ttf",
}
CORE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x024F),  # Latin-1 Supplement, Latin Extended-A and -B
    (0x0300, 0x036F),  # combining diacritical marks
    (0x0370, 0x03FF),  # Greek and Coptic
    (0x0400, 0x052F),  # Cyrillic and its supplement
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese, Welsh, ...)
    (0x2000, 0x206F),  # General Punctuation (dashes, quotes, ellipsis, spaces)
    (0x20A0, 0x20CF),  # currency symbols
    (0x2100, 0x214F),  # letterlike symbols (№, ™, ℮)
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators (−, ×, ≤)
    (0xFFFD, 0xFFFD),  # replacement character
)
DROPPED_TABLES = ["GSUB", "GPOS", "GDEF", "kern", "hdmx", "FFTM", "LTSH", "VDMX", "MATH"]


def core_codepoints() -> list[int]:
    return [code for low, high in CORE_RANGES for code in range(low, high + 1)]


def core_cut(source: Path) -> bytes:
    options = subset.Options()
    options.drop_tables += DROPPED_TABLES
    options.layout_features = []
    options.name_IDs = ["*"]  # keep the copyright and licence records
    options.notdef_outline = True
    options.recommended_glyphs = True
    font = TTFont(source, recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=core_codepoints())
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def main() -> int:
    for source, target in CUTS.items():
        data = core_cut(FONTS / source)
        (FONTS / target).write_bytes(data)
        print(f"{target}: {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
