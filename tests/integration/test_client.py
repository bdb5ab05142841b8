"""The Python client against a real server: every REST operation through a typed method.

``test_every_rest_operation_has_a_client_method`` walks the server's OpenAPI route table
and fails when an operation has no client method, or a client method no test here.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import stagehook.client
from stagehook.client import ApiError, Client
from stagehook.client.models import Delivery, Project, Task, Webhook
from tests.support.api import ADMIN_KEY, Api
from tests.support.labeling import box, image_bytes, ontology_structure, row
from tests.support.receiver import Receiver, Response
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, COMPLETE, REVIEW, basic_workflow

HTTP_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}


def _client_operations() -> dict[tuple[str, str], str]:
    """(METHOD, route template) -> client method name, read from the client's source."""
    found: dict[tuple[str, str], str] = {}
    for path in Path(stagehook.client.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        constants = {
            node.targets[0].id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        }

        def text(node: ast.expr, constants: dict[str, str] = constants) -> str | None:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            if isinstance(node, ast.Name):
                return constants.get(node.id)
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                left, right = text(node.left), text(node.right)
                return left + right if left is not None and right is not None else None
            return None

        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef) or function.name.startswith("_"):
                continue
            if function.name in {"call", "one", "pages", "path", "request"}:
                continue
            local = dict(constants)
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Name)
                    and text(node.value) is not None
                ):
                    local[node.targets[0].id] = str(text(node.value))
            for node in ast.walk(function):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                args = [text(a, local) for a in node.args]
                if node.func.attr == "pages":
                    found[("GET", str(args[1]))] = function.name
                elif node.func.attr == "path" and args and args[0]:
                    # Raw (streamed or binary) reads build their path alone: all are GETs.
                    found[("GET", args[0])] = function.name
                elif node.func.attr in {"call", "one"}:
                    strings = [a for a in args if a is not None]
                    method = next(a for a in strings if a in HTTP_METHODS)
                    route = next(a for a in strings if a.startswith("/"))
                    found[(method, route)] = function.name
    return found


def test_every_rest_operation_has_a_client_method(api: Api) -> None:
    base = str(api.http.base_url).removesuffix("/").removesuffix("/api/v1")
    spec = httpx.get(f"{base}/openapi.json").json()
    server = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method.upper() in HTTP_METHODS
    }
    client = _client_operations()
    missing = sorted(server - client.keys())
    assert not missing, f"REST operations without a client method: {missing}"
    assert not sorted(client.keys() - server), "client methods for routes the server lacks"
    tested = Path(__file__).read_text()
    untested = sorted(name for name in client.values() if f".{name}(" not in tested)
    assert not untested, f"client methods no test here calls: {untested}"


def test_datasets_and_data_units_paginate_lazily(api: Api) -> None:
    made = [api.create_dataset(f"set {i}") for i in range(3)]
    assert [d.title for d in api.iter_datasets(page_size=1)][-3:] == ["set 0", "set 1", "set 2"]
    units = api.add_data_units(
        made[0].dataset_hash,
        [{"title": "a.jpg", "uri": "https://example.com/a.jpg", "metadata": {"k": 1}}]
        + [{"title": f"{i}.jpg"} for i in range(4)],
    )
    assert units[0].uri == "https://example.com/a.jpg" and units[0].metadata == {"k": 1}
    pages = api.iter_data_units(made[0].dataset_hash, page_size=2)
    assert next(pages).data_hash == units[0].data_hash
    assert [u.title for u in pages] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]


def test_templates_update_in_place_and_delete(api: Api) -> None:
    template = api.create_template("review flow", basic_workflow())
    edited = basic_workflow()
    edited["stages"][1]["title"] = "Draw boxes"
    updated = api.update_template(template.template_hash, "review flow v2", edited)
    assert updated.template_hash == template.template_hash
    fetched = api.get_template(template.template_hash)
    assert fetched.title == "review flow v2"
    assert fetched.workflow["stages"][1]["title"] == "Draw boxes"
    titles = [t.title for t in api.iter_templates(page_size=1)]
    assert titles.count("review flow v2") == 1 and "review flow" not in titles
    api.delete_template(template.template_hash)
    with pytest.raises(ApiError) as err:
        api.get_template(template.template_hash)
    assert (err.value.status, err.value.code) == (404, "not_found")


