using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.PageAllocator;

/// <summary>
/// Bundled page-allocator traces in the format of conformance-notes.md §8.2 (after CS:APP's mdriver
/// <c>.rep</c> files): four header lines (suggested heap size, ids, ops, weight), then
/// <c>p id order gfp</c> (alloc_pages) and <c>pf id</c> (__free_pages). They are generated once from
/// fixed seeds, so every run and every implementation sees the same requests.
/// </summary>
public static class PageTraces
{
    /// <summary>The traces, by name.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>
    {
        ["coalescing-bal"] = Coalescing(),
        ["random-bal"] = Random(11, 4000, 6),
        ["binary-bal"] = Binary(),
    };

    private static string Header(StringBuilder body, int ids, int ops) =>
        string.Create(CultureInfo.InvariantCulture, $"0\n{ids}\n{ops}\n1\n") + body;

    /// <summary>Allocate a big block, free it, allocate its halves, repeat: finds missing coalescing (BM-4).</summary>
    private static string Coalescing()
    {
        var sb = new StringBuilder();
        int id = 0, ops = 0;
        for (int round = 0; round < 60; round++)
        {
            int big = id++;
            sb.Append(CultureInfo.InvariantCulture, $"p {big} 6 GFP_KERNEL\npf {big}\n");
            int a = id++, b = id++;
            sb.Append(CultureInfo.InvariantCulture, $"p {a} 5 GFP_KERNEL\np {b} 5 GFP_KERNEL\npf {a}\npf {b}\n");
            ops += 6;
        }
        return Header(sb, id, ops);
    }

    /// <summary>Random orders and lifetimes.</summary>
    private static string Random(ulong seed, int n, int maxOrder)
    {
        var sb = new StringBuilder();
        var live = new List<int>();
        int id = 0, ops = 0;
        ulong x = seed;
        ulong Next() { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; }
        for (int i = 0; i < n; i++)
        {
            if (live.Count == 0 || Next() % 100 < 55)
            {
                int order = (int)(Next() % 8 == 0 ? Next() % (ulong)(maxOrder + 1) : Next() % 3);
                sb.Append(CultureInfo.InvariantCulture, $"p {id} {order} {(Next() % 4 == 0 ? "GFP_ATOMIC" : "GFP_KERNEL")}\n");
                live.Add(id++);
            }
            else
            {
                int k = (int)(Next() % (ulong)live.Count);
                sb.Append(CultureInfo.InvariantCulture, $"pf {live[k]}\n");
                live.RemoveAt(k);
            }
            ops++;
        }
        foreach (var l in live)
        {
            sb.Append(CultureInfo.InvariantCulture, $"pf {l}\n");
            ops++;
        }
        return Header(sb, id, ops);
    }

    /// <summary>Alternating small and large blocks, then the small ones freed: fragmentation that only a good placement avoids.</summary>
    private static string Binary()
    {
        var sb = new StringBuilder();
        int id = 0, ops = 0;
        var small = new List<int>();
        for (int i = 0; i < 800; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"p {id} 0 GFP_KERNEL\n");
            small.Add(id++);
            sb.Append(CultureInfo.InvariantCulture, $"p {id} 2 GFP_KERNEL\n");
            id++;
            ops += 2;
        }
        foreach (var s in small)
        {
            sb.Append(CultureInfo.InvariantCulture, $"pf {s}\n");
            ops++;
        }
        for (int i = 0; i < 300; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"p {id++} 3 GFP_KERNEL\n");
            ops++;
        }
        return Header(sb, id, ops);
    }

    /// <summary>What a run of every trace measured.</summary>
    public sealed record Result(double Usable, double Cost, string? Error);

    private static gfp_t ParseGfp(string s) => s switch
    {
        "GFP_ATOMIC" => GFP_ATOMIC,
        "GFP_DMA" => GFP_DMA,
        "GFP_DMA32" => GFP_DMA32,
        "GFP_HIGHUSER" => GFP_HIGHUSER,
        "GFP_NOWAIT" => GFP_NOWAIT,
        _ => GFP_KERNEL,
    };

    /// <summary>
    /// Runs every trace on a fresh machine (KASAN and lockdep off) with the implementation
    /// <paramref name="create"/> makes. Usable: the average, over checkpoints, of the share of free memory
    /// that order-3 requests could use (1 - Linux's unusable free space index). Cost: kernel API calls
    /// the implementation made plus its Arch memory accesses, per trace operation.
    /// </summary>
    public static Result Measure(Func<IPageAllocator> create)
    {
        double usableSum = 0, costSum = 0;
        int checkpoints = 0;
        long totalOps = 0;
        string? error = null;
        foreach (var (name, text) in All)
        {
            var impl = create();
            var machine = new Machine(new MachineConfig { Seed = 1, Cpus = 1, Kasan = false, Lockdep = false, WallClockLimit = TimeSpan.FromSeconds(30) });
            machine.Bind("page allocator", impl);
            machine.Run(() =>
            {
                var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                int ids = int.Parse(lines[1], CultureInfo.InvariantCulture);
                var blocks = new (page? Page, int Order)[ids];
                int ops = lines.Length - 4;
                for (int i = 4; i < lines.Length && error is null; i++)
                {
                    var f = lines[i].Split(' ');
                    long calls0 = machine.Calls, arch0 = machine.Checks.ArchMemoryOps;
                    if (f[0] == "p")
                    {
                        int id = int.Parse(f[1], CultureInfo.InvariantCulture), order = int.Parse(f[2], CultureInfo.InvariantCulture);
                        var p = alloc_pages(ParseGfp(f[3]), order);
                        if (p is null)
                            error = $"trace {name}, line {i + 1}: alloc_pages failed with plenty of memory free";
                        blocks[id] = (p, order);
                    }
                    else
                    {
                        int id = int.Parse(f[1], CultureInfo.InvariantCulture);
                        if (blocks[id].Page is { } pg)
                            __free_pages(pg, blocks[id].Order);
                        blocks[id] = default;
                    }
                    costSum += machine.Calls - calls0 - 1 + machine.Checks.ArchMemoryOps - arch0;
                    totalOps++;
                    if ((i - 4) % Math.Max(1, ops / 10) == 0)
                    {
                        ulong free = 0, usable = 0;
                        for (int z = 0; z < MAX_NR_ZONES; z++)
                            for (int o = 0; o <= MAX_PAGE_ORDER; o++)
                            {
                                ulong pages = impl.zone_nr_free((zone_type)z, o) << o;
                                free += pages;
                                if (o >= 3)
                                    usable += pages;
                            }
                        usableSum += free == 0 ? 1 : (double)usable / free;
                        checkpoints++;
                    }
                }
            });
            if (machine.Outcome != RunOutcome.Completed)
                error ??= $"trace {name}: the machine ended with {machine.Outcome}";
        }
        return new Result(checkpoints == 0 ? 0 : usableSum / checkpoints, totalOps == 0 ? 0 : costSum / totalOps, error);
    }
}
