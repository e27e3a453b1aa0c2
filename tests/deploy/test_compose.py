"""docker-compose.yml parses, and every backend the production settings need is wired to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _interpolate(value: object) -> str:
    """What compose would substitute for ${VAR:?msg} / ${VAR:-default} once secrets are set."""
    return re.sub(r"\$\{[^}]*\}", "s3cret-value-0123456789abcdef", str(value))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_service_is_present_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"api", "worker", "postgres", "redis", "milvus", "etcd", "minio", "vllm"}
    assert expected | {"embedding", "reranker", "vl"} <= set(services)
    for name, svc in services.items():
        assert "healthcheck" in svc and svc["healthcheck"]["test"], f"{name} has no health check"


@pytest.mark.parametrize("service", ["api", "worker"])
def test_kefu_env_points_at_the_other_services(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    env = services[service]["environment"]
    wiring = {
        "KEFU_DATABASE_URL": "postgres",
        "KEFU_MILVUS_URI": "milvus",
        "KEFU_REDIS_URL": "redis",
        "KEFU_CELERY_BROKER_URL": "redis",
        "KEFU_LLM_BASE_URL": "vllm",
        "KEFU_VL_BASE_URL": "vl",
        "KEFU_EMBEDDING_BASE_URL": "embedding",
        "KEFU_RERANKER_BASE_URL": "reranker",
    }
    for var, target in wiring.items():
        host = urlsplit(_interpolate(env[var])).hostname
        assert host == target, f"{service}: {var} points at {host}, not {target}"
        assert target in services
    deps = set(services[service].get("depends_on", {}))
    assert {"postgres", "redis", "milvus"} <= deps

    # The same environment must produce valid production settings (secrets filled in).
    for key, value in env.items():
        monkeypatch.setenv(key, _interpolate(value))
    settings = Settings()
    assert settings.environment == "production"
    assert not settings.is_embedded_db and settings.milvus.uri and settings.llm.base_url


def test_secrets_are_not_in_the_file(compose: dict[str, Any]) -> None:
    env = compose["services"]["api"]["environment"]
    assert env["KEFU_SECRET_KEY"].startswith("${")
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")


def test_vllm_serves_qwen3_with_the_tool_and_reasoning_parsers(compose: dict[str, Any]) -> None:
    svc = compose["services"]["vllm"]
    assert svc["image"].startswith("vllm/vllm-openai")
    args = [str(a) for a in svc["command"]]
    assert "Qwen3-32B" in args[args.index("--model") + 1]
    for flag in ("--enable-auto-tool-choice", "--enable-prefix-caching"):
        assert flag in args
    assert args[args.index("--tool-call-parser") + 1] == "hermes"
    assert args[args.index("--reasoning-parser") + 1] == "qwen3"
    assert args[args.index("--max-model-len") + 1] == "32768"
    served = args[args.index("--served-model-name") + 1]
    assert compose["services"]["api"]["environment"]["KEFU_LLM_MODEL"] == served


def test_embedding_and_reranker_are_served_beside_the_llm_on_one_gpu(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    env = services["api"]["environment"]
    shares = 0.0
    for name, model_var in (
        ("vllm", "KEFU_LLM_MODEL"),
        ("embedding", "KEFU_EMBEDDING_MODEL"),
        ("reranker", "KEFU_RERANKER_MODEL"),
    ):
        args = [str(a) for a in services[name]["command"]]
        assert services[name]["image"] == services["vllm"]["image"]
        assert args[args.index("--served-model-name") + 1] == env[model_var]
        shares += float(args[args.index("--gpu-memory-utilization") + 1])
        if name != "vllm":
            assert args[args.index("--runner") + 1] == "pooling"
    assert shares <= 0.92  # the three share one card, with room for CUDA contexts
    for service in ("api", "worker"):
        # kefu warms up by embedding: it waits for the model, not for the optional reranker.
        assert services[service]["depends_on"]["embedding"] == {"condition": "service_healthy"}
        assert "reranker" not in services[service]["depends_on"]
    assert env["KEFU_EMBEDDING_BACKEND"] == "openai" and env["KEFU_RERANKER"] == "http"
    assert int(env["KEFU_EMBEDDING_DIM"]) == 1024  # Qwen3-Embedding-0.6B's full dimension
