"""The rules of crons; the routes only translate HTTP, the scheduler only fires.

A cron belongs to the identity that created it: another identity's is 404 and left out of
searches and counts. Its run fields are checked as a run's are when it is created or
changed (assistant, input scopes, context, webhook), so a firing seldom finds them bad.
The project's `@auth.on.crons` handlers (`ORCA_AUTH_PATH`) may refuse an action or set
filters a cron's metadata must match, as for threads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from server.auth.identity import Identity
from server.auth.langgraph_auth import Filters, authorize, matches
from server.crons.records import CronFilter, CronRecord, CronStore
from server.crons.schedule import next_firing
from server.crons.schema import CronCount, CronCreate, CronPatch, CronSearch
from server.runs.authorized import SEARCH_ALL
from server.runs.lookup import NotFound, RunRejected
from server.runs.schema import RunCreate
from server.runs.service import RunsService
from server.runs.webhooks import WebhookRefused, check_webhook

RESCHEDULING = frozenset({"schedule", "timezone", "end_time"})
"""Fields whose change moves the next firing (computed again from now)."""


@dataclass
class CronsService:
    """Crons of every identity over one store; firings go through `runs.create_run`."""

    store: CronStore
    runs: RunsService
    on_change: Callable[[], None] = field(default=lambda: None)
    """Called after a cron is created or changed (wakes this process's scheduler)."""

    async def _check_run(self, identity: Identity, thread_id: str | None, body: RunCreate) -> str:
        """Check the run fields as `create_run` will; return the assistant's id."""
        runs = self.runs
        assistant = await runs.find_assistant(identity, body.assistant_id)
        graph = runs.graph_for(assistant)
        runs.check_input(assistant.graph_id, body.input, identity, whole=True)
        runs.context_for(graph, body.context, identity, config=body.config, assistant=assistant)
        if body.webhook is not None:
            try:
                await check_webhook(str(body.webhook), allow_private=runs.webhook_allow_private)
            except WebhookRefused as refused:
                raise RunRejected(str(refused)) from None
        if thread_id is not None:
            await runs.thread(identity, thread_id)  # 404 unless the caller's
        return assistant.assistant_id

    async def _own(
        self, identity: Identity, cron_id: str, action: str, value: dict[str, Any] | None = None
    ) -> CronRecord:
        """Return the identity's cron, if the project's `crons.<action>` rule lets it see it.

        `value` (what the rule's handler sees, `cron_id` added) may be changed by it.
        """
        value = {"cron_id": cron_id} if value is None else value
        value["cron_id"] = cron_id
        filters = await authorize(identity, "crons", action, value)
        cron = await self.store.get(cron_id, identity.id)
        if cron is None or not matches(cron.metadata, filters):
            raise NotFound(f"no cron {cron_id!r}")
        return cron

    async def create(
        self, identity: Identity, thread_id: str | None, body: CronCreate
    ) -> CronRecord:
        """Create a cron; its first firing is the schedule's next time after now."""
        value: dict[str, Any] = {
            "thread_id": thread_id,
            "assistant_id": body.assistant_id,
            "schedule": body.schedule,
            "metadata": dict(body.metadata or {}),
            "payload": body.run_payload(),
        }
        await authorize(identity, "crons", "create", value)
        assistant_id = await self._check_run(identity, thread_id, body)
        clock = await self.store.clock()
        if body.end_time is not None and body.end_time <= clock:
            raise RunRejected(f"end_time {body.end_time.isoformat()} is past; give a later one")
        cron = CronRecord(
            cron_id=str(uuid.uuid4()),
            owner=identity.id,
            owner_kind=identity.kind,
            owner_scopes=" ".join(sorted(identity.scopes)),
            assistant_id=assistant_id,
            thread_id=thread_id,
            schedule=body.schedule,
            timezone=body.timezone,
            end_time=body.end_time,
            enabled=body.enabled,
            on_run_completed=None if thread_id else (body.on_run_completed or "delete"),
            payload=body.run_payload(),
            metadata=dict(value.get("metadata") or {}),  # as the project's rule left it
            next_run_date=next_firing(body.schedule, body.timezone, clock, body.end_time),
            created_at=clock,
            updated_at=clock,
        )
        await self.store.insert(cron)
        self.on_change()
        return cron

    async def get(self, identity: Identity, cron_id: str) -> CronRecord:
        """Return the identity's cron."""
        return await self._own(identity, cron_id, "read")

    async def update(self, identity: Identity, cron_id: str, patch: CronPatch) -> CronRecord:
        """Change the fields sent (`timezone` or `end_time` sent as null clear them).

        A new schedule, timezone or end time, or re-enabling, moves the next firing to the
        schedule's next time after now: firings missed while disabled are not run.
        """
        sent = patch.model_fields_set
        value = patch.model_dump(include=sent)
        cron = await self._own(identity, cron_id, "update", value)
        if "metadata" in sent and patch.metadata is not None:  # as the project's rule left it
            # Merged key by key into the stored metadata, as langgraph-api's `Crons.update`.
            patch.metadata = {**cron.metadata, **dict(value.get("metadata") or {})}
        changed = replace(cron, payload={**cron.payload, **patch.run_fields()})
        for name in ("schedule", "timezone", "end_time", "enabled", "metadata"):
            value = getattr(patch, name)
            if name in sent and (value is not None or name in ("timezone", "end_time")):
                setattr(changed, name, value)
        if "on_run_completed" in sent and patch.on_run_completed:
            # Stored on a thread cron too, as langgraph-api does (its creation ignores the
            # field); a thread cron's firings run on its thread whatever it says.
            changed.on_run_completed = patch.on_run_completed
        try:
            body = RunCreate.model_validate({"assistant_id": cron.assistant_id, **changed.payload})
        except ValidationError as error:
            wrong = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
                for issue in error.errors()
            )
            raise RunRejected(f"the cron's run fields are invalid: {wrong}") from None
        await self._check_run(identity, cron.thread_id, body)
        clock = await self.store.clock()
        if "end_time" in sent and changed.end_time is not None and changed.end_time <= clock:
            raise RunRejected(f"end_time {changed.end_time.isoformat()} is past; give a later one")
        reschedule = bool(sent & RESCHEDULING) or (changed.enabled and not cron.enabled)
        if reschedule:
            changed.next_run_date = next_firing(
                changed.schedule, changed.timezone, clock, changed.end_time
            )
        updated = await self.store.update(changed, reschedule=reschedule)
        if updated is None:
            raise NotFound(f"no cron {cron_id!r}")
        self.on_change()
        return updated

    async def delete(self, identity: Identity, cron_id: str) -> None:
        """Delete the identity's cron (runs it started stay)."""
        cron = await self._own(identity, cron_id, "delete")
        if not await self.store.delete(cron.cron_id, identity.id):
            raise NotFound(f"no cron {cron_id!r}")

    async def _where(
        self, identity: Identity, body: CronSearch | CronCount
    ) -> tuple[CronFilter, Filters | None]:
        value = body.model_dump(exclude_none=True)
        filters = await authorize(identity, "crons", "search", value)
        assistant_id = body.assistant_id
        if assistant_id is not None:
            try:  # a graph name means its system assistant, as for runs
                assistant_id = (await self.runs.find_assistant(identity, assistant_id)).assistant_id
            except NotFound:
                pass  # matches nothing of this identity's
        where = CronFilter(
            assistant_id=assistant_id,
            thread_id=body.thread_id,
            enabled=body.enabled,
            metadata=dict(body.metadata or {}),
        )
        return where, filters

    async def search(self, identity: Identity, body: CronSearch) -> list[CronRecord]:
        """Return the identity's matching crons, sorted and paged."""
        where, filters = await self._where(identity, body)
        desc = body.sort_order == "desc"
        if not filters:
            return await self.store.search(
                identity.id, where, limit=body.limit, offset=body.offset,
                sort_by=body.sort_by, desc=desc,
            )  # fmt: skip
        # The project's filters may use `$contains`: matched here, then paged.
        found = await self.store.search(
            identity.id, where, limit=SEARCH_ALL, offset=0, sort_by=body.sort_by, desc=desc
        )
        kept = [cron for cron in found if matches(cron.metadata, filters)]
        return kept[body.offset : body.offset + body.limit]

    async def count(self, identity: Identity, body: CronCount) -> int:
        """Count the identity's matching crons."""
        where, filters = await self._where(identity, body)
        if not filters:
            return await self.store.count(identity.id, where)
        found = await self.store.search(
            identity.id, where, limit=SEARCH_ALL, offset=0, sort_by="created_at", desc=False
        )
        return sum(matches(cron.metadata, filters) for cron in found)


def firing_body(cron: CronRecord) -> RunCreate:
    """Return the run body of one firing: the stored fields, the cron's metadata and id.

    Raises:
        ValidationError: the stored fields no longer make a run body.
    """
    fields: dict[str, Any] = {"assistant_id": cron.assistant_id, **cron.payload}
    fields["metadata"] = {**cron.metadata, "cron_id": cron.cron_id}
    if cron.thread_id is None:
        fields["on_completion"] = cron.on_run_completed or "delete"
    return RunCreate.model_validate(fields)
