"""The playground of chapter 07: its logic (testable) and its widgets (a thin layer on top).

:class:`Playground` turns one set of choices into a request to either API, yields the
candidates' texts as they grow, and can stop a request from another thread. The widgets
only read their values into :class:`Choices`, run the playground in a worker thread, and
show what it yields.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from helpers import settings
from helpers.client import get_response, get_streaming_response, post_http_request

__all__ = ["Choices", "Playground", "build_app"]


@dataclass
class Choices:
    """What the learner picked in the playground."""

    prompt: str = settings.DEFAULT_PROMPT
    api: Literal["legacy", "openai"] = "legacy"
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 32
    n: int = 1
    seed: int | None = None  #: None: a new sample every run; a number: the same every run
    stream: bool = True
    beam_search: bool = False


class Playground:
    """Send :class:`Choices` to a legacy or OpenAI-compatible server; stoppable."""

    def __init__(self, legacy_url: str, openai_url: str | None = None,
                 model: str = settings.SERVED_MODEL_NAME) -> None:
        self.legacy_url = legacy_url.rstrip("/")
        self.openai_url = openai_url.rstrip("/") if openai_url else None
        self.model = model
        self._stop = threading.Event()
        self._response: Any = None

    def run(self, choices: Choices) -> Iterator[list[str]]:
        """Yield the full text of every candidate (prompt excluded), growing when streaming."""
        self._stop.clear()
        if choices.beam_search and choices.stream and choices.api == "openai":
            raise ValueError("The OpenAI API cannot stream beam search: switch streaming off "
                             "(the legacy API sends the beams as one line at the end).")
        runner = self._legacy if choices.api == "legacy" else self._openai
        yield from runner(choices)

    @property
    def stopped(self) -> bool:
        """True if the last request ended because :meth:`stop` was called."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Stop the running request: close its connection (the server then aborts it)."""
        self._stop.set()
        response = self._response
        if response is not None:
            response.close()

    # --- the two APIs ----------------------------------------------------------------------

    def _legacy(self, choices: Choices) -> Iterator[list[str]]:
        fields: dict[str, Any] = {"max_tokens": choices.max_tokens}
        if choices.beam_search:
            fields["use_beam_search"] = True
        else:
            fields.update(temperature=choices.temperature, top_p=choices.top_p)
            if choices.seed is not None:
                fields["seed"] = choices.seed
        response = post_http_request(choices.prompt, self.legacy_url + "/generate", choices.n,
                                     choices.stream, **fields)
        self._response = response
        cut = len(choices.prompt)
        try:
            if not choices.stream:
                yield [text[cut:] for text in get_response(response)]
                return
            for snapshot in get_streaming_response(response):
                if self._stop.is_set():
                    return
                yield [text[cut:] for text in snapshot]
        except Exception:
            if self._stop.is_set():  # closing the connection from stop() breaks the read
                return
            raise
        finally:
            self._response = None

    def _openai(self, choices: Choices) -> Iterator[list[str]]:
        from openai import OpenAI

        if not self.openai_url:
            raise ValueError("No OpenAI-compatible server: start_server('openai') first.")
        request: dict[str, Any] = {"model": self.model, "prompt": choices.prompt,
                                   "max_tokens": choices.max_tokens, "n": choices.n,
                                   "stream": choices.stream}
        if choices.beam_search:
            request["extra_body"] = {"use_beam_search": True}  # a vLLM extension
        else:
            request.update(temperature=choices.temperature, top_p=choices.top_p)
            if choices.seed is not None:
                request["seed"] = choices.seed
        client = OpenAI(base_url=self.openai_url, api_key=settings.api_key() or "EMPTY",
                        timeout=120, max_retries=0)
        texts = [""] * choices.n
        try:
            answer = client.completions.create(**request)
            if not choices.stream:
                for choice in answer.choices:
                    texts[choice.index] = choice.text
                yield texts
                return
            self._response = answer  # an openai Stream: stop() closes it
            for chunk in answer:
                if self._stop.is_set():
                    return
                for choice in chunk.choices:
                    texts[choice.index] += choice.text
                yield list(texts)
        except Exception:
            if self._stop.is_set():
                return
            raise
        finally:
            self._response = None
            client.close()


def build_app(playground: Playground) -> Any:
    """The ipywidgets app: prompt, sliders, switches, Run and Stop, one view per candidate."""
    import ipywidgets as w

    wide = {"description_width": "initial"}  # labels such as "temperature" in full
    prompt = w.Textarea(value=Choices.prompt, description="Prompt",
                        layout=w.Layout(width="100%"))
    api = w.ToggleButtons(options=[("legacy /generate", "legacy"), ("OpenAI", "openai")],
                          description="API")
    temperature = w.FloatSlider(value=0.8, min=0, max=2, step=0.05, description="temperature",
                                style=wide)
    top_p = w.FloatSlider(value=1.0, min=0.05, max=1, step=0.05, description="top_p",
                          style=wide)
    max_tokens = w.IntSlider(value=32, min=1, max=256, description="max_tokens", style=wide)
    n = w.IntSlider(value=1, min=1, max=4, description="n", style=wide)
    fixed_seed = w.Checkbox(value=False, description="fixed seed", style=wide)
    seed = w.IntText(value=0, description="seed", style=wide, disabled=True)
    stream = w.Checkbox(value=True, description="stream")
    beam = w.Checkbox(value=False, description="beam search")
    run, stop = w.Button(description="Run", button_style="primary"), w.Button(description="Stop")
    status = w.HTML()
    views = w.VBox()
    fixed_seed.observe(lambda change: setattr(seed, "disabled", not change["new"]), "value")

    def worker(choices: Choices) -> None:
        try:
            for texts in playground.run(choices):
                views.children = [w.HTML(f"<b>{i}</b>: {_escape(choices.prompt)}"
                                          f"<span style='color:#0a7'>{_escape(t)}</span>")
                                  for i, t in enumerate(texts)]
            status.value = "stopped" if playground.stopped else "done"
        except Exception as error:  # shown in the app rather than lost in a thread
            views.children = []  # no candidates of an earlier run under the error
            status.value = f"<span style='color:#c00'>{_escape(str(error))}</span>"

    def on_run(_: Any) -> None:
        choices = Choices(prompt.value, api.value, temperature.value, top_p.value,
                          max_tokens.value, n.value, seed.value if fixed_seed.value else None,
                          stream.value, beam.value)
        views.children = []
        status.value = "running…"
        threading.Thread(target=worker, args=(choices,), daemon=True).start()

    run.on_click(on_run)
    stop.on_click(lambda _: playground.stop())
    return w.VBox([prompt, api, w.HBox([temperature, top_p]), w.HBox([max_tokens, n]),
                   w.HBox([fixed_seed, seed]), w.HBox([stream, beam, run, stop, status]),
                   views])


def _escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
