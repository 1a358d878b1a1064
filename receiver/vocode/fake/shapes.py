"""The fake's answers, in the official SDK's shapes (``vocode-api`` 0.0.48).

Records are plain dicts kept by :mod:`.state`; these functions turn them into what the SDK
parses: a ``Call`` (create, get, end) carries the whole ``Agent`` (``Prompt``, typed voice
and actions, ``Webhook``) and its times as ISO strings; a ``NormalizedCall`` (the items of
``/v1/calls/list``) carries ids instead of objects and its times as epoch seconds. Every
object has ``id`` and ``user_id``; every enum value is one the SDK names.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from receiver.vocode.fake.requests import AGENT_SCALARS, AgentParams, CreateCallBody

USER_ID = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"  # the fake's one account
SEED_AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"  # an agent every fake starts with
SEED_PROMPT = "You are Alex from Example Dental. Confirm ${patient_name}'s appointment."


def new_id() -> str:
    return str(uuid.uuid4())


def _owned(value: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """``value`` as a stored object: its fields, with an ``id`` and the account's ``user_id``."""
    return {**defaults, **value, "id": value.get("id") or new_id(), "user_id": USER_ID}


def _prompt(prompt: Any) -> dict[str, Any]:
    if isinstance(prompt, str):  # a prompt id
        return {"id": prompt, "user_id": USER_ID, "content": None}
    fields = prompt.model_dump(exclude_none=True)
    template = fields.get("prompt_template")
    if template is not None:
        template = template if isinstance(template, dict) else {"id": template}
        fields["prompt_template"] = _owned(template, required_context_keys=[])
    return _owned(fields)


# The SDK 0.0.48 drops the ``type`` of a voice or an action nested in an agent (it dumps
# nested models without their defaults): such a one is read by the fields it has.
_PLAY_HT = {"api_user_id", "version", "speed", "quality", "temperature", "top_p",
            "text_guidance", "voice_guidance", "experimental_remove_silence"}  # fmt: skip


def _voice_type(voice: dict[str, Any]) -> str:
    if "voice_name" in voice:
        return "voice_azure"
    if "speaker" in voice:
        return "voice_rime"
    if _PLAY_HT & set(voice):
        return "voice_play_ht"
    if voice.get("voice_id", "joe") == "joe":
        return "voice_vocode"
    return "voice_eleven_labs"


def _action_type(action: dict[str, Any]) -> str:
    config = action.get("config") or {}
    if "url" in config:
        return "action_external"
    if "place_primary_on_hold" in config:
        return "action_add_to_conference"
    return "action_transfer_call" if "phone_number" in config else "action_end_conversation"


def _voice(voice: Any) -> dict[str, Any]:
    if isinstance(voice, dict):
        return _owned(voice, type=_voice_type(voice))
    return _owned({"id": voice} if voice else {}, type="voice_vocode", voice_id="joe")


def _action(action: Any) -> dict[str, Any]:
    if isinstance(action, dict):
        return _owned(action, type=_action_type(action))
    return _owned({"id": action}, type="action_end_conversation")  # the fake keeps no actions


def new_agent(params: AgentParams | None, agent_id: str | None = None) -> dict[str, Any]:
    """An agent record: from inline ``params``, or a plain one (an id the fake had not seen).
    Its webhook is set by the caller (``webhook_id``)."""
    agent: dict[str, Any] = {
        "id": agent_id or new_id(),
        "user_id": USER_ID,
        "name": None,
        "prompt": _owned({"content": SEED_PROMPT}) if params is None else _prompt(params.prompt),
        "language": "en",
        "actions": [],
        "voice": _voice(None),
        "initial_message": None,
        "webhook_id": None,
        "interrupt_sensitivity": "low",
        "endpointing_sensitivity": "auto",
        "ivr_navigation_mode": "off",
    }
    if params is None:
        return agent
    agent["actions"] = [_action(a) for a in params.actions or []]
    if params.voice is not None:
        agent["voice"] = _voice(params.voice)
    for name in (*AGENT_SCALARS, "llm_fallback", "deepgram_keywords"):
        value = getattr(params, name)
        if value is not None:
            agent[name] = value
    for name in ("vector_database", "openai_account_connection"):
        value = getattr(params, name)
        if isinstance(value, dict):
            agent[name] = _owned(value)
    return agent


def webhook_json(webhook: dict[str, Any]) -> dict[str, Any]:
    return {k: webhook[k] for k in ("id", "user_id", "subscriptions", "url", "method")}


def agent_json(agent: dict[str, Any], webhook: dict[str, Any] | None) -> dict[str, Any]:
    """An ``Agent``: the whole of it, its webhook as an object."""
    out = {k: v for k, v in agent.items() if k != "webhook_id"}
    out["webhook"] = None if webhook is None else webhook_json(webhook)
    return out


def normalized_agent_json(agent: dict[str, Any]) -> dict[str, Any]:
    """A ``NormalizedAgent`` (the items of ``/v1/agents/list``): ids instead of objects."""
    out = {k: v for k, v in agent.items() if k != "webhook_id"}
    out["prompt"] = agent["prompt"]["id"]
    out["actions"] = [a["id"] for a in agent["actions"]]
    out["voice"] = agent["voice"]["id"]
    out["webhook"] = agent["webhook_id"]
    for name in ("vector_database", "openai_account_connection"):
        if isinstance(agent.get(name), dict):
            out[name] = agent[name]["id"]
    return out


def new_call(body: CreateCallBody, agent_id: str, now: float) -> dict[str, Any]:
    """A call record for a create request: what was sent, and the server's defaults for
    what was not."""
    return {
        "id": new_id(),
        "user_id": USER_ID,
        "status": "not_started",
        "error_message": None,
        "recording_available": False,
        "transcript": None,
        "human_detection_result": None,
        "do_not_call_result": None,
        "telephony_id": (sid := "CA" + uuid.uuid4().hex),
        "telephony_metadata": {
            "type": "telephony_metadata_twilio", "call_sid": sid, "call_status": "queued"
        },
        "stage": "created",
        "stage_outcome": None,
        "start_time": None,
        "end_time": None,
        "to_number": body.to_number,
        "from_number": body.from_number,
        "agent_id": agent_id,
        "telephony_provider": "twilio",
        "agent_phone_number": body.from_number,
        "hipaa_compliant": bool(body.hipaa_compliant),
        "on_no_human_answer": body.on_no_human_answer or "continue",
        "context": body.context,
        "run_do_not_call_detection": bool(body.run_do_not_call_detection),
        "telephony_params": body.telephony_params,
        "created_at": now,
    }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def call_json(call: dict[str, Any], agent: dict[str, Any]) -> dict[str, Any]:
    """A ``Call``: the whole agent; times as ISO 8601 strings."""
    out = normalized_call_json(call)
    out.update(agent=agent, start_time=_iso(call["start_time"]), end_time=_iso(call["end_time"]))
    return out


def normalized_call_json(call: dict[str, Any]) -> dict[str, Any]:
    """A ``NormalizedCall`` (the items of ``/v1/calls/list``): the agent's id; times as
    epoch seconds."""
    out = {k: v for k, v in call.items() if k not in ("agent_id", "created_at")}
    out["agent"] = call["agent_id"]
    return out


def page(items: list[Any], number: int, size: int) -> dict[str, Any]:
    """One page of ``items`` in the SDK's page shape; ``number`` counts from 1."""
    start = (number - 1) * size
    return {
        "items": items[start : start + size],
        "page": number,
        "size": size,
        "has_more": start + size < len(items),
        "total": len(items),
        "total_is_estimated": False,
    }
