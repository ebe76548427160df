"""The app as the multi-worker tests run it in worker processes of their own:
`python -m uvicorn tests.worker_app:make_app --factory`, with the TSUDOI_* settings from the environment,
plus what every test app has: cheap password hashing and the clock frozen at the run's test instant."""

from __future__ import annotations

from litestar import Litestar

from app import create_app
from services.clock import FrozenClock
from services.settings import get_settings
from tests.helpers import test_now


def make_app() -> Litestar:
    settings = get_settings().with_(argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1)
    return create_app(settings, FrozenClock(test_now()))
