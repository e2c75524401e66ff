using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using KernelHarness.Conformance.Memory;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Slab;

/// <summary>
/// Slab traces in the format of conformance-notes.md §8.2 (after CS:APP's mdriver): four header lines, then
/// <c>a id size</c> (kmalloc), <c>z id size</c> (kzalloc), <c>r id size</c> (krealloc), <c>f id</c> (kfree),
/// <c>c name size align flags</c>, <c>ca id name</c>, <c>cf id name</c>, <c>cd name</c> (kmem_cache_*).
/// The bundled traces are generated once from fixed seeds.
/// </summary>
public static class SlabTraces
{
    /// <summary>The bundled performance traces, by name.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>
    {
        ["random-bal"] = Random(21, 3000, 2000, caches: false),
        ["small-bal"] = Random(22, 3000, 200, caches: false),
        ["caches-bal"] = Random(23, 3000, 600, caches: true),
        ["coalescing-bal"] = Coalescing(),
    };

    /// <summary>A random trace of kmalloc/kzalloc/krealloc/kfree (and kmem_cache_* with <paramref name="caches"/>).</summary>
    public static string Random(ulong seed, int n, int maxSize, bool caches)
    {
        var sb = new StringBuilder();
        var live = new List<(int Id, string? Cache)>();
        int id = 0, ops = 0;
        ulong x = seed | 1;
        ulong Next() { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; }
        var cacheNames = new List<string>();
        if (caches)
        {
            var specs = new[] { (24UL, 0UL, 0u), (100UL, 0UL, (uint)SLAB_HWCACHE_ALIGN), (64UL, 64UL, 0u), (333UL, 8UL, 0u), (4000UL, 0UL, 0u) };
            for (int i = 0; i < specs.Length; i++)
            {
                var (size, align, flags) = specs[i];
                cacheNames.Add($"trace-cache-{i}");
                sb.Append(CultureInfo.InvariantCulture, $"c trace-cache-{i} {size} {align} {flags}\n");
                ops++;
            }
        }
        for (int i = 0; i < n; i++)
        {
            ulong r = Next() % 100;
            if (live.Count == 0 || r < 50)
            {
                if (caches && Next() % 2 == 0)
                {
                    var name = cacheNames[(int)(Next() % (ulong)cacheNames.Count)];
                    sb.Append(CultureInfo.InvariantCulture, $"ca {id} {name}\n");
                    live.Add((id++, name));
                }
                else
                {
                    ulong size = Next() % 16 == 0 ? Next() % (ulong)maxSize + 1 : Next() % (ulong)Math.Min(maxSize, 256) + 1;
                    sb.Append(CultureInfo.InvariantCulture, $"{(Next() % 5 == 0 ? "z" : "a")} {id} {size}\n");
                    live.Add((id++, null));
                }
            }
            else if (r < 62 && live.Exists(l => l.Cache is null))
            {
                var cands = live.FindAll(l => l.Cache is null);
                var pick = cands[(int)(Next() % (ulong)cands.Count)];
                sb.Append(CultureInfo.InvariantCulture, $"r {pick.Id} {Next() % (ulong)maxSize + 1}\n");
            }
            else
            {
                int k = (int)(Next() % (ulong)live.Count);
                var (lid, cache) = live[k];
                sb.Append(cache is null ? $"f {lid}\n" : $"cf {lid} {cache}\n");
                live.RemoveAt(k);
            }
            ops++;
        }
        foreach (var (lid, cache) in live)
        {
            sb.Append(cache is null ? $"f {lid}\n" : $"cf {lid} {cache}\n");
            ops++;
        }
        foreach (var name in cacheNames)
        {
            sb.Append(CultureInfo.InvariantCulture, $"cd {name}\n");
            ops++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"0\n{Math.Max(id, 1)}\n{ops}\n1\n") + sb;
    }

    /// <summary>Many small objects freed, then larger ones: finds missing release of empty slabs (SM-10).</summary>
    private static string Coalescing()
    {
        var sb = new StringBuilder();
        int id = 0, ops = 0;
        for (int round = 0; round < 4; round++)
        {
            int first = id;
            for (int i = 0; i < 600; i++, ops++)
                sb.Append(CultureInfo.InvariantCulture, $"a {id++} {32 + 32 * round}\n");
            for (int i = first; i < id; i++, ops++)
                sb.Append(CultureInfo.InvariantCulture, $"f {i}\n");
        }
        return string.Create(CultureInfo.InvariantCulture, $"0\n{id}\n{ops}\n1\n") + sb;
    }

