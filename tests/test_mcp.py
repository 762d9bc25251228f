"""With --mcp, an MCP client sees two tools, `ask` and `ask_aloud`; `ask` gives the answer text and a URL of the
spoken answer."""

import asyncio
import base64

import httpx
import pytest
from conftest import decoded_seconds, serving, write_speech
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from oracle import CLASSIC_ANSWERS
from settings import Settings
from voices import EspeakVoice


@pytest.fixture
def mcp_app():
    """The app, offline with the espeak voice, served on 127.0.0.1 with gradio's MCP server."""
    with serving(Settings(mcp=True), EspeakVoice()) as url:
        yield url


async def list_and_call(server_url: str, question: str, tool: str = "ask", argument: str = "question"):
    async with streamable_http_client(server_url) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            result = await session.call_tool(tool, {argument: question})
    return tools, result


def test_ask_tool(mcp_app):
    tools, result = asyncio.run(list_and_call(f"{mcp_app}gradio_api/mcp/", "Should I learn to juggle?"))

    assert [tool.name for tool in tools] == ["ask", "ask_aloud"]
    assert "Magic 8 Ball" in tools[0].description
    assert list(tools[0].inputSchema["properties"]) == ["question"]
    assert list(tools[1].inputSchema["properties"]) == ["recording"]

    assert not result.isError
    answer, audio_url = (content.text for content in result.content)
    assert answer in CLASSIC_ANSWERS
    assert audio_url.startswith("http://127.0.0.1") and audio_url.endswith(".mp3")
    audio = httpx.get(audio_url)
    audio.raise_for_status()
    assert decoded_seconds(audio.content) > 0.5


def test_ask_aloud_tool(mcp_app, piper_voice, tmp_path):
    """A recording sent as a data URL (gradio refuses to fetch URLs on 127.0.0.1 for a tool): heard and answered."""
    question = write_speech(tmp_path / "question.wav", piper_voice, "Should I get a dog?")
    recording = "data:audio/wav;base64," + base64.b64encode(question.read_bytes()).decode()
    _, result = asyncio.run(list_and_call(f"{mcp_app}gradio_api/mcp/", recording, "ask_aloud", "recording"))

    assert not result.isError
    heard, answer, audio_url = (content.text for content in result.content)
    assert heard == "Should I get a dog?" and answer in CLASSIC_ANSWERS
    assert decoded_seconds(httpx.get(audio_url).content) > 0.5
