"""Exact key → value recall, the evaluation the Engram seed ran (003: 8% overall), here on nuonuo's
hashed exact-key store, with the baselines a user would otherwise reach for, in the same run.

    python -m benchmarks.exact_keys [--sizes 10000,100000,1000000] [--dense-sample 200]

1. Recall: the seed's categories (capitals, element names, element numbers, ports, HTTP codes,
   unit conversions, acronyms, synthetic random K→V), generated here, stored through the real
   ``Memory`` (``remember(value, key=...)``, real encoder, LanceDB in a temp folder) and read back
   with ``Memory.lookup`` by the stored key and by variants (case, spacing, punctuation).
   Baselines: a plain ``dict`` on the raw key string, and dense nearest-neighbour lookup of the key
   embedding (MiniLM) over the stored keys, on a sample of variants.
2. Scale: lookup latency p50/p99 and bytes per key of the ``KeyTable`` (H = 4 hashed heads, prime
   tables, verified against the canonical key) at 10K, 100K and 1M synthetic keys, used directly
   (no texts encoded: encoding 1M values would take an hour here and is not what a lookup costs),
   beside a Python ``dict`` of the canonical strings. Canonicalisation of the query is timed apart.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nuonuo.canonical import canonical_key
from nuonuo.engram.keys import KeyTable

SEED_RESULTS = {"overall": 0.08, "acronym": 0.75, "element_name": 0.67, "capital": 0.0, "element_number": 0.0,
                "http_code": 0.0, "port": 0.0, "synthetic": 0.0, "unit_conversion": 0.0}

CAPITALS = dict(France="Paris", Germany="Berlin", Italy="Rome", Spain="Madrid", Portugal="Lisbon", Japan="Tokyo",
                China="Beijing", India="New Delhi", Brazil="Brasília", Canada="Ottawa", Australia="Canberra",
                Egypt="Cairo", Kenya="Nairobi", Mexico="Mexico City", Argentina="Buenos Aires", Peru="Lima",
                Chile="Santiago", Norway="Oslo", Sweden="Stockholm", Finland="Helsinki", Poland="Warsaw",
                Greece="Athens", Turkey="Ankara", Russia="Moscow", Ukraine="Kyiv", Ireland="Dublin",
                Netherlands="Amsterdam", Belgium="Brussels", Austria="Vienna", Switzerland="Bern",
                Hungary="Budapest", Czechia="Prague", Denmark="Copenhagen", Iceland="Reykjavík",
                Vietnam="Hanoi", Thailand="Bangkok", Indonesia="Jakarta", Nigeria="Abuja", Ghana="Accra",
                Morocco="Rabat", Colombia="Bogotá", Venezuela="Caracas", Cuba="Havana", Iran="Tehran",
                Iraq="Baghdad", Pakistan="Islamabad", Bangladesh="Dhaka", Nepal="Kathmandu",
                Mongolia="Ulaanbaatar", NewZealand="Wellington")
ELEMENTS = [("H", "Hydrogen"), ("He", "Helium"), ("Li", "Lithium"), ("Be", "Beryllium"), ("B", "Boron"),
            ("C", "Carbon"), ("N", "Nitrogen"), ("O", "Oxygen"), ("F", "Fluorine"), ("Ne", "Neon"),
            ("Na", "Sodium"), ("Mg", "Magnesium"), ("Al", "Aluminium"), ("Si", "Silicon"), ("P", "Phosphorus"),
            ("S", "Sulfur"), ("Cl", "Chlorine"), ("Ar", "Argon"), ("K", "Potassium"), ("Ca", "Calcium"),
            ("Sc", "Scandium"), ("Ti", "Titanium"), ("V", "Vanadium"), ("Cr", "Chromium"), ("Mn", "Manganese"),
            ("Fe", "Iron"), ("Co", "Cobalt"), ("Ni", "Nickel"), ("Cu", "Copper"), ("Zn", "Zinc")]
PORTS = dict(ssh=22, http=80, https=443, ftp=21, smtp=25, dns=53, pop3=110, imap=143, ldap=389, mysql=3306,
             postgresql=5432, redis=6379, mongodb=27017, rdp=3389, telnet=23, ntp=123, snmp=161, smb=445,
             memcached=11211, elasticsearch=9200, kafka=9092, zookeeper=2181, rabbitmq=5672, vnc=5900)
HTTP = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently", 302: "Found",
        304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
        401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
        410: "Gone", 413: "Content Too Large", 415: "Unsupported Media Type", 418: "I'm a teapot",
        422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
        502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
UNITS = {"km to miles": "0.621371", "miles to km": "1.60934", "kg to lb": "2.20462", "lb to kg": "0.453592",
         "inch to cm": "2.54", "foot to m": "0.3048", "yard to m": "0.9144", "liter to gallon": "0.264172",
         "gallon to liter": "3.78541", "ounce to gram": "28.3495", "mph to kmh": "1.60934", "acre to m2": "4046.86",
         "hectare to acre": "2.47105", "calorie to joule": "4.184", "kwh to mj": "3.6", "psi to kpa": "6.89476",
         "atm to kpa": "101.325", "nautical mile to km": "1.852", "cup to ml": "236.588", "tbsp to ml": "14.7868"}
ACRONYMS = {"API": "Application Programming Interface", "CPU": "Central Processing Unit", "GPU": "Graphics Processing Unit",
            "RAM": "Random Access Memory", "DNS": "Domain Name System", "HTTP": "Hypertext Transfer Protocol",
            "TCP": "Transmission Control Protocol", "UDP": "User Datagram Protocol", "SQL": "Structured Query Language",
            "JSON": "JavaScript Object Notation", "YAML": "YAML Ain't Markup Language", "NASA": "National Aeronautics and Space Administration",
            "LLM": "Large Language Model", "RAG": "Retrieval-Augmented Generation", "LoRA": "Low-Rank Adaptation",
            "GDPR": "General Data Protection Regulation", "VPN": "Virtual Private Network", "SSD": "Solid-State Drive",
            "URL": "Uniform Resource Locator", "HTML": "HyperText Markup Language", "CSS": "Cascading Style Sheets",
            "ISO": "International Organization for Standardization", "UTC": "Coordinated Universal Time",
            "OKR": "Objectives and Key Results", "SLA": "Service Level Agreement"}


def dataset(n_synthetic: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(category, key as stored, value), keys in the seed's ``CATEGORY:subject`` form."""
    items = [("capital", f"CAPITAL:{c}", v) for c, v in CAPITALS.items()]
    items += [("element_name", f"ELEMENT_NAME:{sym}", name) for sym, name in ELEMENTS]
    items += [("element_number", f"ELEMENT_NUMBER:{name}", str(i + 1)) for i, (_, name) in enumerate(ELEMENTS)]
    items += [("port", f"PORT:{svc}", str(p)) for svc, p in PORTS.items()]
    items += [("http_code", f"HTTP:{code}", reason) for code, reason in HTTP.items()]
    items += [("unit_conversion", f"CONVERT:{u}", f) for u, f in UNITS.items()]
    items += [("acronym", f"ACRONYM:{a}", full) for a, full in ACRONYMS.items()]
    alnum = string.ascii_lowercase + string.digits
    for i in range(n_synthetic):
        key = f"{rng.choice(['alpha', 'beta', 'gamma', 'delta'])}_{i}_{''.join(rng.choices(alnum, k=6))}"
        items.append(("synthetic", f"KV:{key}", "".join(rng.choices(alnum, k=10))))
    return items


