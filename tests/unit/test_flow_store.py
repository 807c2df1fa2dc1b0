"""The emulator's Flow/template store (gateway.emulator.flow_store) against Meta's rules:
the lifecycle of reference/flows.md §C2, the error codes and words of Meta's Flows
error-codes page, validation_errors in the §A9 shape with positions, paging, previews."""

from __future__ import annotations

import json
import re

import pytest

from gateway.emulator import flow_store as fs
from gateway.emulator.flow_store import FlowStore, Refusal, TemplateStore, check_flow_json

DAY = 24 * 3600
T0 = 1_750_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def flow_json(*, version: str = "7.3", footer: bool = True, extra: str = "") -> str:
    """A small valid Flow JSON text, laid out over lines as people write it."""
    footer_text = (
        ',\n            {"type": "Footer", "label": "Done",'
        ' "on-click-action": {"name": "complete", "payload": {}}}'
        if footer
        else ""
    )
    return (
        "{\n"
        f'  "version": "{version}",{extra}\n'
        '  "screens": [\n'
        "    {\n"
        '      "id": "WELCOME",\n'
        '      "title": "Hi",\n'
        '      "terminal": true,\n'
        '      "layout": {\n'
        '        "type": "SingleColumnLayout",\n'
        '        "children": [\n'
        '            {"type": "TextBody", "text": "Hello"}'
        f"{footer_text}\n"
        "        ]\n"
        "      }\n"
        "    }\n"
        "  ]\n"
        "}\n"
    )


VALID = flow_json()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> FlowStore:
    return FlowStore(clock)


def refused(code: int, message: str | None = None) -> pytest.RaisesExc[Refusal]:
    match = re.escape(f"({code}) {message}") if message else re.escape(f"({code})")
    return pytest.raises(Refusal, match=match)


def in_status(store: FlowStore, status: str, name: str = "f") -> str:
    """A flow brought to ``status`` the way it gets there."""
    flow = store.create(name, ["OTHER"], flow_json=VALID)
    if status == "DRAFT":
        return flow.id
    store.publish(flow.id)
    if status in ("THROTTLED", "BLOCKED", "DEPRECATED"):
        store.set_status(flow.id, "THROTTLED")
    if status == "BLOCKED":
        store.set_status(flow.id, "BLOCKED")
    if status == "DEPRECATED":
        store.deprecate(flow.id)
    assert store.get(flow.id).status == status
    return flow.id


# -- create --------------------------------------------------------------------------------


def test_create_is_draft_and_logged(store: FlowStore, clock: Clock) -> None:
    flow = store.create("signup", ["SIGN_UP"], endpoint_uri="https://e.example/flow")
    assert flow.status == "DRAFT"
    assert flow.id.isdigit()
    assert (flow.name, flow.categories, flow.endpoint_uri) == (
        "signup",
        ["SIGN_UP"],
        "https://e.example/flow",
    )
    assert flow.json_text is None
    assert flow.updated_at == int(T0)
    assert store.changes == [(flow.id, None, "DRAFT")]
    assert store.get(flow.id) is flow


def test_id_prefix_and_distinct_ids(clock: Clock) -> None:
    store = FlowStore(clock, id_prefix="9")
    a, b = store.create("a", ["OTHER"]), store.create("b", ["OTHER"])
    assert a.id.startswith("9")
    assert a.id != b.id


