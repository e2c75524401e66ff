using System;
using System.Diagnostics;
using System.Globalization;
using KernelHarness.Runtime;

namespace KernelHarness.Benchmarks;

/// <summary>
/// <c>--quick</c>: the same loops timed with a stopwatch (best of a few rounds), for a ratio in seconds
/// rather than BenchmarkDotNet's minutes. Less rigorous; good enough to see a regression.
/// </summary>
public static class QuickHarness
{
    private const int Pairs = 200_000;
    private const int Rounds = 7;

    public static int Run()
    {
        Console.WriteLine("KernelHarness facade cost per pair (quick mode: best of {0} rounds of {1:N0} pairs)", Rounds, Pairs);
        Console.WriteLine();
        bool ok = true;
        foreach (var (name, config) in new[] { ("production", MachineHost.Production), ("debug", MachineHost.Debug) })
        {
            using var host = new MachineHost(config);
            var l = new spinlock_t();
            var plain = new object();
            double baseline = Measure(host, n => FacadeLoops.PlainCallPair(plain, n));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{name}] Lockdep={config.Lockdep} Kasan={config.Kasan} Trace={config.Trace}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"plain call pair",-34} {baseline,8:F2} ns/pair   ratio  1.00"));
            foreach (var (op, body) in new (string, Action<int>)[]
            {
                ("spin_lock+spin_unlock", n => FacadeLoops.SpinLockPair(l, n)),
                ("get_cpu+put_cpu", n => FacadeLoops.GetCpuPair(n)),
                ("local_irq_save+local_irq_restore", n => FacadeLoops.IrqSavePair(n)),
            })
            {
                double ns = Measure(host, body);
                bool within = ns < 100;
                ok &= within || name != "production";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {op,-34} {ns,8:F2} ns/pair   ratio {ns / baseline,5:F1}   {(within ? "< 100 ns" : "OVER 100 ns")}"));
            }
            ok &= MeasureMemory(host, name);
            if (host.Machine.Reports.Count > 0)
            {
                ok = false;
                Console.WriteLine($"  unexpected reports: {host.Machine.Reports.Count} (first: {host.Machine.Reports[0].Title})");
            }
            Console.WriteLine();
        }
        return ok ? 0 : 1;
    }

    /// <summary>
    /// The allocator hot paths against <c>ArrayPool&lt;byte&gt;.Shared</c> in the same run. Target: the slab
    /// pair (kmem_cache_alloc + kmem_cache_free of a 64-byte object) within 3x of Rent(64)/Return in the
    /// production configuration.
    /// </summary>
    private static bool MeasureMemory(MachineHost host, string name)
    {
        kmem_cache cache = null!;
        host.Execute(() =>
        {
            cache = Kernel.kmem_cache_create("quick-64", 64, 0, 0, null)!;
            Memory.MemoryLoops.CacheAllocFree(cache, 1000);
        });
        // The baseline and the slab pair are timed in alternating rounds, so both see the same machine load.
        var (pool, slab) = MeasurePair(host, n => Memory.MemoryLoops.ArrayPoolRentReturn(n), n => Memory.MemoryLoops.CacheAllocFree(cache, n));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"ArrayPool<byte> Rent(64)+Return",-34} {pool,8:F2} ns/pair   ratio  1.00 (memory baseline)"));
        bool within = slab <= 3 * pool;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {"kmem_cache_alloc+kmem_cache_free",-34} {slab,8:F2} ns/pair   ratio {slab / pool,5:F1}   {(within ? "within 3x" : "OVER 3x")}"));
        double kmalloc = Measure(host, n => Memory.MemoryLoops.KmallocMixed(n));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"kmalloc+kfree (mixed sizes)",-34} {kmalloc,8:F2} ns/pair   ratio {kmalloc / pool,5:F1}"));
        double pages = Measure(host, n => Memory.MemoryLoops.PagesOrders0To3(n));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"alloc_pages+__free_pages (0-3)",-34} {pages,8:F2} ns/pair   ratio {pages / pool,5:F1}"));
        host.Execute(() => Kernel.kmem_cache_destroy(cache));
        return within || name != "production";
    }

    private static (double A, double B) MeasurePair(MachineHost host, Action<int> a, Action<int> b)
    {
        WarmUp(host, a);
        WarmUp(host, b);
        double bestA = double.MaxValue, bestB = double.MaxValue;
        for (int r = 0; r < 2 * Rounds; r++)
        {
            bestA = Math.Min(bestA, Time(host, a));
            bestB = Math.Min(bestB, Time(host, b));
        }
        return (bestA, bestB);
    }

    private static double Time(MachineHost host, Action<int> body)
    {
        var sw = Stopwatch.StartNew();
        host.Execute(() => body(Pairs));
        sw.Stop();
        return sw.Elapsed.TotalNanoseconds / Pairs;
    }

    private static void WarmUp(MachineHost host, Action<int> body)
    {
        // Enough calls of the loop (with a short count), with quiet pauses between rounds, for tiered
        // compilation to promote the loop and its callees to optimized code (call counting starts after
        // 100 ms without new tier-0 code and promotes after 30 calls), as BenchmarkDotNet's warm-up does.
        for (int w = 0; w < 4; w++)
        {
            host.Execute(() =>
            {
                for (int i = 0; i < 60; i++)
                    body(1000);
            });
            System.Threading.Thread.Sleep(150);
        }
    }

    private static double Measure(MachineHost host, Action<int> body)
    {
        WarmUp(host, body);
        double best = double.MaxValue;
        for (int r = 0; r < Rounds; r++)
            best = Math.Min(best, Time(host, body));
        return best;
    }
}