def variants(key: str, rng: random.Random) -> list[str]:
    """Spellings a person or an agent produces for the same key: case, spacing, punctuation."""
    words = canonical_key(key).split(" ")
    return [key.lower(), key.upper(), " ".join(words), "  " + " . ".join(w.title() for w in words) + " ",
            "_".join(words).upper(), "-".join(words) + "?", rng.choice(["/", ":", "::", " - "]).join(words)]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def timed(fn, queries: list, repeat: int = 1) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter_ns()
        fn(q)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def recall_section(args, rng) -> dict:
    from nuonuo.config import load_config
    from nuonuo.encoder import load_encoder
    from nuonuo.memory import Memory

    items = dataset(args.synthetic, rng)
    encoder = load_encoder()
    cats = sorted({c for c, _, _ in items})
    with tempfile.TemporaryDirectory(prefix="nuonuo-exact-") as tmp:
        mem = Memory(load_config(Path(tmp), env={}), encoder)
        try:
            t0 = time.time()
            mem.remember_many([{"text": v, "key": k} for _, k, v in items])
            ingest_s = time.time() - t0
            raw = {k: v for _, k, v in items}
            per_cat = {c: [0, 0] for c in cats}
            per_cat_dict = {c: [0, 0] for c in cats}
            exact_hits = exact_total = 0
            dense_queries: list[tuple[str, str, str]] = []
            for cat, key, value in items:
                asks = [key] + variants(key, rng)
                exact_total += 1
                exact_hits += (r := mem.lookup(key)) is not None and r.text == value
                for ask in asks:
                    rec = mem.lookup(ask)
                    per_cat[cat][0] += rec is not None and rec.text == value
                    per_cat[cat][1] += 1
                    per_cat_dict[cat][0] += raw.get(ask) == value
                    per_cat_dict[cat][1] += 1
                dense_queries.append((cat, rng.choice(asks[1:]), value))
            lat_mem = timed(lambda k: mem.lookup(k), [rng.choice(items)[1] for _ in range(2000)])
            # dense baseline: nearest stored key embedding to the asked key, on a sample
            sample = rng.sample(dense_queries, min(args.dense_sample, len(dense_queries)))
            keys = [k for _, k, _ in items]
            kv = encoder.embed_many(keys)
            qv = encoder.embed_many([q for _, q, _ in sample])
            best = (qv @ kv.T).argmax(1)
            dense_ok = [items[b][2] == v for (_, _, v), b in zip(sample, best)]
            # keys never stored: a lookup must say "none"; nearest-neighbour always answers something
            absent = [f"{rng.choice(['CAPITAL', 'PORT', 'ACRONYM', 'KV'])}:unknown {i}" for i in range(100)]
            absent_wrong = sum(mem.lookup(a) is not None for a in absent) / len(absent)
            dense_cat = {c: [0, 0] for c in cats}
            for (c, _, _), ok in zip(sample, dense_ok):
                dense_cat[c][0] += ok
                dense_cat[c][1] += 1
        finally:
            mem.close()
    overall = sum(h for h, _ in per_cat.values()) / sum(n for _, n in per_cat.values())
    overall_dict = sum(h for h, _ in per_cat_dict.values()) / sum(n for _, n in per_cat_dict.values())
    return {
        "items": len(items), "ingest_s": round(ingest_s, 1), "variants_per_key": len(variants("a:b", rng)),
        "exact_recall": overall, "stored_key_recall": exact_hits / exact_total,
        "per_category": {c: h / n for c, (h, n) in per_cat.items()},
        "dict_recall": overall_dict, "dict_per_category": {c: h / n for c, (h, n) in per_cat_dict.items()},
        "dense_recall": float(np.mean(dense_ok)), "dense_sample": len(sample), "absent_answered": absent_wrong,
        "dense_per_category": {c: (h / n if n else None) for c, (h, n) in dense_cat.items()},
        "memory_lookup_us_p50": pct(lat_mem, 50), "memory_lookup_us_p99": pct(lat_mem, 99),
    }


