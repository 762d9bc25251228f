"""What gradio 6.31 fixed stays fixed in the app as it is served: no open redirect, no server-side rendering."""

import httpx
from conftest import serving

import app
from settings import Settings


def test_a_file_url_pointing_outside_is_not_a_redirect(monkeypatch):
    """gradio before 6.20 answered 302 to any URL after /gradio_api/file= (CVE-2026-59806)."""
    with serving(Settings(voice="none", asr_model="local")) as url:
        answer = httpx.get(f"{url}gradio_api/file=https://evil.example.com/phish", timeout=30)
    assert not answer.is_redirect
    assert "evil.example.com" not in answer.headers.get("location", "")


def test_server_side_rendering_stays_off_even_when_the_environment_asks_for_it(monkeypatch):
    """gradio 6.27 to 6.31 with SSR on let a forged Host header reach run history (CVE-2026-134825)."""
    monkeypatch.setenv("GRADIO_SSR_MODE", "true")
    with serving(Settings(voice="none", asr_model="local")) as url:
        assert app.demo.ssr_mode is False
        page = httpx.get(url, headers={"Host": "localhost"}, timeout=30)
    assert page.status_code == 200
