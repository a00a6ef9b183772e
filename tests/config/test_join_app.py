"""[join_app] register_script_uri: where DR instances download the registration script."""

from __future__ import annotations

import tomllib

from bot.config.siteconfig import parse_site_config
from bot.sandbox import example_config


def with_join_app(**keys: str) -> dict:  # type: ignore[type-arg]
    raw = tomllib.loads(example_config().read_text(encoding="utf-8"))
    raw["join_app"] = {**raw.get("join_app", {}), **keys}
    return raw


def test_register_script_uri_defaults_to_empty_and_takes_an_https_url() -> None:
    config, problems = parse_site_config(with_join_app())
    assert problems == [] and config.register_script_uri == ""
    url = "https://stavdops.blob.core.windows.net/scripts/register-session-host.ps1"
    config, problems = parse_site_config(with_join_app(register_script_uri=url))
    assert problems == [] and config.register_script_uri == url


def test_a_plain_http_or_path_register_script_uri_is_a_start_up_problem() -> None:
    config, problems = parse_site_config(with_join_app(register_script_uri="http://intranet/x.ps1"))
    assert config.register_script_uri == ""
    assert len(problems) == 1 and "register_script_uri must be an https:// URL" in problems[0]


def test_the_scale_set_spec_takes_the_configured_script_uri() -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from bot.capabilities.scaleset import with_join_app as spec_with_join_app
    from tests.capabilities.test_scaleset_form import spec

    url = "https://stavdops.blob.core.windows.net/scripts/register-session-host.ps1"
    config, _ = parse_site_config(with_join_app(register_script_uri=url, app_object_id=""))
    runtime = cast(Any, SimpleNamespace(settings=SimpleNamespace(config=config)))
    assert spec_with_join_app(runtime, spec()).script_uri == url
    config, _ = parse_site_config(with_join_app(app_object_id=""))
    runtime = cast(Any, SimpleNamespace(settings=SimpleNamespace(config=config)))
    assert spec_with_join_app(runtime, spec()).script_uri == spec().script_uri
