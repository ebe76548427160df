"""Apps the benchmarks serve: the hello-world ceiling, and Tsudoi built from the environment."""

from __future__ import annotations

from litestar import Litestar, get


@get("/", media_type="text/plain")
async def hello() -> str:
    return "hello, world"


hello_app = Litestar(route_handlers=[hello], openapi_config=None)
