"""How the fake reads a request and answers an error, as a FastAPI server does.

A body that is not JSON is 422 ``json_invalid`` (never 500); a missing body, field or query
parameter is 422 ``missing``; every error is ``{"detail": [{"type", "loc", "msg", "input",
...}]}`` with ``loc`` starting at ``body`` or ``query``. A missing or wrong bearer key is 401.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

M = TypeVar("M", bound=BaseModel)


class Refused(Exception):
    """An answer other than success, ready to send (raised by the readers below)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers=headers)


def _errors(where: str, exc: ValidationError) -> list[dict[str, Any]]:
    errors = exc.errors(include_url=False, include_context=False)
    return [{**e, "loc": [where, *e["loc"]]} for e in errors]


def check_key(request: Request, api_key: str | None) -> None:
    """Refuse (401) a request without ``Authorization: Bearer <key>``, or with another key
    than ``api_key`` (None: any key will do)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Refused(error(401, "Not authenticated", {"www-authenticate": "Bearer"}))
    if api_key is not None and not hmac.compare_digest(key.encode(), api_key.encode()):
        raise Refused(error(401, "Invalid API key", {"www-authenticate": "Bearer"}))


def read_query(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise Refused(error(422, _errors("query", exc))) from None


def parse_body(raw: bytes, model: type[M]) -> M:
    """The JSON ``raw`` as ``model``; 422 in FastAPI's words when it is not."""
    if not raw.strip():
        missing = {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
        raise Refused(error(422, [missing]))
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        position, reason = getattr(exc, "pos", 0), getattr(exc, "msg", str(exc))
        invalid = {
            "type": "json_invalid",
            "loc": ["body", position],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": reason},
        }
        raise Refused(error(422, [invalid])) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(error(422, _errors("body", exc))) from None


async def read_body(request: Request, model: type[M]) -> M:
    return parse_body(await request.body(), model)
