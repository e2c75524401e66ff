using System;
using System.Collections.Generic;
using System.Linq;
using KernelHarness.Conformance.Memory;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Slab;

/// <summary>
/// The slab allocator's contracts (kernel-api.md §2, conformance-notes.md §1): kmalloc(0), size classes
/// and ksize, alignment, zeroing, constructors, slab reuse and shrinking, destroy with and without live
/// objects, double/invalid/wrong-cache frees, large kmalloc, krealloc, vmalloc, GFP_ATOMIC in atomic
/// context, random traces checked like mdriver, a differential run against the reference, concurrency
/// with softirq allocations, and performance against the reference. The reference page allocator is
/// bound underneath.
/// </summary>
[ConformanceSuite("slab")]
public sealed class SlabSuite
{
    private const uint CTOR_PATTERN = 0x41414141; // lib/test_meminit.c

    private const string NoLeakRule = "kmemleak (mm/kmemleak.c, CONFIG_DEBUG_KMEMLEAK): at the end of the test every object it allocated is freed: none is left unreferenced";

    // ---------------- directed ----------------

    [ConformanceTest("kmalloc() and kfree() in include/linux/slab.h, mm/slub.c: kmalloc(0) is ZERO_SIZE_PTR; kfree(NULL) and kfree(ZERO_SIZE_PTR) are no-ops (S-1)")]
    public void kmalloc_zero_returns_zero_size_ptr(ConformanceContext ctx)
    {
        var p = kmalloc(0, GFP_KERNEL);
        ctx.Equal(ZERO_SIZE_PTR, p, "kmalloc(0) returns ZERO_SIZE_PTR ((void *)16), not NULL and not an object");
        ulong free0 = nr_free_pages();
        kfree(NULL);
        kfree(ZERO_SIZE_PTR);
        kfree(p);
        ctx.Equal(free0, nr_free_pages(), "kfree(NULL) and kfree(ZERO_SIZE_PTR) change nothing");
        ctx.Equal(0UL, ksize(ZERO_SIZE_PTR), "ksize(ZERO_SIZE_PTR) is 0");
    }

    [ConformanceTest("kmalloc_index() in include/linux/slab.h and __ksize() in mm/slab_common.c: size classes 8..8192 with 96 and 192; ksize returns the class (S-2)")]
    public void ksize_reports_the_kmalloc_size_class(ConformanceContext ctx)
    {
        var cases = new (ulong Size, ulong Class)[]
        {
            (1, 8), (8, 8), (9, 16), (16, 16), (17, 32), (33, 64), (64, 64), (65, 96), (96, 96), (97, 128), (100, 128),
            (129, 192), (192, 192), (193, 256), (257, 512), (1000, 1024), (2048, 2048), (3000, 4096), (4097, 8192), (8192, 8192), (8193, 16384),
        };
        foreach (var (size, cls) in cases)
        {
            ctx.Step($"kmalloc({size})");
            var p = kmalloc(size, GFP_KERNEL);
            ctx.Check(p.addr > 16, $"kmalloc({size}, GFP_KERNEL) succeeds");
            ctx.Equal(cls, ksize(p), $"ksize(kmalloc({size})) is the size of the kmalloc cache that serves it ({cls})");
            memset(p, 0x11, cls); // after ksize() the whole bucket may be used
            kfree(p);
        }
    }

    [ConformanceTest("Documentation/core-api/memory-allocation.rst and commit 59bb47985c1d: kmalloc is 8-byte aligned; power-of-two sizes are naturally aligned; large kmalloc is page aligned (S-3)")]
    public void kmalloc_alignment(ConformanceContext ctx)
    {
        var live = new List<kptr>();
        foreach (ulong size in new ulong[] { 8, 16, 24, 32, 40, 64, 72, 96, 128, 160, 192, 256, 512, 1024, 2048, 4096, 8192, 10000 })
        {
            for (int i = 0; i < 5; i++)
            {
                var p = kmalloc(size, GFP_KERNEL);
                ulong align = (size & (size - 1)) == 0 ? size : size > KMALLOC_MAX_CACHE_SIZE ? PAGE_SIZE : ARCH_KMALLOC_MINALIGN;
                ctx.Check(p.addr % align == 0, $"kmalloc({size}) is aligned to {align}", $"a multiple of {align}", p.ToString());
                live.Add(p);
            }
        }
        foreach (var p in live)
            kfree(p);
    }

    [ConformanceTest("calculate_alignment() in mm/slab_common.c: max(align, ARCH_SLAB_MINALIGN), SLAB_HWCACHE_ALIGN halving the cache line while size <= ralign/2, rounded to sizeof(void *) (S-3)")]
    public void kmem_cache_objects_are_aligned_as_calculate_alignment_says(ConformanceContext ctx)
    {
        var cases = new (ulong Size, ulong Align, slab_flags_t Flags, ulong Expect)[]
        {
            (20, 0, SLAB_HWCACHE_ALIGN, 32), (100, 0, SLAB_HWCACHE_ALIGN, 64), (12, 0, SLAB_HWCACHE_ALIGN, 16),
            (24, 128, 0, 128), (7, 1, 0, 8), (40, 16, 0, 16), (4000, 4096, 0, 4096), (33, 0, 0, 8),
        };
        foreach (var (size, align, flags, expect) in cases)
        {
            var c = kmem_cache_create($"align-{size}-{align}-{(uint)flags}", size, align, flags, null);
            ctx.Check(c is not null, $"kmem_cache_create(size {size}, align {align}) succeeds");
            var objs = new List<kptr>();
            for (int i = 0; i < 40; i++)
            {
                var p = kmem_cache_alloc(c!, GFP_KERNEL);
                ctx.Check(p.addr != 0, "kmem_cache_alloc succeeds");
                ctx.Check(p.addr % expect == 0, $"objects of a cache of size {size}, align {align}, flags {flags} are aligned to {expect}", $"a multiple of {expect}", p.ToString());
                memset(p, 0x22, size);
                objs.Add(p);
            }
            foreach (var p in objs)
                kmem_cache_free(c!, p);
            kmem_cache_destroy(c);
        }
    }

