"""Routing: decide handoff, smalltalk, FAQ or agent for each message, before any LLM call."""

from app.routing.schemas import FaqEntry, RouteDecision
from app.routing.service import Router

__all__ = ["FaqEntry", "RouteDecision", "Router"]
