"""The webhook receiver service (extra ``server``: Starlette + uvicorn)."""

from gateway.receiver.app import WebhookReceiver, dedup_key
from gateway.receiver.store import Inbox, JobRow, SQLiteInbox

__all__ = ["Inbox", "JobRow", "SQLiteInbox", "WebhookReceiver", "dedup_key"]
