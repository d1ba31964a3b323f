"""Known environments, imported lazily so that listing them never imports torch."""

from __future__ import annotations

import importlib

from environments.base import Environment

DEFAULT_ENV = "prefix_sum"

_ENVIRONMENTS: dict[str, str] = {
    "finetune_runtime": "environments.finetune_runtime.env:FinetuneRuntime",
    "fix_embedding": "environments.fix_embedding.env:FixEmbedding",
    "prefix_sum": "environments.prefix_sum.env:PrefixSum",
    "restricted_mlm": "environments.restricted_mlm.env:RestrictedMlm",
    "rust_codecontests": "environments.rust_codecontests.env:RustCodeContests",
    "rl_qa": "environments.rl_qa.env:RlQa",
    "scaling_law": "environments.scaling_law.env:ScalingLaw",
    "selftest": "environments.selftest.env:SelfTest",
    "selftest_hidden": "environments.selftest.env:SelfTestHidden",
}


class UnknownEnvironment(ValueError):
    pass


def environment_ids() -> list[str]:
    return sorted(_ENVIRONMENTS)


def load_environment(env_id: str) -> Environment:
    try:
        target = _ENVIRONMENTS[env_id]
    except KeyError:
        raise UnknownEnvironment(f"unknown environment {env_id!r}; known: {', '.join(environment_ids())}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)()
