"""``ManagedPipelineJob``: an agent's handle on the job it runs, as in the original SDK.

The agent (a script, an actor, a workflow step) describes the job: its pipeline, the catalog
records it is derived from (``experiment_id``, ``sample_id``, ``measurement_id``...) and its
``data``. :meth:`ManagedPipelineJob.setup` asks the jobs-manager to create it (idempotently: the
same pipeline, linkage and data name the same job) and keeps the job's uuid, update token and
archive path. The agent then reports progress (``run``, ``resource``, ``update``, ``finish``,
``fail``...) and hands a compute service :meth:`~ManagedPipelineJob.agave_notifications` so the
service reports it too.

Differences from the original, which wrote to MongoDB directly: every change is a message to the
jobs-manager over HTTP, and each method waits for its execution, so a refusal (a token that is
not valid, an event the job's state does not accept) raises ``ExecutionFailed`` with the reason.
History is never deleted: :meth:`~ManagedPipelineJob.cancel` records ``fail`` with
``{"cancelled": true}`` on a job that has not run, where the original deleted the job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from pipelinejobs.client.errors import JobNotReady
from pipelinejobs.client.gateway import DEFAULT_WAIT, AsyncGateway
from pipelinejobs.domain.actors import JOBS_MANAGER

CREATED = "CREATED"
CANCELLED = {"cancelled": True}
STATUS_MACRO = "${JOB_STATUS}"
"""Agave's macro for the job's status, substituted by the compute service."""


class ManagedPipelineJob:
    """A job of ``pipeline_uuid`` that this agent manages.

    Linkage (at least one): ``experiment_design_id``, ``experiment_id``, ``sample_id``,
    ``measurement_id``, each a text id (``sample.tacc.abcde``) or typed UUID, or a list of them.
    ``archive_path`` (absolute, or ``agave://system/path``) overrides the derived one;
    ``instanced`` adds an ``<adjective>-<animal>-<timestamp>`` directory to a derived one;
    ``archive_patterns`` (``[{"level": "1", "patterns": ["\\.csv$"]}]``) configures indexing
    after ``finish``. ``callback_nonce`` (default: the gateway's nonce) is put in
    :attr:`callback` so a compute service can authenticate its callbacks.
    """

    def __init__(
        self,
        gateway: AsyncGateway,
        pipeline_uuid: str,
        *,
        data: Mapping[str, Any] | None = None,
        experiment_design_id: str | Sequence[str] | None = None,
        experiment_id: str | Sequence[str] | None = None,
        sample_id: str | Sequence[str] | None = None,
        measurement_id: str | Sequence[str] | None = None,
        archive_path: str | None = None,
        archive_system: str | None = None,
        instanced: bool = False,
        archive_patterns: Sequence[Mapping[str, Any]] | None = None,
        session: str | None = None,
        agent: str | None = None,
        task: str | None = None,
        callback_nonce: str | None = None,
        timeout: float = DEFAULT_WAIT,
    ) -> None:
        self.gateway = gateway
        self.pipeline_uuid = pipeline_uuid
        self.data: dict[str, Any] = dict(data or {})
        self.linkage = _linkage(
            experiment_design_id=experiment_design_id,
            experiment_id=experiment_id,
            sample_id=sample_id,
            measurement_id=measurement_id,
        )
        self.archive_path = archive_path
        self.archive_system = archive_system
        self.instanced = instanced
        self.archive_patterns = [dict(pattern) for pattern in archive_patterns or []]
        self.session = session
        self.agent = agent
        self.task = task
        self.callback_nonce = callback_nonce if callback_nonce is not None else gateway.nonce
        self.timeout = timeout
        self.uuid: str | None = None
        self.token: str | None = None
        self.state: str | None = None
        self.created: bool | None = None
        """After setup: True when this setup created the job, False when it existed."""

    def __repr__(self) -> str:
        return f"ManagedPipelineJob({self.uuid or 'not set up'}, state={self.state})"

    # -- creation ----------------------------------------------------------------------------
    async def setup(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Create the job (or find the existing one); ``data`` is merged into the job's data.

        Keeps ``uuid``, ``token``, ``archive_path``, ``archive_system``, ``session`` and
        ``state`` from the reply. The token is given only to the job's creator (or its recorded
        owner); for anyone else ``token`` stays None and events need an admin token.
        """
        self.data.update(data or {})
        message: dict[str, Any] = {
            "action": "create",
            "pipeline_uuid": self.pipeline_uuid,
            "data": self.data,
            **self.linkage,
            "instanced": self.instanced,
        }
        optional = {
            "archive_path": self.archive_path,
            "archive_system": self.archive_system,
            "session": self.session,
            "agent": self.agent,
            "task": self.task,
        }
        message.update({key: value for key, value in optional.items() if value is not None})
        if self.archive_patterns:
            message["archive_patterns"] = self.archive_patterns
        reply = await self.gateway.call(JOBS_MANAGER, message, timeout=self.timeout)
        self.uuid = str(reply["uuid"])
        self.token = reply.get("token")
        self.archive_path = reply.get("archive_path")
        self.archive_system = reply.get("archive_system")
        self.session = reply.get("session")
        self.state = reply.get("state")
        self.created = bool(reply.get("created"))
        return reply

    # -- events ------------------------------------------------------------------------------
    async def run(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The job is running (CREATED or RUNNING -> RUNNING)."""
        return await self.handle("run", data)

    async def resource(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Note resource-marshalling activity (state unchanged)."""
        return await self.handle("resource", data)

    async def update(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Append an information item to the history (state unchanged)."""
        return await self.handle("update", data)

    async def finish(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Computation and archiving are done (-> FINISHED); indexing follows when the job has
        archive patterns."""
        return await self.handle("finish", data)

    async def fail(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The job failed for good (-> FAILED); say why in ``data``."""
        return await self.handle("fail", data)

    async def index(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Index the outputs now; ``data`` may give ``level`` and ``filters``. The jobs-manager
        forwards the request to the jobs-indexer, which records ``index`` and then
        ``indexed``."""
        return await self.handle("index", data)

    async def indexed(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Indexing is done (INDEXING -> FINISHED); normally the indexer sends this itself."""
        return await self.handle("indexed", data)

    async def reset(
        self, admin_token: str, data: Mapping[str, Any] | None = None, *, ready: bool = True
    ) -> dict[str, Any]:
        """Reset the job (its archive path is emptied) and, unless ``ready=False``, make it
        ready to run again (-> CREATED), as the original did. Needs an admin token
        (``pipelinejobs admin-token``)."""
        reply = await self.handle("reset", data, token=admin_token)
        if ready:
            reply = await self.handle("ready", None, token=admin_token)
        return reply

    async def ready(
        self, admin_token: str, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Complete a reset (RESET -> CREATED). Needs an admin token."""
        return await self.handle("ready", data, token=admin_token)

    async def cancel(self) -> dict[str, Any]:
        """Give up a job that has not run: record ``fail`` with ``{"cancelled": true}``.

        The original deleted such a job; here history is never deleted. A job that has left
        CREATED (a compute service reported it running, say) is refused with ``JobNotReady``:
        send ``fail`` with the reason instead.
        """
        state = await self.current_state()
        if state != CREATED:
            raise JobNotReady(
                f"job {self.uuid} is {state}, and only a job still CREATED can be cancelled; "
                "send fail(data={'reason': ...}) to end it"
            )
        return await self.handle("fail", CANCELLED)

    async def handle(
        self, event: str, data: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """Send ``event`` for this job (with its update token unless ``token`` is given) and
        wait for the jobs-manager's reply: ``uuid``, ``event``, ``state``, ``last_event``."""
        uuid = self._require_setup()
        message: dict[str, Any] = {"uuid": uuid, "name": event}
        presented = token if token is not None else self.token
        if presented is not None:
            message["token"] = presented
        if data is not None:
            message["data"] = dict(data)
        reply = await self.gateway.call(JOBS_MANAGER, message, timeout=self.timeout)
        if "state" in reply:
            self.state = str(reply["state"])
        return reply

    async def current_state(self) -> str | None:
        """The job's state as stored, read when the gateway has a Bearer token (the read API
        needs one); else the state of the last reply."""
        uuid = self._require_setup()
        if self.gateway.token:
            job = await self.gateway.get(f"/jobs/{uuid}")
            self.state = str(job["state"])
        return self.state

    # -- callbacks ---------------------------------------------------------------------------
    @property
    def callback(self) -> str:
        """The jobs-manager URL a compute service posts the job's progress to: the job's uuid,
        update token and session, and the callback nonce when there is one."""
        uuid = self._require_setup()
        if self.token is None:
            raise JobNotReady(
                f"job {uuid} has no update token here (it was created by someone else), so its "
                "callback URL cannot be made"
            )
        parameters = [("uuid", uuid), ("token", self.token), ("session", self.session or "")]
        if self.callback_nonce:
            parameters.insert(0, ("x-nonce", self.callback_nonce))
        return f"{self.gateway.messages_url(JOBS_MANAGER)}?{urlencode(parameters)}"

    def agave_notifications(self) -> list[dict[str, Any]]:
        """Notifications for an Agave job definition, as the original set them: every RUNNING
        report, then FINISHED once, and FAILED once (with the real status)."""
        hook = self.callback
        return [
            {"event": "RUNNING", "persistent": True, "url": f"{hook}&status={STATUS_MACRO}"},
            {"event": "FINISHED", "persistent": False, "url": f"{hook}&status=FINISHED"},
            {"event": "FAILED", "persistent": False, "url": f"{hook}&status={STATUS_MACRO}"},
        ]

    def archive_uri(self) -> str:
        """``agave://<archive system><archive path>``."""
        self._require_setup()
        return f"agave://{self.archive_system}{self.archive_path}"

    def _require_setup(self) -> str:
        if self.uuid is None:
            raise JobNotReady("the job is not set up yet; call setup() first")
        return self.uuid


def _linkage(**values: str | Sequence[str] | None) -> dict[str, Any]:
    """The linkage fields given, each a text id or uuid, or a list of them."""
    return {
        name: value if isinstance(value, str) else list(value)
        for name, value in values.items()
        if value is not None
    }
