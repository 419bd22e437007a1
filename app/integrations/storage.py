"""Object storage for product images: Google Cloud Storage, or a folder on local disk (the
embedded default, served by the API under /media/<bucket>/<object>). The only module that
imports google.cloud.storage.

Objects are addressed by their image path "<bucket>/<object>", which is what the
storefront appends to https://storage.googleapis.com/ (contract §1.8 "Image paths").
With STORAGE_EMULATOR_HOST set, the GCS backend talks to that emulator without credentials.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

log = logging.getLogger(__name__)

# Object names we create: "<32 hex>-<sanitised file name>"; anything else is refused when
# served from disk, so a path can never leave the storage folder.
OBJECT_NAME_RE = re.compile(r"^[0-9a-f]{32}-[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
# Names are unique per upload, so browsers and CDNs may keep an image forever.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
DELETE_RETRY_SECONDS = 5.0


class StorageError(Exception):
    """The storage backend could not complete an operation."""


class ObjectStorage(Protocol):
    bucket: str

    def put(self, name: str, data: bytes, *, content_type: str) -> str:
        """Store a new object; return its image path "<bucket>/<name>"."""

    def get(self, image_path: str) -> bytes:
        """The object's bytes; StorageError if it cannot be read (missing included)."""

    def delete(self, image_path: str) -> bool:
        """Remove the object; True if it existed. A missing object is not an error."""


def split_image_path(image_path: str) -> tuple[str, str]:
    bucket, _, name = (image_path or "").partition("/")
    if not bucket or not name:
        raise StorageError(f"not an image path: {image_path!r}")
    return bucket, name


class LocalStorage:
    """Objects as files under `root/<bucket>/<name>`, written atomically."""

    def __init__(self, root: str | Path, bucket: str):
        self.root = Path(root)
        self.bucket = bucket

    def _path(self, bucket: str, name: str) -> Path:
        if not BUCKET_NAME_RE.match(bucket) or not OBJECT_NAME_RE.match(name):
            raise StorageError("invalid object name")
        return self.root / bucket / name

    def put(self, name: str, data: bytes, *, content_type: str) -> str:
        target = self._path(self.bucket, name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write {target.name}: {exc.__class__.__name__}") from exc
        return f"{self.bucket}/{name}"

    def file_path(self, image_path: str) -> Path:
        return self._path(*split_image_path(image_path))

    def get(self, image_path: str) -> bytes:
        try:
            return self.file_path(image_path).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {image_path}: {exc.__class__.__name__}") from exc

    def delete(self, image_path: str) -> bool:
        try:
            path = self.file_path(image_path)
        except StorageError:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {image_path}: {exc.__class__.__name__}") from exc
        return True


class GCSStorage:
    """A Google Cloud Storage bucket (or the emulator named by STORAGE_EMULATOR_HOST)."""

    def __init__(
        self,
        bucket: str,
        *,
        emulator_host: str | None = None,
        credentials_file: str | None = None,
        timeout: float = 30.0,
    ):
        from google.cloud import storage
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket = bucket
        self.timeout = timeout
        # The library retries for two minutes by default; an API request must not hang that
        # long. Removals are best effort and get the shorter budget.
        self._retry = DEFAULT_RETRY.with_timeout(timeout)
        self._delete_retry = DEFAULT_RETRY.with_timeout(min(timeout, DELETE_RETRY_SECONDS))
        try:
            if emulator_host:
                from google.auth.credentials import AnonymousCredentials

                endpoint = emulator_host if "://" in emulator_host else f"http://{emulator_host}"
                self._client = storage.Client(
                    project="local-emulator",
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": endpoint.rstrip("/")},
                )
            elif credentials_file:
                self._client = storage.Client.from_service_account_json(credentials_file)
            else:
                self._client = storage.Client()
        except Exception as exc:  # missing or unreadable credentials
            raise StorageError(
                f"cannot use Google Cloud Storage: {exc.__class__.__name__}"
            ) from exc

    def _blob(self, bucket: str, name: str):
        return self._client.bucket(bucket).blob(name)

    def put(self, name: str, data: bytes, *, content_type: str) -> str:
        from google.api_core import exceptions as gexc

        blob = self._blob(self.bucket, name)
        blob.cache_control = IMMUTABLE_CACHE_CONTROL
        try:
            # if_generation_match=0 (create only) makes the upload safe for the library to
            # retry on a dropped connection.
            blob.upload_from_string(
                data,
                content_type=content_type,
                timeout=self.timeout,
                if_generation_match=0,
                retry=self._retry,
            )
        except (gexc.GoogleAPIError, OSError, ValueError) as exc:
            raise StorageError(f"upload of {name} failed: {exc.__class__.__name__}") from exc
        return f"{self.bucket}/{name}"

    def get(self, image_path: str) -> bytes:
        from google.api_core import exceptions as gexc

        bucket, name = split_image_path(image_path)
        try:
            return self._blob(bucket, name).download_as_bytes(
                timeout=self.timeout, retry=self._retry
            )
        except (gexc.GoogleAPIError, OSError, ValueError) as exc:
            raise StorageError(
                f"download of {image_path} failed: {exc.__class__.__name__}"
            ) from exc

    def delete(self, image_path: str) -> bool:
        from google.api_core import exceptions as gexc

        bucket, name = split_image_path(image_path)
        try:
            self._blob(bucket, name).delete(timeout=self.timeout, retry=self._delete_retry)
        except gexc.NotFound:
            return False
        except (gexc.GoogleAPIError, OSError, ValueError) as exc:
            raise StorageError(
                f"deletion of {image_path} failed: {exc.__class__.__name__}"
            ) from exc
        return True


def build_storage(config) -> ObjectStorage:
    bucket = config["GOOGLE_CLOUD_STORAGE_BUCKET_NAME"]
    if config["STORAGE_BACKEND"] == "gcs":
        return GCSStorage(
            bucket,
            emulator_host=config.get("STORAGE_EMULATOR_HOST"),
            credentials_file=config.get("GOOGLE_APPLICATION_CREDENTIALS"),
            timeout=config.get("STORAGE_TIMEOUT_SECONDS", 30.0),
        )
    return LocalStorage(config["LOCAL_STORAGE_DIR"], bucket)


def get_storage(app: Flask | None = None) -> ObjectStorage:
    """The application's storage backend, built once per application."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("shop_storage")
    if storage is None:
        storage = build_storage(app.config)
        app.extensions["shop_storage"] = storage
    return storage


def delete_quietly(image_paths, *, storage: ObjectStorage | None = None) -> None:
    """Best-effort removal of objects no row refers to any more: a missing object or a
    storage failure is logged, never raised (the database change has already happened)."""
    paths = [path for path in image_paths if path]
    if not paths:
        return
    try:
        storage = storage or get_storage()
    except StorageError as exc:
        log.warning("orphaned images left in storage: %s (%s)", ", ".join(paths), exc)
        return
    for path in paths:
        try:
            storage.delete(path)
        except StorageError as exc:
            log.warning("orphaned image left in storage: %s (%s)", path, exc)
        except Exception:  # noqa: BLE001 - a cleanup failure must not fail the request
            log.exception("orphaned image left in storage: %s", path)
