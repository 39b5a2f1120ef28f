#!/usr/bin/env python3
"""check_malloc_info.py FILE ARENA HBLKS HBLKHD - malloc_info(0, fp)'s XML,
as test_stats.c wrote it to FILE, parsed with xml.etree: glibc's structure
(<malloc version="1">, one <heap nr="0"> with <sizes>, the totals, <system>
and <aspace>; the outer totals and <system>), every number an integer, each
<size>'s total its count times its size, the sizes' totals inside the free
bytes (fast + rest), and the numbers mallinfo2 gave (ARENA, HBLKS, HBLKHD).
Exits 0, or 1 with what is wrong on stderr."""
import sys
import xml.etree.ElementTree as ET


def fail(why):
    print("check_malloc_info.py: " + why, file=sys.stderr)
    sys.exit(1)


def num(el, attr):
    v = el.get(attr)
    if v is None or not v.isdigit():
        fail("<%s> %s=%r is not a number" % (el.tag, attr, v))
    return int(v)


def totals(parent):
    t = {}
    for el in parent.findall("total"):
        t[el.get("type")] = (num(el, "count"), num(el, "size"))
    return t


def main():
    path, arena, hblks, hblkhd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    root = ET.parse(path).getroot()
    if root.tag != "malloc" or root.get("version") != "1":
        fail("root <%s version=%r>, want <malloc version=\"1\">" % (root.tag, root.get("version")))
    heaps = root.findall("heap")
    if len(heaps) != 1 or heaps[0].get("nr") != "0":
        fail("want one <heap nr=\"0\">, have %d" % len(heaps))
    heap = heaps[0]
    sizes = heap.find("sizes")
    if sizes is None:
        fail("no <sizes> in the heap")
    in_sizes = 0
    for s in sizes:
        if s.tag != "size":
            fail("<%s> in <sizes>" % s.tag)
        lo, hi, total, count = num(s, "from"), num(s, "to"), num(s, "total"), num(s, "count")
        if not 0 < lo <= hi or count == 0 or total != count * hi:
            fail("<size from=%d to=%d total=%d count=%d>: want 0 < from <= to, total = count * to"
                 % (lo, hi, total, count))
        in_sizes += total
    ht = totals(heap)
    if set(ht) != {"fast", "rest"}:
        fail("heap totals %s, want fast and rest" % sorted(ht))
    free_bytes = ht["fast"][1] + ht["rest"][1]
    if in_sizes > free_bytes:
        fail("the sizes hold %d bytes, more than fast + rest = %d" % (in_sizes, free_bytes))
    for where in (heap, root):
        sysd = {el.get("type"): num(el, "size") for el in where.findall("system")}
        asp = {el.get("type"): num(el, "size") for el in where.findall("aspace")}
        if sysd.get("current") != arena or sysd.get("max") != arena:
            fail("<%s>'s system %s, want current = max = arena %d" % (where.tag, sysd, arena))
        if asp.get("total", 0) < arena or asp.get("mprotect") != arena:
            fail("<%s>'s aspace %s, want total >= arena, mprotect = arena %d" % (where.tag, asp, arena))
    rt = totals(root)
    if rt.get("mmap") != (hblks, hblkhd):
        fail("outer mmap total %s, want (hblks, hblkhd) = (%d, %d)" % (rt.get("mmap"), hblks, hblkhd))
    if rt.get("fast") != ht["fast"] or rt.get("rest") != ht["rest"]:
        fail("outer totals %s differ from the heap's %s" % (rt, ht))
    print("malloc_info: %d sizes, %d free bytes in them, parsed by python3's xml.etree" % (len(sizes), in_sizes))


main()
