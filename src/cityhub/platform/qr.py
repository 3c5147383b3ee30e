"""QR codes, always the standard kind: `segno.make` would choose a Micro QR for short data,
which many phone and desk scanners do not read."""

from __future__ import annotations

import segno


def qr_code(data: str) -> segno.QRCode:
    """A standard QR code (never Micro QR) of the data, error correction M."""
    return segno.make_qr(data, error="m")


def qr_svg(data: str, *, title: str | None = None, scale: int = 1, inline: bool = True) -> str:
    """The data as an SVG QR code: inline in a page (no request, no script: the CSP holds),
    sized by its container, or a standalone document of `scale` pixels a module."""
    code = qr_code(data)
    if inline:
        return str(code.svg_inline(scale=scale, omitsize=True, title=title, svgclass="qr"))
    return str(code.svg_inline(scale=scale, title=title))
