"""The A2A agent card of an assistant (`GET /.well-known/agent-card.json?assistant_id=`)."""

from __future__ import annotations

from typing import Any

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import (
    PROTOCOL_VERSION_0_3,
    PROTOCOL_VERSION_1_0,
    TransportProtocol,
)

from server.runs.assistants import Assistant

INPUT_MODES = ["text/plain", "application/json"]
OUTPUT_MODES = ["text/plain", "application/json"]


def agent_card(
    assistant: Assistant, *, base_url: str, version: str, bearer: bool
) -> dict[str, Any]:
    """Return the card as JSON: A2A 1.0 fields, with the v0.3 ones beside them.

    The endpoint speaks both versions (the SDK's dispatcher with its v0.3 layer), so the
    card lists one JSON-RPC interface per version at the same URL; `bearer` says the
    endpoint wants `Authorization: Bearer` (auth is on).
    """
    url = f"{base_url.rstrip('/')}/a2a/{assistant.assistant_id}"
    card = AgentCard(
        name=assistant.name,
        description=assistant.description or f"The {assistant.graph_id} workflow.",
        supported_interfaces=[
            AgentInterface(
                url=url,
                protocol_binding=TransportProtocol.JSONRPC,
                protocol_version=protocol,
            )
            for protocol in (PROTOCOL_VERSION_1_0, PROTOCOL_VERSION_0_3)
        ],
        version=version,
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=INPUT_MODES,
        default_output_modes=OUTPUT_MODES,
        skills=[
            AgentSkill(
                id=assistant.graph_id,
                name=assistant.name,
                description=assistant.description or assistant.graph_id,
                tags=[assistant.graph_id],
            )
        ],
    )
    if bearer:
        card.security_schemes["bearer"].CopyFrom(
            SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="bearer"))
        )
        card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList()}))
    return agent_card_to_dict(card)