    [ConformanceTest("slab_post_alloc_hook() in mm/slub.c and lib/test_meminit.c: kzalloc, kmem_cache_zalloc, kcalloc and __GFP_ZERO zero even a recycled, dirtied object (S-5)")]
    public void zeroing_allocations_zero_recycled_objects(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        foreach (ulong size in new ulong[] { 8, 64, 96, 200, 1024, 4096, 9000 })
        {
            var p = kmalloc(size, GFP_KERNEL);
            memset(p, 0xff, size);
            kfree(p);
            var z = kzalloc(size, GFP_KERNEL);
            ctx.Check(ptr_span(z, size).IndexOfAnyExcept((byte)0) < 0, $"kzalloc({size}) returns zeroed memory even when the object was just dirtied and freed");
            kfree(z);
        }
        var c = kmem_cache_create("zalloc-test", 72, 0, 0, null)!;
        var objs = Enumerable.Range(0, 20).Select(_ => kmem_cache_alloc(c, GFP_KERNEL)).ToList();
        foreach (var o in objs)
        {
            memset(o, 0xee, 72);
            kmem_cache_free(c, o);
        }
        for (int i = 0; i < 20; i++)
        {
            var o = kmem_cache_zalloc(c, GFP_KERNEL);
            ctx.Check(ptr_span(o, 72).IndexOfAnyExcept((byte)0) < 0, "kmem_cache_zalloc returns a zeroed object even when recycled");
            objs[i] = o;
        }
        foreach (var o in objs)
            kmem_cache_free(c, o);
        kmem_cache_destroy(c);
        var a = kcalloc(10, 30, GFP_KERNEL);
        ctx.Check(a.addr != 0 && ptr_span(a, 300).IndexOfAnyExcept((byte)0) < 0, "kcalloc(10, 30) returns 300 zeroed bytes");
        kfree(a);
    }

    [ConformanceTest("kcalloc() and kmalloc_array() in include/linux/slab.h: n * size overflow returns NULL (check_mul_overflow) (S-5)")]
    public void kcalloc_overflow_returns_null(ConformanceContext ctx)
    {
        ctx.Equal(NULL, kcalloc(ulong.MaxValue / 2 + 1, 2, GFP_KERNEL), "kcalloc(n, size) with n * size overflowing returns NULL");
        ctx.Equal(NULL, kmalloc_array(1UL << 40, 1UL << 30, GFP_KERNEL), "kmalloc_array(n, size) with n * size overflowing returns NULL");
        var ok = kmalloc_array(4, 16, GFP_KERNEL);
        ctx.Check(ok.addr > 16 && ksize(ok) >= 64, "kmalloc_array(4, 16) returns at least 64 bytes");
        kfree(ok);
    }

    [ConformanceTest("new_slab() → setup_object() in mm/slub.c and lib/test_meminit.c: the ctor runs once per object when its slab is created, never on kmem_cache_alloc (S-6)")]
    public void ctor_runs_once_per_object_when_the_slab_is_created(ConformanceContext ctx)
    {
        int calls = 0;
        var seen = new HashSet<ulong>();
        var c = kmem_cache_create("ctor-test", 48, 0, 0, p =>
        {
            calls++;
            ptr_ref<uint>(p) = CTOR_PATTERN;
        })!;
        var objs = new List<kptr>();
        for (int i = 0; i < 100; i++)
        {
            var p = kmem_cache_alloc(c, GFP_KERNEL);
            ctx.Equal(CTOR_PATTERN, ptr_ref<uint>(p), "a new object is in its constructed state (the ctor wrote 0x41414141)");
            seen.Add(p.addr);
            objs.Add(p);
        }
        ctx.Check(calls >= 100, "the ctor ran for every object handed out", ">= 100 calls", calls.ToString(System.Globalization.CultureInfo.InvariantCulture));
        int afterFirstRound = calls;
        foreach (var p in objs)
        {
            memset(p + 4, 0x5c, 44); // the user dirties everything but the constructed field, as test_meminit does
            kmem_cache_free(c, p);
        }
        objs.Clear();
        for (int i = 0; i < 100; i++)
        {
            var p = kmem_cache_alloc(c, GFP_KERNEL);
            ctx.Equal(CTOR_PATTERN, ptr_ref<uint>(p), "a recycled object keeps its constructed state: the first 4 bytes still hold CTOR_PATTERN (the free pointer must not clobber it)");
            objs.Add(p);
        }
        ctx.Equal(afterFirstRound, calls, "reallocating freed objects runs no ctor: it runs once per object at slab creation, not on every kmem_cache_alloc");
        foreach (var p in objs)
            kmem_cache_free(c, p);
        kmem_cache_destroy(c);
    }

    [ConformanceTest("kmem_cache_destroy() in mm/slab_common.c: with live objects it reports \"Slab cache still has objects\" and frees nothing (S-13, slub_kunit test_leak_destroy)")]
    public void destroy_with_live_objects_reports_them_and_keeps_them(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var c = kmem_cache_create("leak-test", 64, 0, 0, null)!;
        var p = kmem_cache_alloc(c, GFP_KERNEL);
        memset(p, 0x3c, 64);
        ulong free0 = nr_free_pages();
        var mark = MemKit.Now(ctx);
        kmem_cache_destroy(c);
        ctx.Check(MemKit.Detected(ctx, mark, "still has objects", "Objects remaining"),
            "kmem_cache_destroy with a live object reports it (\"kmem_cache_destroy leak-test: Slab cache still has objects\" / \"Objects remaining in leak-test on __kmem_cache_shutdown()\")",
            "a WARN or log line", "nothing reported");
        ctx.Check(nr_free_pages() == free0, "the slab holding the live object is not given back to the page allocator", MemKit.Hex(free0), MemKit.Hex(nr_free_pages()));
        ctx.Check(ptr_span(p, 64).IndexOfAnyExcept((byte)0x3c) < 0, "the live object stays readable and intact after the failed destroy");
        var other = kmalloc(64, GFP_KERNEL);
        ctx.Check(other != p, "the live object is not handed out again");
        kfree(other);
    }

    [ConformanceTest("kmem_cache_destroy() and __kmem_cache_shutdown() in mm/slub.c: with no live objects every slab page goes back to the page allocator (S-13)")]
    public void destroy_returns_every_page(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        ulong free0 = nr_free_pages();
        var c = kmem_cache_create("destroy-test", 200, 0, SLAB_HWCACHE_ALIGN, null)!;
        var objs = Enumerable.Range(0, 1000).Select(_ => kmem_cache_alloc(c, GFP_KERNEL)).ToList();
        ctx.Check(nr_free_pages() < free0, "allocating 1000 objects takes pages");
        foreach (var o in objs)
            kmem_cache_free(c, o);
        kmem_cache_destroy(c);
        ctx.Equal(free0, nr_free_pages(), "after freeing every object and destroying the cache, free pages are back to the baseline");
        kmem_cache_destroy(null); // kmem_cache_destroy(NULL) does nothing
    }

