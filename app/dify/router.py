"""Dify's contracts: External Knowledge API, custom tools and API-based extension.

Every route answers errors as ``{"error_code", "error_msg"}`` (see ``app.dify.errors``) and
takes a kefu API key of role ``dify`` (or ``admin``) as its bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import RuntimeDep, SessionDep, SettingsDep
from app.dify import openapi, service
from app.dify.dependencies import DifyCaller
from app.dify.errors import DifyError
from app.dify.route import DifyRoute
from app.dify.schemas import (
    AskToolRequest,
    AskToolResponse,
    ExtensionRequest,
    ExternalDataParams,
    FeedbackToolRequest,
    ModerationInputParams,
    ModerationOutputParams,
    OrderToolRequest,
    RetrievalRequest,
    RetrievalResponse,
)
from app.feedback import service as feedback_service
from app.feedback.schemas import FeedbackOut
from app.moderation import filter_for

router = APIRouter(prefix="/dify", tags=["dify"], route_class=DifyRoute)


@router.post(
    "/retrieval",
    response_model=RetrievalResponse,
    summary="External Knowledge API (register http(s)://<host>/dify as the endpoint)",
)
async def retrieval(
    body: RetrievalRequest, _: DifyCaller, db_session: SessionDep, rt: RuntimeDep
) -> RetrievalResponse:
    records = await run_in_threadpool(
        service.retrieve, db_session=db_session, index=rt.index, body=body
    )
    return RetrievalResponse(records=records)


@router.get("/openapi.json", summary="OpenAPI document to import as a Dify custom tool")
async def tool_schema(settings: SettingsDep) -> dict[str, Any]:
    # Public, like any API description: it holds no secret, and Dify imports it by URL.
    return openapi.build(settings)


@router.post(
    "/tools/ask", response_model=AskToolResponse, summary="Ask the support agent (custom tool)"
)
async def ask_tool(body: AskToolRequest, key: DifyCaller, rt: RuntimeDep) -> AskToolResponse:
    return await service.ask(
        rt,
        key_id=key.id,
        question=body.question,
        user=body.user,
        customer_id=body.customer_id,
    )


@router.post(
    "/tools/feedback",
    response_model=FeedbackOut,
    summary="Rate an answer of the ask tool by its message_id (custom tool)",
)
def feedback_tool(
    body: FeedbackToolRequest, key: DifyCaller, db_session: SessionDep
) -> FeedbackOut:
    asker = service.dify_user(key_id=key.id, user=body.user)
    return feedback_service.rate(
        db_session=db_session,
        message_id=body.message_id,
        owns=lambda c: c.channel == service.CHANNEL and c.external_user_id == asker,
        body=body,
        source=service.CHANNEL,
    )


@router.post("/tools/order", summary="Look up an order (custom tool)")
async def order_tool(body: OrderToolRequest, _: DifyCaller, rt: RuntimeDep) -> dict[str, Any]:
    return await service.order(rt, customer_id=body.customer_id, order_id=body.order_id)


@router.post("/extension", summary="API-based extension (moderation, external data)")
async def extension(
    body: ExtensionRequest, _: DifyCaller, db_session: SessionDep, rt: RuntimeDep
) -> dict[str, Any]:
    if body.point == "ping":
        return {"result": "pong"}
    if body.point == "app.external_data_tool.query":
        params = ExternalDataParams.model_validate(body.params)
        return await run_in_threadpool(
            service.external_data, db_session=db_session, runtime=rt, params=params
        )
    if body.point == "app.moderation.input":
        word_filter = await run_in_threadpool(filter_for, rt.settings)
        return service.moderate_input(
            params=ModerationInputParams.model_validate(body.params),
            word_filter=word_filter,
            settings=rt.settings,
        )
    if body.point == "app.moderation.output":
        word_filter = await run_in_threadpool(filter_for, rt.settings)
        return service.moderate_output(
            params=ModerationOutputParams.model_validate(body.params), word_filter=word_filter
        )
    raise DifyError(400, 400, f"unknown extension point {body.point!r}")
