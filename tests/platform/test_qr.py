"""Every QR code the hub draws is a standard one: short data (a check-in code) would otherwise
come out as a Micro QR, which many phone and desk scanners do not read."""

from __future__ import annotations

import segno

from cityhub.platform.qr import qr_code, qr_svg


def test_short_codes_are_standard_qr_codes_not_micro() -> None:
    assert segno.make("K7Q2M9").is_micro  # what the hub must not draw
    code = qr_code("K7Q2M9")
    assert not code.is_micro and code.version == 1


def test_the_inline_svg_has_no_size_and_carries_its_title() -> None:
    svg = qr_svg("K7Q2M9", title="K7Q2M9")
    assert svg.startswith("<svg") and "width=" not in svg.split(">", 1)[0]
    assert "<title>K7Q2M9</title>" in svg
    standalone = qr_svg("K7Q2M9", scale=6, inline=False)
    assert 'width="174"' in standalone  # 21 modules and the quiet zone, 6 px each
