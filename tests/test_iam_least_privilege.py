"""The IAM policies in infra/iam/ grant exactly the SQS actions each principal's code calls, on
exactly the queues the topology declares: derived from the source and the settings, compared.

How the derivation works:
- every SQS call in the code a principal runs is found in the source (`<...client>.<operation>(`,
  the operation names coming from botocore's SQS model); a call nobody classified fails the test;
- each call site is classified by which queues it touches (the consumed queue, its DLQ, the
  published queue, all queues, ...), resolved to names with the service's default settings;
- batch operations need the single action's permission (SendMessageBatch -> sqs:SendMessage).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import botocore.session
import pytest
from botocore import xform_name

from order_service.main import runtime_spec as order_runtime_spec
from order_service.settings import Settings as OrderSettings
from orderflow_servicekit.settings import SqsSettings
from payment_service.main import runtime_spec as payment_runtime_spec
from payment_service.settings import Settings as PaymentSettings

ROOT: Final = Path(__file__).resolve().parents[1]
POLICIES: Final = ROOT / "infra" / "iam"
ARN_PREFIX: Final = "arn:aws:sqs:${AWS_REGION}:${AWS_ACCOUNT_ID}:"
MESSAGING: Final = "libs/messaging/src/orderflow_messaging"
SERVICEKIT: Final = "libs/servicekit/src/orderflow_servicekit"
CLI: Final = "cli/src/orderflow_cli"
DEVTOOLS: Final = "tools/src/orderflow_devtools"

# Which queues each SQS call site touches, by (file, client method).
ROLES: Final[Mapping[tuple[str, str], str]] = {
    (f"{MESSAGING}/_publisher.py", "send_message_batch"): "published",
    (f"{MESSAGING}/_consumer.py", "receive_message"): "consumed",
    (f"{MESSAGING}/_consumer.py", "get_queue_attributes"): "consumed",  # VisibilityTimeout
    (f"{MESSAGING}/_acknowledger.py", "delete_message_batch"): "consumed",
    (f"{MESSAGING}/_visibility.py", "change_message_visibility_batch"): "consumed",
    (f"{MESSAGING}/_dead_letter.py", "send_message"): "consumed_dlq",
    (f"{MESSAGING}/_topology.py", "create_queue"): "all",
    (f"{MESSAGING}/_topology.py", "set_queue_attributes"): "all",
    (f"{MESSAGING}/_topology.py", "get_queue_attributes"): "dlqs",  # each DLQ's ARN
    (f"{MESSAGING}/_topology.py", "get_queue_url"): "all",  # APPLY_TOPOLOGY=false
    # queue_depth: the services never call it (the dlq commands, the bench and tests do); the
    # services' policies already allow GetQueueAttributes on what they consume.
    (f"{MESSAGING}/_queues.py", "get_queue_attributes"): "consumed",
    (f"{SERVICEKIT}/health.py", "get_queue_attributes"): "consumed",  # readiness
    (f"{SERVICEKIT}/telemetry/metrics/_samplers.py", "get_queue_attributes"): "consumed_and_dlq",
    (f"{CLI}/dlq.py", "get_queue_url"): "all",  # a DLQ and the queues redriving to it
    (f"{CLI}/dlq.py", "get_queue_attributes"): "all",  # their ARNs, a DLQ's depth
    (f"{CLI}/dlq.py", "list_dead_letter_source_queues"): "dlqs",
    (f"{CLI}/dlq.py", "receive_message"): "dlqs",
    (f"{CLI}/dlq.py", "change_message_visibility_batch"): "dlqs",
    (f"{CLI}/dlq.py", "delete_message_batch"): "dlqs",
    (f"{CLI}/dlq.py", "start_message_move_task"): "dlqs",
    (f"{CLI}/dlq.py", "list_message_move_tasks"): "dlqs",
    (f"{CLI}/dlq.py", "send_message_batch"): "work",  # redrive by hand
    (f"{CLI}/dlq_command.py", "purge_queue"): "dlqs",
}
# Calls made only while applying the topology (APPLY_TOPOLOGY=true): the policy keeps what they
# alone need in statements whose Sid starts with "ApplyTopology", so they can be dropped.
APPLY_ONLY: Final = {(f"{MESSAGING}/_topology.py", f) for f in ("apply_topology", "_create_queue")}
# Batch operations are authorised by the action of the single operation.
BATCH: Final = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
SERVICE_CODE: Final = (MESSAGING, SERVICEKIT)
PRINCIPALS: Final = {
    "order-service": (*SERVICE_CODE, "services/order-service/src"),
    "payment-service": (*SERVICE_CODE, "services/payment-service/src"),
    # `queues init` applies the topology; the `dlq` commands; `up` (orderflow-devtools) runs the
    # services locally with the same credentials.
    "orderflow-cli": (CLI, DEVTOOLS, f"{MESSAGING}/_topology.py"),
}


@cache
def sqs_operations() -> dict[str, str]:
    """snake_case client method -> SQS operation name, from botocore's service model."""
    model = botocore.session.get_session().get_service_model("sqs")
    return {xform_name(name): name for name in model.operation_names}


