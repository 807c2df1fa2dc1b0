"""Flow JSON: typed models and the offline validator (reference/flows.md §A)."""

from gateway.flowjson.issues import FlowJSONIssue
from gateway.flowjson.model import COMPONENT_MODELS, Component, FlowJSON, Screen
from gateway.flowjson.validate import validate_flow_json

__all__ = [
    "COMPONENT_MODELS",
    "Component",
    "FlowJSON",
    "FlowJSONIssue",
    "Screen",
    "validate_flow_json",
]
