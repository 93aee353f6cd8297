"""Helpers for the MCP tests: real server processes driven by the official SDK's stdio client."""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import asynccontextmanager

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


def server_params(home, command: str = "module", lock_timeout_s: float = 60.0) -> StdioServerParameters:
    """``python -m nuonuo.mcp_server`` (module) or ``nuonuo mcp`` (cli) on ``home``."""
    env = {"NUONUO_HOME": str(home), "NUONUO_ENCODER_THREADS": "1",
           "NUONUO_STORE_LOCK_TIMEOUT_S": str(lock_timeout_s)}
    if command == "cli":
        return StdioServerParameters(command=shutil.which("nuonuo", path=os.path.dirname(sys.executable)),
                                     args=["mcp"], env=env)
    return StdioServerParameters(command=sys.executable, args=["-m", "nuonuo.mcp_server"], env=env)


@asynccontextmanager
async def mcp_session(home, command: str = "module", lock_timeout_s: float = 60.0):
    with open(os.devnull, "w") as errlog:
        async with stdio_client(server_params(home, command, lock_timeout_s), errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call(session, tool: str, **args):
    result = await session.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def error_of(session, tool: str, **args) -> str:
    result = await session.call_tool(tool, args)
    assert result.is_error
    return result.content[0].text
