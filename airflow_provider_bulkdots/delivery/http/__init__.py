"""The request path to the bulk endpoint, free of Airflow.

auth (the token on a request) · transport (the session, a deadline over each whole request) ·
attempt (one request and what its reply means) · retry (the bounded retry loop) · split (a
refused payload in halves) · window (bodies in flight) · sender (bodies, composed of these).
"""
