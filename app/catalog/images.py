"""Checking and cleaning uploaded product images.

An upload is judged by its content, never by its file name: it must be a JPEG, PNG or WebP
that Pillow decodes completely, within the size and pixel limits. It is then re-encoded in
the same format, which drops EXIF (GPS, camera serials), XMP and text chunks, and applies
the EXIF orientation first so the picture does not turn sideways once the tag is gone.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.utils import secure_filename

from app.catalog.errors import CatalogErrorCode
from app.core.errors import AppError

# Pillow format -> (file extension, content type)
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
INVALID_IMAGE_MESSAGE = "Invalid image file"
NO_IMAGE_MESSAGE = "No image provided"
MAX_STEM_LENGTH = 80


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][1]


def _invalid(message: str = INVALID_IMAGE_MESSAGE) -> AppError:
    return AppError(message, code=CatalogErrorCode.INVALID_IMAGE)


def _too_many_pixels(max_pixels: int) -> AppError:
    return AppError(
        f"Image dimensions are too large (at most {max_pixels} pixels)",
        code=CatalogErrorCode.IMAGE_TOO_LARGE,
    )


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data), formats=list(FORMATS))


def clean_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Validate `data` and return it re-encoded without metadata. Raises AppError (400)."""
    if not data:
        raise AppError(NO_IMAGE_MESSAGE, code=CatalogErrorCode.NO_IMAGE)
    if len(data) > max_bytes:
        raise AppError(
            f"Image file is too large (at most {max_bytes // (1024 * 1024) or 1} MB)",
            code=CatalogErrorCode.IMAGE_TOO_LARGE,
        )
    try:
        # Opening reads the header only; the pixel limit is checked before anything is decoded.
        probe = _open(data)
        image_format = probe.format
        width, height = probe.size
        if image_format not in FORMATS:
            raise _invalid()
        if width < 1 or height < 1:
            raise _invalid()
        if width * height > max_pixels:
            raise _too_many_pixels(max_pixels)
        probe.verify()  # structure and checksums, without decoding
        image = _open(data)
        image.load()  # full decode: a truncated file fails here
        clean = _reencode(image, image_format)
    except AppError:
        raise
    except Image.DecompressionBombError as exc:  # beyond Pillow's own limit
        raise _too_many_pixels(max_pixels) from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        TypeError,
        IndexError,
        struct.error,
    ) as exc:
        raise _invalid() from exc
    return clean


PNG_MODES = ("RGB", "RGBA", "L", "LA", "P", "1")


def _reencode(image: Image.Image, image_format: str) -> CleanImage:
    icc_profile = image.info.get("icc_profile")
    # A transparent colour lives in the metadata that is about to be dropped: move it into
    # an alpha channel first.
    has_transparency = "transparency" in image.info or "A" in image.getbands()
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
    elif image_format == "PNG":
        if image.mode not in PNG_MODES or (image.mode in ("P", "L", "RGB") and has_transparency):
            image = image.convert("RGBA" if has_transparency else "RGB")
    elif image.mode not in ("RGB", "RGBA") or (image.mode == "RGB" and has_transparency):
        image = image.convert("RGBA" if has_transparency else "RGB")
    image = ImageOps.exif_transpose(image)
    # Start from pixels only: nothing of the upload's metadata travels to the new file.
    image = image.copy()
    image.info = {}
    params: dict = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    if image_format == "JPEG":
        params.update(quality=85, optimize=True, progressive=True)
    elif image_format == "WEBP":
        params.update(quality=85, method=4)
    output = io.BytesIO()
    image.save(output, format=image_format, **params)
    return CleanImage(
        data=output.getvalue(), format=image_format, width=image.width, height=image.height
    )


def object_name(original_filename: str | None, extension: str) -> str:
    """`<32 hex>-<sanitised file name>` with the extension of the real format."""
    stem = (original_filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    stem = secure_filename(stem).strip("._-")
    stem = re.sub(r"[^A-Za-z0-9._-]", "", stem)[:MAX_STEM_LENGTH].strip("._-") or "image"
    return f"{uuid.uuid4().hex}-{stem}.{extension}"