    [ConformanceTest("__kmem_cache_do_shrink() in mm/slub.c: kmem_cache_shrink frees every empty slab and never a slab with live objects (S-12)")]
    public void shrink_releases_empty_slabs_only(ConformanceContext ctx)
    {
        ulong free0 = nr_free_pages();
        var c = kmem_cache_create("shrink-test", 256, 0, 0, null)!;
        var objs = Enumerable.Range(0, 2000).Select(_ => kmem_cache_alloc(c, GFP_KERNEL)).ToList();
        var keep = objs[777];
        memset(keep, 0x77, 256);
        foreach (var o in objs.Where(o => o != keep))
            kmem_cache_free(c, o);
        kmem_cache_shrink(c);
        ulong held = free0 - nr_free_pages();
        ctx.Check(held > 0 && held <= 8, "after shrink only the slab of the one live object is held", "1 slab (a few pages at most)", $"{held} pages");
        ctx.Check(ptr_span(keep, 256).IndexOfAnyExcept((byte)0x77) < 0, "the live object survives kmem_cache_shrink");
        kmem_cache_free(c, keep);
        kmem_cache_shrink(c);
        ctx.Equal(free0, nr_free_pages(), "with no live object, kmem_cache_shrink gives every page back");
        kmem_cache_destroy(c);
    }

    [ConformanceTest("put_cpu_partial() / add_partial() in mm/slub.c: an object freed from a full slab is reused before a new slab is allocated (S-12)")]
    public void freed_object_is_reused_before_a_new_slab(ConformanceContext ctx)
    {
        var c = kmem_cache_create("reuse-test", 128, 0, 0, null)!;
        var objs = Enumerable.Range(0, 300).Select(_ => kmem_cache_alloc(c, GFP_KERNEL)).ToList();
        kmem_cache_free(c, objs[100]);
        ulong free0 = nr_free_pages();
        var again = kmem_cache_alloc(c, GFP_KERNEL);
        ctx.Equal(free0, nr_free_pages(), "allocating after a free takes no new page: the freed object (on a partial slab) is reused");
        objs[100] = again;
        foreach (var o in objs)
            kmem_cache_free(c, o);
        kmem_cache_destroy(c);
    }

    [ConformanceTest("free_consistency_checks() and set_freepointer() in mm/slub.c: a double free is reported and never makes two allocations return the same object (S-8)")]
    public void double_free_is_reported_and_not_linked_twice(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var slab = ctx.Subject<ISlab>();
        var c = slab.kmem_cache_create("double-free-test", 64, 0, 0, null)!;
        var a = slab.kmem_cache_alloc(c, GFP_KERNEL);
        var b = slab.kmem_cache_alloc(c, GFP_KERNEL);
        slab.kmem_cache_free(c, a);
        var mark = MemKit.Now(ctx);
        ctx.Step("kmem_cache_free(c, a) a second time");
        slab.kmem_cache_free(c, a);
        ctx.Check(MemKit.Detected(ctx, mark, "already free", "double free", "double-free"), "a double kmem_cache_free is reported (\"Object already free\")", "a report or log line", "nothing reported");
        var x = slab.kmem_cache_alloc(c, GFP_KERNEL);
        var y = slab.kmem_cache_alloc(c, GFP_KERNEL);
        ctx.Check(x != y, "after a double free, two allocations never return the same pointer", "distinct objects", $"{x} twice");
        ctx.Check(x != b && y != b, "a live object is never handed out again");
        slab.kmem_cache_free(c, x);
        slab.kmem_cache_free(c, y);
        slab.kmem_cache_free(c, b);
    }

    [ConformanceTest("check_valid_pointer() and free_consistency_checks() in mm/slub.c: freeing a pointer that is not an object's start is reported (\"Invalid object pointer\") and ignored (S-8)")]
    public void invalid_free_inside_an_object_is_reported(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var slab = ctx.Subject<ISlab>();
        var c = slab.kmem_cache_create("invalid-free-test", 64, 0, 0, null)!;
        var p = slab.kmem_cache_alloc(c, GFP_KERNEL);
        var mark = MemKit.Now(ctx);
        ctx.Step("kmem_cache_free(c, p + 1)");
        slab.kmem_cache_free(c, p + 1);
        ctx.Check(MemKit.Detected(ctx, mark, "invalid", "not the start"), "kmem_cache_free(p + 1) is reported (\"Invalid object pointer\")", "a report or log line", "nothing reported");
        var others = Enumerable.Range(0, 200).Select(_ => slab.kmem_cache_alloc(c, GFP_KERNEL)).ToList();
        ctx.Check(others.All(o => o != p && o != p + 1), "after an invalid free the object stays allocated and p + 1 is never handed out");
        foreach (var o in others)
            slab.kmem_cache_free(c, o);
        slab.kmem_cache_free(c, p);
    }

    [ConformanceTest("cache_from_obj() in mm/slab.h: freeing an object into the wrong cache is reported (\"Wrong slab cache\") and never links it into that cache (S-7)")]
    public void free_into_the_wrong_cache_is_reported(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var slab = ctx.Subject<ISlab>();
        var a = slab.kmem_cache_create("cache-a", 64, 0, 0, null)!;
        var b = slab.kmem_cache_create("cache-b", 64, 0, 0, null)!;
        var objA = slab.kmem_cache_alloc(a, GFP_KERNEL);
        var mark = MemKit.Now(ctx);
        slab.kmem_cache_free(b, objA);
        ctx.Check(MemKit.Detected(ctx, mark, "wrong slab cache", "wrong cache"), "kmem_cache_free(b, object of a) is reported (\"Wrong slab cache. cache-b but object is from cache-a\")", "a report or log line", "nothing reported");
        var fromB = Enumerable.Range(0, 200).Select(_ => slab.kmem_cache_alloc(b, GFP_KERNEL)).ToList();
        ctx.Check(fromB.All(o => o != objA), "an object of cache-a is never handed out by cache-b");
        foreach (var o in fromB)
            slab.kmem_cache_free(b, o);
    }