# Code that only ever talks to a local engine it started itself, never to AWS: `orderflow bench`
# creates and deletes its own throw-away queues on moto or fauxqs. No policy grants it anything.
LOCAL_ENGINE_ONLY = (f"{DEVTOOLS}/bench/",)


def _files(root: str) -> Iterator[Path]:
    path = ROOT / root
    found = [path] if path.is_file() else sorted(path.rglob("*.py"))
    yield from (
        p for p in found if not p.relative_to(ROOT).as_posix().startswith(LOCAL_ENGINE_ONLY)
    )


def _receiver_is_a_client(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return isinstance(name, str) and name.lower().endswith("client")


class _CallSites(ast.NodeVisitor):
    def __init__(self, relative: str) -> None:
        self.relative = relative
        self.function = "<module>"
        self.found: list[tuple[str, str, str]] = []

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_FunctionDef = _enter
    visit_AsyncFunctionDef = _enter

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in sqs_operations()
            and _receiver_is_a_client(func.value)
        ):
            self.found.append((self.relative, self.function, func.attr))
        self.generic_visit(node)


def sqs_call_sites(roots: tuple[str, ...]) -> set[tuple[str, str, str]]:
    """(file, enclosing function, client method) of every SQS call under `roots`."""
    sites: set[tuple[str, str, str]] = set()
    for root in roots:
        for path in _files(root):
            visitor = _CallSites(path.relative_to(ROOT).as_posix())
            visitor.visit(ast.parse(path.read_text(), filename=str(path)))
            sites.update(visitor.found)
    return sites


def queue_settings_named(root: str) -> set[str]:
    """The `settings.<name>_queue` fields a service's code mentions."""
    names = set()
    for path in _files(root):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "settings"
                and node.attr.endswith("_queue")
            ):
                names.add(node.attr)
    return names


def queue_roles(principal: str) -> dict[str, set[str]]:
    """Each role's queue names for `principal`, with its default settings."""
    if principal == "orderflow-cli":
        specs = SqsSettings(_env_file=None).queue_specs()
        consumed: set[str] = set()
        published: set[str] = set()
        consumed_dlq: set[str] = set()
    else:
        if principal == "order-service":
            settings: Any = OrderSettings(_env_file=None)
            spec = order_runtime_spec(settings)
        else:
            settings = PaymentSettings(_env_file=None)
            spec = payment_runtime_spec(settings)
        specs = settings.queue_specs()
        consumed = {spec.consumes}
        consumed_dlq = {q.dlq_name for q in specs if q.name == spec.consumes}
        # A service publishes (through its outbox) to the queues its code names but does not
        # consume: order-service names orders_queue where it places orders.
        source = PRINCIPALS[principal][-1]
        published = {getattr(settings, f) for f in queue_settings_named(source)} - consumed
    work = {q.name for q in specs}
    dlqs = {q.dlq_name for q in specs}
    return {
        "all": work | dlqs,
        "work": work,
        "dlqs": dlqs,
        "consumed": consumed,
        "consumed_dlq": consumed_dlq,
        "consumed_and_dlq": consumed | consumed_dlq,
        "published": published,
    }