    /// <summary>What running the bundled traces measured.</summary>
    public sealed record Result(double Utilization, double Cost, string? Error);

    /// <summary>
    /// Runs every bundled trace on a fresh machine (KASAN and lockdep off, the reference page allocator)
    /// with the slab <paramref name="create"/> makes. Utilization: peak live requested bytes / peak bytes
    /// of pages held (averaged over traces). Cost: kernel API calls the slab made plus its Arch memory
    /// accesses, per trace operation.
    /// </summary>
    public static Result Measure(Func<ISlab> create)
    {
        double util = 0, cost = 0;
        long ops = 0;
        int traces = 0;
        string? error = null;
        foreach (var (name, text) in All)
        {
            var impl = create();
            var machine = new Machine(new MachineConfig { Seed = 1, Cpus = 1, Kasan = false, Lockdep = false, WallClockLimit = TimeSpan.FromSeconds(30) });
            machine.Bind("slab", impl);
            machine.Run(() =>
            {
                var player = new Player(text, name, verify: false);
                ulong baseline = nr_free_pages();
                ulong peakLive = 0, peakHeld = 0;
                while (error is null && player.HasNext)
                {
                    long calls0 = machine.Calls, arch0 = machine.Checks.ArchMemoryOps;
                    int issued = player.Step();
                    cost += machine.Calls - calls0 - issued + machine.Checks.ArchMemoryOps - arch0;
                    ops++;
                    error ??= player.Error;
                    peakLive = Math.Max(peakLive, player.LiveBytes);
                    ulong free = nr_free_pages();
                    peakHeld = Math.Max(peakHeld, baseline > free ? baseline - free : 0);
                }
                util += peakHeld == 0 ? 1 : (double)peakLive / (peakHeld * PAGE_SIZE);
                traces++;
            });
            if (machine.Outcome != RunOutcome.Completed)
                error ??= $"trace {name}: the machine ended with {machine.Outcome}";
        }
        return new Result(traces == 0 ? 0 : util / traces, ops == 0 ? 0 : cost / ops, error);
    }

    /// <summary>Plays a trace through the kernel facade, checking each result the way mdriver's eval_mm_valid does.</summary>
    internal sealed class Player
    {
        private readonly string[] lines;
        private readonly string trace;
        private readonly bool verify;
        private readonly (kptr P, ulong Size)[] objs;
        private readonly Dictionary<string, kmem_cache> caches = new(StringComparer.Ordinal);
        private readonly MemKit.Intervals intervals = new();
        private int next = 4;

        public Player(string text, string trace, bool verify)
        {
            lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            objs = new (kptr, ulong)[int.Parse(lines[1], CultureInfo.InvariantCulture)];
            this.trace = trace;
            this.verify = verify;
        }

        public bool HasNext => next < lines.Length;

        /// <summary>The objects the trace holds now (kmemleak's roots at the end of a run).</summary>
        public kptr[] Live => objs.Where(o => o.P.addr > 16).Select(o => o.P).ToArray();
        public string? Error { get; private set; }
        public ulong LiveBytes { get; private set; }
        public string Current => next - 1 < lines.Length ? lines[next - 1] : "";

        private void Fail(string what) => Error ??= $"ERROR [trace {trace}, line {next}]: {what}";