    [ConformanceTest("__kmalloc_large_node() and free_large_kmalloc() in mm/slub.c: sizes above KMALLOC_MAX_CACHE_SIZE come from the page allocator and go back on kfree (S-2, S-17)")]
    public void large_kmalloc_uses_the_page_allocator(ConformanceContext ctx)
    {
        ctx.AllowReports(ReportKind.Warning);
        ulong free0 = nr_free_pages();
        var p = kmalloc(8193, GFP_KERNEL);
        ctx.Check(p.addr % PAGE_SIZE == 0, "a large kmalloc is page aligned");
        ctx.Equal(16384UL, ksize(p), "ksize(kmalloc(8193)) is folio_size(): an order-2 block");
        ctx.Equal(free0 - 4, nr_free_pages(), "kmalloc(8193) takes exactly an order-2 block from the page allocator");
        memset(p, 1, 16384);
        kfree(p);
        ctx.Equal(free0, nr_free_pages(), "kfree of a large kmalloc gives its pages back");
        ctx.Equal(NULL, kmalloc(KMALLOC_MAX_SIZE + 1, GFP_KERNEL | __GFP_NOWARN), "kmalloc above KMALLOC_MAX_SIZE returns NULL");
        var big = kmalloc(KMALLOC_MAX_SIZE, GFP_KERNEL);
        ctx.Check(big.addr != 0, "kmalloc(KMALLOC_MAX_SIZE) (a MAX_PAGE_ORDER block) succeeds");
        kfree(big);
    }

    [ConformanceTest("krealloc() and __do_krealloc() in mm/slub.c: keeps min(old, new) bytes, stays in place when it fits ksize, zeroes the grown part with __GFP_ZERO, krealloc(p, 0) frees (S-15)")]
    public void krealloc_keeps_data_and_stays_in_place_when_it_fits(ConformanceContext ctx)
    {
        var p = krealloc(NULL, 40, GFP_KERNEL);
        ctx.Check(p.addr > 16 && ksize(p) >= 40, "krealloc(NULL, 40) behaves like kmalloc(40)");
        memset(p, 0xab, 40);
        var q = krealloc(p, 20, GFP_KERNEL);
        ctx.Equal(p, q, "a shrinking krealloc keeps the pointer");
        ulong ks = ksize(q);
        var r = krealloc(q, ks, GFP_KERNEL);
        ctx.Equal(q, r, "a krealloc that still fits ksize() keeps the pointer");
        var s = krealloc(r, 1000, GFP_KERNEL | __GFP_ZERO);
        ctx.Check(s.addr > 16, "a growing krealloc succeeds");
        ctx.Check(ptr_span(s, 20).IndexOfAnyExcept((byte)0xab) < 0, "krealloc keeps the first min(old, new) bytes");
        ctx.Check(ptr_span(s + ks, 1000 - ks).IndexOfAnyExcept((byte)0) < 0, "with __GFP_ZERO, the grown part is zeroed");
        var t = krealloc(s, 0, GFP_KERNEL);
        ctx.Equal(ZERO_SIZE_PTR, t, "krealloc(p, 0) frees p and returns ZERO_SIZE_PTR");
    }

    // ---------------- debug caches: red zones and poison (lib/tests/slub_kunit.c) ----------------
    // The corrupting writes go behind KASAN's back (Arch.raw_*), as the kunit tests do with
    // kasan_disable_current(): what is graded is the slab's own check when the object is freed or reused.

    [ConformanceTest("check_object() in mm/slub.c: with SLAB_RED_ZONE a write just past a live object (p[64] of a 64-byte object) is \"Redzone overwritten\" when the object is freed (S-10, slub_kunit test_clobber_zone)")]
    public void right_red_zone_write_is_reported_at_free(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var s = kmem_cache_create("TestSlub_RZ_alloc", 64, 0, SLAB_RED_ZONE, null)!;
        var clean = kmem_cache_alloc(s, GFP_KERNEL);
        var p = kmem_cache_alloc(s, GFP_KERNEL);
        var mark = MemKit.Now(ctx);
        kmem_cache_free(s, clean);
        ctx.Check(!MemKit.Detected(ctx, mark, "overwritten"), "an object whose red zones are intact is freed without a report", "no report", "a red zone reported as overwritten");
        Arch.raw_ref<byte>(p + 64) = 0x12;
        mark = MemKit.Now(ctx);
        kmem_cache_free(s, p);
        ctx.Check(MemKit.Detected(ctx, mark, "Redzone overwritten"), "writing p[64] of a live 64-byte object in a SLAB_RED_ZONE cache is reported when it is freed (\"Redzone overwritten\")", "a report", "nothing reported");
        kmem_cache_destroy(s);
    }

    [ConformanceTest("calculate_sizes() (red_left_pad) and check_object() in mm/slub.c: with SLAB_RED_ZONE every object has a left red zone, so p[-1] is \"Left Redzone overwritten\" even when the object before it is live, and that object is not damaged (S-10, KASAN kmalloc_oob_left)")]
    public void left_red_zone_catches_an_underflow_next_to_a_live_object(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var s = kmem_cache_create("TestSlub_RZ_left", 64, 0, SLAB_RED_ZONE, null)!;
        var objs = Enumerable.Range(0, 8).Select(_ => kmem_cache_alloc(s, GFP_KERNEL)).OrderBy(o => o.addr).ToList();
        // Two neighbours: b is the object right after a in the slab.
        ulong stride = objs.Zip(objs.Skip(1), (x, y) => y.addr - x.addr).Min();
        int i = Enumerable.Range(0, objs.Count - 1).First(k => objs[k + 1].addr - objs[k].addr == stride);
        kptr a = objs[i], b = objs[i + 1];
        foreach (var o in objs)
            memset(o, 0x3c, 64);
        Arch.raw_ref<byte>(b - 1) = 0x78;
        var mark = MemKit.Now(ctx);
        kmem_cache_free(s, b);
        ctx.Check(MemKit.Detected(ctx, mark, "Left Redzone overwritten"), "writing b[-1] is reported when b is freed (\"Left Redzone overwritten\"): the byte before an object is its own left red zone, not its neighbour's", "a report", "nothing reported");
        ctx.Check(ptr_span(a, 64).IndexOfAnyExcept((byte)0x3c) < 0, "the live neighbour before it is intact");
        mark = MemKit.Now(ctx);
        foreach (var o in objs.Where(o => o != b))
            kmem_cache_free(s, o);
        ctx.Check(!MemKit.Detected(ctx, mark, "overwritten"), "freeing the untouched objects reports nothing");
        kmem_cache_destroy(s);
    }

