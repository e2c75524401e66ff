using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Generators.Tests;

/// <summary>Synthetic API descriptions and the small fakes of the runtime they need to compile.</summary>
internal static class TestSources
{
    /// <summary>Stand-ins for KernelHarness's kernel types and the Kernel members the generated code calls.</summary>
    public const string KernelTypes = """
        using System;

        namespace KernelHarness;

        public readonly struct kptr
        {
            public readonly ulong addr;
            public kptr(ulong addr) => this.addr = addr;
        }

        [Flags]
        public enum gfp_t : uint
        {
            __GFP_NONE = 0,
            __GFP_IO = 0x40,
            __GFP_FS = 0x80,
            __GFP_ZERO = 0x100,
            __GFP_DIRECT_RECLAIM = 0x400,
            __GFP_KSWAPD_RECLAIM = 0x800,
        }

        [Flags]
        public enum slab_flags_t : uint
        {
            SLAB_NONE = 0,
            SLAB_RED_ZONE = 0x400,
            SLAB_POISON = 0x800,
            SLAB_HWCACHE_ALIGN = 0x2000,
        }

        public sealed class page
        {
            public ulong pfn;
        }

        public class kmem_cache
        {
            public string name = "";
        }

        public static partial class Kernel
        {
            public const gfp_t GFP_KERNEL = gfp_t.__GFP_DIRECT_RECLAIM | gfp_t.__GFP_KSWAPD_RECLAIM | gfp_t.__GFP_IO | gfp_t.__GFP_FS;

            public static bool gfpflags_allow_blocking(gfp_t flags) => (flags & gfp_t.__GFP_DIRECT_RECLAIM) != 0;
        }
        """;

    /// <summary>The lead's half of Machine, reduced to what the generated code calls.</summary>
    public const string Runtime = """
        namespace KernelHarness.Runtime;

        public sealed partial class Machine
        {
            private static readonly Machine current = new();

            public static Machine Enter(KernelFunctionId id) => current;

            public MachineChecks Checks { get; } = new();

            public void MightSleep(KernelFunctionId id) { }

            public void MightSleep(KernelFunctionId id, global::KernelHarness.KernelContext exceptIn) { }
            public void SetCallSite(string file, int line) { }
        }

        public sealed class MachineChecks
        {
            public void OnAlloc(KernelFunctionId id, global::KernelHarness.Annotations.AllocFamily family, global::KernelHarness.kptr result, ulong size, global::KernelHarness.gfp_t gfp, global::KernelHarness.kmem_cache? cache, bool zeroes) { }
            public bool OnReallocating(KernelFunctionId id, global::KernelHarness.kptr p) => true;
            public void OnRealloc(KernelFunctionId id, global::KernelHarness.kptr old, global::KernelHarness.kptr result, ulong size, global::KernelHarness.gfp_t gfp) { }
            public void OnAllocPages(KernelFunctionId id, global::KernelHarness.page? result, int order, global::KernelHarness.gfp_t gfp) { }
            public void OnAllocPagesAddr(KernelFunctionId id, ulong result, int order, global::KernelHarness.gfp_t gfp) { }
            public bool OnFree(KernelFunctionId id, global::KernelHarness.Annotations.AllocFamily family, global::KernelHarness.kptr p, global::KernelHarness.kmem_cache? cache) => true;
            public bool OnFreePages(KernelFunctionId id, global::KernelHarness.page? page, int order) => true;
            public bool OnFreePagesAddr(KernelFunctionId id, ulong addr, int order) => true;
        }
        """;

