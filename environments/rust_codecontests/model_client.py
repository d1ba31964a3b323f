"""A minimal client for an OpenAI-compatible chat endpoint (stdlib only), counting tokens.

Configured from the environment: REBENCH_MODEL_URL (the base URL, e.g. http://host:8000/v1; requests go to
{URL}/chat/completions), REBENCH_MODEL_NAME (the model name sent), REBENCH_MODEL_API_KEY (sent as a bearer
token when set). Every call adds the `usage` the server reports to `self.usage`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any


class ModelError(RuntimeError):
    pass


class ModelClient:
    def __init__(
        self,
        url: str,
        model: str = "default",
        api_key: str | None = None,
        timeout_s: float = 120.0,
        usage_log: str | None = None,
        retries: int = 2,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self._usage_log = usage_log
        self._lock = threading.Lock()
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}

    @classmethod
    def from_env(cls, **kwargs: Any) -> ModelClient:
        url = os.environ.get("REBENCH_MODEL_URL")
        if not url:
            raise ModelError("REBENCH_MODEL_URL is not set: no model endpoint is configured")
        return cls(
            url,
            os.environ.get("REBENCH_MODEL_NAME", "default"),
            os.environ.get("REBENCH_MODEL_API_KEY") or None,
            usage_log=os.environ.get("REBENCH_USAGE_LOG") or None,
            **kwargs,
        )

    def chat_raw(self, messages: list[dict[str, str]], **params: Any) -> dict[str, Any]:
        """POST {url}/chat/completions with `messages` and any OpenAI parameters; the decoded response."""
        body = json.dumps({"model": self.model, "messages": messages, **params}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(f"{self.url}/chat/completions", body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    data = json.loads(response.read())
                break
            except urllib.error.HTTPError as exc:
                last = ModelError(f"HTTP {exc.code} from the model endpoint: {exc.read()[:500]!r}")
                if exc.code < 500 and exc.code != 429:
                    raise last from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = ModelError(f"model endpoint unreachable or answered garbage: {exc}")
            time.sleep(0.5 * 2**attempt)
        else:
            raise last or ModelError("model request failed")
        self._count(data.get("usage") or {})
        return data

    def chat(
        self, messages: list[dict[str, str]], temperature: float = 0.8, max_tokens: int = 2048, **params: Any
    ) -> str:
        """The assistant's reply to `messages` (the first choice)."""
        data = self.chat_raw(messages, temperature=temperature, max_tokens=max_tokens, **params)
        try:
            return data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"unexpected response from the model endpoint: {str(data)[:500]}") from None

    def _count(self, usage: dict[str, Any]) -> None:
        entry = {
            "requests": 1,
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        }
        with self._lock:
            for k, v in entry.items():
                self.usage[k] += v
            if self._usage_log:
                with open(self._usage_log, "a") as f:
                    f.write(json.dumps(entry) + "\n")
