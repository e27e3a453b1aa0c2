"""Settings of the service's edges: the channels it answers on, the limits it enforces and
the operator's own tools. Kept apart from ``app.core.config`` (which composes them into
``Settings``) so that module stays small; the environment names are unchanged.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


class ChannelSettings(BaseSettings):
    model_config = _config("KEFU_")

    wechat_token: SecretStr | None = Field(None, description="WeChat OA server token.")
    wechat_encoding_aes_key: SecretStr | None = Field(None, description="WeChat EncodingAESKey.")
    wechat_app_id: str | None = Field(None, description="WeChat OA app id.")
    wechat_app_secret: SecretStr | None = Field(None, description="WeChat OA app secret.")
    wecom_token: SecretStr | None = Field(None, description="WeCom callback token.")
    wecom_encoding_aes_key: SecretStr | None = Field(None, description="WeCom EncodingAESKey.")
    wecom_corp_id: str | None = Field(None, description="WeCom corp id.")
    wecom_agent_id: str | None = Field(None, description="WeCom self-built app agent id.")
    wecom_secret: SecretStr | None = Field(None, description="WeCom app secret.")
    wechat_api_base: str = Field(
        "https://api.weixin.qq.com", description="WeChat OA API base URL (token, custom/send)."
    )
    wecom_api_base: str = Field(
        "https://qyapi.weixin.qq.com", description="WeCom API base URL (gettoken, message/send)."
    )
    wechat_reply_budget: float = Field(
        3.5,
        gt=0,
        le=4.5,
        description="Seconds a WeChat/WeCom callback waits for the answer before replying "
        "'success' and sending it later through the customer-service API (WeChat allows 5).",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="URL customers and Dify reach this service at (widget.js, Dify OpenAPI).",
    )
    widget_identity_max_age: int = Field(
        3600, ge=60, description="Seconds a signed widget identity stays valid."
    )
    sensitive_words_file: Path | None = Field(
        None,
        description="Sensitive-word list for moderation (one per line). Unset: "
        "prompts/sensitive_words.txt.",
    )


Names = Annotated[list[str], NoDecode]  # read from the environment as a comma list


class ToolSettings(BaseSettings):
    model_config = _config("KEFU_")

    extra_tools: Names = Field(
        default_factory=list,
        description="Your own LangChain tools for the agent: package.module:attr entries "
        "(a BaseTool, a list of them, or a callable returning either), comma-separated.",
    )
    extra_tools_allowed: Names = Field(
        default_factory=list, description="Names of those tools the agent may call."
    )

    @field_validator("extra_tools", "extra_tools_allowed", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class LimitSettings(BaseSettings):
    model_config = _config("KEFU_LIMIT_")

    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest JSON body accepted (uploads have their own)."
    )
    max_message_chars: int = Field(4000, ge=1, description="Longest customer message accepted.")
    default_rate_per_minute: int = Field(
        120, ge=1, description="Requests per minute per API key (widget keys: per visitor)."
    )
    ip_rate_per_minute: int = Field(
        60, ge=1, description="Requests per minute per client IP on the widget's public routes."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of your reverse proxies (JSON list); only through "
        "them is X-Forwarded-For believed when finding a client's IP.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value


class ConsoleSettings(BaseSettings):
    model_config = _config("KEFU_CONSOLE_")

    secure_cookies: bool | None = Field(
        None,
        description="Mark the console's session cookie Secure. Unset: Secure when the request "
        "came over https (behind a TLS proxy, set it true).",
    )
    session_hours: float = Field(
        12, gt=0, description="How long a console sign-in lasts before signing in again."
    )
    login_attempts_per_minute_per_account: int = Field(
        5, ge=1, description="Console sign-in attempts per minute for one account name."
    )
    login_attempts_per_minute_per_ip: int = Field(
        20, ge=1, description="Console sign-in attempts per minute from one client address."
    )