def scale_section(n: int, rng: random.Random) -> dict:
    canon = [f"kv user {i} setting {i * 7919 % 1000003:x}" for i in range(n)]
    t0 = time.time()
    table = KeyTable(heads=4, load=0.5)
    table.build((("default", c, f"{i:032x}") for i, c in enumerate(canon)), index_tokens=False)
    build_s = time.time() - t0
    raw = {c: f"{i:032x}" for i, c in enumerate(canon)}
    qs = [canon[rng.randrange(n)] for _ in range(20000)]
    lat = timed(lambda c: table.get("default", c), qs)
    lat_dict = timed(raw.get, qs)
    lat_canon = timed(canonical_key, [q.upper().replace(" ", "_") for q in qs[:5000]])
    miss = [f"absent key {i}" for i in range(5000)]
    assert all(table.get("default", m) is None for m in miss)
    assert all(table.get("default", q) == raw[q] for q in qs[:2000])
    st = table.stats()
    # ids are 32-char strings in both structures; count them once per key in both
    id_bytes = sum(sys.getsizeof(v) for v in raw.values())
    table_bytes = table.nbytes() + id_bytes
    dict_bytes = sys.getsizeof(raw) + sum(sys.getsizeof(k) for k in raw) + id_bytes
    return {"keys": n, "build_s": round(build_s, 2), "lookup_us_p50": pct(lat, 50), "lookup_us_p99": pct(lat, 99),
            "dict_us_p50": pct(lat_dict, 50), "dict_us_p99": pct(lat_dict, 99),
            "canonicalise_us_p50": pct(lat_canon, 50), "bytes_per_key": table_bytes / n,
            "table_bytes_per_key": table.table.nbytes() / n, "dict_bytes_per_key": dict_bytes / n,
            "buckets": st["buckets"], "load_factor": st["load_factor"], "collisions": st["collisions"],
            "overflow": st["overflow"]}


