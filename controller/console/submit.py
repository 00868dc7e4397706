"""The console's submit page: a form per operation from the catalog, posted as a job.

I/O: Redis and NATS through the same dispatcher and idempotency keys as
``POST /job``. The form carries a one-time id used as the submit's
Idempotency-Key, so a double click or a re-posted page makes one job.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common.api import OperationView
from common.errors import BrokerUnavailable, CorralError, Forbidden, InvalidRequest
from controller.api.audit import note
from controller.api.auth import check_operation
from controller.api.bodies import meaning, validate_submit
from controller.api.http import services_of
from controller.api.idempotency import canonical
from controller.api.operations import catalog
from controller.api.submits import submit_claimed
from controller.console.forms import TARGET_KINDS, fields_of, params_from, target_from, timeout_from
from controller.console.guard import Visitor, check_csrf, read_form
from controller.console.paths import link
from controller.console.render import page

_JSON = msgspec.json.Encoder()


def allowed_operations(who: Visitor) -> list[OperationView]:
    return [op for op in catalog().items if who.may(op.scope)]


def _chosen(operations: list[OperationView], name: str | None) -> OperationView | None:
    for op in operations:
        if op.name == name:
            return op
    return operations[0] if operations else None


def _fleet(request: Request) -> tuple[list[str], list[str]]:
    """Hostnames and ``key:value`` labels the registry knows, for the target picker."""
    agents = services_of(request).registry.agents.values()
    labels = {f"{k}:{v}" for record in agents for k, v in record.labels.items()}
    return sorted(record.hostname for record in agents), sorted(labels)


def _form_page(
    request: Request, who: Visitor, values: dict[str, str], error: str | None, status: int = 200
) -> Response:
    operations = allowed_operations(who)
    chosen = _chosen(operations, values.get("operation"))
    hosts, labels = _fleet(request)
    return page(
        "submit.html",
        status,
        who=who,
        section="submit",
        operations=operations,
        chosen=chosen,
        fields=fields_of(chosen.params_schema) if chosen else [],
        hosts=hosts,
        labels=labels,
        target_kinds=TARGET_KINDS,
        values=values,
        error=error,
        form_id=secrets.token_urlsafe(16),
    )


async def submit_page(request: Request, who: Visitor) -> Response:
    return _form_page(request, who, dict(request.query_params), None)


async def submit_fields(request: Request, who: Visitor) -> Response:
    """The chosen operation's fieldset, for the page's script to swap in."""
    chosen = _chosen(allowed_operations(who), request.query_params.get("operation"))
    if chosen is None:
        raise Forbidden("this API key may run no operation")
    return page(
        "submit_fields.html", chosen=chosen, fields=fields_of(chosen.params_schema), values={}
    )


def _body(form: dict[str, str], chosen: OperationView) -> bytes:
    body: dict[str, Any] = {
        "operation": {
            "type": chosen.name,
            "data": params_from(fields_of(chosen.params_schema), form),
        },
        "target": target_from(form),
        "dry_run": form.get("dry_run", "") != "",
    }
    timeout = timeout_from(form)
    if timeout is not None:
        body["timeout"] = timeout
    return _JSON.encode(body)


async def submit(request: Request, who: Visitor) -> Response:
    form = await read_form(request)
    check_csrf(request, who.session, form)
    svc = services_of(request)
    chosen = _chosen(allowed_operations(who), form.get("operation"))
    try:
        if chosen is None or chosen.name != form.get("operation"):
            raise InvalidRequest("operation: choose one this API key may run")
        submission = validate_submit(
            _body(form, chosen), svc.config.default_timeout, svc.config.max_timeout
        )
        check_operation(who.key, submission.operation.type)
        if not svc.broker_ready():
            raise BrokerUnavailable("NATS is unreachable; retry later")
        form_id = form.get("form_id", "")
        if not 16 <= len(form_id) <= 64:
            raise InvalidRequest("the form lost its id; reload the page")
        claim = await svc.idempotency.claim(
            f"submit:{who.key.name}", f"console:{form_id}", canonical(meaning(submission))
        )
        created, _ = await submit_claimed(svc, claim, submission, None, {})
    except CorralError as exc:
        return _form_page(request, who, form, exc.details or exc.title, exc.code)
    job_id = str(created["job_id"])
    note(request, job_id=job_id, target=str(submission.target))
    return RedirectResponse(link(f"/job/{job_id}"), status_code=303)
