using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using static KernelHarness.Kernel;

namespace KernelHarness.Benchmarks.Memory;

/// <summary>The loops, run inside the machine (kernel API calls need a simulated task and CPU).</summary>
public static class MemoryLoops
{
    /// <summary>Sizes cycled by the mixed kmalloc loop: several size classes, 96 and 192 included.</summary>
    public static readonly ulong[] MixedSizes = { 8, 24, 64, 96, 100, 192, 256, 500, 1024, 3000 };

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long NewObject(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var o = new byte[64];
            sum += o.Length;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long ArrayPoolRentReturn(int n)
    {
        long sum = 0;
        var pool = ArrayPool<byte>.Shared;
        for (int i = 0; i < n; i++)
        {
            var a = pool.Rent(64);
            sum += a.Length;
            pool.Return(a);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long ArrayPoolMixed(int n)
    {
        long sum = 0;
        var pool = ArrayPool<byte>.Shared;
        for (int i = 0; i < n; i++)
        {
            var a = pool.Rent((int)MixedSizes[i % MixedSizes.Length]);
            sum += a.Length;
            pool.Return(a);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void CacheAllocFree(kmem_cache c, int n)
    {
        for (int i = 0; i < n; i++)
        {
            var p = kmem_cache_alloc(c, GFP_KERNEL);
            kmem_cache_free(c, p);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void KmallocMixed(int n)
    {
        var sizes = MixedSizes;
        for (int i = 0; i < n; i++)
        {
            var p = kmalloc(sizes[i % sizes.Length], GFP_KERNEL);
            kfree(p);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void PagesOrders0To3(int n)
    {
        for (int i = 0; i < n; i++)
        {
            int order = i & 3;
            var pg = alloc_pages(GFP_KERNEL, order);
            __free_pages(pg!, order);
        }
    }
}

/// <summary>
/// Slab, kmalloc and page allocator hot paths through the facade inside a simulated machine, against
/// .NET baselines in the same run: <c>new byte[64]</c> and <c>ArrayPool&lt;byte&gt;.Shared</c> rent/return.
/// Target: the slab pair within 3x of ArrayPool rent/return in the production configuration (KASAN and
/// lockdep off); the debug configuration (KASAN on) shows what the checks cost.
/// </summary>
[MemoryDiagnoser]
public class MemoryBenchmarks
{
    public const int OpsPerInvoke = 20_000;

    private MachineHost host = null!;
    private kmem_cache cache = null!;

    [Params("production", "debug")]
    public string Config { get; set; } = "production";

    [GlobalSetup]
    public void Setup()
    {
        host = new MachineHost(Config == "debug" ? MachineHost.Debug : MachineHost.Production);
        host.Execute(() =>
        {
            cache = kmem_cache_create("bench-64", 64, 0, 0, null)!;
            MemoryLoops.CacheAllocFree(cache, 1000);
            MemoryLoops.KmallocMixed(1000);
            MemoryLoops.PagesOrders0To3(1000);
        });
    }

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = OpsPerInvoke, Description = "ArrayPool<byte> rent+return (64)")]
    public void ArrayPoolPair() => host.Execute(() => MemoryLoops.ArrayPoolRentReturn(OpsPerInvoke));

    [Benchmark(OperationsPerInvoke = OpsPerInvoke, Description = "new byte[64]")]
    public void NewObject() => host.Execute(() => MemoryLoops.NewObject(OpsPerInvoke));

    [Benchmark(OperationsPerInvoke = OpsPerInvoke, Description = "ArrayPool<byte> rent+return (mixed sizes)")]
    public void ArrayPoolMixed() => host.Execute(() => MemoryLoops.ArrayPoolMixed(OpsPerInvoke));

    [Benchmark(OperationsPerInvoke = OpsPerInvoke, Description = "kmem_cache_alloc+kmem_cache_free (64)")]
    public void CachePair() => host.Execute(() => MemoryLoops.CacheAllocFree(cache, OpsPerInvoke));

    [Benchmark(OperationsPerInvoke = OpsPerInvoke, Description = "kmalloc+kfree (mixed sizes)")]
    public void KmallocPair() => host.Execute(() => MemoryLoops.KmallocMixed(OpsPerInvoke));

    [Benchmark(OperationsPerInvoke = OpsPerInvoke, Description = "alloc_pages+__free_pages (orders 0-3)")]
    public void PagesPair() => host.Execute(() => MemoryLoops.PagesOrders0To3(OpsPerInvoke));
}
