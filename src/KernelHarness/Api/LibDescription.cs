using System.Numerics;
using System.Runtime.CompilerServices;
using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// Pure helpers (Linux macros and inline functions): no machine state, no interleaving point.
/// </summary>
[KernelSubsystem("lib", "ILib", Linux = "include/linux")]
internal static class LibDescription
{
    /// <summary>True when <paramref name="p"/> encodes an errno (the top 4095 addresses).</summary>
    [Linux("include/linux/err.h"), KernelRole(KernelRole.ErrorCheck)]
    public static bool IS_ERR(kptr p) => p.addr >= unchecked((ulong)-Kernel.MAX_ERRNO);

    /// <summary>True when <paramref name="p"/> is NULL or encodes an errno.</summary>
    [Linux("include/linux/err.h"), KernelRole(KernelRole.ErrorCheck)]
    public static bool IS_ERR_OR_NULL(kptr p) => p.addr == 0 || IS_ERR(p);

    /// <summary>True when an address returned as <c>unsigned long</c> (<c>do_mmap</c>) encodes an errno.</summary>
    [Linux("include/linux/err.h"), KernelRole(KernelRole.ErrorCheck)]
    public static bool IS_ERR_VALUE(ulong x) => x >= unchecked((ulong)-Kernel.MAX_ERRNO);

    /// <summary>The errno an error pointer encodes (negative).</summary>
    [Linux("include/linux/err.h")]
    public static long PTR_ERR(kptr p) => (long)p.addr;

    /// <summary>An error pointer for a negative errno.</summary>
    [Linux("include/linux/err.h")]
    public static kptr ERR_PTR(long error) => new(unchecked((ulong)error));

    /// <summary>True for NULL and <c>ZERO_SIZE_PTR</c> (<c>x &lt;= 16</c>).</summary>
    [Linux("include/linux/slab.h"), KernelRole(KernelRole.NullCheck)]
    public static bool ZERO_OR_NULL_PTR(kptr p) => p.addr <= 16;

    /// <summary>Rounds up to a multiple of <c>PAGE_SIZE</c>.</summary>
    [Linux("include/linux/mm.h")]
    public static ulong PAGE_ALIGN(ulong x) => (x + Kernel.PAGE_SIZE - 1) & Kernel.PAGE_MASK;

    /// <summary>True when <paramref name="x"/> is a multiple of <c>PAGE_SIZE</c>.</summary>
    [Linux("include/linux/mm.h")]
    public static bool PAGE_ALIGNED(ulong x) => (x & (Kernel.PAGE_SIZE - 1)) == 0;

    /// <summary>The offset of an address within its page.</summary>
    [Linux("include/linux/mm.h")]
    public static ulong offset_in_page(ulong x) => x & (Kernel.PAGE_SIZE - 1);

    /// <summary>The smallest order whose block holds <paramref name="size"/> bytes.</summary>
    [Linux("include/asm-generic/getorder.h")]
    public static int get_order(ulong size)
    {
        if (size <= Kernel.PAGE_SIZE)
            return 0;
        size = (size - 1) >> Kernel.PAGE_SHIFT;
        return 64 - BitOperations.LeadingZeroCount(size);
    }

    /// <summary>Rounds <paramref name="x"/> up to a multiple of the power of two <paramref name="a"/>.</summary>
    [Linux("include/linux/align.h")]
    public static ulong ALIGN(ulong x, ulong a) => (x + a - 1) & ~(a - 1);

    /// <summary>True when <paramref name="x"/> is a multiple of the power of two <paramref name="a"/>.</summary>
    [Linux("include/linux/align.h")]
    public static bool IS_ALIGNED(ulong x, ulong a) => (x & (a - 1)) == 0;

    /// <summary>True when an allocation with these flags may sleep: <c>__GFP_DIRECT_RECLAIM</c> is set.</summary>
    [Linux("include/linux/gfp.h")]
    public static bool gfpflags_allow_blocking(gfp_t gfp) => (gfp & gfp_t.__GFP_DIRECT_RECLAIM) != 0;

