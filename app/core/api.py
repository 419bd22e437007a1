"""The flask-smorest Blueprint every domain uses: validation errors are 400 in our error
format, and a JSON body that is absent, not JSON, too large or not an object gets a clear
message instead of a generic one."""

from __future__ import annotations

import json

import flask_smorest
from flask import current_app
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from app.core.errors import AppError, ErrorCode


class ShopParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def load_querystring(self, req, schema):
        if not _storable_text([value for _, values in req.args.lists() for value in values]):
            raise AppError(
                "Text must not contain NUL characters or unpaired surrogates",
                code=ErrorCode.VALIDATION,
            )
        return super().load_querystring(req, schema)

    def _raw_load_json(self, req):
        raw = req.get_data(cache=True)
        if not raw or not raw.strip():
            raise AppError("No data provided", code=ErrorCode.NO_DATA)
        if len(raw) > current_app.config["MAX_JSON_BODY_BYTES"]:
            raise AppError("Request body too large", code=ErrorCode.PAYLOAD_TOO_LARGE, status=413)
        if not webargs_core.is_json(req.mimetype):
            raise AppError(
                "Request body must be JSON (Content-Type: application/json)",
                code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            data = webargs_core.parse_json(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AppError("Request body is not valid JSON", code=ErrorCode.INVALID_JSON) from exc
        except RecursionError as exc:
            raise AppError("Request body is nested too deeply", code=ErrorCode.INVALID_JSON) from exc
        if not isinstance(data, dict):
            raise AppError("Request body must be a JSON object", code=ErrorCode.VALIDATION)
        if not data:
            raise AppError("No data provided", code=ErrorCode.NO_DATA)
        if not _storable_text(data):
            raise AppError(
                "Text must not contain NUL characters or unpaired surrogates",
                code=ErrorCode.INVALID_JSON,
            )
        return data


def _storable_text(data) -> bool:
    """False when a string in the body cannot be stored: PostgreSQL text refuses NUL, and an
    unpaired surrogate (valid in JSON's \\u escapes) cannot be encoded as UTF-8."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ShopParser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, with one schema instance per endpoint: given a class, webargs
        would build a new instance on every request."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