def derived_grants(principal: str, *, apply_topology: bool = True) -> set[tuple[str, str]]:
    """(IAM action, queue name) pairs the principal's code needs."""
    roles = queue_roles(principal)
    grants: set[tuple[str, str]] = set()
    for file, function, method in sqs_call_sites(PRINCIPALS[principal]):
        if not apply_topology and (file, function) in APPLY_ONLY:
            continue
        operation = sqs_operations()[method]
        action = f"sqs:{BATCH.get(operation, operation)}"
        grants.update((action, queue) for queue in roles[ROLES[(file, method)]])
    return grants


def policy_grants(principal: str, *, sid_prefix: str | None = None) -> set[tuple[str, str]]:
    document = json.loads((POLICIES / f"{principal}.json").read_text())
    assert document["Version"] == "2012-10-17"
    grants: set[tuple[str, str]] = set()
    for statement in document["Statement"]:
        assert set(statement) == {"Sid", "Effect", "Action", "Resource"}, statement
        assert statement["Effect"] == "Allow"
        if sid_prefix is not None and not statement["Sid"].startswith(sid_prefix):
            continue
        for resource in statement["Resource"]:
            assert resource.startswith(ARN_PREFIX), resource
            queue = resource.removeprefix(ARN_PREFIX)
            for action in statement["Action"]:
                assert "*" not in action
                assert "*" not in queue
                grants.add((action, queue))
    return grants


def _explain(extra: set[tuple[str, str]], missing: set[tuple[str, str]]) -> str:
    return f"granted but never called: {sorted(extra)}; called but not granted: {sorted(missing)}"


def test_every_sqs_call_site_is_classified() -> None:
    every_root = {root for roots in PRINCIPALS.values() for root in roots}
    sites = sqs_call_sites(tuple(sorted(every_root)))
    unclassified = {(f, m) for f, _, m in sites} - set(ROLES)
    assert not unclassified, f"add these SQS calls to ROLES (and the policies): {unclassified}"
    assert {(f, m) for f, _, m in sites} == set(ROLES), "ROLES lists calls that no longer exist"


@pytest.mark.parametrize("principal", sorted(PRINCIPALS))
def test_the_policy_grants_exactly_what_the_code_calls_on_the_declared_queues(
    principal: str,
) -> None:
    derived = derived_grants(principal)
    granted = policy_grants(principal)
    assert granted == derived, _explain(granted - derived, derived - granted)
    assert derived, "nothing derived: the scan found no SQS calls"


@pytest.mark.parametrize("principal", ["order-service", "payment-service"])
def test_without_apply_topology_the_apply_statements_can_be_dropped(principal: str) -> None:
    derived = derived_grants(principal, apply_topology=False)
    apply_only = derived_grants(principal) - derived
    assert policy_grants(principal, sid_prefix="ApplyTopology") == apply_only
    assert {a for a, _ in apply_only} >= {"sqs:CreateQueue", "sqs:SetQueueAttributes"}


def test_services_never_create_queues_they_do_not_declare_or_touch_anything_else() -> None:
    declared = queue_roles("order-service")["all"]
    for principal in PRINCIPALS:
        assert {queue for _, queue in policy_grants(principal)} <= declared
    # The two services do not consume each other's queues.
    order = {q for a, q in policy_grants("order-service") if a == "sqs:ReceiveMessage"}
    payment = {q for a, q in policy_grants("payment-service") if a == "sqs:ReceiveMessage"}
    assert order == {"payment-results"}
    assert payment == {"orders"}