    /// <summary>The zone a request is served from first (the <c>GFP_ZONE_TABLE</c>); <c>-1</c> for an invalid combination (GFP_ZONE_BAD).</summary>
    [Linux("include/linux/gfp.h")]
    public static int gfp_zone(gfp_t gfp)
    {
        var bits = gfp & (gfp_t.__GFP_DMA | gfp_t.__GFP_HIGHMEM | gfp_t.__GFP_DMA32 | gfp_t.__GFP_MOVABLE);
        return bits switch
        {
            0 => (int)zone_type.ZONE_NORMAL,
            gfp_t.__GFP_DMA => (int)zone_type.ZONE_DMA,
            gfp_t.__GFP_HIGHMEM => (int)zone_type.ZONE_HIGHMEM,
            gfp_t.__GFP_DMA32 => (int)zone_type.ZONE_DMA32,
            gfp_t.__GFP_MOVABLE => (int)zone_type.ZONE_NORMAL,
            gfp_t.__GFP_MOVABLE | gfp_t.__GFP_HIGHMEM => (int)zone_type.ZONE_MOVABLE,
            gfp_t.__GFP_MOVABLE | gfp_t.__GFP_DMA => (int)zone_type.ZONE_DMA,
            gfp_t.__GFP_MOVABLE | gfp_t.__GFP_DMA32 => (int)zone_type.ZONE_DMA32,
            _ => -1,
        };
    }

    /// <summary>True when <paramref name="a"/> is after <paramref name="b"/>, correct across jiffies wrap-around.</summary>
    [Linux("include/linux/jiffies.h"), KernelRole(KernelRole.TimeComparison)]
    public static bool time_after(ulong a, ulong b) => (long)(b - a) < 0;

    /// <summary>True when <paramref name="a"/> is before <paramref name="b"/>, correct across wrap-around.</summary>
    [Linux("include/linux/jiffies.h"), KernelRole(KernelRole.TimeComparison)]
    public static bool time_before(ulong a, ulong b) => time_after(b, a);

    /// <summary>True when <paramref name="a"/> is after or equal to <paramref name="b"/>.</summary>
    [Linux("include/linux/jiffies.h"), KernelRole(KernelRole.TimeComparison)]
    public static bool time_after_eq(ulong a, ulong b) => (long)(a - b) >= 0;

    /// <summary>True when <paramref name="a"/> is before or equal to <paramref name="b"/>.</summary>
    [Linux("include/linux/jiffies.h"), KernelRole(KernelRole.TimeComparison)]
    public static bool time_before_eq(ulong a, ulong b) => time_after_eq(b, a);

    /// <summary>Milliseconds to jiffies, rounding up.</summary>
    [Linux("include/linux/jiffies.h")]
    public static ulong msecs_to_jiffies(uint m) => ((ulong)m * Kernel.HZ + 999) / 1000;

    /// <summary>Microseconds to jiffies, rounding up.</summary>
    [Linux("include/linux/jiffies.h")]
    public static ulong usecs_to_jiffies(uint u) => ((ulong)u * Kernel.HZ + 999_999) / 1_000_000;

    /// <summary>Jiffies to milliseconds.</summary>
    [Linux("include/linux/jiffies.h")]
    public static uint jiffies_to_msecs(ulong j) => (uint)(j * (1000 / Kernel.HZ));

    /// <summary>Defines a per-CPU variable: each CPU gets its own copy, starting at <paramref name="initial"/>.</summary>
    [Linux("include/linux/percpu-defs.h")]
    public static percpu<T> DEFINE_PER_CPU<T>(T initial = default!) => new(initial);

    /// <summary>Defines a wait-queue entry for the current task (<c>DEFINE_WAIT</c>).</summary>
    [Linux("include/linux/wait.h")]
    public static wait_queue_entry DEFINE_WAIT() => new() { task = Runtime.Machine.Current.CurrentTask };

    /// <summary>The smaller of two values.</summary>
    [Linux("include/linux/minmax.h")]
    public static T min<T>(T a, T b) where T : INumber<T> => a < b ? a : b;

    /// <summary>The larger of two values.</summary>
    [Linux("include/linux/minmax.h")]
    public static T max<T>(T a, T b) where T : INumber<T> => a > b ? a : b;

    /// <summary>The kernel virtual address of a physical address in the direct map.</summary>
    [Linux("arch/x86/include/asm/page.h")]
    public static kptr __va(ulong phys) => new(phys + Kernel.PAGE_OFFSET);

    /// <summary>The physical address of a direct-map kernel virtual address.</summary>
    [Linux("arch/x86/include/asm/page.h")]
    public static ulong __pa(kptr p) => p.addr - Kernel.PAGE_OFFSET;

    /// <summary>The limit on VMAs per address space (<c>/proc/sys/vm/max_map_count</c>), set per machine.</summary>
    [Linux("mm/mmap.c")]
    public static int sysctl_max_map_count => Runtime.Machine.Current.Config.MaxMapCount;

    /// <summary>The number of possible CPUs.</summary>
    [Linux("kernel/smp.c")]
    public static int nr_cpu_ids => Runtime.Machine.Current.Config.Cpus;

    /// <summary>A compiler barrier: nothing to do in C#, kept so code reads like Linux.</summary>
    [Linux("include/linux/compiler.h"), MethodImpl(MethodImplOptions.NoInlining)]
    public static void barrier() { }
}
