"""Apps the benchmarks serve: the hello-world ceiling, and Tsudoi built from the environment."""

from __future__ import annotations

from litestar import Litestar, get


@get("/", media_type="text/plain")
async def hello() -> str:
    return "hello, world"


hello_app = Litestar(route_handlers=[hello], openapi_config=None)


def four_lane_app() -> Litestar:
    """Tsudoi as it hashed passwords before one lane: argon2id p=4 on normal-priority threads (uvicorn --factory), the baseline the
    foundation bench measures the login storm against in the same run."""
    from concurrent.futures import ThreadPoolExecutor

    from app import create_app
    from services import hashing
    from services.settings import get_settings

    # As before: the default pool's threads at normal priority, four lanes per hash.
    hashing._HASH_THREADS = ThreadPoolExecutor(thread_name_prefix="argon2-before")
    return create_app(get_settings().with_(argon2_parallelism=4))