    [ConformanceTest("init_object() and check_object() in mm/slub.c: a SLAB_POISON object written after free (its first word, its 50th byte) is \"Poison overwritten\" when it is handed out again (S-9, slub_kunit test_first_word, test_clobber_50th_byte)")]
    public void write_after_free_into_poison_is_reported_on_reuse(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        foreach (int offset in new[] { 0, 50 })
        {
            ctx.Step($"write p[{offset}] after free");
            var s = kmem_cache_create($"TestSlub_poison_{offset}", 64, 0, SLAB_POISON, null)!;
            var p = kmem_cache_alloc(s, GFP_KERNEL);
            kmem_cache_free(s, p);
            ctx.Check(Arch.raw_span(p, 63).IndexOfAnyExcept(POISON_FREE) < 0 && Arch.raw_ref<byte>(p + 63) == POISON_END,
                "a freed SLAB_POISON object is filled with POISON_FREE (0x6b) and ends with POISON_END (0xa5)");
            Arch.raw_ref<byte>(p + offset) = 0x78;
            var mark = MemKit.Now(ctx);
            var taken = new List<kptr>();
            while (taken.Count < 256 && !taken.Contains(p))
                taken.Add(kmem_cache_alloc(s, GFP_KERNEL));
            ctx.Check(taken.Contains(p), "the freed object is handed out again");
            ctx.Check(MemKit.Detected(ctx, mark, "Poison overwritten"), $"writing p[{offset}] after free is reported when the object is allocated again (\"Poison overwritten\")", "a report", "nothing reported");
            foreach (var o in taken)
                kmem_cache_free(s, o);
            kmem_cache_destroy(s);
        }
    }

    [ConformanceTest("set_orig_size() and check_object() in mm/slub.c: with SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE the bytes from the requested size to the object size are red zone: p[18], p[19] of an 18-byte request in a 32-byte cache are \"kmalloc Redzone overwritten\" (S-10, slub_kunit test_kmalloc_redzone_access)")]
    public void kmalloc_red_zone_starts_at_the_requested_size(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var s = kmem_cache_create("TestSlub_RZ_kmalloc", 32, 0, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE, null)!;
        var clean = kmalloc_trace(s, GFP_KERNEL, 18);
        var p = kmalloc_trace(s, GFP_KERNEL, 18);
        ctx.Check(p.addr > 16 && clean.addr > 16, "kmalloc_trace(s, GFP_KERNEL, 18) succeeds");
        ctx.Check(Arch.raw_span(p + 18, 14).IndexOfAnyExcept(SLUB_RED_ACTIVE) < 0, "bytes 18..31 of an 18-byte request are red zone (SLUB_RED_ACTIVE, 0xcc) while it is allocated");
        memset(clean, 0x11, 18);
        var mark = MemKit.Now(ctx);
        kfree(clean);
        ctx.Check(!MemKit.Detected(ctx, mark, "overwritten"), "an 18-byte request that stayed within its 18 bytes is freed without a report");
        Arch.raw_ref<byte>(p + 18) = 0x78;
        Arch.raw_ref<byte>(p + 19) = 0x78;
        mark = MemKit.Now(ctx);
        kfree(p);
        ctx.Check(MemKit.Detected(ctx, mark, "Redzone overwritten"), "writing p[18] and p[19] of an 18-byte request is reported when it is freed (\"kmalloc Redzone overwritten\")", "a report", "nothing reported");
        kmem_cache_destroy(s);
    }

    [ConformanceTest("__do_krealloc() in mm/slub.c: in a red-zoned kmalloc cache krealloc keeps orig_size: shrinking 48 -> 40 red-zones 40..63, growing 40 -> 56 in place zeroes 40..55 and red-zones 56..63, growing to 112 moves and keeps 56 bytes (S-15, slub_kunit test_krealloc_redzone_zeroing)")]
    public void krealloc_zeroes_and_red_zones_from_the_requested_size(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        var s = kmem_cache_create("TestSlub_krealloc", 64, 0, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE, null)!;
        var p = kmalloc_trace(s, GFP_KERNEL, 48);
        memset(p, 0xff, 48);
        ctx.Step("krealloc(p, 40, GFP_KERNEL | __GFP_ZERO)");
        var q = krealloc(p, 40, GFP_KERNEL | __GFP_ZERO);
        ctx.Equal(p, q, "a shrinking krealloc keeps the pointer");
        ctx.Check(Arch.raw_span(q + 40, 24).IndexOfAnyExcept(SLUB_RED_ACTIVE) < 0, "after shrinking to 40, bytes 40..63 are SLUB_RED_ACTIVE (0xcc)", "0xcc", MemKit.Hex(Arch.raw_span(q + 40, 24).ToArray().FirstOrDefault(x => x != SLUB_RED_ACTIVE)));
        ctx.Step("krealloc(p, 56, GFP_KERNEL | __GFP_ZERO)");
        var r = krealloc(q, 56, GFP_KERNEL | __GFP_ZERO);
        ctx.Equal(q, r, "growing 40 -> 56 stays in the same 64-byte object");
        ctx.Check(Arch.raw_span(r + 40, 16).IndexOfAnyExcept((byte)0) < 0, "bytes 40..55 are zero: __GFP_ZERO zeroes from the requested size (orig_size 40) up to the new size");
        ctx.Check(Arch.raw_span(r + 56, 8).IndexOfAnyExcept(SLUB_RED_ACTIVE) < 0, "bytes 56..63 are SLUB_RED_ACTIVE (0xcc)");
        ctx.Check(Arch.raw_span(r, 40).IndexOfAnyExcept((byte)0xff) < 0, "bytes 0..39 are kept");
        memset(r, 0xff, 56);
        ctx.Step("krealloc(p, 112, GFP_KERNEL | __GFP_ZERO)");
        var t = krealloc(r, 112, GFP_KERNEL | __GFP_ZERO);
        ctx.Check(t.addr > 16 && t != r, "growing past the object moves to a bigger (128-byte) object");
        ctx.Check(ptr_span(t, 56).IndexOfAnyExcept((byte)0xff) < 0, "the 56 requested bytes are copied");
        ctx.Check(ptr_span(t + 56, 56).IndexOfAnyExcept((byte)0) < 0, "bytes 56..111 are zero");
        kfree(t);
        kmem_cache_destroy(s);
    }

