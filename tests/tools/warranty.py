"""An operator's own LangChain tools, as ``KEFU_EXTRA_TOOLS`` loads them
(``tests.tools.warranty:TOOLS``): a warranty lookup that needs the customer, injected, and
a tool an allowlist is expected to leave out."""

from __future__ import annotations

from typing import Annotated

from langchain_core.tools import InjectedToolArg, ToolException, tool

# (customer_id, serial) of every call, so a test sees whom the tool was run for.
CALLS: list[tuple[str, str]] = []
WARRANTIES = {("C10001", "SN12345"): "2027-03-31"}


@tool
def warranty_lookup(serial: str, customer_id: Annotated[str, InjectedToolArg]) -> dict[str, str]:
    """Look up the warranty of a device the logged-in customer bought, by its serial number."""
    CALLS.append((customer_id, serial))
    if serial == "SN-BROKEN":
        raise ToolException("the warranty system rejected the serial number; ask again")
    until = WARRANTIES.get((customer_id, serial))
    if until is None:
        return {"serial": serial, "covered": "no record on this account"}
    return {"serial": serial, "covered_until": until}


@tool
def store_hours(city: str) -> str:
    """Opening hours of the stores in a city."""
    return f"{city}: 10:00-22:00"


@tool
def delete_account(reason: str) -> str:
    """Not for a chatbot: an allowlist keeps it away from the model."""
    raise AssertionError("never allowed")


TOOLS = [warranty_lookup, store_hours, delete_account]


def make_tools() -> list[object]:
    return [warranty_lookup]


@tool
def chosen_customer(customer_id: str) -> str:
    """A tool that lets the model pick the customer: refused."""
    return customer_id


@tool
def needs_tenant(serial: str, tenant: Annotated[str, InjectedToolArg]) -> str:
    """A tool with an injected argument kefu cannot fill."""
    return serial
