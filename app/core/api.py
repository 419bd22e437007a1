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
        return data


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ShopParser()
