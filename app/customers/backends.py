"""Pick the business-data backend the settings name (``KEFU_BUSINESS_BACKEND``)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.customers.http import HttpBusinessData
from app.customers.source import BusinessData
from app.customers.sql import SqlBusinessData


def build_business_data(
    settings: Settings, *, session_factory: sessionmaker[Session]
) -> BusinessData:
    if settings.business.backend == "http":
        return HttpBusinessData(settings.business)
    return SqlBusinessData(session_factory)