        /// <summary>Runs one request; returns how many kernel API calls the trace itself issued (for cost accounting).</summary>
        public int Step()
        {
            var f = lines[next++].Split(' ');
            int Id() => int.Parse(f[1], CultureInfo.InvariantCulture);
            ulong Size(int i) => ulong.Parse(f[i], CultureInfo.InvariantCulture);
            switch (f[0])
            {
                case "a":
                case "z":
                {
                    int id = Id();
                    ulong size = Size(2);
                    var p = f[0] == "z" ? kzalloc(size, GFP_KERNEL) : kmalloc(size, GFP_KERNEL);
                    if (p.addr <= 16)
                    {
                        Fail($"kmalloc({size}) failed.");
                        return 1;
                    }
                    if (verify && f[0] == "z" && ptr_span(p, size).IndexOfAnyExcept((byte)0) >= 0)
                        Fail($"kzalloc({size}) returned memory that is not zeroed");
                    Added(id, p, size, ARCH_KMALLOC_MINALIGN);
                    return verify ? 4 : 1;
                }
                case "r":
                {
                    int id = Id();
                    ulong size = Size(2);
                    var (old, oldSize) = objs[id];
                    if (verify && !MemKit.Holds(old, oldSize, id))
                        Fail("payload changed while the block was live (before krealloc)");
                    Removed(id);
                    var p = krealloc(old, size, GFP_KERNEL);
                    if (p.addr <= 16)
                    {
                        Fail($"krealloc({size}) failed.");
                        return 1;
                    }
                    if (verify && !MemKit.Holds(p, Math.Min(oldSize, size), id))
                        Fail("krealloc did not preserve the data from old block");
                    Added(id, p, size, ARCH_KMALLOC_MINALIGN);
                    return verify ? 5 : 1;
                }
                case "f":
                {
                    int id = Id();
                    var (p, size) = objs[id];
                    if (verify && !MemKit.Holds(p, size, id))
                        Fail($"payload of block {id} changed while it was live (checked before kfree)");
                    Removed(id);
                    kfree(p);
                    return verify ? 2 : 1;
                }
                case "c":
                {
                    var c = kmem_cache_create(f[1], Size(2), Size(3), (slab_flags_t)uint.Parse(f[4], CultureInfo.InvariantCulture), null);
                    if (c is null)
                        Fail($"kmem_cache_create({f[1]}) failed.");
                    else
                        caches[f[1]] = c;
                    return 1;
                }
                case "ca":
                {
                    int id = Id();
                    var c = caches[f[2]];
                    var p = kmem_cache_alloc(c, GFP_KERNEL);
                    if (p.addr == 0)
                    {
                        Fail($"kmem_cache_alloc({f[2]}) failed.");
                        return 1;
                    }
                    Added(id, p, c.object_size, Math.Max(ARCH_SLAB_MINALIGN, c.align == 0 ? 1 : Math.Min(c.align, c.object_size.IsPow2() ? c.align : c.align)));
                    return verify ? 2 : 1;
                }
                case "cf":
                {
                    int id = Id();
                    var (p, size) = objs[id];
                    if (verify && !MemKit.Holds(p, size, id))
                        Fail($"payload of object {id} changed while it was live (checked before kmem_cache_free)");
                    Removed(id);
                    kmem_cache_free(caches[f[2]], p);
                    return verify ? 2 : 1;
                }
                case "cd":
                    kmem_cache_destroy(caches[f[1]]);
                    caches.Remove(f[1]);
                    return 1;
                default:
                    Fail($"Bogus type character ({f[0]}) in tracefile {trace}");
                    return 0;
            }
        }

        private void Added(int id, kptr p, ulong size, ulong align)
        {
            if (verify)
            {
                if (p.addr % align != 0)
                    Fail($"Payload address ({p}) not aligned to {align} bytes");
                if (ZERO_OR_NULL_PTR(p))
                    Fail("NULL or ZERO_SIZE_PTR for a non-zero size");
                var overlap = intervals.Add(p.addr, p.addr + Math.Max(size, 1), $"block {id}");
                if (overlap is not null)
                    Fail($"Payload ({p}:+{size}) overlaps another payload ({overlap})");
                MemKit.Fill(p, size, id);
            }
            objs[id] = (p, size);
            LiveBytes += size;
        }

        private void Removed(int id)
        {
            if (verify)
                intervals.Remove(objs[id].P.addr);
            LiveBytes -= objs[id].Size;
            objs[id] = default;
        }
    }
}

internal static class UlongExtensions
{
    public static bool IsPow2(this ulong x) => x != 0 && (x & (x - 1)) == 0;
}

/// <summary>Runs a trace inside a conformance test, with the mdriver checks and ksize.</summary>
internal static class SlabTraceChecker
{
    public static void Run(ConformanceContext ctx, string trace, string name)
    {
        var player = new SlabTraces.Player(trace, name, verify: true);
        int op = 0;
        while (player.HasNext)
        {
            player.Step();
            ctx.Step($"op {op++}: {player.Current}");
            ctx.Check(player.Error is null, "every request succeeds, aligned, inside no other live payload, with its payload intact until freed (mdriver eval_mm_valid)", "no error", player.Error);
        }
        ctx.CheckNoLeaks("kmemleak (mm/kmemleak.c): at the end of the trace every object is either freed or still held by the trace", player.Live);
    }
}