    // ---------------- kfree_rcu and bulk (library helpers on the slab's own calls) ----------------

    [ConformanceTest("kmem_cache_destroy() in mm/slab_common.c calls kvfree_rcu_barrier() first: destroying a cache right after kfree_rcu() of its last object waits for the grace period and reports nothing (S-14, slub_kunit test_kfree_rcu)")]
    public void destroy_waits_for_pending_kfree_rcu(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        MemKit.AllowErrorReports(ctx);
        ulong free0 = nr_free_pages();
        var s = kmem_cache_create("TestSlub_kfree_rcu", 64, 0, 0, null)!;
        var p = kmem_cache_alloc(s, GFP_KERNEL);
        ctx.Check(p.addr != 0, "kmem_cache_alloc succeeds");
        var q = kmem_cache_alloc(s, GFP_KERNEL);
        kmem_cache_free(s, q);
        rcu_read_lock();
        kfree_rcu(p); // a reader may still hold p: it is freed after the grace period
        rcu_read_unlock();
        var mark = MemKit.Now(ctx);
        kmem_cache_destroy(s);
        ctx.Check(!MemKit.Detected(ctx, mark, "Objects remaining", "still has objects"),
            "kmem_cache_destroy() waits for the pending kfree_rcu() (kvfree_rcu_barrier()) instead of reporting its object as remaining", "no report", "\"Objects remaining\" / \"still has objects\"");
        ctx.Equal(free0, nr_free_pages(), "after the kfree_rcu()'d object is freed the destroyed cache gives every page back");
    }

    [ConformanceTest("__kmem_cache_alloc_bulk() in mm/slab_common.c and lib/test_meminit.c: kmem_cache_alloc_bulk(c, gfp, 10, objects) returns 10 distinct objects, zeroed with __GFP_ZERO even when recycled; kmem_cache_free_bulk() frees them (S-16)")]
    public void bulk_allocation_returns_distinct_zeroed_objects(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        var s = kmem_cache_create("TestSlub_bulk", 200, 0, 0, null)!;
        var dirty = Enumerable.Range(0, 10).Select(_ => kmem_cache_alloc(s, GFP_KERNEL)).ToList();
        foreach (var o in dirty)
        {
            memset(o, 0xee, 200);
            kmem_cache_free(s, o);
        }
        var objects = new kptr[10];
        int n = kmem_cache_alloc_bulk(s, GFP_KERNEL | __GFP_ZERO, 10, objects);
        ctx.Equal(10, n, "kmem_cache_alloc_bulk(s, GFP_KERNEL | __GFP_ZERO, 10, objects) allocates all 10");
        ctx.Equal(10, objects.Select(o => o.addr).Where(a => a != 0).Distinct().Count(), "the 10 objects are distinct and non-NULL");
        foreach (var o in objects)
            ctx.Check(ptr_span(o, 200).IndexOfAnyExcept((byte)0) < 0, "every object of a __GFP_ZERO bulk allocation is zeroed, recycled ones included");
        ulong free0 = nr_free_pages();
        kmem_cache_free_bulk(s, 10, objects);
        var again = new kptr[10];
        ctx.Equal(10, kmem_cache_alloc_bulk(s, GFP_KERNEL, 10, again), "after kmem_cache_free_bulk the objects can be allocated again");
        ctx.Equal(free0, nr_free_pages(), "the freed objects are reused: no new slab");
        kmem_cache_free_bulk(s, 10, again);
        kmem_cache_destroy(s);
    }

    [ConformanceTest("__kmem_cache_alloc_bulk() in mm/slab_common.c: a bulk allocation that cannot be served whole returns 0 and frees every object it took, so nothing leaks (S-16: all or nothing)")]
    public void bulk_allocation_is_all_or_nothing(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        ulong free0 = nr_free_pages();
        ulong size = 2UL << 20;
        var big = kmem_cache_create("TestSlub_bulk_big", size, 0, 0, null)!;
        ctx.Check(big is not null, "kmem_cache_create of 2 MiB objects succeeds");
        int nr = (int)((free0 << PAGE_SHIFT) / size) + 8; // more than memory can hold
        var objects = new kptr[nr];
        int n = kmem_cache_alloc_bulk(big!, GFP_NOWAIT | __GFP_NOWARN, (ulong)nr, objects);
        ctx.Equal(0, n, $"kmem_cache_alloc_bulk of {nr} 2 MiB objects (more than memory holds) returns 0");
        var mark = MemKit.Now(ctx);
        kmem_cache_destroy(big);
        ctx.Check(!MemKit.Detected(ctx, mark, "Objects remaining", "still has objects"), "the failed bulk allocation freed every object it took: destroying the cache finds none", "no object left", "objects remaining");
        ctx.Equal(free0, nr_free_pages(), "after the failed bulk allocation and the cache's destruction every page is back");
    }

    [ConformanceTest("__do_krealloc() in mm/slub.c: a krealloc that moves the object frees the old one (kfree(p) after the copy): round after round of kmalloc, growing krealloc and kfree holds no more pages (S-15)")]
    public void krealloc_that_moves_frees_the_old_object(ConformanceContext ctx)
    {
        ulong heldAfterWarmUp = 0;
        ulong free0 = nr_free_pages();
        for (int round = 0; round < 8; round++)
        {
            ctx.Step($"round {round}: 64 x kmalloc(2000), krealloc(5000), kfree");
            var objs = Enumerable.Range(0, 64).Select(_ => kmalloc(2000, GFP_KERNEL)).ToList();
            for (int i = 0; i < objs.Count; i++)
            {
                memset(objs[i], 0x5a, 2000);
                var moved = krealloc(objs[i], 5000, GFP_KERNEL);
                ctx.Check(moved.addr > 16 && moved != objs[i], "krealloc from 2000 to 5000 bytes moves to the kmalloc-8k cache");
                objs[i] = moved;
            }
            foreach (var o in objs)
                kfree(o);
            ulong held = free0 - Math.Min(free0, nr_free_pages());
            if (round == 1)
                heldAfterWarmUp = held;
            if (round == 7)
                ctx.Check(held <= heldAfterWarmUp + 16, "the pages held stay the same from round to round: every old object krealloc moved away from was freed",
                    $"<= {heldAfterWarmUp + 16} pages held", $"{held} pages held");
        }
    }

