"""The job token: the shared secret every node of a job sends with each call (docs/security.md)."""

import os
import secrets

TOKEN_ENV = "RAVNEST_JOB_TOKEN"


def resolve_job_token(job_token=None):
    """`job_token` if given, else $RAVNEST_JOB_TOKEN, else a fresh random one (64 hex digits)."""
    token = job_token if job_token is not None else os.environ.get(TOKEN_ENV) or secrets.token_hex(32)
    if not isinstance(token, str) or not token or not all(" " <= c <= "~" for c in token):
        raise ValueError(f"the job token must be a non-empty string of printable ASCII characters "
                         f"(it travels in gRPC metadata), got {token!r}")
    return token
