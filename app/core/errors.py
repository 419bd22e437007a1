"""The one error format of the API, produced in one place.

Every non-2xx answer is `{"error": "<message>", "code": "<stable_code>"}`, with
`"fields": {"<field>": ["<message>", ...]}` added for validation errors. Services raise
AppError subclasses; routes never build error bodies themselves.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

TOKEN_ERROR_MESSAGE = "Missing or invalid token"
ROLE_ERROR_MESSAGE = "Unauthorized access"
UNEXPECTED_ERROR_MESSAGE = "An unexpected error occurred. Please try again later."


class ErrorCode(StrEnum):
    """Codes shared by every domain; domains add their own in their errors.py."""

    VALIDATION = "validation_error"
    NO_DATA = "no_data"
    INVALID_JSON = "invalid_json"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_TOKEN = "invalid_token"
    FORBIDDEN_ROLE = "forbidden_role"
    FORBIDDEN = "forbidden"
    CROSS_ORIGIN = "cross_origin_refused"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL = "internal_error"


class AppError(Exception):
    """An error with a status, a stable code and a message for people."""

    status = 400
    code: str = ErrorCode.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields
        self.extra = extra or {}

    def to_dict(self) -> dict:
        body = {"error": self.message, "code": str(self.code)}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


class NotFound(AppError):
    """An object that does not exist or does not belong to the caller (answered alike)."""

    code = ErrorCode.NOT_FOUND


class InvalidToken(AppError):
    status = 401
    code = ErrorCode.INVALID_TOKEN

    def __init__(self, message: str = TOKEN_ERROR_MESSAGE):
        super().__init__(message)


class RoleForbidden(AppError):
    status = 403
    code = ErrorCode.FORBIDDEN_ROLE

    def __init__(self, message: str = ROLE_ERROR_MESSAGE):
        super().__init__(message)


class ServiceUnavailable(AppError):
    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE


def error_response(error: AppError):
    response = jsonify(error.to_dict())
    response.status_code = error.status
    return response


def _field_message(field: str, message: str) -> str:
    """Say which field is wrong unless the message already names it."""
    words = [word for word in field.lower().replace(".", "_").split("_") if len(word) >= 4]
    lowered = message.lower()
    if any(word in lowered for word in words):
        return message
    return f"{field}: {message}"


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into {"a.b": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for sub_key, sub_value in _flatten(value, name).items():
                flat.setdefault(sub_key, []).extend(sub_value)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list | tuple):
                for sub_key, sub_value in _flatten(item, prefix).items():
                    flat.setdefault(sub_key, []).extend(sub_value)
            else:
                flat.setdefault(prefix or "_schema", []).append(str(item))
    else:
        flat.setdefault(prefix or "_schema", []).append(str(messages))
    return flat


def validation_error(messages) -> AppError:
    """Build the 400 answer for marshmallow/webargs messages (keyed by location)."""
    if isinstance(messages, dict) and len(messages) == 1:
        (only_key,) = messages
        if only_key in {"json", "query", "querystring", "form", "files", "view_args", "path"}:
            messages = messages[only_key]
    fields = _flatten(messages)
    schema_messages = fields.pop("_schema", [])
    if schema_messages and not fields:
        message = schema_messages[0]
        if message == "Invalid input type.":
            message = "Request body must be a JSON object"
        return AppError(message, code=ErrorCode.VALIDATION)
    if schema_messages:
        fields["_schema"] = schema_messages
    first_field = next(iter(fields))
    message = _field_message(first_field, fields[first_field][0])
    return AppError(message, code=ErrorCode.VALIDATION, fields=fields)


_HTTP_ERRORS = {
    400: ("Bad request", ErrorCode.VALIDATION),
    401: (TOKEN_ERROR_MESSAGE, ErrorCode.INVALID_TOKEN),
    403: ("Forbidden", ErrorCode.FORBIDDEN),
    404: ("Resource not found", ErrorCode.NOT_FOUND),
    405: ("Method not allowed", ErrorCode.METHOD_NOT_ALLOWED),
    413: ("Request body too large", ErrorCode.PAYLOAD_TOO_LARGE),
    415: ("Unsupported media type", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    429: ("Too many requests. Please try again later.", ErrorCode.RATE_LIMITED),
    503: ("Service temporarily unavailable. Please try again later.", ErrorCode.SERVICE_UNAVAILABLE),
}


def handle_http_exception(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    if exc.code in (400, 422) and ("messages" in data or "errors" in data):
        error = validation_error(data.get("messages") or data.get("errors"))
    else:
        message, code = _HTTP_ERRORS.get(exc.code or 500, (exc.description or exc.name, None))
        limit = getattr(exc, "limit", None)
        if exc.code == 429 and getattr(limit, "error_message", None):
            message = exc.description  # the route's own words for its limit
        if exc.code == 400 and exc.description and "JSON" in exc.description:
            message, code = "Request body is not valid JSON", ErrorCode.INVALID_JSON
        error = AppError(
            message,
            code=code or (ErrorCode.INTERNAL if (exc.code or 500) >= 500 else ErrorCode.VALIDATION),
            status=exc.code if exc.code != 422 else 400,
        )
    response = error_response(error)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if exc.code == 429:
        # Flask-Limiter's own headers (Retry-After) ride on the exception's response.
        limit_response = exc.get_response()
        for header in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            if header in limit_response.headers:
                response.headers[header] = limit_response.headers[header]
    return response


def handle_unexpected(exc: Exception):
    log.exception("unhandled error")
    return error_response(AppError(UNEXPECTED_ERROR_MESSAGE, code=ErrorCode.INTERNAL, status=500))


def register_error_handlers(app: Flask) -> None:
    """Must run after api.init_app(): it replaces flask-smorest's HTTPException handler."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    app.register_error_handler(AppError, error_response)
    app.register_error_handler(HTTPException, handle_http_exception)

    def handle_database_down(exc: DBAPIError):
        if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
            log.error("database unavailable: %s", exc.__class__.__name__)
            return error_response(
                ServiceUnavailable("Service temporarily unavailable. Please try again later.")
            )
        return handle_unexpected(exc)

    app.register_error_handler(DBAPIError, handle_database_down)
    app.register_error_handler(Exception, handle_unexpected)
