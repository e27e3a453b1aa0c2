"""The route class of every ``/dify`` route: the caller authenticated before the body is
read, and every error, validation included, in Dify's format.

FastAPI parses a JSON body before it solves the dependencies, so with the key checked only
by a dependency, a wrong key and a malformed body got 422 instead of 403: Dify's
registration probe and its callers must learn that the key is wrong whatever they post."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.dify.dependencies import dify_key
from app.dify.errors import as_dify_error, dify_response


def _needs_key(dependant: Dependant) -> bool:
    return any(d.call is dify_key or _needs_key(d) for d in dependant.dependencies)


class DifyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        authenticated = _needs_key(self.dependant)  # False for the public OpenAPI document

        async def dify_handler(request: Request) -> Response:
            try:
                if authenticated:
                    await dify_key(request)
                return await handler(request)
            except Exception as exc:
                converted = as_dify_error(exc)
                if converted is None:
                    raise  # a bug: the app's handler logs it and answers 500
                return dify_response(converted)

        return dify_handler