def test_projects_workflow_and_save_as_template(api: Api) -> None:
    dataset_hash, _ = api.dataset_with_units(2)
    template = api.create_template("t", basic_workflow())
    project = api.create_project(
        "cats", [dataset_hash], workflow_template_hash=template.template_hash
    )
    assert isinstance(project, Project) and project.dataset_hashes == [dataset_hash]
    assert api.get_project(project.project_hash).your_role == "admin"
    assert project.project_hash in [p.project_hash for p in api.iter_projects(page_size=1)]
    workflow = api.get_workflow(project.project_hash)
    workflow["stages"][1]["title"] = "Label"
    assert api.put_workflow(project.project_hash, workflow)["stages"][1]["title"] == "Label"
    api.set_webhook(project.project_hash, ANNOTATE, "https://hooks.example.com/a")
    kept = api.save_as_template(project.project_hash, "with hooks", keep_webhooks=True)
    dropped = api.save_as_template(project.project_hash, "without")
    assert kept.workflow["stages"][1]["webhook"] == {"url": "https://hooks.example.com/a"}
    assert "webhook" not in dropped.workflow["stages"][1]
    copy = api.create_project("copy", [], workflow_template_hash=kept.template_hash)
    assert api.get_webhook(copy.project_hash, ANNOTATE).url == "https://hooks.example.com/a"


def test_webhook_controls(api: Api) -> None:
    project = api.create_project("p", [], workflow=basic_workflow())
    p = project.project_hash
    with Receiver() as receiver:
        hook = api.set_webhook(p, ANNOTATE, receiver.url("/hook"))
        assert isinstance(hook, Webhook) and hook.signing_secret
        assert hook.signing_secret.startswith("whsec_")
        assert api.get_webhook(p, ANNOTATE).signing_secret == hook.signing_secret
        rotated = api.rotate_secret(p, ANNOTATE)
        assert rotated.signing_secret != hook.signing_secret
        assert api.disable_webhook(p, ANNOTATE).enabled is False
        assert api.enable_webhook(p, ANNOTATE).enabled is True
        assert [h.stage_uuid for h in api.list_webhooks(p)] == [ANNOTATE]
        sent = api.test_webhook(p, ANNOTATE)
        assert sent.success and sent.status_code == 200
        assert receiver.wait_for(1, "/hook")[0].webhook_id == sent.event_uid
    api.delete_webhook(p, ANNOTATE)
    assert api.list_webhooks(p) == []
    with pytest.raises(ApiError) as err:
        api.set_webhook(p, REVIEW, "https://hooks.example.com/")
    assert err.value.status == 422 and "Annotate" in err.value.message


def test_tasks_actions_moves_and_label_rows(api: Api) -> None:
    dataset_hash, _ = api.dataset_with_units(3)
    p = api.create_project("p", [dataset_hash], workflow=basic_workflow()).project_hash
    tasks = api.tasks(p, stage_uuid=ANNOTATE)
    assert len(tasks) == 3 and all(isinstance(t, Task) for t in tasks)
    assert len(list(api.iter_tasks(p, page_size=1))) == 3
    result = api.act(p, ANNOTATE, [{"task_uuid": tasks[0].task_uuid, "action": "SUBMIT"}])
    assert result.tasks[0].stage_uuid == REVIEW
    assert [t.task_uuid for t in api.tasks(p, stage_uuid=REVIEW)] == [tasks[0].task_uuid]
    history = api.get_task(p, tasks[0].task_uuid).history
    assert history is not None and [h.action for h in history][-1] == "SUBMIT"
    moved = api.move_task(p, tasks[1].task_uuid, COMPLETE)
    assert moved.task.stage_uuid == COMPLETE
    row = api.get_label_row(p, tasks[2].label_hash)
    saved = api.put_label_row(p, row.label_hash, {"note": "cat"}, row.version)
    assert saved.version == row.version + 1 and saved.labels == {"note": "cat"}
    with pytest.raises(ApiError) as err:
        api.put_label_row(p, row.label_hash, {"note": "dog"}, row.version)
    assert err.value.status == 409 and err.value.code == "conflict"


