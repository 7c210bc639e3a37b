"""An in-process stand-in of the Agave v2 jobs and apps API (FastAPI), for the HTTP client.

Answers in Agave's envelope, checks the bearer token, and keeps jobs in memory. Tests drive it
through ``httpx.ASGITransport`` (no network) and steer it: ``fail_with`` makes the next
requests answer that HTTP status, ``set_status`` moves a job along.

With ``notifying`` it also calls a job's notification URLs, as Agave does: a POST of the job
body on each status (PENDING at submit, each ``move``, STOPPED at a stop), to each notification
whose ``event`` is ``*`` or that status, with ``${JOB_STATUS}``/``${STATUS}`` and ``${JOB_ID}``
filled in; a non-persistent one only once. It posts before it answers, so notifications arrive
in order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TERMINAL = {"FINISHED", "FAILED", "STOPPED"}


def envelope(result: Any) -> dict[str, Any]:
    return {"status": "success", "message": None, "version": "2.2.27", "result": result}


def error(status_code: int, message: str) -> JSONResponse:
    body = {"status": "error", "message": message, "version": "2.2.27", "result": None}
    return JSONResponse(body, status_code=status_code)


@dataclass
class AgaveStandIn:
    """The stand-in's state; ``app`` is the ASGI application."""

    token: str = "standin-token"
    apps: set[str] = field(default_factory=lambda: {"tacobot9000-0.1.0u1"})
    private_apps: set[str] = field(default_factory=set)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)
    notifying: bool = False
    notifications: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    app: FastAPI = field(init=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.app = self._build()

    def set_status(self, job_id: str, status: str) -> None:
        self.jobs[job_id]["status"] = status

    async def move(self, job_id: str, status: str) -> None:
        """The job's status changes as the service runs it; its notifications are sent."""
        self.set_status(job_id, status)
        await self._notify(job_id)

    async def _notify(self, job_id: str) -> None:
        if not self.notifying:
            return
        job = self.jobs[job_id]
        status = str(job["status"])
        values = {"JOB_STATUS": status, "STATUS": status, "JOB_ID": job_id}
        kept = []
        async with httpx.AsyncClient(timeout=10.0) as http:
            for notification in self.notifications.get(job_id, []):
                event = str(notification.get("event", "*")).upper()
                if event in ("*", status):
                    url = str(notification["url"])
                    for name, value in values.items():
                        url = url.replace("${" + name + "}", quote(value, safe=""))
                    await http.post(url, json=job)
                    if not notification.get("persistent"):
                        continue
                kept.append(notification)
        self.notifications[job_id] = kept

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def gatekeeper(request: Request, call_next: Any) -> Any:
            authorization = request.headers.get("authorization")
            self.requests.append((request.method, request.url.path, authorization))
            if self.fail_with:
                code = self.fail_with.pop(0)
                return error(code, f"stand-in told to fail with {code}")
            if authorization != f"Bearer {self.token}":
                return error(401, "Invalid credentials")
            return await call_next(request)

        @app.get("/apps/v2/{app_id}")
        async def get_app(app_id: str) -> Any:
            if app_id in self.private_apps:
                return error(403, f"User does not have permission to view app {app_id}")
            if app_id not in self.apps:
                return error(404, f"No software found matching {app_id}")
            return envelope({"id": app_id, "available": True})

        @app.post("/jobs/v2/")
        async def submit(request: Request) -> Any:
            definition = await request.json()
            app_id = definition.get("appId")
            if app_id not in self.apps:
                return error(400, f"No app found matching id {app_id}")
            if not definition.get("name"):
                return error(400, "Job name cannot be null")
            job_id = f"{next(self._ids):019d}-242ac11b-0001-007"
            job = {
                **definition,
                "id": job_id,
                "owner": "standin",
                "executionSystem": "hpc-standin",
                "status": "PENDING",
                "_links": {"self": {"href": f"https://standin/jobs/v2/{job_id}"}},
            }
            self.notifications[job_id] = list(job.pop("notifications", None) or [])
            self.jobs[job_id] = job
            await self._notify(job_id)
            return JSONResponse(envelope(job), status_code=201)

        @app.get("/jobs/v2/{job_id}")
        async def read(job_id: str) -> Any:
            if job_id not in self.jobs:
                return error(404, f"No job found with job id {job_id}")
            return envelope(self.jobs[job_id])

        @app.post("/jobs/v2/{job_id}")
        async def act(job_id: str, request: Request) -> Any:
            if job_id not in self.jobs:
                return error(404, f"No job found with job id {job_id}")
            action = (await request.json()).get("action")
            if action != "stop":
                return error(400, f"Invalid action {action}; expected stop, resubmit")
            job = self.jobs[job_id]
            if job["status"] in TERMINAL:
                return error(400, f"Job {job_id} is {job['status']} and cannot be stopped")
            await self.move(job_id, "STOPPED")
            return envelope(job)

        return app
