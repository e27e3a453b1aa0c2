"""Request and response bodies of Dify's contracts, as Dify sends and reads them.

External Knowledge API: ``api/services/external_knowledge_service.py``
(``fetch_external_knowledge_retrieval``). API-based extension:
``api/core/extension/api_based_extension_requestor.py`` with the points of
``api/core/moderation/api/api.py`` and ``api/core/external_data_tool/api/api.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.feedback.schemas import MessageFeedbackIn

# Dify's MetadataCondition: ``name`` is a str in current releases and a list of names in the
# first ones; ``value`` a string, a number or a list of strings, absent for empty/not empty.
ConditionValue = str | int | float | list[str] | None


class MetadataConditionItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: list[str]
    comparison_operator: str
    value: ConditionValue = None

    @field_validator("name", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MetadataCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    logical_operator: Literal["and", "or"] | None = "and"
    conditions: list[MetadataConditionItem] | None = None


class RetrievalSetting(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Dify sends its dataset's top_k, or null when it was never set.
    top_k: int | None = Field(None, ge=1, le=100)
    score_threshold: float | None = Field(None, ge=0, le=1)


class RetrievalRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    knowledge_id: str = Field(min_length=1, max_length=64)
    query: str = Field(max_length=4000)
    retrieval_setting: RetrievalSetting = Field(default_factory=RetrievalSetting)
    metadata_condition: MetadataCondition | None = None


class RecordMetadata(BaseModel):
    # Dify 1.13 drops records whose metadata has no document_id; a string, as Dify stores it.
    document_id: str
    document_name: str
    chunk_id: str
    knowledge_base: str
    heading_path: list[str]
    page: int | None
    kind: str
    lang: str


class Record(BaseModel):
    content: str
    score: float = Field(ge=0, le=1)
    title: str
    metadata: RecordMetadata


class RetrievalResponse(BaseModel):
    records: list[Record]


class ExtensionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    point: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class ExternalDataParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    app_id: str | None = None
    tool_variable: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None


class ModerationInputParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    app_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None


class ModerationOutputParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    app_id: str | None = None
    text: str = ""


class AskToolRequest(BaseModel):
    question: str = Field(min_length=1, description="The customer's question, as they asked it.")
    user: str = Field(
        min_length=1,
        max_length=100,
        description="The Dify end user's id (sys.user_id): one conversation per user.",
    )
    customer_id: str | None = Field(
        None,
        max_length=64,
        description="The logged-in customer's account id, when the Dify app knows it.",
    )


class ToolCitation(BaseModel):
    n: int
    source: str
    document_id: int
    heading_path: list[str]
    page: int | None
    excerpt: str


class AskToolResponse(BaseModel):
    answer: str
    conversation_id: str
    message_id: int | None = Field(
        None, description="The answer's id, to rate it with /dify/tools/feedback."
    )
    route: str
    handoff: bool
    citations: list[ToolCitation]


class OrderToolRequest(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64, description="The customer's account id.")
    order_id: str | None = Field(
        None,
        max_length=32,
        description="Order number, e.g. YF202611200137; empty to list the latest orders.",
    )


class FeedbackToolRequest(MessageFeedbackIn):
    user: str = Field(
        min_length=1, max_length=100, description="The Dify end user who asked (sys.user_id)."
    )