def test_create_with_publish_and_valid_json_is_published(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"], flow_json=VALID, publish=True)
    assert flow.status == "PUBLISHED"
    assert flow.validation_errors == []
    assert store.changes == [(flow.id, None, "PUBLISHED")]


def test_create_with_publish_and_invalid_json_stays_draft(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"], flow_json=flow_json(footer=False), publish=True)
    assert flow.status == "DRAFT"
    assert [e["error"] for e in flow.validation_errors] == ["MISSING_FOOTER_ON_TERMINAL_SCREEN"]


def test_create_with_publish_without_json_stays_draft(store: FlowStore) -> None:
    assert store.create("f", ["OTHER"], publish=True).status == "DRAFT"


def test_name_taken_is_refused_with_metas_words(store: FlowStore) -> None:
    store.create("f", ["OTHER"])
    with refused(100, "Flow name is not unique"):
        store.create("f", ["SURVEY"])


def test_deprecated_flow_keeps_its_name(store: FlowStore) -> None:
    in_status(store, "DEPRECATED", name="old")
    with refused(100, fs.NAME_TAKEN):
        store.create("old", ["OTHER"])


def test_deleted_flow_frees_its_name(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"])
    store.delete(flow.id)
    assert store.create("f", ["OTHER"]).id != flow.id


def test_categories_are_required(store: FlowStore) -> None:
    with refused(100):
        store.create("f", [])


def test_unknown_id_is_refused(store: FlowStore) -> None:
    for call in (store.get, store.publish, store.deprecate, store.delete, store.preview):
        with refused(100, "Flow with specified ID does not exist"):
            call("404")
    with refused(100):
        store.upload("404", VALID)
    with refused(100):
        store.update_metadata("404", name="x")


def test_refusal_carries_code_message_and_http() -> None:
    r = Refusal(139002, "Publishing Flow in invalid state")
    assert (r.code, r.message, r.http, r.subcode) == (139002, r.message, 400, None)


# -- clone ---------------------------------------------------------------------------------


def test_clone_copies_json_and_categories(store: FlowStore) -> None:
    src = store.create("src", ["SURVEY", "OTHER"], flow_json=VALID, publish=True)
    store.get(src.id).frozen = True
    copy = store.create("src (2)", [], clone_flow_id=src.id)
    assert copy.id != src.id
    assert (copy.json_text, copy.categories, copy.status) == (VALID, ["SURVEY", "OTHER"], "DRAFT")
    assert copy.json_version == "7.3"
    assert not copy.frozen
    store.publish(copy.id)


def test_clone_with_own_categories_and_json(store: FlowStore) -> None:
    src = store.create("src", ["SURVEY"], flow_json=VALID)
    other = flow_json(version="7.2")
    copy = store.create("c", ["LEAD_GENERATION"], clone_flow_id=src.id, flow_json=other)
    assert (copy.categories, copy.json_text) == (["LEAD_GENERATION"], other)


def test_clone_of_unknown_flow_is_refused(store: FlowStore) -> None:
    with refused(100, fs.UNKNOWN_FLOW):
        store.create("c", ["OTHER"], clone_flow_id="404")
    assert store.changes == []


def test_clone_copies_invalid_json_with_its_errors(store: FlowStore) -> None:
    src = store.create("src", ["OTHER"], flow_json="{}")
    copy = store.create("c", [], clone_flow_id=src.id, publish=True)
    assert copy.status == "DRAFT"
    assert copy.validation_errors == src.validation_errors


# -- edits (upload, metadata) --------------------------------------------------------------


def test_draft_edits_stay_draft(store: FlowStore, clock: Clock) -> None:
    flow = store.create("f", ["OTHER"])
    clock.now += 60
    assert store.upload(flow.id, VALID) == []
    store.update_metadata(flow.id, name="g", categories=["SURVEY"], endpoint_uri="https://x")
    flow = store.get(flow.id)
    assert (flow.status, flow.name, flow.categories, flow.endpoint_uri) == (
        "DRAFT",
        "g",
        ["SURVEY"],
        "https://x",
    )
    assert flow.updated_at == int(T0) + 60
    assert store.changes == [(flow.id, None, "DRAFT")]


@pytest.mark.parametrize("edit", ["upload", "metadata"])
def test_published_edits_revert_to_draft(store: FlowStore, edit: str) -> None:
    fid = in_status(store, "PUBLISHED")
    if edit == "upload":
        store.upload(fid, flow_json(version="7.2"))
    else:
        store.update_metadata(fid, categories=["SURVEY"])
    assert store.get(fid).status == "DRAFT"
    assert store.changes[-2:] == [(fid, "DRAFT", "PUBLISHED"), (fid, "PUBLISHED", "DRAFT")]
    store.publish(fid)  # re-publish needed, and allowed
    assert store.get(fid).status == "PUBLISHED"


@pytest.mark.parametrize("edit", ["upload", "metadata"])
def test_frozen_flow_cannot_be_updated(store: FlowStore, edit: str) -> None:
    fid = in_status(store, "PUBLISHED")
    store.get(fid).frozen = True
    with refused(139001, "Flow can't be updated"):
        if edit == "upload":
            store.upload(fid, VALID)
        else:
            store.update_metadata(fid, name="new")
    assert store.get(fid).status == "PUBLISHED"
    assert store.get(fid).name == "f"


@pytest.mark.parametrize("status", ["DEPRECATED", "THROTTLED", "BLOCKED"])
def test_edits_refused_outside_draft_and_published(store: FlowStore, status: str) -> None:
    fid = in_status(store, status)
    with refused(139001, fs.CANT_UPDATE):
        store.upload(fid, VALID)
    with refused(139001):
        store.update_metadata(fid, name="x")
    assert store.get(fid).status == status


def test_rename_to_taken_name_is_refused(store: FlowStore) -> None:
    store.create("a", ["OTHER"])
    b = store.create("b", ["OTHER"])
    with refused(100, fs.NAME_TAKEN):
        store.update_metadata(b.id, name="a")
    store.update_metadata(b.id, name="b")  # its own name is fine


def test_upload_of_invalid_json_is_stored_with_errors(store: FlowStore) -> None:
    fid = in_status(store, "PUBLISHED")
    errors = store.upload(fid, "not json")
    flow = store.get(fid)
    assert [e["error"] for e in errors] == ["INVALID_FLOW_JSON"]
    assert (flow.json_text, flow.validation_errors, flow.status) == ("not json", errors, "DRAFT")
    assert (flow.json_version, flow.data_api_version) == (None, None)


def test_versions_are_read_from_the_json(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"])
    store.upload(flow.id, flow_json(version="7.1", extra=' "data_api_version": "4.0",'))
    assert (flow.json_version, flow.data_api_version) == ("7.1", "4.0")


# -- publish / deprecate / delete ----------------------------------------------------------


def test_publish_from_draft(store: FlowStore) -> None:
    fid = in_status(store, "DRAFT")
    store.publish(fid)
    assert store.get(fid).status == "PUBLISHED"
    assert store.changes[-1] == (fid, "DRAFT", "PUBLISHED")


def test_publish_without_json_is_refused(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"])
    with refused(139002, "Publishing Flow with validation errors"):
        store.publish(flow.id)


def test_publish_with_validation_errors_is_refused(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"], flow_json=flow_json(version="2.1"))
    with refused(139002, fs.PUBLISH_INVALID):
        store.publish(flow.id)
    assert flow.status == "DRAFT"


@pytest.mark.parametrize("status", ["PUBLISHED", "THROTTLED", "BLOCKED", "DEPRECATED"])
def test_publish_outside_draft_is_refused(store: FlowStore, status: str) -> None:
    fid = in_status(store, status)
    with refused(139002, "Publishing Flow in invalid state"):
        store.publish(fid)


def test_endpoint_flow_needs_endpoint_uri_to_publish(store: FlowStore) -> None:
    text = flow_json(extra=' "data_api_version": "3.0",')
    flow = store.create("f", ["OTHER"], flow_json=text, publish=True)
    assert flow.status == "DRAFT"
    with refused(139002, fs.PUBLISH_NO_ENDPOINT):
        store.publish(flow.id)
    store.update_metadata(flow.id, endpoint_uri="https://e.example/flow")
    store.publish(flow.id)
    assert flow.status == "PUBLISHED"


@pytest.mark.parametrize("status", ["PUBLISHED", "THROTTLED", "BLOCKED"])
def test_deprecate_from_sendable_states(store: FlowStore, status: str) -> None:
    fid = in_status(store, status)
    store.deprecate(fid)
    assert store.get(fid).status == "DEPRECATED"
    assert store.changes[-1] == (fid, status, "DEPRECATED")


def test_deprecate_a_draft_is_refused(store: FlowStore) -> None:
    fid = in_status(store, "DRAFT")
    with refused(139003, "Can't deprecate unpublished flow"):
        store.deprecate(fid)


def test_deprecated_is_terminal(store: FlowStore) -> None:
    fid = in_status(store, "DEPRECATED")
    with refused(139003, "Flow is already deprecated"):
        store.deprecate(fid)
    with refused(139002):
        store.publish(fid)
    with refused(139004):
        store.delete(fid)
    with refused(139001):
        store.upload(fid, VALID)


def test_delete_a_draft(store: FlowStore) -> None:
    fid = in_status(store, "DRAFT")
    store.delete(fid)
    with refused(100, fs.UNKNOWN_FLOW):
        store.get(fid)
    assert store.page(None, 10) == ([], None)


@pytest.mark.parametrize("status", ["PUBLISHED", "THROTTLED", "BLOCKED", "DEPRECATED"])
def test_delete_outside_draft_is_refused(store: FlowStore, status: str) -> None:
    fid = in_status(store, status)
    with refused(139004, "Can't delete published Flow"):
        store.delete(fid)
    assert store.get(fid).status == status


def test_system_moves(store: FlowStore) -> None:
    fid = in_status(store, "PUBLISHED")
    store.set_status(fid, "THROTTLED")
    store.set_status(fid, "THROTTLED")  # no change, no entry
    store.set_status(fid, "BLOCKED")
    store.set_status(fid, "THROTTLED")
    store.set_status(fid, "PUBLISHED")
    assert store.changes[2:] == [
        (fid, "PUBLISHED", "THROTTLED"),
        (fid, "THROTTLED", "BLOCKED"),
        (fid, "BLOCKED", "THROTTLED"),
        (fid, "THROTTLED", "PUBLISHED"),
    ]
    with pytest.raises(ValueError, match="unknown flow status"):
        store.set_status(fid, "GONE")


def test_changes_log_a_whole_life(store: FlowStore) -> None:
    flow = store.create("f", ["OTHER"], flow_json=VALID)
    store.publish(flow.id)
    store.upload(flow.id, flow_json(version="7.2"))
    store.upload(flow.id, VALID)  # a draft edit: no change
    store.publish(flow.id)
    store.deprecate(flow.id)
    assert store.changes == [
        (flow.id, None, "DRAFT"),
        (flow.id, "DRAFT", "PUBLISHED"),
        (flow.id, "PUBLISHED", "DRAFT"),
        (flow.id, "DRAFT", "PUBLISHED"),
        (flow.id, "PUBLISHED", "DEPRECATED"),
    ]


# -- paging --------------------------------------------------------------------------------


def test_paging_in_creation_order(store: FlowStore) -> None:
    ids = [store.create(f"f{n}", ["OTHER"]).id for n in range(5)]
    seen, after, pages = [], None, 0
    while True:
        items, after = store.page(after, 2)
        seen += [f.id for f in items]
        pages += 1
        if after is None:
            break
        assert not any(i in after for i in ids)  # opaque: no ids in the cursor
    assert (seen, pages) == (ids, 3)


def test_paging_is_stable_across_deletes(store: FlowStore) -> None:
    ids = [store.create(f"f{n}", ["OTHER"]).id for n in range(4)]
    first, after = store.page(None, 2)
    store.delete(ids[1])
    store.delete(ids[2])
    rest, last = store.page(after, 2)
    assert [f.id for f in first] == ids[:2]
    assert ([f.id for f in rest], last) == ([ids[3]], None)


def test_paging_exact_fit_and_limit_floor(store: FlowStore) -> None:
    ids = [store.create(f"f{n}", ["OTHER"]).id for n in range(2)]
    assert [f.id for f in store.page(None, 2)[0]] == ids
    assert store.page(None, 2)[1] is None
    items, after = store.page(None, 0)
    assert len(items) == 1
    assert after is not None


@pytest.mark.parametrize("cursor", ["garbage!", "Zm9v", "dGVtcGxhdGU6MQ"])
def test_foreign_cursor_is_refused(store: FlowStore, cursor: str) -> None:
    store.create("f", ["OTHER"])
    with refused(100):
        store.page(cursor, 10)


# -- preview and assets --------------------------------------------------------------------

PREVIEW = re.compile(r"https://business\.facebook\.com/wa/manage/flows/(\d+)/preview/\?token=(.+)")


def test_preview_url_and_expiry(store: FlowStore) -> None:
    fid = in_status(store, "DRAFT")
    url, expires = store.preview(fid)
    match = PREVIEW.fullmatch(url)
    assert match
    assert match.group(1) == fid
    assert expires == int(T0) + 30 * DAY
    assert store.preview(fid) == (url, expires)  # the same until rotated
    flow = store.get(fid)
    assert (flow.preview_url, flow.preview_expires) == (url, expires)


def test_preview_invalidate_rotates_the_token(store: FlowStore, clock: Clock) -> None:
    fid = in_status(store, "DRAFT")
    url, _ = store.preview(fid)
    clock.now += DAY
    new_url, expires = store.preview(fid, invalidate=True)
    assert new_url != url
    assert expires == int(T0) + 31 * DAY


def test_expired_preview_gets_a_new_token(clock: Clock) -> None:
    tokens = iter(["one", "two"])
    store = FlowStore(clock, token=lambda: next(tokens))
    fid = in_status(store, "DRAFT")
    assert store.preview(fid)[0].endswith("token=one")
    clock.now += 30 * DAY
    assert store.preview(fid)[0].endswith("token=two")


def test_asset_url(store: FlowStore, clock: Clock) -> None:
    flow = store.create("f", ["OTHER"])
    assert store.asset_url(flow.id) is None
    store.upload(flow.id, VALID)
    first = store.asset_url(flow.id)
    assert first is not None
    assert first.startswith("/")
    assert flow.id in first
    clock.now += 5
    store.upload(flow.id, flow_json(version="7.2"))
    assert store.asset_url(flow.id) not in (None, first)


# -- validation errors ---------------------------------------------------------------------


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def only(errors: list[dict[str, object]]) -> dict[str, object]:
    assert len(errors) == 1, errors
    return errors[0]


def assert_at(err: dict[str, object], text: str, needle: str, nth: int = 0) -> None:
    line, col = where(text, needle, nth)
    assert (err["line_start"], err["column_start"]) == (line, col)
    assert err["line_end"] == line
    assert err["column_end"] == col + len(needle)


def test_valid_json_has_no_errors() -> None:
    assert check_flow_json(VALID) == []


def test_error_shape_is_metas() -> None:
    text = flow_json(version="2.1")
    err = only(check_flow_json(text))
    assert set(err) == {
        "error",
        "error_type",
        "message",
        "line_start",
        "line_end",
        "column_start",
        "column_end",
        "pointers",
    }
    assert (err["error"], err["error_type"]) == ("UNSUPPORTED_FLOW_JSON_VERSION", "FLOW_JSON_ERROR")
    box = {k: err[k] for k in ("line_start", "line_end", "column_start", "column_end")}
    assert err["pointers"] == [{**box, "path": "version"}]
    assert_at(err, text, '"version": "2.1"')


def test_text_that_is_not_json() -> None:
    text = '{\n  "version": "7.3",\n  "screens": [\n}'
    err = only(check_flow_json(text))
    assert err["error"] == "INVALID_FLOW_JSON"
    assert (err["line_start"], err["column_start"]) == (4, 1)
    assert "pointers" not in err


@pytest.mark.parametrize("text", ["[]", '"flow"', "3"])
def test_json_that_is_not_an_object(text: str) -> None:
    err = only(check_flow_json(text))
    assert err["error"] == "INVALID_FLOW_JSON"
    assert (err["line_start"], err["column_start"], err["column_end"]) == (1, 1, len(text) + 1)


def test_missing_version() -> None:
    text = VALID.replace('  "version": "7.3",\n', "")
    err = only(check_flow_json(text))
    assert err["error"] == "MISSING_FLOW_JSON_VERSION"
    box = {k: v for k, v in err.items() if k.startswith(("line", "column"))}
    assert err["pointers"] == [{**box, "path": ""}]
    assert (err["line_start"], err["column_start"]) == (1, 1)


@pytest.mark.parametrize("version", ["2.1", "5.0", "7.4", "8"])
def test_unsupported_version(version: str) -> None:
    assert only(check_flow_json(flow_json(version=version)))["error"] == (
        "UNSUPPORTED_FLOW_JSON_VERSION"
    )


def test_version_that_is_not_a_string() -> None:
    text = VALID.replace('"version": "7.3"', '"version": [7, 3]')
    assert only(check_flow_json(text))["error"] == "UNSUPPORTED_FLOW_JSON_VERSION"


def test_versions_are_a_setting(clock: Clock) -> None:
    store = FlowStore(clock, versions={"7.4"})
    assert store.create(
        "f", ["OTHER"], flow_json=flow_json(version="7.4"), publish=True
    ).status == ("PUBLISHED")
    assert check_flow_json(flow_json(version="7.4"), {"7.4"}) == []


def test_unsupported_data_api_version() -> None:
    text = flow_json(extra=' "data_api_version": "2.0",')
    err = only(check_flow_json(text))
    assert err["error"] == "NO_SUPPORTED_DATA_API_VERSION"
    assert_at(err, text, '"data_api_version": "2.0"')


def test_missing_screens() -> None:
    err = only(check_flow_json('{"version": "7.3"}'))
    assert (err["error"], err["error_type"]) == ("MISSING_REQUIRED_PROPERTY", "JSON_SCHEMA_ERROR")


def test_empty_screens() -> None:
    text = '{\n  "version": "7.3",\n  "screens": []\n}'
    err = only(check_flow_json(text))
    assert err["error"] == "MIN_ITEMS_REQUIRED"
    assert err["pointers"][0]["path"] == "screens"  # type: ignore[index]
    assert_at(err, text, '"screens": []')


def test_duplicate_screen_ids_point_at_the_second_id() -> None:
    screen = '{"id": "A", "layout": {"type": "SingleColumnLayout", "children": []}}'
    last = (
        '{"id": "END", "terminal": true, "layout": {"type": "SingleColumnLayout", "children": '
        '[{"type": "Footer", "label": "Go", "on-click-action": {"name": "complete"}}]}}'
    )
    text = f'{{"version": "7.3",\n "screens": [\n  {screen},\n  {screen},\n  {last}]}}'
    err = only(check_flow_json(text))
    assert err["error"] == "DUPLICATE_SCREEN_IDS"
    assert err["pointers"][0]["path"] == "screens[1].id"  # type: ignore[index]
    assert_at(err, text, '"id": "A"', nth=1)


def test_no_terminal_screen() -> None:
    text = VALID.replace('"terminal": true', '"terminal": false')
    err = only(check_flow_json(text))
    assert err["error"] == "MISSING_TERMINAL_SCREEN"
    assert err["pointers"][0]["path"] == "screens"  # type: ignore[index]
    assert where(text, '"screens"')[0] == err["line_start"]
    assert err["line_end"] == text.count("\n") - 1  # the array's closing bracket


def test_terminal_screen_without_footer() -> None:
    text = flow_json(footer=False)
    err = only(check_flow_json(text))
    assert err["error"] == "MISSING_FOOTER_ON_TERMINAL_SCREEN"
    assert err["pointers"][0]["path"] == "screens[0].terminal"  # type: ignore[index]
    assert_at(err, text, '"terminal": true')


@pytest.mark.parametrize(
    "wrap",
    [
        '{{"type": "Form", "name": "f", "children": [{footer}]}}',
        '{{"type": "If", "condition": "${{data.x}}", "then": [{footer}], "else": [{footer}]}}',
        '{{"type": "Switch", "value": "${{data.x}}", "cases": {{"a": [{footer}]}}}}',
    ],
)
def test_footer_found_in_form_if_and_switch(wrap: str) -> None:
    footer = '{"type": "Footer", "label": "Done", "on-click-action": {"name": "complete"}}'
    child = wrap.format(footer=footer)
    text = json.dumps(
        {
            "version": "7.3",
            "screens": [
                {
                    "id": "S",
                    "terminal": True,
                    "layout": {"type": "SingleColumnLayout", "children": [json.loads(child)]},
                }
            ],
        },
        indent=2,
    )
    assert check_flow_json(text) == []


def test_several_errors_at_once_and_odd_screens() -> None:
    text = json.dumps({"version": "1.0", "screens": [1, {"id": ["x"]}, {"id": ["x"]}]})
    assert [e["error"] for e in check_flow_json(text)] == [
        "UNSUPPORTED_FLOW_JSON_VERSION",
        "MISSING_TERMINAL_SCREEN",
    ]


def test_positions_survive_escapes_and_unicode() -> None:
    text = '{"title": "caf\\u00e9 \\"x\\" ✓", "version": "2.1", "screens": []}'
    errors = check_flow_json(text)
    assert [e["error"] for e in errors] == ["UNSUPPORTED_FLOW_JSON_VERSION", "MIN_ITEMS_REQUIRED"]
    assert_at(errors[0], text, '"version": "2.1"')
    assert_at(errors[1], text, '"screens": []')


# -- templates -----------------------------------------------------------------------------


@pytest.fixture
def templates() -> TemplateStore:
    t = TemplateStore()
    body = [{"type": "BODY", "text": "Hi"}]
    t.add("welcome", "en_US", "MARKETING", body)
    t.add("welcome", "pt_BR", "MARKETING", body)
    t.add("receipt", "en_US", "UTILITY", body, status="PENDING")
    t.add("code", "en_US", "AUTHENTICATION", body, status="REJECTED")
    return t


def names(items: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(t["name"], t["language"]) for t in items]


def test_template_add_returns_metas_shape() -> None:
    t = TemplateStore(id_prefix="7")
    item = t.add("welcome", "en_US", "MARKETING", [{"type": "BODY", "text": "Hi"}])
    assert set(item) == {"id", "name", "language", "category", "status", "components"}
    assert item["status"] == "APPROVED"
    assert str(item["id"]).startswith("7")
    assert t.get(item["id"]) is item
    assert t.changes == [(item["id"], None, "APPROVED")]


def test_template_filters(templates: TemplateStore) -> None:
    assert names(templates.page(None, 10, name="welcome")[0]) == [
        ("welcome", "en_US"),
        ("welcome", "pt_BR"),
    ]
    assert names(templates.page(None, 10, status="PENDING")[0]) == [("receipt", "en_US")]
    assert names(templates.page(None, 10, category=["UTILITY", "AUTHENTICATION"])[0]) == [
        ("receipt", "en_US"),
        ("code", "en_US"),
    ]
    assert names(templates.page(None, 10, language="pt_BR")[0]) == [("welcome", "pt_BR")]
    assert names(templates.page(None, 10, name="welcome", language="en_US")[0]) == [
        ("welcome", "en_US")
    ]
    assert templates.page(None, 10, name="welc") == ([], None)  # exact, not partial
    assert len(templates.page(None, 10, status=None)[0]) == 4
    with pytest.raises(TypeError, match="unknown template filters"):
        templates.page(None, 10, quality="GREEN")


def test_template_paging(templates: TemplateStore) -> None:
    first, after = templates.page(None, 3)
    assert len(first) == 3
    assert after is not None
    rest, last = templates.page(after, 3)
    assert (names(rest), last) == ([("code", "en_US")], None)
    flows = FlowStore(Clock())
    flows.create("a", ["OTHER"])
    flows.create("b", ["OTHER"])
    flow_cursor = flows.page(None, 1)[1]
    assert flow_cursor
    with refused(100):  # a Flow cursor means nothing to the template list
        templates.page(flow_cursor, 3)


def test_template_get_unknown(templates: TemplateStore) -> None:
    with refused(100, "Message template not found") as info:
        templates.get("404")
    assert info.value.subcode == 2593002


def test_template_delete_by_name_takes_all_languages(templates: TemplateStore) -> None:
    assert templates.delete("welcome") == 2
    assert names(templates.page(None, 10)[0]) == [("receipt", "en_US"), ("code", "en_US")]


def test_template_delete_one_id(templates: TemplateStore) -> None:
    pt = templates.page(None, 10, language="pt_BR")[0][0]
    assert templates.delete("welcome", template_id=str(pt["id"])) == 1
    assert names(templates.page(None, 10, name="welcome")[0]) == [("welcome", "en_US")]


def test_template_delete_one_language(templates: TemplateStore) -> None:
    assert templates.delete("welcome", language="en_US") == 1
    assert names(templates.page(None, 10, name="welcome")[0]) == [("welcome", "pt_BR")]


def test_template_delete_unknown(templates: TemplateStore) -> None:
    receipt = templates.page(None, 10, name="receipt")[0][0]
    for args in (
        ("nope", None, None),
        ("welcome", str(receipt["id"]), None),
        ("welcome", None, "de"),
    ):
        with refused(100, fs.TEMPLATE_NOT_FOUND) as info:
            templates.delete(*args)
        assert info.value.subcode == 2593002
    assert len(templates.page(None, 10)[0]) == 4


def test_template_paging_survives_deletes(templates: TemplateStore) -> None:
    first, after = templates.page(None, 2)
    templates.delete("receipt")
    rest, last = templates.page(after, 2)
    assert (names(rest), last) == ([("code", "en_US")], None)
    # new ids never reuse a deleted one's place
    new = templates.add("late", "en_US", "UTILITY", [])
    assert names(templates.page(after, 5)[0]) == [("code", "en_US"), ("late", "en_US")]
    assert new["id"] not in {t["id"] for t in first}


def test_template_status_changes(templates: TemplateStore) -> None:
    receipt = templates.page(None, 10, name="receipt")[0][0]
    tid = str(receipt["id"])
    templates.set_status(tid, "APPROVED")
    templates.set_status(tid, "APPROVED")
    assert templates.changes[-1] == (tid, "PENDING", "APPROVED")
    assert templates.get(tid)["status"] == "APPROVED"
    assert len(templates.changes) == 5