@pytest.mark.settings(retry_schedule=[0, 0.1])
def test_delivery_log_retry_and_recover(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/hook", [Response(status=500), Response(status=500)])
        dataset_hash, _ = api.dataset_with_units(1)
        workflow = basic_workflow(annotate_webhook=receiver.url("/hook"))
        p = api.create_project("p", [dataset_hash], workflow=workflow).project_hash
        before = datetime.now(UTC) - timedelta(minutes=1)
        task = api.tasks(p)[0]
        api.act(p, ANNOTATE, [{"task_uuid": task.task_uuid, "action": "SUBMIT"}])

        def failed() -> Delivery | None:
            rows = list(api.iter_deliveries(p, status="failed", since=before))
            return rows[0] if rows else None

        delivery = wait_until(failed, 15, "the delivery to fail twice")
        assert delivery.attempts == 2 and delivery.attempts_log[0].status_code == 500
        detail = api.get_delivery(p, delivery.id)
        assert detail.body is not None and task.data_hash in detail.body
        assert api.recover(p, ANNOTATE, before).requeued == 1
        receiver.wait_for(3, "/hook")
        wait_until(lambda: api.get_delivery(p, delivery.id).status == "delivered", 15, "delivery")
        again = api.retry_delivery(p, delivery.id)
        assert again.event_uid == delivery.event_uid
        ids = {r.webhook_id for r in receiver.wait_for(4, "/hook")}
        assert ids == {delivery.event_uid}, "every attempt carries the same event uid"
        kinds = {d.event_type for d in api.iter_deliveries(p, event_type="task_submitted_event")}
        assert kinds == {"task_submitted_event"}


def test_users_keys_members_and_meta(api: Api) -> None:
    user = api.create_user("anna", password="correct horse")
    assert "anna" in [u.username for u in api.iter_users(page_size=1)]
    key = api.create_api_key(user.user_id, "laptop")
    assert key.api_key and key.name == "laptop"
    p = api.create_project("p", [], workflow=basic_workflow()).project_hash
    with api.as_key(key.api_key) as anna:
        with pytest.raises(ApiError) as err:
            anna.get_project(p)
        assert err.value.status in (403, 404)
        assert api.set_member(p, user.user_id, "annotator").role == "annotator"
        assert anna.get_project(p).your_role == "annotator"
    assert api.deactivate_user(user.user_id).active is False
    with api.as_key(key.api_key) as anna, pytest.raises(ApiError) as err:
        anna.get_project(p)
    assert err.value.status == 401
    assert api.reactivate_user(user.user_id).active is True
    api.revoke_api_key(key.key_id)
    with api.as_key(key.api_key) as anna, pytest.raises(ApiError) as err:
        anna.get_project(p)
    assert err.value.status == 401
    meta = api.meta()
    assert meta.deployment == "default" and meta.egress_cidrs == []


def test_client_local_reads_the_running_servers_files(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = str(api.http.base_url).removesuffix("/").removesuffix("/api/v1")
    monkeypatch.delenv("STAGEHOOK_URL", raising=False)
    monkeypatch.delenv("STAGEHOOK_API_KEY", raising=False)
    monkeypatch.delenv("STAGEHOOK_BOOTSTRAP_API_KEY", raising=False)
    data_dir = tmp_path / "client"
    data_dir.mkdir()
    from stagehook.connection import KEY_FILE, write_server_file

    write_server_file(data_dir, base)
    (data_dir / KEY_FILE).write_text(ADMIN_KEY + "\n")
    with Client.local(data_dir) as sh:
        assert sh.meta().event_source == "stagehook"
        assert sh.create_dataset("via local").title == "via local"


def test_ontologies_images_and_export(api: Api) -> None:
    ontology = api.create_ontology("streets", ontology_structure(), description="city")
    assert ontology.structure["objects"][0]["name"] == "Car"
    assert [o.ontology_hash for o in api.iter_ontologies(page_size=1)] == [ontology.ontology_hash]
    grown = ontology.structure | {"classifications": ontology.structure["classifications"]}
    grown["objects"] = [*grown["objects"], {"name": "Bike", "shape": "point", "color": "#00AA00"}]
    updated = api.put_ontology(ontology.ontology_hash, "streets v2", grown)
    assert [o["name"] for o in updated.structure["objects"]][-1] == "Bike"
    assert api.get_ontology(ontology.ontology_hash).title == "streets v2"

    dataset = api.create_dataset("photos").dataset_hash
    picture = image_bytes("PNG", (200, 100), seed=7)
    [unit] = api.upload_images(dataset, [("street.png", picture)])
    assert (unit.width, unit.height, unit.mime_type) == (200, 100, "image/png")
    assert api.data_unit_content(unit.data_hash) == picture
    assert [u.data_hash for u in api.iter_data_units(dataset, sha256=unit.sha256)] == [
        unit.data_hash
    ]

    project = api.create_project(
        "streets", [dataset], workflow=basic_workflow(), ontology_hash=ontology.ontology_hash
    )
    task = api.tasks(project.project_hash)[0]
    label_row = api.get_label_row(project.project_hash, task.label_hash)
    api.put_label_row(
        project.project_hash,
        task.label_hash,
        row(unit.data_hash, [box(x=0.1, y=0.2, w=0.3, h=0.4)]),
        label_row.version,
    )
    exported = b"".join(api.export(project.project_hash, "coco"))
    assert b'"annotations"' in exported and b"street.png" in exported
    with pytest.raises(ApiError) as err:
        b"".join(api.export(project.project_hash, "yaml"))
    assert err.value.status == 422
