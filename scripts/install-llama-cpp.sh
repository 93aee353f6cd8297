#!/usr/bin/env bash
# Install llama-cpp-python into a virtual environment, built for this CPU but without llama.cpp's
# AMX kernels, and cached by what the build depends on.
#
#   scripts/install-llama-cpp.sh .venv/bin/python
#
# Why: llama.cpp's AMX matrix kernel (ggml_backend_amx_mul_mat) segfaults on Xeons with AMX in a VM
# (Sapphire/Granite Rapids) on any prompt of ~20+ tokens; upstream has no fix. GCC keeps an explicit
# -mno-amx-* over what -march=native turns on, so the native build keeps AVX2/AVX-512/VNNI and
# loses only the AMX kernels (docs/chat.md has the tokens/s of both builds).
#
# Why our own wheel cache: pip keys a wheel it built from source on the source archive alone, not
# on CMAKE_ARGS/CFLAGS nor on the CPU it was built for, so its cache would hand a native wheel built
# with AMX (or for a newer CPU: SIGILL) to the next install. Here the key holds the version, the
# flags, the compiler, the Python tag and this CPU's instruction-set flags, so a wheel is reused
# only where it was built for; pip's own cache is bypassed for this package.
set -euo pipefail

PY=${1:?usage: $0 PYTHON}
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}

flags=""
if [ "$(uname -m)" = "x86_64" ]; then
    flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
cpu=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m) | tr ' ' '\n' | sort | tr '\n' ' ')
cc=$( (${CC:-cc} --version 2>/dev/null || echo none) | head -n1)
pytag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
key=$(printf '%s\n' "$VERSION" "$flags" "${CMAKE_ARGS:-}" "$cc" "$pytag" "$cpu" | sha256sum | cut -c1-16)
cache=${NUONUO_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nuonuo/wheels}/llama-cpp-python-$VERSION-$key

if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $VERSION for this CPU (${flags:-default flags}); ~3-5 min, once" >&2
    tmp=$(mktemp -d)
    CFLAGS="${CFLAGS:-} $flags" CXXFLAGS="${CXXFLAGS:-} $flags" \
        "$PY" -m pip wheel -q --no-cache-dir --no-deps "llama-cpp-python==$VERSION" -w "$tmp"
    mkdir -p "$cache"
    mv "$tmp"/llama_cpp_python-*.whl "$cache"/
    rm -rf "$tmp"
fi
# --force-reinstall: replace a build that an earlier install (or pip's cache) put here
"$PY" -m pip install -q --no-cache-dir --force-reinstall --no-deps "$cache"/llama_cpp_python-*.whl
# its runtime dependencies (numpy, jinja2, diskcache, typing-extensions) from the index as usual
"$PY" -m pip install -q "$(ls "$cache"/llama_cpp_python-*.whl)"
