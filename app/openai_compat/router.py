"""`/v1/chat/completions` and `/v1/models`: the support agent as a model named `kefu`, for
Dify's OpenAI-API-compatible provider and any OpenAI SDK (client key)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from app.auth.models import ApiKey
from app.conversation.models import Conversation
from app.core.errors import AppError, database_unavailable, error_body
from app.deps import ClientKey, RuntimeDep, SessionDep
from app.feedback import service as feedback_service
from app.feedback.schemas import FeedbackOut, MessageFeedbackIn
from app.openai_compat import images, service, streaming
from app.openai_compat.schemas import ChatCompletion, ChatCompletionRequest, ModelCard, ModelList

_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def _openai_error(
    status: int, code: str, message: str, details: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    """kefu's error envelope plus OpenAI's `type` and `param`, which OpenAI SDKs expose on
    their exceptions (`err.type`, `err.param`) beside `err.code`."""
    body = error_body(code, message, details)
    kind = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
    param = details.get("param") if isinstance(details, dict) else None
    body["error"] |= {"type": kind, "param": param}
    return JSONResponse(body, status_code=status, headers=headers)


class OpenAIRoute(APIRoute):
    """Errors of these routes (authentication included) in the OpenAI-flavoured envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except AppError as exc:
                return _openai_error(
                    exc.status_code, exc.code, exc.message, exc.details, exc.headers
                )
            except RequestValidationError as exc:
                details = [
                    {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type")}
                    for e in exc.errors()
                ]
                first = details[0] if details else {"loc": [], "msg": ""}
                field = ".".join(str(p) for p in first["loc"][1:])
                message = f"invalid request: {field}: {first['msg']}" if details else "invalid"
                return _openai_error(
                    422, "validation_error", message, {"param": field or None, "errors": details}
                )
            except Exception as exc:
                outage = database_unavailable(exc)
                if outage is None:
                    raise
                return _openai_error(
                    outage.status_code, outage.code, outage.message, None, outage.headers
                )

        return handle


async def private_key(key: ClientKey) -> ApiKey:
    service.require_private_key(key)
    return key


# A client key that is not a widget's: a widget key is public, copied from any page using it.
V1Key = Annotated[ApiKey, Depends(private_key)]

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=OpenAIRoute)


@router.get("/models", response_model=ModelList, summary="The one model: kefu")
async def list_models(_: V1Key) -> ModelList:
    return ModelList(data=[service.model_card()])


@router.get("/models/{model}", response_model=ModelCard, summary="Describe a model")
async def retrieve_model(model: str, _: V1Key) -> ModelCard:
    service.check_model(model)
    return service.model_card()


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="Ask the support agent (OpenAI chat-completions protocol)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionRequest, key: V1Key, rt: RuntimeDep
) -> ChatCompletion | Response:
    service.check_model(body.model)
    # Read (and refused) before anything is stored for the turn.
    pictures = await images.read(service.last_user(body), rt.settings.vision)
    req = await run_in_threadpool(service.prepare, rt, key, body, pictures)
    if not body.stream:
        return await service.complete(rt, req)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = await streaming.stream(rt, req, include_usage=include_usage)
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    summary="kefu extension: rate an answer by its id (`kefu.message_id` of a completion)",
)
def feedback(body: MessageFeedbackIn, key: V1Key, db_session: SessionDep) -> FeedbackOut:
    def owns(conv: Conversation) -> bool:
        return conv.channel == service.CHANNEL and (conv.external_user_id or "").startswith(
            service.owner_prefix(key.id)
        )

    return feedback_service.rate(
        db_session=db_session,
        message_id=body.message_id,
        owns=owns,
        body=body,
        source=service.CHANNEL,
    )