    /// <summary>A dispatched slab description: allocation, frees, sleeping, out/in params, generics, ref returns, properties, a boot hook.</summary>
    public const string SlabDescription = """
        using System;
        using KernelHarness.Annotations;

        namespace KernelHarness.Api;

        /// <summary>
        /// The slab allocator: caches of same-sized objects, and kmalloc on top of them.
        /// See <see cref="kmalloc"/>.
        /// </summary>
        [KernelSubsystem("slab", "ISlab", Assignable = true, Reference = typeof(KernelHarness.Reference.ReferenceSlab), BootOrder = 20, Linux = "mm/slub.c")]
        internal interface SlabDescription
        {
            /// <summary>Allocates <paramref name="size"/> bytes.</summary>
            /// <param name="size">How many bytes.</param>
            /// <param name="flags">How to allocate: <c>GFP_KERNEL</c> may sleep.</param>
            /// <returns>The memory, or <c>NULL</c>.</returns>
            [Linux("mm/slub.c")]
            [MightSleepIfGfp("flags")]
            [Allocates(AllocFamily.Kmalloc, Size = "size", Gfp = "flags")]
            kptr kmalloc(ulong size, gfp_t flags);

            /// <summary>Allocates zeroed memory.</summary>
            [Linux("include/linux/slab.h")]
            [MightSleepIfGfp("flags")]
            [Allocates(AllocFamily.Kmalloc, Size = "size", Gfp = "flags", Zeroes = true)]
            kptr kzalloc(ulong size, gfp_t flags);

            /// <summary>Allocates an array of <paramref name="n"/> zeroed elements.</summary>
            [Linux("include/linux/slab.h")]
            [MightSleepIfGfp("flags")]
            [Allocates(AllocFamily.Kmalloc, Count = "n", Size = "size", Gfp = "flags", Zeroes = true)]
            kptr kcalloc(ulong n, ulong size, gfp_t flags);

            /// <summary>Resizes an allocation.</summary>
            [Linux("mm/slab_common.c")]
            [MightSleepIfGfp("flags")]
            [Allocates(AllocFamily.Kmalloc, Size = "new_size", Gfp = "flags", Reallocates = "p")]
            kptr krealloc(kptr p, ulong new_size, gfp_t flags);

            /// <summary>Frees kmalloc memory; <c>kfree(NULL)</c> is a no-op.</summary>
            [Linux("mm/slub.c")]
            [Frees(AllocFamily.Kmalloc, "p")]
            void kfree([TakesOwnership] kptr p);

            /// <summary>The usable size of an allocation.</summary>
            [Linux("mm/slab_common.c")]
            ulong ksize(kptr p);

            /// <summary>Creates a cache.</summary>
            [Linux("mm/slab_common.c")]
            [MightSleep]
            kmem_cache? kmem_cache_create(string name, ulong size, ulong align = 8, slab_flags_t flags = slab_flags_t.SLAB_HWCACHE_ALIGN | slab_flags_t.SLAB_POISON, Action<kptr>? ctor = null);

            /// <summary>Allocates an object from a cache.</summary>
            [Linux("mm/slub.c")]
            [MightSleepIfGfp("flags")]
            [Allocates(AllocFamily.KmemCache, Cache = "cache", Gfp = "flags")]
            kptr kmem_cache_alloc(kmem_cache cache, gfp_t flags);

            /// <summary>Returns an object to its cache.</summary>
            [Linux("mm/slub.c")]
            [Frees(AllocFamily.KmemCache, "obj", Cache = "cache")]
            void kmem_cache_free(kmem_cache cache, kptr obj);

            /// <summary>Frees vmalloc memory; deferred when called from interrupt context.</summary>
            [Linux("mm/vmalloc.c")]
            [MightSleep(ExceptIn = KernelContext.Interrupt)]
            [Frees(AllocFamily.Vmalloc, "addr")]
            void vfree(kptr addr);

            /// <summary>A typed reference to the object at <paramref name="p"/>.</summary>
            /// <typeparam name="T">The object's type.</typeparam>
            [Linux("include/linux/kernel.h", Function = "ptr_ref")]
            ref T ptr_ref<T>(kptr p) where T : unmanaged;

            /// <summary>Reads a value without a fault.</summary>
            [Linux("mm/maccess.c", Function = "copy_from_kernel_nofault")]
            [MightSleep]
            int copy_nofault<T, U>(out T dst, in U src, ref int budget) where T : struct where U : class?, IComparable<U>, new();

            /// <summary>Formats into the kernel log.</summary>
            [Linux("kernel/printk/printk.c")]
            int printk(string fmt, params object?[] args);

            /// <summary>How many caches exist.</summary>
            [Linux("mm/slab_common.c", Function = "slab_caches")]
            int cache_count { get; }

            /// <summary>The minimum kmalloc alignment, by reference.</summary>
            [Linux("mm/slab_common.c")]
            ref readonly ulong kmalloc_minalign { get; }

            /// <summary>Sets up the kmalloc caches at boot.</summary>
            [Linux("mm/slub.c")]
            [BootHook]
            void kmem_cache_init();
        }
        """;

