"""The feedback store (``store``) and its export for retraining (``export``)."""

from legal_edge.feedback.export import ExportReport, export, iter_feedback, report_path
from legal_edge.feedback.store import FeedbackError, FeedbackStore, ResponseRecord, request_payload

__all__ = [
    "ExportReport",
    "FeedbackError",
    "FeedbackStore",
    "ResponseRecord",
    "export",
    "iter_feedback",
    "report_path",
    "request_payload",
]