    [ConformanceTest("__vmalloc_node_range() and vfree() in mm/vmalloc.c: vmalloc memory is virtually contiguous in the vmalloc area, page backed, and vfree gives the pages back")]
    public void vmalloc_is_virtually_contiguous_and_page_backed(ConformanceContext ctx)
    {
        ulong free0 = nr_free_pages();
        ulong size = 5 * PAGE_SIZE + 123;
        var v = vmalloc(size);
        ctx.Check(v.addr >= VMALLOC_START && v.addr <= VMALLOC_END, "vmalloc returns an address in [VMALLOC_START, VMALLOC_END]", null, v.ToString());
        ctx.Check(v.addr % PAGE_SIZE == 0, "vmalloc memory is page aligned");
        ctx.Equal(free0 - 6, nr_free_pages(), "vmalloc(5 pages + 123 bytes) is backed by 6 pages from the page allocator");
        memset(v, 0x42, size);
        ctx.Check(ptr_span(v, size).IndexOfAnyExcept((byte)0x42) < 0, "the whole range is usable");
        var w = vzalloc(3 * PAGE_SIZE);
        ctx.Check(ptr_span(w, 3 * PAGE_SIZE).IndexOfAnyExcept((byte)0) < 0, "vzalloc memory is zeroed");
        ctx.Check(w.addr >= v.addr + size || w.addr + 3 * PAGE_SIZE <= v.addr, "two vmalloc areas do not overlap");
        vfree(v);
        vfree(w);
        ctx.Equal(free0, nr_free_pages(), "vfree gives every page back");
        var k = kvmalloc(100, GFP_KERNEL);
        free0 = nr_free_pages(); // the kmalloc-128 slab stays cached
        var big = kvmalloc(64 * PAGE_SIZE, GFP_KERNEL);
        ctx.Check(k.addr > 16 && big.addr > 16, "kvmalloc succeeds for small and large sizes");
        memset(big, 1, 64 * PAGE_SIZE);
        kvfree(big);
        ctx.Equal(free0, nr_free_pages(), "kvfree gives a large kvmalloc's pages back");
        kvfree(k);
    }

    [ConformanceTest("gfpflags_allow_blocking() in include/linux/gfp.h: kmalloc and kmem_cache_alloc with GFP_ATOMIC never sleep, even when they need a new slab (B-12; might_sleep is the oracle)")]
    public void gfp_atomic_allocations_never_sleep(ConformanceContext ctx)
    {
        var c = kmem_cache_create("atomic-test", 512, 0, 0, null)!;
        var objs = new List<kptr>();
        var cobjs = new List<kptr>();
        local_irq_save(out ulong flags);
        try
        {
            for (int i = 0; i < 400; i++)
            {
                objs.Add(kmalloc((ulong)(8 << (i % 11)), GFP_ATOMIC));
                cobjs.Add(kmem_cache_alloc(c, GFP_ATOMIC));
            }
        }
        finally
        {
            local_irq_restore(flags);
        }
        ctx.Check(objs.All(p => p.addr > 16) && cobjs.All(p => p.addr != 0), "GFP_ATOMIC allocations succeed with plenty of memory");
        foreach (var p in objs)
            kfree(p);
        foreach (var p in cobjs)
            kmem_cache_free(c, p);
        kmem_cache_destroy(c);
    }

    [ConformanceTest("kmalloc_caches[KMALLOC_DMA] in mm/slab_common.c: kmalloc(GFP_DMA) memory lies in ZONE_DMA")]
    public void gfp_dma_kmalloc_lies_in_zone_dma(ConformanceContext ctx)
    {
        var objs = new List<kptr>();
        foreach (ulong size in new ulong[] { 32, 256, 3000, 20000 })
        {
            var p = kmalloc(size, GFP_KERNEL | GFP_DMA);
            ctx.Check(p.addr > 16, $"kmalloc({size}, GFP_DMA) succeeds");
            ctx.Equal(zone_type.ZONE_DMA, page_zone(virt_to_page(p)), $"kmalloc({size}, GFP_KERNEL | GFP_DMA) memory lies in ZONE_DMA");
            objs.Add(p);
        }
        foreach (var p in objs)
            kfree(p);
    }

    // ---------------- property ----------------

    [ConformanceTest("mm/slub.c under a random kmalloc/kzalloc/krealloc/kfree trace checked like mdriver: alignment, ksize, no overlap, payload kept (S-2..S-5, S-15)", Group = "property", Seed = 99)]
    public void random_kmalloc_trace_keeps_every_payload(ConformanceContext ctx)
    {
        SlabTraceChecker.Run(ctx, SlabTraces.Random(ctx.NextULong(), 3000, maxSize: 5000, caches: false), "random");
    }

    [ConformanceTest("mm/slub.c under a random trace of several kmem_caches (sizes, alignments, flags) checked like mdriver (S-3, S-4, S-12)", Group = "property", Seed = 5)]
    public void random_cache_trace_keeps_every_payload(ConformanceContext ctx)
    {
        SlabTraceChecker.Run(ctx, SlabTraces.Random(ctx.NextULong(), 3000, maxSize: 700, caches: true), "caches");
    }

    // ---------------- differential ----------------

