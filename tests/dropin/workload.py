"""workload.py - a dict/str/json-heavy Python program for check_preload.sh.

Run with PYTHONMALLOC=malloc so every object goes through the C allocator.
Builds nested records, serialises and parses them (json), does string work
(split/join/replace/format, a growing str), sorts and groups, and prints
digests. Deterministic: a fixed seed, no hash-order dependence (sorted keys).
Usage: python3 workload.py [scale]   (default 1)
"""
import hashlib
import json
import random
import sys
from collections import Counter, defaultdict


def digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def make_record(rng, i):
    name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12)))
    return {
        "id": i,
        "name": name,
        "tags": sorted({rng.choice(["red", "green", "blue", "cyan", "black", "white"])
                        for _ in range(rng.randint(0, 5))}),
        "score": round(rng.random() * 1000, 3),
        "children": [{"k": f"{name}-{j}", "v": [rng.randint(0, 99) for _ in range(rng.randint(0, 8))]}
                     for j in range(rng.randint(0, 6))],
        "note": (name.upper() + " ") * rng.randint(0, 20),
    }


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = random.Random(20240607)
    n = 9000 * scale

    records = [make_record(rng, i) for i in range(n)]
    print("records", len(records), digest(records[:50]))

    # serialise and parse, in chunks and whole
    text = json.dumps(records, sort_keys=True)
    print("json bytes", len(text))
    back = json.loads(text)
    assert back == records
    chunks = [json.dumps(records[i:i + 97]) for i in range(0, n, 97)]
    parsed = [r for c in chunks for r in json.loads(c)]
    assert parsed == records
    print("roundtrip ok", digest([len(c) for c in chunks]))

    # group, count, sort
    by_tag = defaultdict(list)
    for r in records:
        for t in r["tags"]:
            by_tag[t].append(r["id"])
    print("by tag", {t: len(v) for t, v in sorted(by_tag.items())})
    letters = Counter("".join(r["name"] for r in records))
    print("letters", "".join(c for c, _ in sorted(letters.most_common(), key=lambda x: (-x[1], x[0]))))
    top = sorted(records, key=lambda r: (-r["score"], r["name"], r["id"]))[:5]
    print("top", [(r["id"], r["name"], r["score"]) for r in top])

    # string churn: split/join/replace/format and a growing string
    words = text.replace("{", " ").replace("}", " ").replace(",", " ").split()
    print("words", len(words), len(set(words)))
    s = ""
    for i, w in enumerate(words[:200000]):
        if i % 1000 == 0:
            s = s[len(s) // 2:]
        s += w[::-1] + ("|" if i % 7 else "\n")
    print("string", len(s), hashlib.sha256(s.encode()).hexdigest()[:16])
    table = "\n".join(f"{r['id']:>6} {r['name']:<12} {r['score']:>10.3f} {','.join(r['tags'])}"
                      for r in records)
    print("table", len(table), hashlib.sha256(table.encode()).hexdigest()[:16])

    # dicts of dicts: build, mutate, delete
    index = {}
    for r in records:
        index.setdefault(r["name"][:2], {})[r["id"]] = {c["k"]: sum(c["v"]) for c in r["children"]}
    for i in range(0, n, 3):
        bucket = index.get(records[i]["name"][:2])
        if bucket is not None:
            bucket.pop(i, None)
    print("index", len(index), sum(len(b) for b in index.values()),
          digest({k: sorted(v) for k, v in sorted(index.items())[:20]}))

    # many small objects freed in between
    total = 0
    for round_ in range(20):
        tmp = [{"a": i, "b": str(i) * (i % 5), "c": [i] * (i % 7)} for i in range(5000 * scale)]
        total += sum(len(d["b"]) + len(d["c"]) for d in tmp)
        del tmp
    print("small objects", total)


if __name__ == "__main__":
    main()
