"""Typed Flow JSON (versions 2.1 → 7.3): every component, action and data model.

Keys load and dump exactly as Meta writes them (kebab-case in components, snake_case at
the top and in screens), so ``FlowJSON.model_validate(doc).to_json_dict() == doc`` for
any document these models accept. Values that may be a dynamic reference
(``"${data.x}"``, ``"${form.x}"``, backtick expressions) are typed ``… | str``. The models
check shape; :func:`gateway.flowjson.validate_flow_json` checks Meta's rules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Dyn = str  # a dynamic reference or expression, e.g. "${data.items}"


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Kebab(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=_kebab, populate_by_name=True, frozen=True
    )


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


# -- actions ---------------------------------------------------------------------------


class Next(_Kebab):
    type: Literal["screen", "plugin"] = "screen"
    name: str


class Action(_Kebab):
    """``on-click-action`` / ``on-select-action`` / ``on-unselect-action``."""

    name: Literal["navigate", "complete", "data_exchange", "update_data", "open_url"]
    next: Next | None = None
    payload: dict[str, Any] | None = None
    url: str | None = None


# -- list items ------------------------------------------------------------------------


class DataSourceItem(_Kebab):
    id: str
    title: str
    description: str | None = None
    metadata: str | None = None
    enabled: bool | Dyn | None = None
    image: str | None = None
    alt_text: str | None = None
    color: str | None = None
    on_select_action: Action | None = None
    on_unselect_action: Action | None = None


DataSource = list[DataSourceItem] | Dyn


class _Component(_Kebab):
    visible: bool | Dyn | None = None


# -- text ------------------------------------------------------------------------------


class TextHeading(_Component):
    type: Literal["TextHeading"]
    text: str


class TextSubheading(_Component):
    type: Literal["TextSubheading"]
    text: str


class TextBody(_Component):
    type: Literal["TextBody"]
    text: str | list[str]
    font_weight: Literal["bold", "italic", "bold_italic", "normal"] | Dyn | None = None
    strikethrough: bool | Dyn | None = None
    markdown: bool | None = None


class TextCaption(_Component):
    type: Literal["TextCaption"]
    text: str | list[str]
    font_weight: Literal["bold", "italic", "bold_italic", "normal"] | Dyn | None = None
    strikethrough: bool | Dyn | None = None
    markdown: bool | None = None


class RichText(_Component):
    type: Literal["RichText"]
    text: str | list[str]


# -- inputs ----------------------------------------------------------------------------


class _Input(_Component):
    name: str
    required: bool | Dyn | None = None
    enabled: bool | Dyn | None = None
    error_message: str | dict[str, str] | None = None  # an object: per picked file


class TextInput(_Input):
    type: Literal["TextInput"]
    label: str
    label_variant: Literal["large"] | None = None
    input_type: str | None = None
    pattern: str | None = None
    min_chars: int | Dyn | None = None
    max_chars: int | Dyn | None = None
    helper_text: str | None = None
    init_value: str | int | float | None = None


class TextArea(_Input):
    type: Literal["TextArea"]
    label: str
    label_variant: Literal["large"] | None = None
    max_length: int | Dyn | None = None
    helper_text: str | None = None
    init_value: str | None = None


class _Selection(_Input):
    data_source: DataSource
    description: str | None = None
    init_value: str | list[str] | None = None
    on_select_action: Action | None = None
    on_unselect_action: Action | None = None


class CheckboxGroup(_Selection):
    type: Literal["CheckboxGroup"]
    label: str | None = None
    min_selected_items: int | Dyn | None = None
    max_selected_items: int | Dyn | None = None
    media_size: Literal["regular", "large"] | None = None


class RadioButtonsGroup(_Selection):
    type: Literal["RadioButtonsGroup"]
    label: str | None = None
    media_size: Literal["regular", "large"] | None = None


class Dropdown(_Selection):
    type: Literal["Dropdown"]
    label: str


class ChipsSelector(_Selection):
    type: Literal["ChipsSelector"]
    label: str
    min_selected_items: int | Dyn | None = None
    max_selected_items: int | Dyn | None = None


class OptIn(_Input):
    type: Literal["OptIn"]
    label: str
    init_value: bool | Dyn | None = None
    on_click_action: Action | None = None
    on_select_action: Action | None = None
    on_unselect_action: Action | None = None


class DatePicker(_Input):
    type: Literal["DatePicker"]
    label: str
    helper_text: str | None = None
    min_date: str | int | None = None
    max_date: str | int | None = None
    unavailable_dates: list[str | int] | Dyn | None = None
    init_value: str | None = None
    on_select_action: Action | None = None


class CalendarPicker(_Input):
    """In range mode, label, helper-text, required and init-value take
    ``{"start-date": …, "end-date": …}`` (components page)."""

    type: Literal["CalendarPicker"]
    required: bool | Dyn | dict[str, bool] | None = None  # type: ignore[assignment]  # range
    label: str | dict[str, str]
    title: str | None = None
    description: str | None = None
    helper_text: str | dict[str, str] | None = None
    mode: Literal["single", "range"] | None = None
    min_date: str | None = None
    max_date: str | None = None
    unavailable_dates: list[str] | Dyn | None = None
    include_days: list[str] | Dyn | None = None
    min_days: int | Dyn | None = None
    max_days: int | Dyn | None = None
    init_value: str | dict[str, str] | None = None
    on_select_action: Action | None = None


class PhotoPicker(_Input):
    type: Literal["PhotoPicker"]
    label: str
    description: str | None = None
    photo_source: Literal["camera_gallery", "camera", "gallery"] | None = None
    max_file_size_kb: int | Dyn | None = None
    min_uploaded_photos: int | Dyn | None = None
    max_uploaded_photos: int | Dyn | None = None


class DocumentPicker(_Input):
    type: Literal["DocumentPicker"]
    label: str
    description: str | None = None
    max_file_size_kb: int | Dyn | None = None
    min_uploaded_documents: int | Dyn | None = None
    max_uploaded_documents: int | Dyn | None = None
    allowed_mime_types: list[str] | None = None


# -- navigation, media ------------------------------------------------------------------


class Footer(_Component):
    type: Literal["Footer"]
    label: str
    left_caption: str | None = None
    center_caption: str | None = None
    right_caption: str | None = None
    enabled: bool | Dyn | None = None
    on_click_action: Action


class EmbeddedLink(_Component):
    type: Literal["EmbeddedLink"]
    text: str
    on_click_action: Action


class Image(_Component):
    type: Literal["Image"]
    src: str
    width: int | None = None
    height: int | None = None
    scale_type: Literal["cover", "contain"] | None = None
    aspect_ratio: int | float | None = None
    alt_text: str | None = None


class CarouselImage(_Kebab):
    src: str
    alt_text: str


class ImageCarousel(_Component):
    type: Literal["ImageCarousel"]
    images: list[CarouselImage] | Dyn
    aspect_ratio: Literal["4:3", "16:9"] | None = None
    scale_type: Literal["cover", "contain"] | None = None


class NavigationContent(_Kebab):
    title: str | None = None
    description: str | None = None
    metadata: str | None = None


class NavigationStart(_Kebab):
    image: str
    alt_text: str | None = None


class NavigationItem(_Kebab):
    id: str
    main_content: NavigationContent
    start: NavigationStart | None = None
    end: NavigationContent | None = None
    badge: str | None = None
    tags: list[str] | None = None
    on_click_action: Action | None = None


class NavigationList(_Component):
    type: Literal["NavigationList"]
    name: str
    list_items: list[NavigationItem] | Dyn
    label: str | None = None
    description: str | None = None
    media_size: Literal["regular", "large"] | None = None
    on_click_action: Action | None = None


# -- containers ------------------------------------------------------------------------


class If(_Kebab):
    type: Literal["If"]
    condition: str
    then: list[Component]
    else_: list[Component] | None = Field(default=None, alias="else")


class Switch(_Kebab):
    type: Literal["Switch"]
    value: str
    cases: dict[str, list[Component]]


class Form(_Kebab):
    type: Literal["Form"]
    name: str
    children: list[Component]
    init_values: dict[str, Any] | Dyn | None = None
    error_messages: dict[str, str] | Dyn | None = None


Component = Annotated[
    TextHeading
    | TextSubheading
    | TextBody
    | TextCaption
    | RichText
    | TextInput
    | TextArea
    | CheckboxGroup
    | RadioButtonsGroup
    | Dropdown
    | ChipsSelector
    | OptIn
    | DatePicker
    | CalendarPicker
    | PhotoPicker
    | DocumentPicker
    | Footer
    | EmbeddedLink
    | Image
    | ImageCarousel
    | NavigationList
    | If
    | Switch
    | Form,
    Field(discriminator="type"),
]

COMPONENT_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (
        TextHeading,
        TextSubheading,
        TextBody,
        TextCaption,
        RichText,
        TextInput,
        TextArea,
        CheckboxGroup,
        RadioButtonsGroup,
        Dropdown,
        ChipsSelector,
        OptIn,
        DatePicker,
        CalendarPicker,
        PhotoPicker,
        DocumentPicker,
        Footer,
        EmbeddedLink,
        Image,
        ImageCarousel,
        NavigationList,
        If,
        Switch,
        Form,
    )
}
"""Component type → model: the catalogue the validator reads property names from."""


# -- screens and the document ----------------------------------------------------------


class DataField(_Plain):
    """One field of a screen's data model (JSON-Schema-like).

    Other JSON Schema keywords (``description``, a stray ``value``) are kept, not refused:
    Meta ignores them, and the validator only warns (IGNORED_DATA_MODEL_KEY).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    type: Literal["string", "number", "integer", "boolean", "object", "array"]
    items: dict[str, Any] | bool | None = None
    properties: dict[str, Any] | None = None
    example: Any = Field(default=None, alias="__example__")


class Layout(_Plain):
    type: Literal["SingleColumnLayout"]
    children: list[Component]


class Screen(_Plain):
    id: str
    layout: Layout
    title: str | None = None
    terminal: bool | None = None
    success: bool | None = None
    refresh_on_back: bool | None = None
    data: dict[str, DataField] | None = None
    sensitive: list[str] | None = None


class FlowJSON(_Plain):
    """A whole Flow JSON document."""

    version: str
    screens: list[Screen]
    routing_model: dict[str, list[str]] | None = None
    data_api_version: str | None = None
    data_channel_uri: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The document as Meta writes it (aliases, only the keys that were set)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


If.model_rebuild()
Switch.model_rebuild()
Form.model_rebuild()
Layout.model_rebuild()