    /// <summary>A dispatched page allocator description: page and address allocations and frees, an earlier boot order.</summary>
    public const string PageAllocatorDescription = """
        using KernelHarness.Annotations;

        namespace KernelHarness.Api;

        /// <summary>The buddy page allocator.</summary>
        [KernelSubsystem("page allocator", "IPageAllocator", Assignable = true, Reference = typeof(KernelHarness.Reference.ReferencePageAllocator), BootOrder = 10, Linux = "mm/page_alloc.c")]
        internal interface PageAllocatorDescription
        {
            /// <summary>Allocates 2^<paramref name="order"/> contiguous pages.</summary>
            [Linux("mm/page_alloc.c")]
            [MightSleepIfGfp("gfp")]
            [Allocates(AllocFamily.PageStruct, Order = "order", Gfp = "gfp")]
            page? alloc_pages(gfp_t gfp, uint order);

            /// <summary>Allocates pages and returns their address.</summary>
            [Linux("mm/page_alloc.c")]
            [MightSleepIfGfp("gfp")]
            [Allocates(AllocFamily.Pages, Order = "order", Gfp = "gfp")]
            ulong __get_free_pages(gfp_t gfp, uint order);

            /// <summary>Frees pages.</summary>
            [Linux("mm/page_alloc.c")]
            [Frees(AllocFamily.PageStruct, "page", Order = "order")]
            void __free_pages(page page, uint order);

            /// <summary>Frees pages by address.</summary>
            [Linux("mm/page_alloc.c")]
            [Frees(AllocFamily.Pages, "addr", Order = "order")]
            void free_pages(ulong addr, uint order);

            /// <summary>Free pages in all zones.</summary>
            [Linux("mm/page_alloc.c")]
            ulong nr_free_pages { get; }

            /// <summary>Hands boot memory to the buddy allocator.</summary>
            [Linux("mm/mm_init.c")]
            [BootHook]
            void mem_init();
        }
        """;

    /// <summary>An unassignable subsystem without a reference implementation, with a keyword-named member and parameter.</summary>
    public const string CpuDescription = """
        using KernelHarness.Annotations;

        namespace KernelHarness.Api;

        [KernelSubsystem("cpu state", "ICpuState")]
        internal interface CpuStateDescription
        {
            [Linux("include/linux/preempt.h")]
            [KernelHarness.Acquires("cpu", Kind = KernelHarness.LockKind.Preempt)]
            [PairsWith("put_cpu")]
            int get_cpu();

            [Linux("include/linux/preempt.h")]
            void put_cpu();

            [Linux("include/linux/irqflags.h")]
            [EntersContext(KernelHarness.LockKind.IrqSave, FlagsParameter = "flags")]
            void local_irq_save(out ulong flags);

            [Linux("kernel/sched/core.c", Function = "sched_checked")]
            void @checked(int @event);
        }
        """;

