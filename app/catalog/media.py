"""Serves product images stored on local disk (STORAGE_BACKEND=local, the embedded default)
at /media/<bucket>/<object>. With Google Cloud Storage the images are served by the bucket
and this path answers 404."""

from __future__ import annotations

from flask import Blueprint, send_file

from app.core.errors import NotFound
from app.integrations.storage import LocalStorage, StorageError, get_storage

media_blp = Blueprint("media", __name__, url_prefix="/media")


def _not_found() -> NotFound:
    return NotFound("Resource not found", status=404)


CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Object names are unique per upload, so a stored image never changes.
ONE_YEAR = 365 * 24 * 3600


@media_blp.get("/<string:bucket>/<string:object_name>")
def serve_image(bucket: str, object_name: str):
    """Send a stored product image."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        raise _not_found()
    try:
        path = storage.file_path(f"{bucket}/{object_name}")
    except StorageError:
        raise _not_found() from None
    mimetype = CONTENT_TYPES.get(object_name.rsplit(".", 1)[-1].lower())
    if mimetype is None or not path.is_file():
        raise _not_found()
    response = send_file(path, mimetype=mimetype, max_age=ONE_YEAR, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
