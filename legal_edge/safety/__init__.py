"""Safety of answers: the refusal detector that the server's closed-book guard on grounded
answers (``legal_edge/server/closed_book_guard.py``) and the evaluation's safety suites share."""
