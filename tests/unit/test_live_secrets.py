"""Exchange credentials: from the environment or a .env file, masked wherever they could show,
and scrubbed from log lines (stdlib logging and structlog)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog

from engine.errors import ConfigError
from engine.live.secrets import (Credentials, RedactingFilter, load_credentials, read_dotenv,
                                 redact, structlog_redactor)

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"# keys\nexport BINANCE_API_KEY='file-key'\n"
                      f"BINANCE_API_SECRET=\"{SECRET}\"\n")
    creds = load_credentials("binance", env={"BINANCE_API_KEY": KEY}, dotenv=dotenv)
    assert creds.api_key == KEY and creds.secret == SECRET
    assert creds.ccxt() == {"apiKey": KEY, "secret": SECRET}


def test_credentials_never_show_their_values() -> None:
    creds = Credentials("binance", KEY, SECRET, "pass-phrase")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert KEY not in text and SECRET not in text and "pass-phrase" not in text


def test_missing_keys_are_named_without_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_credentials("binanceus", env={"BINANCEUS_API_KEY": KEY}, dotenv=tmp_path / "none")
    text = str(err.value)
    assert "BINANCEUS_API_SECRET" in text and "BINANCEUS_API_KEY" not in text.split("needs")[1]
    assert KEY not in text


def test_a_malformed_dotenv_line_names_the_file_and_line_not_the_value(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"BINANCE_API_KEY={KEY}\nthis line is {SECRET}\n")
    with pytest.raises(ConfigError) as err:
        read_dotenv(dotenv)
    assert str(err.value) == f"{dotenv}:2: not a KEY=VALUE line"


def test_redact_scrubs_every_secret_from_text() -> None:
    text = f"GET /api/v3/account?signature=abc apiKey={KEY} secret={SECRET}"
    out = redact(text, [KEY, SECRET, ""])
    assert KEY not in out and SECRET not in out and out.count("***") == 2


def test_log_lines_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("raytrader.test.secrets")
    logger.addFilter(RedactingFilter([KEY, SECRET]))
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("order refused for key %s", KEY)
        logger.info(f"request failed: {SECRET}")
    assert KEY not in caplog.text and SECRET not in caplog.text
    assert caplog.text.count("***") == 2


def test_structlog_events_are_scrubbed() -> None:
    out: list[dict] = []
    logger = structlog.wrap_logger(
        None, processors=[structlog_redactor([KEY, SECRET]),
                          lambda _, __, event: out.append(dict(event)) or ""])
    logger.info("placing", headers={"X-MBX-APIKEY": KEY}, note=f"secret {SECRET}")
    assert KEY not in str(out) and SECRET not in str(out)
