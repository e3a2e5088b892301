"""The pace of requests, free of Airflow.

limiter (the pace, as the sender sees it: :class:`~.limiter.Pacer`) · token (one pace per
token, shared across processes on the machine: :class:`~.token.TokenPacer`) · coordinator
(one pace per token, shared by every machine through Redis:
:class:`~.coordinator.CoordinatedPacer`).
"""