    [ConformanceTest("kmalloc_index(), __ksize() and krealloc() against the reference slab: the same trace gives the same size classes and the same in-place decisions", Group = "differential", Seed = 17)]
    public void kmalloc_trace_matches_the_reference(ConformanceContext ctx)
    {
        var reference = new KernelHarness.Reference.Slab.ReferenceSlab();
        reference.kmem_cache_init();
        var mine = new List<(kptr P, ulong Size)>();
        var theirs = new List<(kptr P, ulong Size)>();
        for (int op = 0; op < 1500; op++)
        {
            if (mine.Count == 0 || ctx.Next(100) < 50)
            {
                ulong size = (ulong)(ctx.Next(4) == 0 ? ctx.Next(1, 9000) : ctx.Next(1, 300));
                ctx.Step($"op {op}: kmalloc({size})");
                var p = kmalloc(size, GFP_KERNEL);
                var q = reference.kmalloc(size, GFP_KERNEL);
                ctx.Equal(reference.ksize(q), ksize(p), $"op {op}: ksize(kmalloc({size})) equals the reference's size class");
                mine.Add((p, size));
                theirs.Add((q, size));
            }
            else if (ctx.Next(3) == 0)
            {
                int i = ctx.Next(mine.Count);
                ulong size = (ulong)ctx.Next(1, 600);
                ctx.Step($"op {op}: krealloc(#{i}, {size})");
                var p = krealloc(mine[i].P, size, GFP_KERNEL);
                var q = reference.krealloc(theirs[i].P, size, GFP_KERNEL);
                ctx.Equal(q == theirs[i].P, p == mine[i].P, $"op {op}: krealloc to {size} stays in place exactly when the reference does (new size <= ksize)");
                ctx.Equal(reference.ksize(q), ksize(p), $"op {op}: ksize after krealloc({size}) equals the reference's");
                mine[i] = (p, size);
                theirs[i] = (q, size);
            }
            else
            {
                int i = ctx.Next(mine.Count);
                kfree(mine[i].P);
                reference.kfree(theirs[i].P);
                mine.RemoveAt(i);
                theirs.RemoveAt(i);
            }
        }
        foreach (var (p, _) in mine)
            kfree(p);
        foreach (var (q, _) in theirs)
            reference.kfree(q);
    }

    // ---------------- concurrency ----------------

    [ConformanceTest("per-CPU slabs and n->list_lock in mm/slub.c: allocations on several CPUs and GFP_ATOMIC allocations in softirq context never share an object", Group = "concurrency", Seed = 3, Cpus = 4)]
    public void concurrent_allocations_with_softirq_allocations(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        var cache = kmem_cache_create("concurrent-test", 96, 0, SLAB_HWCACHE_ALIGN, null)!;
        var owners = new Dictionary<ulong, string>();
        string? error = null;
        void Claim(kptr p, string who)
        {
            if (owners.TryGetValue(p.addr, out var other))
                error ??= $"{who} got {p} while {other} still owns it";
            owners[p.addr] = who;
        }
        const int Workers = 3;
        var done = new completion();
        init_completion(done);
        for (int w = 0; w < Workers; w++)
        {
            int id = w;
            kthread_run(_ =>
            {
                var mine = new List<(kptr P, ulong Size, bool Cache)>();
                ulong state = (ulong)(id + 7) * 0x9E3779B97F4A7C15UL ^ ctx.Seed;
                for (int op = 0; op < 400; op++)
                {
                    state = state * 6364136223846793005UL + 1442695040888963407UL;
                    int r = (int)(state >> 33);
                    if (mine.Count == 0 || r % 3 != 0)
                    {
                        bool fromCache = r % 2 == 0;
                        ulong size = fromCache ? 96 : (ulong)(r % 700 + 1);
                        var p = fromCache ? kmem_cache_alloc(cache, GFP_KERNEL) : kmalloc(size, GFP_KERNEL);
                        if (p.addr <= 16)
                            continue;
                        Claim(p, $"worker {id}");
                        MemKit.Fill(p, size, id + 1);
                        mine.Add((p, size, fromCache));
                    }
                    else
                    {
                        var (p, size, fromCache) = mine[r % mine.Count];
                        mine.Remove((p, size, fromCache));
                        if (!MemKit.Holds(p, size, id + 1))
                            error ??= $"worker {id}: object {p} was overwritten while it was live";
                        owners.Remove(p.addr);
                        if (fromCache)
                            kmem_cache_free(cache, p);
                        else
                            kfree(p);
                    }
                }
                foreach (var (p, _, fromCache) in mine)
                {
                    owners.Remove(p.addr);
                    if (fromCache)
                        kmem_cache_free(cache, p);
                    else
                        kfree(p);
                }
                complete(done);
                return 0;
            }, null, $"slab-worker/{w}");
        }
        var timer = new timer_list();
        int fired = 0;
        var held = new Queue<(kptr P, bool Cache)>();
        timer_setup(timer, t =>
        {
            fired++;
            bool fromCache = fired % 2 == 0;
            var p = fromCache ? kmem_cache_alloc(cache, GFP_ATOMIC) : kmalloc((ulong)(fired % 300 + 1), GFP_ATOMIC);
            if (p.addr > 16)
            {
                Claim(p, "timer softirq");
                held.Enqueue((p, fromCache));
            }
            if (held.Count > 6)
            {
                var (old, oc) = held.Dequeue();
                owners.Remove(old.addr);
                if (oc)
                    kmem_cache_free(cache, old);
                else
                    kfree(old);
            }
            if (fired < 300)
                mod_timer(t, jiffies + 1);
        }, 0);
        mod_timer(timer, jiffies + 1);
        for (int w = 0; w < Workers; w++)
            wait_for_completion(done);
        del_timer_sync(timer);
        while (held.Count > 0)
        {
            var (p, fromCache) = held.Dequeue();
            owners.Remove(p.addr);
            if (fromCache)
                kmem_cache_free(cache, p);
            else
                kfree(p);
        }
        ctx.Check(error is null, "no object is handed to two owners at once, and no live object is overwritten (per-CPU caches and lists protected against other CPUs and interrupts)", "distinct objects", error);
        ctx.Check(fired > 0, "the timer ran in softirq context during the test");
        kmem_cache_destroy(cache);
    }

    // ---------------- performance ----------------

    [ConformanceTest("mm/slub.c under mdriver-style traces: utilization (peak live bytes / peak pages held) and deterministic cost, as ratios to the reference", Group = "performance", TimeoutMs = 60_000)]
    public void trace_performance_relative_to_the_reference(ConformanceContext ctx)
    {
        var subjectType = ctx.Subject<ISlab>().GetType();
        var student = SlabTraces.Measure(() => (ISlab)Activator.CreateInstance(subjectType)!);
        ctx.Check(student.Error is null, "the traces run without errors (an error scores 0, as in mdriver)", "no error", student.Error);
        var reference = SlabTraces.Measure(() => new KernelHarness.Reference.Slab.ReferenceSlab());
        ctx.RecordMetric("utilization", reference.Utilization <= 0 ? 1 : student.Utilization / reference.Utilization);
        ctx.RecordMetric("throughput", student.Cost <= 0 ? 1 : reference.Cost / student.Cost);
    }
}
