using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using KernelHarness.Reference.AddressSpace;
using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Benchmarks.AddressSpace;

/// <summary>
/// find_vma on 10, 1,000 and 100,000 VMAs: the reference implementation called directly (the lookup
/// path: two binary searches in <c>VmaTree</c>), the same lookup through the <c>Kernel</c> facade (one
/// interleaving point per call), and a plain .NET baseline — a <c>SortedList</c> keyed by
/// <c>vm_end</c> searched with a binary search over its keys — in the same run. Per lookup
/// (OperationsPerInvoke). Target: direct lookup on 100,000 VMAs under 150 ns and within 1.5× of the baseline.
/// </summary>
[MemoryDiagnoser]
public class VmaLookupBenchmarks
{
    private const int Lookups = 4096;

    [Params(10, 1_000, 100_000)]
    public int Vmas;

    private MachineHost host = null!;
    private ReferenceAddressSpace impl = null!;
    private mm_struct mm = null!;
    private SortedList<ulong, vm_area_struct> baseline = null!;
    private ulong[] addrs = null!;

    [GlobalSetup]
    public void Setup()
    {
        host = new MachineHost(MachineHost.Production with { MaxMapCount = 1_000_000 });
        impl = new ReferenceAddressSpace();
        host.Machine.Bind("address space", impl);
        baseline = new SortedList<ulong, vm_area_struct>(Vmas);
        host.Execute(() =>
        {
            mm = impl.mm_alloc()!;
            UserTasks.exec_mmap(mm);
            // One page mapped, one page free: nothing merges, so there are exactly Vmas VMAs.
            for (int i = 0; i < Vmas; i++)
            {
                ulong addr = 0x10000000UL + (ulong)i * 2 * PAGE_SIZE;
                ulong r = impl.do_mmap(null, addr, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0);
                if (r != addr)
                    throw new InvalidOperationException("setup mmap failed");
                var vma = impl.find_vma(mm, addr)!;
                baseline.Add(vma.vm_end, vma);
            }
        });
        if (mm.map_count != Vmas)
            throw new InvalidOperationException($"expected {Vmas} VMAs, got {mm.map_count}");
        var rng = new Random(42);
        addrs = new ulong[Lookups];
        ulong span = (ulong)Vmas * 2 * PAGE_SIZE;
        for (int i = 0; i < addrs.Length; i++)
            addrs[i] = 0x10000000UL + (ulong)(rng.NextDouble() * span);
    }

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups, Description = "SortedList binary search (baseline)")]
    public vm_area_struct? SortedListLookup()
    {
        vm_area_struct? last = null;
        var keys = baseline.Keys;
        var values = baseline.Values;
        foreach (ulong addr in addrs)
        {
            int lo = 0, hi = keys.Count;
            while (lo < hi)
            {
                int mid = (lo + hi) >> 1;
                if (keys[mid] > addr)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            last = lo < keys.Count ? values[lo] : null;
        }
        return last;
    }

    [Benchmark(OperationsPerInvoke = Lookups, Description = "find_vma (reference, direct)")]
    public vm_area_struct? FindVmaDirect()
    {
        vm_area_struct? last = null;
        foreach (ulong addr in addrs)
            last = impl.find_vma(mm, addr);
        return last;
    }

    [Benchmark(OperationsPerInvoke = Lookups * 16, Description = "find_vma (through the Kernel facade)")]
    public vm_area_struct? FindVmaFacade()
    {
        vm_area_struct? last = null;
        host.Execute(() =>
        {
            for (int r = 0; r < 16; r++)
                foreach (ulong addr in addrs)
                    last = find_vma(mm, addr);
        });
        return last;
    }
}

/// <summary>
/// do_mmap + do_munmap churn next to 1,000 VMAs: a top-down anonymous mapping that is then unmapped
/// (placement, insert, removal), against the same insert/remove on a SortedList.
/// </summary>
[MemoryDiagnoser]
public class VmaChurnBenchmarks
{
    private const int Ops = 1024;
    private MachineHost host = null!;
    private ReferenceAddressSpace impl = null!;
    private mm_struct mm = null!;
    private SortedList<ulong, vm_area_struct> baseline = null!;

    [GlobalSetup]
    public void Setup()
    {
        host = new MachineHost(MachineHost.Production);
        impl = new ReferenceAddressSpace();
        host.Machine.Bind("address space", impl);
        baseline = new SortedList<ulong, vm_area_struct>();
        host.Execute(() =>
        {
            mm = impl.mm_alloc()!;
            UserTasks.exec_mmap(mm);
            for (int i = 0; i < 1000; i++)
            {
                ulong addr = 0x10000000UL + (ulong)i * 2 * PAGE_SIZE;
                impl.do_mmap(null, addr, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0);
                var vma = impl.find_vma(mm, addr)!;
                baseline.Add(vma.vm_end, vma);
            }
        });
    }

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops, Description = "SortedList insert+remove (baseline)")]
    public int SortedListChurn()
    {
        int n = 0;
        for (int i = 0; i < Ops; i++)
        {
            var v = new vm_area_struct { vm_start = 0x7f0000000000UL, vm_end = 0x7f0000002000UL };
            baseline.Add(v.vm_end, v);
            n += baseline.Count;
            baseline.Remove(v.vm_end);
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Ops, Description = "do_mmap+do_munmap (reference, direct)")]
    public int MmapMunmapDirect()
    {
        int n = 0;
        host.Execute(() =>
        {
            for (int i = 0; i < Ops; i++)
            {
                ulong a = impl.do_mmap(null, 0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0);
                n += impl.do_munmap(mm, a, 2 * PAGE_SIZE) + mm.map_count;
            }
        });
        return n;
    }

    [Benchmark(OperationsPerInvoke = Ops, Description = "do_mmap+do_munmap (through the Kernel facade)")]
    public int MmapMunmapFacade()
    {
        int n = 0;
        host.Execute(() =>
        {
            for (int i = 0; i < Ops; i++)
            {
                ulong a = do_mmap(null, 0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0);
                n += do_munmap(mm, a, 2 * PAGE_SIZE) + mm.map_count;
            }
        });
        return n;
    }
}