    /// <summary>A pure description: static helpers the facade forwards to directly.</summary>
    public const string LibDescription = """
        using KernelHarness.Annotations;

        namespace KernelHarness.Api;

        /// <summary>Pure helpers.</summary>
        [KernelSubsystem("lib", "ILib")]
        internal static class LibDescription
        {
            /// <summary>True when <paramref name="p"/> encodes an errno.</summary>
            [Linux("include/linux/err.h")]
            [KernelRole(KernelRole.ErrorCheck)]
            public static bool IS_ERR(kptr p) => p.addr >= unchecked((ulong)-4095L);

            /// <summary>Wrap-safe <c>a &gt; b</c>; see <see cref="IS_ERR"/>.</summary>
            [Linux("include/linux/jiffies.h")]
            [KernelRole(KernelRole.TimeComparison)]
            public static bool time_after(ulong a, ulong b) => (long)(b - a) < 0;

            [Linux("include/linux/mm.h")]
            public static ulong PAGE_ALIGN(ulong x, ulong size = 4096UL) => (x + size - 1) & ~(size - 1);

            [Linux("include/linux/kernel.h")]
            public static ref T first<T>(T[] items) where T : struct => ref items[0];

            /// <summary>The tick rate.</summary>
            [Linux("include/asm-generic/param.h")]
            public static int HZ => 100;

            private static int hidden() => 0;
        }
        """;

    /// <summary>Reference implementations the descriptions name, so that the output compiles.</summary>
    public const string ReferenceImplementations = """
        using System;
        using KernelHarness.Subsystems;

        namespace KernelHarness.Reference;

        internal sealed class ReferenceSlab : ISlab
        {
            private ulong minalign = 8;
            public kptr kmalloc(ulong size, gfp_t flags) => default;
            public kptr kzalloc(ulong size, gfp_t flags) => default;
            public kptr kcalloc(ulong n, ulong size, gfp_t flags) => default;
            public kptr krealloc(kptr p, ulong new_size, gfp_t flags) => default;
            public void kfree(kptr p) { }
            public ulong ksize(kptr p) => 0;
            public kmem_cache? kmem_cache_create(string name, ulong size, ulong align = 8, slab_flags_t flags = slab_flags_t.SLAB_HWCACHE_ALIGN, Action<kptr>? ctor = null) => null;
            public kptr kmem_cache_alloc(kmem_cache cache, gfp_t flags) => default;
            public void kmem_cache_free(kmem_cache cache, kptr obj) { }
            public void vfree(kptr addr) { }
            public ref T ptr_ref<T>(kptr p) where T : unmanaged => throw new NotSupportedException();
            public int copy_nofault<T, U>(out T dst, in U src, ref int budget) where T : struct where U : class?, IComparable<U>, new() { dst = default; return 0; }
            public int printk(string fmt, params object?[] args) => 0;
            public int cache_count => 0;
            public ref readonly ulong kmalloc_minalign => ref minalign;
        }

        internal sealed class ReferencePageAllocator : IPageAllocator
        {
            public page? alloc_pages(gfp_t gfp, uint order) => null;
            public ulong __get_free_pages(gfp_t gfp, uint order) => 0;
            public void __free_pages(page page, uint order) { }
            public void free_pages(ulong addr, uint order) { }
            public ulong nr_free_pages => 0;
            public void mem_init() { }
        }
        """;

    /// <summary>Every source of the synthetic KernelHarness assembly.</summary>
    public static List<(string Path, string Text)> KernelHarnessSources() =>
        GeneratorHarness.AnnotationSources()
            .Concat(new[]
            {
                ("Types.cs", KernelTypes),
                ("Runtime/Machine.cs", Runtime),
                ("Api/SlabDescription.cs", SlabDescription),
                ("Api/PageAllocatorDescription.cs", PageAllocatorDescription),
                ("Api/CpuStateDescription.cs", CpuDescription),
                ("Api/LibDescription.cs", LibDescription),
                ("Reference/Reference.cs", ReferenceImplementations),
            })
            .ToList();

    public static Compilation KernelHarnessCompilation() =>
        GeneratorHarness.CreateCompilation("KernelHarness", KernelHarnessSources());
}
