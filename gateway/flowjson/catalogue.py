"""Meta's Flow JSON rules as data: versions, availability, limits, enums, caps.

Property *names* come from the typed models (:mod:`gateway.flowjson.model`), so the model
and the validator cannot disagree on which keys exist; this module adds what the models
do not say: since which version, how long, which values, how many.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar, get_args

from pydantic import BaseModel

from gateway.flowjson.model import (
    COMPONENT_MODELS,
    Action,
    DataField,
    DataSourceItem,
    FlowJSON,
    NavigationContent,
    NavigationItem,
    NavigationStart,
    Next,
    Screen,
)

Version = tuple[int, int]
T = TypeVar("T")

PUBLISHABLE: frozenset[Version] = frozenset(
    {(5, 1), (6, 0), (6, 1), (6, 2), (6, 3), (7, 0), (7, 1), (7, 2), (7, 3)}
)
SENDABLE: frozenset[Version] = PUBLISHABLE | {(2, 1), (3, 0), (3, 1), (4, 0), (5, 0)}
RECOMMENDED: Version = (7, 3)
DATA_API_VERSIONS: frozenset[Version] = frozenset({(3, 0), (4, 0)})
RECOMMENDED_DATA_API: Version = (4, 0)
MAX_BYTES = 10 * 1024 * 1024
MAX_SCREENS = 100
MAX_COMPONENTS = 50


def keys_of(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """(allowed keys, required keys) of a model, as written in Flow JSON."""
    allowed, required = set(), set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        allowed.add(key)
        if field.is_required():
            required.add(key)
    return frozenset(allowed), frozenset(required)


COMPONENT_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    t: keys_of(m) for t, m in COMPONENT_MODELS.items()
}
TOP_KEYS = keys_of(FlowJSON)
SCREEN_KEYS = keys_of(Screen)
ACTION_KEYS = keys_of(Action)
NEXT_KEYS = keys_of(Next)
NEXT_TYPES = frozenset(get_args(Next.model_fields["type"].annotation))
ITEM_KEYS = keys_of(DataSourceItem)
NAV_ITEM_KEYS = keys_of(NavigationItem)
NAV_CONTENT_KEYS = keys_of(NavigationContent)
NAV_START_KEYS = keys_of(NavigationStart)
DATA_FIELD_KEYS, _ = keys_of(DataField)
DATA_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array"})

COMPONENT_SINCE: Mapping[str, Version] = {
    "PhotoPicker": (4, 0),
    "DocumentPicker": (4, 0),
    "If": (4, 0),
    "Switch": (4, 0),
    "RichText": (5, 1),
    "CalendarPicker": (6, 1),
    "NavigationList": (6, 2),
    "ChipsSelector": (6, 3),
    "ImageCarousel": (7, 1),
}
PROP_SINCE: Mapping[str, Version] = {  # "Component.prop" or "*.prop"
    "TextBody.markdown": (5, 1),
    "TextCaption.markdown": (5, 1),
    "TextInput.pattern": (6, 2),
    "*.label-variant": (7, 0),
    "*.on-unselect-action": (6, 0),
    "*.media-size": (5, 0),
    "*.init-value": (4, 0),
    "*.error-message": (4, 0),
}

INPUTS = frozenset(
    {
        "TextInput",
        "TextArea",
        "CheckboxGroup",
        "RadioButtonsGroup",
        "Dropdown",
        "ChipsSelector",
        "OptIn",
        "DatePicker",
        "CalendarPicker",
        "PhotoPicker",
        "DocumentPicker",
    }
)
PICKERS = frozenset({"PhotoPicker", "DocumentPicker"})
TEXTS = frozenset({"TextHeading", "TextSubheading", "TextBody", "TextCaption"})
IF_CHILDREN = TEXTS | frozenset(
    {
        "TextInput",
        "TextArea",
        "CheckboxGroup",
        "RadioButtonsGroup",
        "Dropdown",
        "DatePicker",
        "EmbeddedLink",
        "Footer",
        "Image",
        "OptIn",
        "Switch",
        "If",
    }
)
IF_CHILDREN_71 = IF_CHILDREN | {"ChipsSelector"}
MAX_IF_DEPTH = 3

TEXT_LIMITS: Mapping[str, int] = {  # "Component.prop" → max characters of a static value
    "TextHeading.text": 80,
    "TextSubheading.text": 80,
    "TextBody.text": 4096,
    "TextCaption.text": 4096,
    "TextInput.label": 20,
    "TextInput.helper-text": 80,
    "TextInput.error-message": 30,
    "TextArea.label": 20,
    "TextArea.helper-text": 80,
    "CheckboxGroup.label": 30,
    "CheckboxGroup.description": 300,
    "RadioButtonsGroup.label": 30,
    "RadioButtonsGroup.description": 300,
    "Dropdown.label": 20,
    "ChipsSelector.label": 80,
    "ChipsSelector.description": 300,
    "Footer.label": 35,
    "Footer.left-caption": 15,
    "Footer.center-caption": 15,
    "Footer.right-caption": 15,
    "OptIn.label": 120,
    "EmbeddedLink.text": 25,
    "DatePicker.label": 40,
    "DatePicker.helper-text": 80,
    "DatePicker.error-message": 80,
    "CalendarPicker.label": 40,
    "CalendarPicker.title": 80,
    "CalendarPicker.description": 300,
    "CalendarPicker.helper-text": 80,
    "CalendarPicker.error-message": 80,
    "PhotoPicker.label": 80,
    "PhotoPicker.description": 300,
    "DocumentPicker.label": 80,
    "DocumentPicker.description": 300,
    "NavigationList.label": 80,
    "NavigationList.description": 300,
    "item.title": 30,
    "item.description": 300,
    "item.metadata": 20,
    "nav.main-content.title": 30,
    "nav.main-content.description": 20,
    "nav.main-content.metadata": 80,
    "nav.end.title": 10,
    "nav.end.description": 10,
    "nav.end.metadata": 10,
    "nav.badge": 15,
    "nav.tag": 15,
}

ENUMS: Mapping[str, frozenset[str]] = {
    "TextInput.input-type": frozenset({"text", "number", "email", "password", "passcode", "phone"}),
    "*.font-weight": frozenset({"bold", "italic", "bold_italic", "normal"}),
    "*.label-variant": frozenset({"large"}),
    "*.media-size": frozenset({"regular", "large"}),
    "*.scale-type": frozenset({"cover", "contain"}),
    "PhotoPicker.photo-source": frozenset({"camera_gallery", "camera", "gallery"}),
    "CalendarPicker.mode": frozenset({"single", "range"}),
    "ImageCarousel.aspect-ratio": frozenset({"4:3", "16:9"}),
    "DocumentPicker.allowed-mime-types": frozenset(
        {
            "application/gzip",
            "application/msword",
            "application/pdf",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.oasis.opendocument.presentation",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/x-7z-compressed",
            "application/zip",
            "image/avif",
            "image/gif",
            "image/heic",
            "image/heif",
            "image/jpeg",
            "image/png",
            "image/tiff",
            "image/webp",
            "text/plain",
            "video/mp4",
            "video/mpeg",
        }
    ),
    "CalendarPicker.include-days": frozenset({"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
}

ITEM_COUNTS: Mapping[str, tuple[str, int, int]] = {  # component → (list key, min, max)
    "CheckboxGroup": ("data-source", 1, 20),
    "RadioButtonsGroup": ("data-source", 1, 20),
    "Dropdown": ("data-source", 1, 200),
    "ChipsSelector": ("data-source", 2, 20),
    "NavigationList": ("list-items", 1, 20),
    "ImageCarousel": ("images", 1, 3),
}
NUMBER_RANGES: Mapping[str, tuple[int, int]] = {
    "PhotoPicker.max-file-size-kb": (1, 25600),
    "DocumentPicker.max-file-size-kb": (1, 25600),
    "PhotoPicker.min-uploaded-photos": (0, 30),
    "PhotoPicker.max-uploaded-photos": (1, 30),
    "DocumentPicker.min-uploaded-documents": (0, 30),
    "DocumentPicker.max-uploaded-documents": (1, 30),
}
MIN_MAX_PAIRS: tuple[tuple[str, str], ...] = (
    ("min-selected-items", "max-selected-items"),
    ("min-chars", "max-chars"),
    ("min-uploaded-photos", "max-uploaded-photos"),
    ("min-uploaded-documents", "max-uploaded-documents"),
    ("min-days", "max-days"),
    ("min-date", "max-date"),
)

# Codes: the error-codes page names three caps; for the others, the names Meta's own
# validator uses (its V7.3 chain, as extracted in eudresfs/whatsapp-flows
# references/v703-validation-rules.md): a cap it has no page entry for is
# COMPONENT_TYPE_MAX_NUMBER_PER_SCREEN, the 50 components MAX_ALLOWED_COMPONENTS_PER_SCREEN.
PER_TYPE_CAP = "COMPONENT_TYPE_MAX_NUMBER_PER_SCREEN"
PER_SCREEN_CAPS: Mapping[str, tuple[int, str]] = {
    "EmbeddedLink": (2, "MAX_EMBEDDED_LINK_PER_SCREEN"),
    "Image": (3, "MAX_IMAGE_PER_SCREEN"),
    "OptIn": (5, "MAX_OPT_IN_PER_SCREEN"),
    "ImageCarousel": (2, PER_TYPE_CAP),
    "NavigationList": (2, PER_TYPE_CAP),
}
MAX_CAROUSELS_PER_FLOW = 3

ACTIONS_ALLOWED: Mapping[str, frozenset[str]] = {  # "Component.prop" → action names
    "Footer.on-click-action": frozenset({"navigate", "complete", "data_exchange"}),
    "EmbeddedLink.on-click-action": frozenset({"navigate", "data_exchange", "open_url"}),
    "OptIn.on-click-action": frozenset({"navigate", "data_exchange", "open_url"}),
    "NavigationList.on-click-action": frozenset({"navigate", "data_exchange"}),
    "nav.on-click-action": frozenset({"navigate", "data_exchange"}),
    "DatePicker.on-select-action": frozenset({"data_exchange"}),
    "CalendarPicker.on-select-action": frozenset({"data_exchange"}),
    "*.on-select-action": frozenset({"data_exchange", "update_data"}),
    "*.on-unselect-action": frozenset({"data_exchange", "update_data"}),
}
ACTION_SINCE: Mapping[str, Version] = {"update_data": (6, 0), "open_url": (6, 0)}
# What a property takes, as the data-model types a ``${…}`` bound to it may have
# (components page, each property's type). Numbers may also be strings there ("min-chars
# String"); a value whose type is not listed is INVALID_SCREEN_DYNAMIC_DATA.
_STR, _BOOL = frozenset({"string"}), frozenset({"boolean"})
_ARR, _OBJ = frozenset({"array"}), frozenset({"object"})
_NUM = frozenset({"number", "integer"})


def _each(kinds: frozenset[str], *props: str, on: str = "*") -> dict[str, frozenset[str]]:
    return {f"{on}.{prop}": kinds for prop in props}


PROP_TYPES: Mapping[str, frozenset[str]] = {  # "Component.prop" or "*.prop"
    **_each(_STR, "text", "label", "helper-text", "description", "title", "alt-text", "src"),
    **_each(_STR, "left-caption", "center-caption", "right-caption"),
    **_each(_STR, "font-weight", "media-size", "scale-type"),
    **{f"{c}.text": _STR | _ARR for c in ("TextBody", "TextCaption", "RichText")},  # 5.1 lists
    **_each(_BOOL, "visible", "required", "enabled", "strikethrough"),
    **_each(_NUM | _STR, "min-chars", "max-chars", "max-length", "min-days", "max-days"),
    **_each(_NUM | _STR, "min-selected-items", "max-selected-items", "max-file-size-kb"),
    **_each(_NUM | _STR, "min-uploaded-photos", "max-uploaded-photos"),
    **_each(_NUM | _STR, "min-uploaded-documents", "max-uploaded-documents"),
    **_each(_NUM | _STR, "min-date", "max-date"),  # numbers (ms) before 5.0
    **_each(_ARR, "data-source", "list-items", "images", "unavailable-dates", "include-days"),
    **_each(_OBJ, "init-values", "error-messages", on="Form"),
    "*.error-message": _STR | _OBJ,  # an object maps a picker's media ids to messages
    **_each(_STR | _OBJ, "label", "helper-text", "init-value", on="CalendarPicker"),  # range
    **_each(_BOOL | _OBJ, "required", on="CalendarPicker"),
    **_each(_STR | _NUM, "init-value", on="TextInput"),
    **_each(_STR | _NUM, "init-value", on="DatePicker"),
    **_each(_STR, "init-value", on="TextArea"),
    **_each(_STR, "init-value", on="RadioButtonsGroup"),
    **_each(_STR, "init-value", on="Dropdown"),
    **_each(_ARR, "init-value", on="CheckboxGroup"),
    **_each(_ARR, "init-value", on="ChipsSelector"),
    **_each(_BOOL, "init-value", on="OptIn"),
    **_each(_NUM, "width", "height", "aspect-ratio", on="Image"),
    **_each(_STR | _NUM | _BOOL, "value", on="Switch"),
}
INPUT_VALUE_TYPES: Mapping[str, str | None] = {  # what ${form.name} holds, None: it varies
    "TextInput": None,  # a string, or a number for input-type number ("${form.age} > 18")
    "TextArea": "string",
    "Dropdown": "string",
    "RadioButtonsGroup": "string",
    "DatePicker": "string",
    "CalendarPicker": None,  # a string, or {start-date, end-date} in range mode
    "OptIn": "boolean",
    "CheckboxGroup": "array",
    "ChipsSelector": "array",
    "PhotoPicker": "array",
    "DocumentPicker": "array",
}
SELECTIONS = frozenset({"CheckboxGroup", "RadioButtonsGroup", "Dropdown", "ChipsSelector"})
ITEM_REQUIRED = ("id", "title")  # of every data-source item, static or in the data model
FORM_ONLY_OUTSIDE = ("init-value", "error-message")  # "Only available outside Form"
FORM_ONLY_OUTSIDE_ERROR_SINCE: Version = (7, 0)  # Meta's FormComponentAttributes check

LIST_IMAGE_MAX_KB = 100
LIST_IMAGE_MAX_KB_BEFORE_6 = 300
IMAGE_RECOMMENDED_KB = 300


def lookup(table: Mapping[str, T], component: str, prop: str) -> T | None:
    """``Component.prop`` first, then the ``*.prop`` wildcard."""
    return table.get(f"{component}.{prop}", table.get(f"*.{prop}"))


def _per_type(table: Mapping[str, T]) -> Mapping[str, Mapping[str, T]]:
    """``table`` resolved for each component type over the properties it has: one dict
    lookup per property while validating (the benchmark's hottest loop)."""
    out: dict[str, dict[str, T]] = {}
    for ctype, (allowed, _) in COMPONENT_KEYS.items():
        found = {key: lookup(table, ctype, key) for key in allowed}
        out[ctype] = {key: value for key, value in found.items() if value is not None}
    return out


PROP_SINCE_OF = _per_type(PROP_SINCE)
ENUMS_OF = _per_type(ENUMS)
TEXT_LIMITS_OF = _per_type(TEXT_LIMITS)
NUMBER_RANGES_OF = _per_type(NUMBER_RANGES)
MIN_MAX_PAIRS_OF: Mapping[str, tuple[tuple[str, str], ...]] = {
    ctype: tuple(pair for pair in MIN_MAX_PAIRS if pair[0] in allowed)
    for ctype, (allowed, _) in COMPONENT_KEYS.items()
}
RANGED = frozenset(ITEM_COUNTS) | {
    ctype for ctype in COMPONENT_KEYS if NUMBER_RANGES_OF[ctype] or MIN_MAX_PAIRS_OF[ctype]
}  # the types _check_ranges has anything to say about