def ngram_scale_section(n_docs: int) -> dict:
    """The lexical channel at scale: index n_docs LongMemEval chat turns, then time 200 questions."""
    from benchmarks import lme_data
    from nuonuo.engram.hashing import TokenHasher
    from nuonuo.engram.ngram import NgramIndex, NgramParams

    qs = lme_data.load()
    texts: list[str] = []
    for q in qs:
        texts += [t[4] for t in lme_data.turns(q) if t[4].strip()]
        if len(texts) >= n_docs:
            break
    texts = texts[:n_docs]
    index = NgramIndex(NgramParams(), TokenHasher())
    t0 = time.time()
    index.add([str(i) for i in range(len(texts))], texts)
    build_s = time.time() - t0
    t0 = time.time()
    index.build()
    rebuild_s = time.time() - t0
    lat = []
    for q in qs[:200]:
        t1 = time.perf_counter()
        index.search(q["question"], 48)
        lat.append((time.perf_counter() - t1) * 1000)
    st = index.stats()
    return {"docs": len(texts), "chars": sum(map(len, texts)), "build_s": round(build_s, 1),
            "rebuild_s": round(rebuild_s, 1), "query_ms_p50": pct(lat, 50), "query_ms_p99": pct(lat, 99),
            "bytes_per_doc": index.nbytes() / len(texts), "ngrams": st["items"], "load_factor": st["load_factor"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=300, help="synthetic random K→V pairs stored (plus ~200 real)")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dense-sample", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ngram-docs", type=int, default=0,
                    help="also time the n-gram channel over this many LongMemEval turns (e.g. 100000)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    rec = recall_section(args, rng)
    print(f"\nExact key → value recall: {rec['items']} keys stored through Memory, each asked by its key and "
          f"{rec['variants_per_key']} variants (case / spacing / punctuation)")
    print(f"{'category':<16}{'seed Engram':>12}{'nuonuo':>9}{'dict(raw)':>11}{'dense NN':>10}")
    for c in sorted(rec["per_category"]):
        d = rec["dense_per_category"][c]
        print(f"{c:<16}{SEED_RESULTS[c]:>12.0%}{rec['per_category'][c]:>9.1%}{rec['dict_per_category'][c]:>11.1%}"
              f"{(f'{d:.1%}' if d is not None else '-'):>10}")
    print(f"{'overall':<16}{SEED_RESULTS['overall']:>12.0%}{rec['exact_recall']:>9.1%}{rec['dict_recall']:>11.1%}"
          f"{rec['dense_recall']:>10.1%}")
    print(f"stored keys as written: {rec['stored_key_recall']:.1%}; dense NN on a sample of {rec['dense_sample']} "
          f"variants; Memory.lookup p50 {rec['memory_lookup_us_p50']:.1f} µs, p99 {rec['memory_lookup_us_p99']:.1f} µs")
    print(f"keys never stored that got an answer: nuonuo {rec['absent_answered']:.0%}, dict 0%, "
          "dense NN 100% (it always returns its nearest key's value)")
    scale = [scale_section(int(n), rng) for n in args.sizes.split(",") if n.strip()]
    print("\nKeyTable at scale (used directly, no encoding; lookup = hashed probe + verification; ids 32 chars)")
    print(f"{'keys':>9}{'build s':>9}{'p50 µs':>8}{'p99 µs':>8}{'dict p50':>9}{'dict p99':>9}{'canon µs':>9}"
          f"{'B/key':>7}{'dict B/key':>11}{'load':>6}{'collide':>9}{'overflow':>9}")
    for s in scale:
        print(f"{s['keys']:>9}{s['build_s']:>9.2f}{s['lookup_us_p50']:>8.1f}{s['lookup_us_p99']:>8.1f}"
              f"{s['dict_us_p50']:>9.2f}{s['dict_us_p99']:>9.2f}{s['canonicalise_us_p50']:>9.1f}"
              f"{s['bytes_per_key']:>7.0f}{s['dict_bytes_per_key']:>11.0f}{s['load_factor']:>6.2f}"
              f"{s['collisions']:>9}{s['overflow']:>9}")
    print(f"\nratio exact recall nuonuo / seed Engram: {rec['exact_recall'] / SEED_RESULTS['overall']:.1f}x; "
          f"vs dict on raw keys: {rec['exact_recall'] / rec['dict_recall']:.2f}x; "
          f"vs dense NN: {rec['exact_recall'] / rec['dense_recall']:.2f}x")
    ngram = ngram_scale_section(args.ngram_docs) if args.ngram_docs else None
    if ngram:
        print(f"\nn-gram channel over {ngram['docs']:,} chat turns ({ngram['chars']:,} chars): build "
              f"{ngram['build_s']} s (rebuild from cached tokens {ngram['rebuild_s']} s), query p50 "
              f"{ngram['query_ms_p50']:.2f} ms, p99 {ngram['query_ms_p99']:.2f} ms, {ngram['bytes_per_doc']:.0f} B/turn")
    result = {"exact_recall": round(rec["exact_recall"], 4), "stored_key_recall": rec["stored_key_recall"],
              "per_category": {c: round(v, 4) for c, v in rec["per_category"].items()},
              "seed_engram_recall": SEED_RESULTS["overall"], "dict_recall": round(rec["dict_recall"], 4),
              "dense_recall": round(rec["dense_recall"], 4), "dense_sample": rec["dense_sample"],
              "absent_answered": rec["absent_answered"],
              "memory_lookup_us_p50": round(rec["memory_lookup_us_p50"], 2),
              "memory_lookup_us_p99": round(rec["memory_lookup_us_p99"], 2),
              "scale": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()} for s in scale],
              "ngram_scale": ngram}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
