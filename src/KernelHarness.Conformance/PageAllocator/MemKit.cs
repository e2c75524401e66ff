using System;
using System.Collections.Generic;
using System.Linq;
using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Memory;

/// <summary>Helpers shared by the page allocator and slab suites.</summary>
internal static class MemKit
{
    /// <summary>A mark of the reports and log lines so far, to look for what a call reported.</summary>
    public readonly record struct Mark(int Reports, int Log);

    public static Mark Now(ConformanceContext ctx) => new(ctx.Machine.Reports.Count, ctx.Machine.Log.Lines.Count);

    /// <summary>
    /// True when, since <paramref name="mark"/>, the implementation reported a problem that mentions one of
    /// <paramref name="words"/> (case-insensitive): a kernel report (WARN, BUG, KASAN, slab error) or a
    /// kernel log line (pr_err).
    /// </summary>
    public static bool Detected(ConformanceContext ctx, Mark mark, params string[] words)
    {
        var m = ctx.Machine;
        for (int i = mark.Reports; i < m.Reports.Count; i++)
        {
            var r = m.Reports[i];
            if (Mentions(r.Title, words) || r.Details.Any(d => Mentions(d, words)))
                return true;
        }
        var lines = m.Log.Lines;
        for (int i = mark.Log; i < lines.Count; i++)
        {
            if (Mentions(lines[i].Text, words))
                return true;
        }
        return false;
    }

    private static bool Mentions(string text, string[] words) =>
        words.Any(w => text.Contains(w, StringComparison.OrdinalIgnoreCase));

    /// <summary>Reports a buggy implementation may make on purpose when a test provokes an error.</summary>
    public static void AllowErrorReports(ConformanceContext ctx) =>
        ctx.AllowReports(ReportKind.Warning, ReportKind.BadPageState, ReportKind.SlabCorruption, ReportKind.SlabCacheBusy,
            ReportKind.KasanDoubleFree, ReportKind.KasanInvalidFree);

    public static ulong Pfn(kptr p) => (p.addr - PAGE_OFFSET) >> PAGE_SHIFT;

    public static string Hex(ulong x) => "0x" + x.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Free blocks per zone and order (/proc/buddyinfo).</summary>
    public static ulong[,] BuddyInfo()
    {
        var info = new ulong[MAX_NR_ZONES, NR_PAGE_ORDERS];
        for (int z = 0; z < MAX_NR_ZONES; z++)
            for (int o = 0; o < NR_PAGE_ORDERS; o++)
                info[z, o] = zone_nr_free((zone_type)z, o);
        return info;
    }

    public static string Describe(ulong[,] info)
    {
        var parts = new List<string>();
        for (int z = 0; z < MAX_NR_ZONES; z++)
        {
            var row = Enumerable.Range(0, NR_PAGE_ORDERS).Select(o => info[z, o]).ToArray();
            if (row.Any(v => v != 0))
                parts.Add($"{(zone_type)z}: {string.Join(" ", row)}");
        }
        return parts.Count == 0 ? "(all empty)" : string.Join("; ", parts);
    }

    public static bool Same(ulong[,] a, ulong[,] b)
    {
        for (int z = 0; z < MAX_NR_ZONES; z++)
            for (int o = 0; o < NR_PAGE_ORDERS; o++)
                if (a[z, o] != b[z, o])
                    return false;
        return true;
    }

    /// <summary>
    /// The free areas a buddy allocator that merges eagerly must show, given which pages are allocated: each
    /// zone decomposed into the largest aligned blocks of free pages (the canonical buddy shape, B-3/B-5).
    /// </summary>
    public static ulong[,] CanonicalBuddyInfo(bool[] allocated)
    {
        var prefix = new int[allocated.Length + 1];
        for (int i = 0; i < allocated.Length; i++)
            prefix[i + 1] = prefix[i] + (allocated[i] ? 1 : 0);
        var info = new ulong[MAX_NR_ZONES, NR_PAGE_ORDERS];
        for (int z = 0; z < MAX_NR_ZONES; z++)
        {
            ulong start = Arch.zone_start_pfn((zone_type)z), end = Arch.zone_end_pfn((zone_type)z);
            for (ulong pfn = start; pfn < end;)
            {
                int order = MAX_PAGE_ORDER;
                while (order > 0 && ((pfn & ((1UL << order) - 1)) != 0 || pfn + (1UL << order) > end))
                    order--;
                Decompose(info, z, pfn, order, prefix);
                pfn += 1UL << order;
            }
        }
        return info;
    }

    private static void Decompose(ulong[,] info, int z, ulong pfn, int order, int[] prefix)
    {
        int used = prefix[(int)pfn + (1 << order)] - prefix[(int)pfn];
        if (used == 0)
            info[z, order]++;
        else if (used < 1 << order)
        {
            Decompose(info, z, pfn, order - 1, prefix);
            Decompose(info, z, pfn + (1UL << (order - 1)), order - 1, prefix);
        }
    }

    /// <summary>Fills an object with the id byte (mdriver's <c>id &amp; 0xFF</c>).</summary>
    public static void Fill(kptr p, ulong len, int id)
    {
        if (len > 0)
            memset(p, id & 0xff, len);
    }

    /// <summary>True when the object still holds its id byte.</summary>
    public static bool Holds(kptr p, ulong len, int id)
    {
        if (len == 0)
            return true;
        return ptr_span(p, len).IndexOfAnyExcept((byte)(id & 0xff)) < 0;
    }

    /// <summary>Live intervals: a full overlap test (not only endpoints, mdriver's weakness 1).</summary>
    public sealed class Intervals
    {
        private readonly SortedDictionary<ulong, (ulong End, string What)> map = new();
        private readonly SortedSet<ulong> starts = new();

        public int Count => map.Count;

        /// <summary>Adds [start, end); returns the overlapped interval's description, or null.</summary>
        public string? Add(ulong start, ulong end, string what)
        {
            if (starts.Count > 0)
            {
                ulong probe = end - 1;
                if (starts.Min <= probe)
                {
                    ulong floor = starts.GetViewBetween(starts.Min, probe).Max;
                    var (e, w) = map[floor];
                    if (e > start)
                        return $"{w} at [{Hex(floor)}, {Hex(e)})";
                }
            }
            map[start] = (end, what);
            starts.Add(start);
            return null;
        }

        public void Remove(ulong start)
        {
            map.Remove(start);
            starts.Remove(start);
        }
    }
}
