using System.Linq;
using KernelHarness.Reference.PageAllocator;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Tests.Memory;

/// <summary>Direct tests of the reference buddy allocator (mm/page_alloc.c behaviours).</summary>
public sealed class PageAllocatorTests
{
    [Fact]
    public void Boot_hands_every_zone_over_in_max_order_blocks()
    {
        var m = new Machine(new MachineConfig { Cpus = 1 });
        m.Run(() =>
        {
            Assert.Equal(Arch.max_pfn, nr_free_pages());
            Assert.Equal(4UL, zone_nr_free(zone_type.ZONE_DMA, MAX_PAGE_ORDER));      // 16 MiB
            Assert.Equal(12UL, zone_nr_free(zone_type.ZONE_DMA32, MAX_PAGE_ORDER));   // 16..64 MiB
            Assert.Equal(40UL, zone_nr_free(zone_type.ZONE_NORMAL, MAX_PAGE_ORDER));  // 64..224 MiB
            Assert.Equal(8UL, zone_nr_free(zone_type.ZONE_HIGHMEM, MAX_PAGE_ORDER));  // 224..256 MiB
        });
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void Watermarks_are_ordered_min_low_high_and_atomic_reserve_is_smaller()
    {
        var pa = new ReferencePageAllocator();
        var m = new Machine(new MachineConfig { Cpus = 1 }).With<KernelHarness.Subsystems.IPageAllocator>(pa);
        m.Run(() =>
        {
            var (min, low, high) = pa.Watermarks(zone_type.ZONE_NORMAL);
            Assert.True(0 < min && min < low && low < high, $"{min} {low} {high}");
        });
    }

    [Fact]
    public void Buddies_of_different_zones_never_merge_and_double_free_is_a_bad_page()
    {
        var pa = new ReferencePageAllocator();
        var m = new Machine(new MachineConfig { Cpus = 1, Kasan = false }).With<KernelHarness.Subsystems.IPageAllocator>(pa);
        m.Run(() =>
        {
            var p = pa.alloc_pages(GFP_KERNEL, 0)!;
            pa.__free_pages(p, 0);
            pa.__free_pages(p, 0);
            Assert.Equal(Arch.max_pfn, pa.nr_free_pages());
        });
        Assert.Single(m.Reports, r => r.Kind == ReportKind.BadPageState && r.Title.StartsWith("BUG: Bad page state in process", System.StringComparison.Ordinal));
    }

    [Fact]
    public void Order_above_max_warns_unless_nowarn()
    {
        var m = new Machine(new MachineConfig { Cpus = 1 });
        m.Run(() =>
        {
            Assert.Null(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1));
            Assert.Null(alloc_pages(GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER + 1));
        });
        Assert.Single(m.Reports, r => r.Kind == ReportKind.Warning);
    }
}
