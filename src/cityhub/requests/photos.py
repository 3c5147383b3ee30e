"""Photos of a request: checked for size and type by decoding them (never by the name or the
declared type), stripped of location metadata unless the resident shares it, stored in the
data folder."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from cityhub.platform.errors import PayloadTooLarge, Unprocessable

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTOS = 3
MAX_PIXELS = 40_000_000
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
GPS_IFD = 0x8825
# What a report with photos may weigh at most: the body limit of the routes that take them
# (each photo is then checked on its own, so that the answer names it).
UPLOAD_BODY_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + 64 * 1024
UPLOAD_ROUTES = (
    (re.compile(r"^/v1/cities/[^/]+/requests$"), UPLOAD_BODY_BYTES),
    (re.compile(r"^/open311/v2/[^/]+/requests(\.json|\.xml)?$"), UPLOAD_BODY_BYTES),
    (re.compile(r"^/c/[^/]+/requests/new$"), UPLOAD_BODY_BYTES),
)


@dataclass(frozen=True)
class Photo:
    """A checked photo, ready to store."""

    data: bytes
    content_type: str
    extension: str
    sha256: str
    location_kept: bool
    public_id: str


def check_count(count: int) -> None:
    """At most `MAX_PHOTOS` photos a report."""
    if count > MAX_PHOTOS:
        raise Unprocessable(
            f"at most {MAX_PHOTOS} photos a report", code="too_many_photos", field="photos"
        )


def prepare(data: bytes, *, field: str, keep_location: bool) -> Photo:
    """The photo if it is a JPEG, PNG or WebP image under the limits (413 or 422 naming the
    field otherwise), with its GPS metadata removed unless `keep_location`."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLarge(
            f"a photo must not exceed {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
            code="photo_too_large",
            field=field,
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise Unprocessable(
            "not an image: send a JPEG, PNG or WebP photo", code="photo_type", field=field
        ) from None
    if kind not in FORMATS:
        raise Unprocessable(
            f"{kind or 'this'} images are not taken: send a JPEG, PNG or WebP photo",
            code="photo_type",
            field=field,
        )
    if width * height > MAX_PIXELS:
        raise Unprocessable("the photo has too many pixels", code="photo_too_large", field=field)
    content_type, extension = FORMATS[kind]
    if not keep_location:
        data = _without_location(data, kind, field)
    return Photo(
        data=data,
        content_type=content_type,
        extension=extension,
        sha256=hashlib.sha256(data).hexdigest(),
        location_kept=keep_location,
        public_id=f"ph_{secrets.token_hex(10)}",
    )


def _without_location(data: bytes, kind: str, field: str) -> bytes:
    """The image written anew with its EXIF minus the GPS block (and no XMP, which can carry
    a location too)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            if GPS_IFD in exif:
                del exif[GPS_IFD]
            out = io.BytesIO()
            options: dict[str, object] = {"exif": exif.tobytes()}
            icc = image.info.get("icc_profile")
            if icc:
                options["icc_profile"] = icc
            if kind == "JPEG":
                options.update(quality=92, subsampling="keep")
            elif kind == "WEBP":
                options.update(quality=92)
            image.save(out, format=kind, **options)
    except (OSError, ValueError, SyntaxError):
        raise Unprocessable("the photo could not be read", code="photo_type", field=field) from None
    return out.getvalue()


def folder(data_dir: Path, city_id: int) -> Path:
    """Where a city's request photos are kept."""
    return data_dir / "requests" / str(city_id)


def store(data_dir: Path, city_id: int, photo: Photo) -> str:
    """Write the photo (after everything else was checked); its path under the data folder."""
    target = folder(data_dir, city_id)
    target.mkdir(parents=True, exist_ok=True)
    name = f"{photo.public_id}.{photo.extension}"
    (target / name).write_bytes(photo.data)
    return f"requests/{city_id}/{name}"
