"""The console's pages as the nav shows them: keyed by name, each with the roles that see it.

A page module registers nothing here at import time: this list is the one place that says
which pages exist and who sees them, so the nav and the access rules cannot disagree. A
page's route must use ``require_console_user`` with the same roles as its entry
(``roles_for(name)`` returns them).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.console.models import ConsoleRole

ADMIN = frozenset({ConsoleRole.ADMIN})
EVERYONE = frozenset({ConsoleRole.ADMIN, ConsoleRole.AGENT})


@dataclass(frozen=True)
class NavEntry:
    name: str  # also the i18n key "nav.<name>" and the template's active marker
    path: str
    roles: frozenset[ConsoleRole]


NAV: tuple[NavEntry, ...] = (
    NavEntry("knowledge", "/console/knowledge", ADMIN),
    NavEntry("faq", "/console/faq", ADMIN),
    NavEntry("conversations", "/console/conversations", EVERYONE),
    NavEntry("handoff", "/console/handoff", EVERYONE),
    NavEntry("analytics", "/console/analytics", ADMIN),
    NavEntry("settings", "/console/settings", ADMIN),
    NavEntry("users", "/console/users", ADMIN),
)


def visible(role: ConsoleRole) -> list[NavEntry]:
    return [entry for entry in NAV if role in entry.roles]


def roles_for(name: str) -> tuple[ConsoleRole, ...]:
    for entry in NAV:
        if entry.name == name:
            return tuple(sorted(entry.roles))
    raise KeyError(name)


def home(role: ConsoleRole) -> str:
    return visible(role)[0].path
