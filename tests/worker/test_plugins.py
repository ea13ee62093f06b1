"""Plugin instances of the configuration in force (worker/attempt.py `Plugins`): made once
for each set of params as they resolve, so a rotated secret makes a new one."""

from __future__ import annotations

from jobrunner.config.model import Handler, freeze
from jobrunner.registry import discover
from jobrunner.worker.attempt import Plugins

REGISTRY = discover()


def test_one_instance_for_the_same_params_and_a_new_one_when_a_secret_rotates() -> None:
    environ = {"TOKEN": "one"}
    plugins = Plugins(REGISTRY, environ=environ)
    plain = Handler("shell", freeze({"command": ["true"]}))
    first = plugins.instance(plain)
    assert plugins.instance(plain) is first
    assert plugins.instance(Handler("shell", freeze({"command": ["true"]}))) is first
    secret = Handler("shell", freeze({"command": ["echo", "${env:TOKEN}"]}))
    before = plugins.instance(secret)
    assert plugins.instance(secret) is before
    environ["TOKEN"] = "two"
    rotated = plugins.instance(secret)
    assert rotated is not before
    assert plugins.instance(secret) is rotated
    assert plugins.instance(plain) is first
