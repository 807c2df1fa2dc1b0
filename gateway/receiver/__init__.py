"""The webhook receiver service (extra ``server``: Starlette + uvicorn)."""

from gateway.extras import require

require("server", "the receiver")  # before the imports below, which need it

from gateway.receiver.app import WebhookReceiver, dedup_key  # noqa: E402
from gateway.receiver.store import Inbox, JobRow, SQLiteInbox  # noqa: E402

__all__ = ["Inbox", "JobRow", "SQLiteInbox", "WebhookReceiver", "dedup_key"]
