using System;
using System.Collections.Generic;
using System.Globalization;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Slab;

/// <summary>
/// A SLUB-like slab allocator (mm/slub.c, mm/slab_common.c), kmalloc on top of it, and vmalloc
/// (mm/vmalloc.c) on pages mapped contiguously in the vmalloc area.
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>A slab is a compound page block with <c>PG_slab</c>, <c>slab_cache</c> set; object k lives at
/// <c>base + k*size + red_left_pad</c> (S-4); its free objects form a chain starting at
/// <c>page.freelist</c>, the next pointer stored inside each free object at <c>s-&gt;offset</c>, read and
/// written with <see cref="Arch.raw_ref{T}"/> because KASAN keeps free objects poisoned.</item>
/// <item><c>inuse + length(freelist) == objects</c> for every slab (S-11).</item>
/// <item>A slab is either some CPU's slab (<c>frozen</c>), on the cache's partial list (not frozen, at
/// least one free object), or full (not frozen, off every list) (S-12). Empty slabs beyond
/// <c>min_partial</c> go back to the page allocator.</item>
/// <item>The ctor runs once per object, when its slab is created (S-6).</item>
/// </list>
/// Concurrency: the simulated machine switches CPUs and delivers interrupts only at kernel API calls.
/// The allocation and free paths make no kernel API call while a slab or list is inconsistent, which is
/// what SLUB's per-CPU cmpxchg and <c>n-&gt;list_lock</c> guarantee; <c>new_slab</c> (which may sleep)
/// runs with nothing half-done and publishes the slab afterwards.
/// </summary>
public sealed class ReferenceSlab : ISlab
{
    /// <summary>kmalloc size classes (include/linux/slab.h <c>kmalloc_index</c>), 96 and 192 included.</summary>
    public static readonly ulong[] KmallocSizes = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192 };

    // size_index[(size - 1) / 8] for sizes up to 192 (mm/slab_common.c size_index), as indexes into KmallocSizes.
    private static readonly byte[] SizeIndex = BuildSizeIndex();

    /// <summary>A cache with SLUB's state (struct kmem_cache + kmem_cache_cpu + kmem_cache_node).</summary>
    public sealed class SlubCache : kmem_cache
    {
        internal SlubCache(string name, ulong size, ulong align, slab_flags_t flags, Action<kptr>? ctor)
            : base(name, size, align, flags, ctor) { }

        /// <summary>Each CPU's slab (kmem_cache_cpu.slab).</summary>
        internal page?[] CpuSlab = Array.Empty<page?>();
        internal page? Partial;
        internal int NrPartial;
        internal int MinPartial;
        internal ulong Inuse;             // bytes of the object plus its red zone: where metadata starts
        internal readonly HashSet<page> Slabs = new();
        internal bool Destroyed;
        internal bool SlowPathOnly;       // Destroyed or Debug: every allocation and free takes the slow path
        internal bool Debug;              // SLAB_POISON / SLAB_RED_ZONE / SLAB_CONSISTENCY_CHECKS / SLAB_STORE_USER
        internal ulong OrigSizeOffset;    // where an object's requested size (orig_size) is kept; 0: not kept (slub_debug_orig_size)
        internal Machine Machine = null!;     // the hot paths reach the machine without a thread-static lookup
        internal PhysicalMemory Mem = null!;
        internal ulong SizeReciprocal;    // ulong.MaxValue / size + 1: obj_to_index without a division (reciprocal_divide)
        internal ulong SlabBytes => PAGE_SIZE << order;
    }

    private readonly List<SlubCache> caches = new();
    private readonly SlubCache?[] kmallocCaches = new SlubCache?[KmallocSizes.Length];
    private readonly SlubCache?[] kmallocDmaCaches = new SlubCache?[KmallocSizes.Length];
    private readonly SortedDictionary<ulong, ulong> vmFree = new();   // free vmalloc ranges: start -> size
    private bool vmInit;

    private static Machine M => Machine.Current;

    private PhysicalMemory? memory;

    /// <summary>The machine's memory, found once (kmem_cache_init runs on the machine at boot).</summary>
    private PhysicalMemory Memory => memory ??= M.Memory;

    // ---- Boot ----

    public void kmem_cache_init()
    {
        memory = M.Memory;
        for (int i = 0; i < KmallocSizes.Length; i++)
            kmallocCaches[i] = CreateCache($"kmalloc-{SizeName(KmallocSizes[i])}", KmallocSizes[i], 0, SLAB_KMALLOC, null);
    }

    private static string SizeName(ulong size) => size >= 1024 ? $"{size / 1024}k" : size.ToString(CultureInfo.InvariantCulture);

    // ---- Cache creation ----

    public kmem_cache? kmem_cache_create(string name, ulong size, ulong align, slab_flags_t flags, Action<kptr>? ctor)
    {
        if (string.IsNullOrEmpty(name) || size == 0 || size > KMALLOC_MAX_SIZE || (align & (align - 1)) != 0 || in_interrupt())
        {
            if ((flags & SLAB_PANIC) != 0)
                BUG_ON(true);
            return null;
        }
        return CreateCache(name, size, align, flags, ctor);
    }

    /// <summary><c>calculate_alignment</c> (mm/slab_common.c).</summary>
    public static ulong calculate_alignment(slab_flags_t flags, ulong align, ulong size)
    {
        if ((flags & SLAB_HWCACHE_ALIGN) != 0)
        {
            ulong ralign = L1_CACHE_BYTES;
            while (size <= ralign / 2)
                ralign /= 2;
            align = Math.Max(align, ralign);
        }
        align = Math.Max(align, ARCH_SLAB_MINALIGN);
        return ALIGN(align, 8);
    }

    private SlubCache CreateCache(string name, ulong size, ulong align, slab_flags_t flags, Action<kptr>? ctor)
    {
        var s = new SlubCache(name, size, align, flags, ctor);
        // kmalloc caches of a power-of-two size are naturally aligned (commit 59bb47985c1d).
        if ((flags & SLAB_KMALLOC) != 0 && (size & (size - 1)) == 0)
            align = Math.Max(align, size);
        s.align = calculate_alignment(flags, align, size);
        s.Debug = (flags & (SLAB_POISON | SLAB_RED_ZONE | SLAB_CONSISTENCY_CHECKS | SLAB_STORE_USER)) != 0;
        s.SlowPathOnly = s.Debug;
        CalculateSizes(s, kasan: M.Checks.Enabled);
        s.Machine = M;
        s.Mem = s.Machine.Memory;
        s.SizeReciprocal = ulong.MaxValue / s.size + 1;
        s.CpuSlab = new page?[Arch.nr_cpu_ids];
        s.MinPartial = Math.Clamp((int)Math.Log2(Math.Max(s.size, 2)) / 2, 5, 10);
        caches.Add(s);
        return s;
    }

    /// <summary>
    /// <c>calculate_sizes</c>: object, right red zone, free pointer, the requested size of a kmalloc object
    /// (<c>orig_size</c>, with <c>SLAB_KMALLOC | SLAB_STORE_USER</c>), KASAN's red zone (<c>kasan_cache_create</c>:
    /// with KASAN on, each slot ends in at least <c>optimal_redzone(object_size)</c> bytes no object covers,
    /// so an underflow of the next object or an overflow of this one lands in poisoned shadow), left red
    /// zone, alignment; then the slab order.
    /// </summary>
    private static void CalculateSizes(SlubCache s, bool kasan)
    {
        ulong size = Math.Max(s.object_size, 8);
        bool redzone = (s.flags & SLAB_RED_ZONE) != 0;
        if (redzone && size == ALIGN(size, 8))
            size += 8;                      // at least one word of right red zone
        size = ALIGN(size, 8);
        s.Inuse = size;
        if (s.ctor is not null || (s.flags & (SLAB_POISON | SLAB_TYPESAFE_BY_RCU)) != 0 || redzone)
        {
            s.offset = size;                // the free pointer goes after the object: it must not clobber it
            size += 8;
        }
        else
        {
            s.offset = ALIGN_DOWN(s.object_size / 2, 8);
            if (s.offset + 8 > size)
                s.offset = 0;
        }
        if ((s.flags & (SLAB_KMALLOC | SLAB_STORE_USER)) == (SLAB_KMALLOC | SLAB_STORE_USER))
        {
            s.OrigSizeOffset = size;        // slub_debug_orig_size: an unsigned int after the tracking data
            size += 8;
        }
        if (kasan)
            size = Math.Max(size, s.object_size + KasanOptimalRedzone(s.object_size));
        if (redzone)
        {
            s.red_left_pad = ALIGN(8, s.align);
            size += s.red_left_pad;
        }
        s.size = ALIGN(size, s.align);
        int order = 0;
        while (order < 3 && (PAGE_SIZE << order) < s.size * 4)
            order++;
        while ((PAGE_SIZE << order) < s.size)
            order++;
        s.order = order;
        s.objects_per_slab = (int)((PAGE_SIZE << order) / s.size);
    }

    private static ulong ALIGN_DOWN(ulong x, ulong a) => x & ~(a - 1);

    /// <summary><c>optimal_redzone</c> (mm/kasan/generic.c).</summary>
    private static ulong KasanOptimalRedzone(ulong objectSize) =>
        objectSize <= 64 - 16 ? 16UL :
        objectSize <= 128 - 32 ? 32UL :
        objectSize <= 512 - 64 ? 64UL :
        objectSize <= 4096 - 128 ? 128UL :
        objectSize <= (1 << 14) - 256 ? 256UL :
        objectSize <= (1 << 15) - 512 ? 512UL :
        objectSize <= (1 << 16) - 1024 ? 1024UL : 2048UL;

    // ---- Allocation ----

    public kptr kmem_cache_alloc(kmem_cache cachep, gfp_t flags) => SlabAlloc(AsSlub(cachep), flags);

    public kptr kmem_cache_zalloc(kmem_cache cachep, gfp_t flags) => SlabAlloc(AsSlub(cachep), flags | __GFP_ZERO);

    private static SlubCache AsSlub(kmem_cache c) =>
        c as SlubCache ?? throw new ArgumentException($"{c.name} was not created by this slab allocator.", nameof(c));

    /// <summary>
    /// <c>slab_alloc_node</c>: the fast path pops the first free object of this CPU's slab — SLUB's
    /// <c>this_cpu_cmpxchg</c> on <c>c-&gt;freelist</c>, here a direct operation with no kernel API call
    /// (no interleaving point) inside; anything else goes to <see cref="SlabAllocSlow"/>.
    /// </summary>
    private kptr SlabAlloc(SlubCache s, gfp_t gfp)
    {
        var slab = s.SlowPathOnly ? null : s.CpuSlab[s.Machine.RunningCpu];
        if (slab is not null && slab.freelist.addr != 0 && (gfp & __GFP_ZERO) == 0)
        {
            var obj = slab.freelist;
            slab.freelist = new kptr(s.Mem.RawWordIn(slab.raw_chunk!, obj.addr + s.offset));
            slab.inuse++;
            return obj;
        }
        return SlabAllocSlow(s, gfp);
    }

    /// <summary><c>___slab_alloc</c>: debug caches, zeroing, and refilling the CPU slab from a partial or a new slab.</summary>
    private kptr SlabAllocSlow(SlubCache s, gfp_t gfp)
    {
        if (s.Destroyed)
        {
            M.Report(ReportKind.KasanUseAfterFree, $"BUG: KASAN: slab-use-after-free in kmem_cache_alloc", new[] { $"cache {s.name} was destroyed" }, "kmem_cache_alloc");
            return default;
        }
        while (true)
        {
            int cpu = Arch.raw_smp_processor_id();
            var slab = s.CpuSlab[cpu];
            if (slab is not null && slab.freelist.addr != 0)
            {
                var obj = slab.freelist;
                slab.freelist = GetFreePointer(s, obj);
                slab.inuse++;
                if (s.Debug)
                    AllocDebug(s, slab, obj);
                if ((gfp & __GFP_ZERO) != 0)
                    Arch.raw_span(obj, s.object_size).Clear();
                return obj;
            }
            // The CPU slab is exhausted; unfreeze it (it is full) and take a partial one.
            if (slab is not null)
            {
                slab.frozen = false;
                s.CpuSlab[cpu] = null;
            }
            var partial = s.Partial;
            if (partial is not null)
            {
                RemovePartial(s, partial);
                partial.frozen = true;
                s.CpuSlab[cpu] = partial;
                continue;
            }
            var fresh = NewSlab(s, gfp);
            if (fresh is null)
                return default;
            AddPartial(s, fresh); // published; the loop takes it (or another CPU's allocation did meanwhile)
        }
    }

    /// <summary><c>new_slab</c> → <c>allocate_slab</c> + <c>setup_object</c>: may sleep (kernel API call), publishes nothing.</summary>
    private page? NewSlab(SlubCache s, gfp_t gfp)
    {
        if (s.ctor is not null && (gfp & __GFP_ZERO) != 0)
            WARN_ON_ONCE(true); // new_slab: WARN_ON_ONCE(s->ctor && (flags & __GFP_ZERO))
        gfp_t pageGfp = (gfp & ~(__GFP_ZERO | GFP_SLAB_BUG_MASK | __GFP_MOVABLE)) | __GFP_COMP;
        if ((s.flags & SLAB_CACHE_DMA) != 0)
            pageGfp |= __GFP_DMA;
        var page = alloc_pages(pageGfp, s.order);
        if (page is null)
            return null;
        page.flags |= PG_slab;
        page.slab_cache = s;
        page.raw_chunk = s.Mem.ChunkOfPfn(page.pfn);
        page.objects = s.objects_per_slab;
        page.inuse = 0;
        page.frozen = false;
        ulong basePtr = PAGE_OFFSET + (page.pfn << PAGE_SHIFT);
        if ((s.flags & SLAB_POISON) != 0)
            Arch.raw_span(new kptr(basePtr), s.SlabBytes).Fill(POISON_INUSE);   // padding stays POISON_INUSE
        kptr next = default;
        for (int k = page.objects - 1; k >= 0; k--)
        {
            var obj = new kptr(basePtr + (ulong)k * s.size + s.red_left_pad);
            if (s.Debug)
                InitFreeObject(s, obj);
            SetFreePointer(s, obj, next);
            next = obj;
        }
        page.freelist = next;
        if (s.ctor is not null)
        {
            for (int k = 0; k < page.objects; k++)
                s.ctor(new kptr(basePtr + (ulong)k * s.size + s.red_left_pad));
        }
        s.Slabs.Add(page);
        return page;
    }

    private static kptr GetFreePointer(SlubCache s, kptr obj) => new(s.Mem.RawWord(obj.addr + s.offset));

    private static void SetFreePointer(SlubCache s, kptr obj, kptr fp) => s.Mem.RawWord(obj.addr + s.offset) = fp.addr;

    // ---- Free ----

    public void kmem_cache_free(kmem_cache cachep, kptr objp)
    {
        if (objp.addr == 0)
            return;
        var s = AsSlub(cachep);
        var slab = s.Mem.HeadPageOf(objp.addr);
        if (slab is not null && ReferenceEquals(slab.slab_cache, s))
        {
            SlabFree(s, slab, objp); // slab_cache is set exactly while the page is a slab of s
            return;
        }
        if (slab is null || (slab.flags & PG_slab) == 0 || slab.slab_cache is null)
        {
            SlabErr(s, "kmem_cache_free", $"Invalid object pointer 0x{objp.addr:x}: not in a slab");
            return;
        }
        if (!ReferenceEquals(slab.slab_cache, s))
        {
            // cache_from_obj (mm/slab.h): warn, and free into the cache the object came from.
            M.Report(ReportKind.SlabCorruption, $"cache_from_obj: Wrong slab cache. {s.name} but object is from {slab.slab_cache.name}", null, "kmem_cache_free");
            s = (SlubCache)slab.slab_cache;
        }
        SlabFree(s, slab, objp);
    }

    /// <summary>
    /// <c>do_slab_free</c>: the fast path pushes the object onto a CPU-owned (frozen) slab's freelist with
    /// no kernel API call inside (SLUB's <c>this_cpu_cmpxchg</c>), after the checks every free makes here
    /// (a valid object start, not the head of the freelist, the slab not empty); debug caches and slabs
    /// on the lists take <see cref="SlabFreeSlow"/>.
    /// </summary>
    private void SlabFree(SlubCache s, page slab, kptr obj)
    {
        if (slab.frozen && !s.SlowPathOnly && slab.inuse > 0 && slab.freelist != obj && ValidPointer(s, slab, obj))
        {
            s.Mem.RawWordIn(slab.raw_chunk!, obj.addr + s.offset) = slab.freelist.addr;
            slab.freelist = obj;
            slab.inuse--;
            return;
        }
        SlabFreeSlow(s, slab, obj);
    }

    /// <summary><c>__slab_free</c> with <c>free_consistency_checks</c>.</summary>
    private void SlabFreeSlow(SlubCache s, page slab, kptr obj)
    {
        if (!ValidPointer(s, slab, obj))
        {
            SlabErr(s, "kmem_cache_free", $"Invalid object pointer 0x{obj.addr:x}");
            return;
        }
        // set_freepointer: BUG_ON(object == fp) "naive detection of double free"; full walk when debugging.
        if (slab.inuse == 0 || slab.freelist == obj || (s.Debug && OnFreelist(s, slab, obj)))
        {
            SlabErr(s, "kmem_cache_free", $"Object 0x{obj.addr:x} already free (double free)");
            return;
        }
        if (s.Debug)
            FreeDebug(s, obj);
        bool wasFull = slab.freelist.addr == 0;
        SetFreePointer(s, obj, slab.freelist);
        slab.freelist = obj;
        slab.inuse--;
        if (slab.frozen)
            return;
        if (wasFull)
            AddPartial(s, slab);
        if (slab.inuse == 0 && s.NrPartial > s.MinPartial)
        {
            RemovePartial(s, slab);
            DiscardSlab(s, slab);
        }
    }

    private static void AddPartial(SlubCache s, page slab)
    {
        slab.lru_prev = null;
        slab.lru_next = s.Partial;
        if (s.Partial is not null)
            s.Partial.lru_prev = slab;
        s.Partial = slab;
        s.NrPartial++;
    }

    private static void RemovePartial(SlubCache s, page slab)
    {
        if (slab.lru_prev is not null)
            slab.lru_prev.lru_next = slab.lru_next;
        else
            s.Partial = slab.lru_next;
        if (slab.lru_next is not null)
            slab.lru_next.lru_prev = slab.lru_prev;
        slab.lru_next = slab.lru_prev = null;
        s.NrPartial--;
    }

    private static void DiscardSlab(SlubCache s, page slab)
    {
        s.Slabs.Remove(slab);
        slab.flags &= ~PG_slab;
        slab.slab_cache = null;
        slab.raw_chunk = null;
        slab.freelist = default;
        slab.inuse = 0;
        slab.objects = 0;
        __free_pages(slab, s.order);
    }

    /// <summary>Moves every CPU slab back to the lists (<c>flush_all</c> → <c>deactivate_slab</c>).</summary>
    private static void FlushCpuSlabs(SlubCache s)
    {
        for (int cpu = 0; cpu < s.CpuSlab.Length; cpu++)
        {
            var slab = s.CpuSlab[cpu];
            if (slab is null)
                continue;
            s.CpuSlab[cpu] = null;
            slab.frozen = false;
            if (slab.freelist.addr != 0)
                AddPartial(s, slab);
        }
    }

    public int kmem_cache_shrink(kmem_cache cachep)
    {
        var s = AsSlub(cachep);
        FlushCpuSlabs(s);
        var empty = new List<page>();
        for (var p = s.Partial; p is not null; p = p.lru_next)
        {
            if (p.inuse == 0)
                empty.Add(p);
        }
        foreach (var p in empty)
        {
            RemovePartial(s, p);
            DiscardSlab(s, p);
        }
        return s.Slabs.Count == 0 ? 0 : 1;
    }

    public void kmem_cache_destroy(kmem_cache? cachep)
    {
        if (cachep is null)
            return;
        var s = AsSlub(cachep);
        if (s.Destroyed)
        {
            M.Report(ReportKind.KasanDoubleFree, "BUG: KASAN: double-free in kmem_cache_destroy",
                new[] { $"kmem_cache_destroy({s.name}) of a cache that was already destroyed" }, "kmem_cache_destroy");
            return;
        }
        if (--s.refcount > 0)
            return;
        kvfree_rcu_barrier(); // in-flight kfree_rcu()s may include objects of this cache (S-14)
        FlushCpuSlabs(s);
        // __kmem_cache_shutdown → free_partial: empty slabs go back, slabs with objects are listed.
        long live = 0;
        var slabs = new List<page>(s.Slabs);
        foreach (var slab in slabs)
        {
            live += slab.inuse;
            if (slab.inuse == 0)
            {
                if (slab.lru_prev is not null || ReferenceEquals(s.Partial, slab))
                    RemovePartial(s, slab);
                DiscardSlab(s, slab);
            }
        }
        if (live > 0)
        {
            s.refcount = 1; // the cache stays: its objects remain readable
            var m = M;
            m.Report(ReportKind.SlabCorruption, $"BUG {s.name} (Not tainted): Objects remaining in {s.name} on __kmem_cache_shutdown()",
                new[] { string.Create(CultureInfo.InvariantCulture, $"{live} object(s) still allocated") }, "kmem_cache_destroy");
            m.Report(ReportKind.SlabCacheBusy, $"kmem_cache_destroy {s.name}: Slab cache still has objects when called from {StackCapture.FirstUserLocation(1) ?? "?"}",
                null, "kmem_cache_destroy");
            return;
        }
        s.Destroyed = true;
        s.SlowPathOnly = true;
        caches.Remove(s);
    }

    // ---- kmalloc ----

    private static byte[] BuildSizeIndex()
    {
        var t = new byte[24];
        for (int i = 0; i < 24; i++)
        {
            ulong size = (ulong)(i + 1) * 8;
            byte idx = 0;
            while (KmallocSizes[idx] < size)
                idx++;
            t[i] = idx;
        }
        return t;
    }

    /// <summary><c>kmalloc_index</c>: the size class of a request (≤ 8192), as an index into <see cref="KmallocSizes"/>.</summary>
    public static int KmallocIndex(ulong size)
    {
        if (size <= 192)
            return SizeIndex[(size - 1) >> 3];
        int log = 64 - System.Numerics.BitOperations.LeadingZeroCount(size - 1); // ceil(log2(size))
        return log - 1; // 256 (2^8) is index 7 ... 8192 (2^13) index 12
    }

    private SlubCache KmallocCache(ulong size, gfp_t gfp)
    {
        int i = KmallocIndex(size);
        if ((gfp & __GFP_DMA) == 0)
            return kmallocCaches[i]!;
        return kmallocDmaCaches[i] ??= CreateCache($"dma-kmalloc-{SizeName(KmallocSizes[i])}", KmallocSizes[i], 0, SLAB_KMALLOC | SLAB_CACHE_DMA, null);
    }

    public kptr kmalloc(ulong size, gfp_t flags) => Kmalloc(size, flags);

    private kptr Kmalloc(ulong size, gfp_t flags)
    {
        if (size == 0)
            return ZERO_SIZE_PTR;
        if (size > KMALLOC_MAX_CACHE_SIZE)
            return KmallocLarge(size, flags);
        return KmallocTrace(KmallocCache(size, flags), flags, size);
    }

    public kptr kmalloc_trace(kmem_cache s, gfp_t flags, ulong size)
    {
        var cache = AsSlub(s);
        if (size > cache.object_size)
        {
            WARN(true, $"kmalloc_trace({cache.name}, {size}): the request is larger than the cache's objects ({cache.object_size})");
            return default;
        }
        return KmallocTrace(cache, flags, size);
    }

    /// <summary><c>__kmalloc_cache_noprof</c>: an object of a kmalloc cache, its requested size kept and the rest red-zoned when the cache says so.</summary>
    private kptr KmallocTrace(SlubCache s, gfp_t flags, ulong size)
    {
        var obj = SlabAlloc(s, flags);
        if (obj.addr != 0 && s.OrigSizeOffset != 0)
            SetOrigSize(s, obj, size);
        return obj;
    }

    /// <summary>
    /// <c>set_orig_size</c>: records the requested size; with <c>SLAB_RED_ZONE</c>, the bytes from it to
    /// the object size become red zone (<c>SLUB_RED_ACTIVE</c>), checked as "kmalloc Redzone" (S-10).
    /// </summary>
    private static void SetOrigSize(SlubCache s, kptr obj, ulong size)
    {
        Arch.raw_ref<ulong>(obj + s.OrigSizeOffset) = size;
        if ((s.flags & SLAB_RED_ZONE) != 0 && size < s.object_size)
            Arch.raw_span(obj + size, s.object_size - size).Fill(SLUB_RED_ACTIVE);
    }

    /// <summary><c>get_orig_size</c>: the requested size of a kmalloc object, or the object size when the cache does not keep it.</summary>
    private static ulong GetOrigSize(SlubCache s, kptr obj) =>
        s.OrigSizeOffset == 0 ? s.object_size : Arch.raw_ref<ulong>(obj + s.OrigSizeOffset);

    /// <summary><c>__kmalloc_large_node</c>: straight from the page allocator, a compound page of <c>get_order(size)</c>.</summary>
    private static kptr KmallocLarge(ulong size, gfp_t flags)
    {
        int order = get_order(size);
        var page = alloc_pages((flags & ~GFP_SLAB_BUG_MASK) | __GFP_COMP, order);
        return page is null ? default : new kptr(PAGE_OFFSET + (page.pfn << PAGE_SHIFT));
    }

    public kptr kzalloc(ulong size, gfp_t flags) => Kmalloc(size, flags | __GFP_ZERO);

    public kptr kcalloc(ulong n, ulong size, gfp_t flags) => kmalloc_array(n, size, flags | __GFP_ZERO);

    public kptr kmalloc_array(ulong n, ulong size, gfp_t flags)
    {
        if (size != 0 && n > ulong.MaxValue / size)
            return default; // check_mul_overflow
        return Kmalloc(n * size, flags);
    }

    public void kfree(kptr objp) => Kfree(objp);

    private void Kfree(kptr objp)
    {
        if (ZERO_OR_NULL_PTR(objp))
            return;
        ulong addr = objp.addr;
        var head = Memory.HeadPageOf(addr);
        if (head is null)
        {
            M.Report(ReportKind.KasanInvalidFree, "BUG: KASAN: invalid-free in kfree", new[] { $"kfree(0x{addr:x}): not a kmalloc address" }, "kfree");
            return;
        }
        if ((head.flags & PG_slab) != 0)
        {
            SlabFree((SlubCache)head.slab_cache!, head, objp);
            return;
        }
        // free_large_kmalloc
        if (addr != PAGE_OFFSET + (head.pfn << PAGE_SHIFT) || head._refcount <= 0 || (head.flags & PG_buddy) != 0)
        {
            M.Report(ReportKind.KasanInvalidFree, "BUG: KASAN: invalid-free in kfree", new[] { $"kfree(0x{addr:x}): not the start of a kmalloc object" }, "kfree");
            return;
        }
        __free_pages(head, head.compound_order);
    }

    public ulong ksize(kptr objp)
    {
        ulong size = Ksize(objp);
        if (size > 0)
            M.Checks.OnKsize(objp, size);
        return size;
    }

    private static ulong Ksize(kptr objp)
    {
        if (ZERO_OR_NULL_PTR(objp))
            return 0;
        ulong addr = objp.addr;
        if (addr < PAGE_OFFSET || ((addr - PAGE_OFFSET) >> PAGE_SHIFT) >= Arch.max_pfn)
            return 0;
        var page = Arch.mem_map((addr - PAGE_OFFSET) >> PAGE_SHIFT);
        var head = page.compound_head ?? page;
        if ((head.flags & PG_slab) != 0)
            return head.slab_cache!.object_size;
        return PAGE_SIZE << head.compound_order;
    }

    /// <summary>
    /// <c>krealloc</c> / <c>__do_krealloc</c> (mm/slub.c): in place when the new size fits the object. With
    /// __GFP_ZERO the spare memory is zeroed: from the requested size (<c>orig_size</c>) up to the new size
    /// when the object grows within itself, else from the new size to the end of the object. A cache that
    /// keeps <c>orig_size</c> records the new size, and with <c>SLAB_RED_ZONE</c> red-zones the rest
    /// (slub_kunit <c>test_krealloc_redzone_zeroing</c>). A move copies the requested size (or the whole object).
    /// </summary>
    public kptr krealloc(kptr p, ulong new_size, gfp_t flags)
    {
        if (ZERO_OR_NULL_PTR(p))
            return Kmalloc(new_size, flags);
        if (new_size == 0)
        {
            Kfree(p);
            return ZERO_SIZE_PTR;
        }
        var head = Memory.HeadPageOf(p.addr);
        var s = head is not null && (head.flags & PG_slab) != 0 ? (SlubCache)head.slab_cache! : null;
        ulong ks = Ksize(p);
        ulong orig = s is null ? 0 : GetOrigSize(s, p);
        if (new_size <= ks)
        {
            if ((flags & __GFP_ZERO) != 0)
            {
                if (orig != 0 && orig < new_size)
                    Arch.raw_span(p + orig, new_size - orig).Clear();
                else
                    Arch.raw_span(p + new_size, ks - new_size).Clear();
            }
            if (s is not null && s.OrigSizeOffset != 0)
                SetOrigSize(s, p, new_size);
            return p;
        }
        var n = Kmalloc(new_size, flags);
        if (n.addr == 0)
            return default;
        ulong keep = orig != 0 ? orig : ks;
        Arch.raw_span(p, keep).CopyTo(Arch.raw_span(n, keep));
        Kfree(p);
        return n;
    }

    // ---- vmalloc ----

    public kptr vmalloc(ulong size) => Vmalloc(size, zero: false);

    public kptr vzalloc(ulong size) => Vmalloc(size, zero: true);

    /// <summary><c>__vmalloc_node_range</c>: a virtual range with a guard page, backed page by page, then <c>vmap</c>.</summary>
    private kptr Vmalloc(ulong size, bool zero)
    {
        if (size == 0 || size > (Arch.max_pfn << PAGE_SHIFT))
            return default;
        ulong npages = PAGE_ALIGN(size) >> PAGE_SHIFT;
        var pages = new page[npages];
        for (ulong i = 0; i < npages; i++)
        {
            var pg = alloc_page(GFP_KERNEL | __GFP_HIGHMEM | __GFP_NOWARN);
            if (pg is null)
            {
                for (ulong j = 0; j < i; j++)
                    __free_page(pages[j]);
                return default;
            }
            pages[i] = pg;
        }
        ulong addr = AllocVmArea((npages + 1) << PAGE_SHIFT); // + guard page
        Arch.vmap(addr, pages);
        if (zero)
            Arch.raw_span(new kptr(addr), npages << PAGE_SHIFT).Clear();
        return new kptr(addr);
    }

    private ulong AllocVmArea(ulong size)
    {
        if (!vmInit)
        {
            vmFree[VMALLOC_START] = VMALLOC_END + 1 - VMALLOC_START;
            vmInit = true;
        }
        foreach (var (start, len) in vmFree)
        {
            if (len < size)
                continue;
            vmFree.Remove(start);
            if (len > size)
                vmFree[start + size] = len - size;
            return start;
        }
        throw new OutOfMemoryException("vmalloc area exhausted");
    }

    private void FreeVmArea(ulong start, ulong size)
    {
        // Merge with the free neighbours.
        ulong? prevStart = null;
        foreach (var (s, l) in vmFree)
        {
            if (s >= start)
                break;
            prevStart = s;
        }
        if (prevStart is ulong ps && ps + vmFree[ps] == start)
        {
            start = ps;
            size += vmFree[ps];
            vmFree.Remove(ps);
        }
        if (vmFree.TryGetValue(start + size, out var nextLen))
        {
            vmFree.Remove(start + size);
            size += nextLen;
        }
        vmFree[start] = size;
    }

    public void vfree(kptr addr) => Vfree(addr);

    private void Vfree(kptr addr)
    {
        if (addr.addr == 0)
            return;
        var pages = (addr.addr & (PAGE_SIZE - 1)) == 0 ? Arch.vunmap(addr.addr) : null;
        if (pages is null)
        {
            WARN(true, $"Trying to vfree() nonexistent vm area (0x{addr.addr:x})");
            return;
        }
        foreach (var pg in pages)
            __free_page(pg);
        FreeVmArea(addr.addr, ((ulong)pages.Length + 1) << PAGE_SHIFT);
    }

    /// <summary><c>kvmalloc_node</c>: kmalloc first (without warning or retrying for big sizes), vmalloc if the flags allow sleeping.</summary>
    public kptr kvmalloc(ulong size, gfp_t flags)
    {
        gfp_t kmallocFlags = flags;
        if (size > PAGE_SIZE)
            kmallocFlags = (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL;
        var p = size > KMALLOC_MAX_SIZE ? default : Kmalloc(size, kmallocFlags);
        if (p.addr != 0 || size <= PAGE_SIZE || !gfpflags_allow_blocking(flags))
            return p;
        var v = Vmalloc(size, zero: false);
        if (v.addr != 0 && (flags & __GFP_ZERO) != 0)
            Arch.raw_span(v, size).Clear();
        return v;
    }

    public void kvfree(kptr addr)
    {
        if (addr.addr >= VMALLOC_START && addr.addr <= VMALLOC_END)
            Vfree(addr);
        else
            Kfree(addr);
    }

    // ---- Debugging: SLAB_POISON, SLAB_RED_ZONE, validation (mm/slub.c) ----

    private static void InitFreeObject(SlubCache s, kptr obj)
    {
        if ((s.flags & SLAB_RED_ZONE) != 0)
        {
            Arch.raw_span(obj - s.red_left_pad, s.red_left_pad).Fill(SLUB_RED_INACTIVE);
            Arch.raw_span(obj + s.object_size, s.Inuse - s.object_size).Fill(SLUB_RED_INACTIVE);
        }
        if (PoisonObjects(s))
            PoisonFree(s, obj);
    }

    private static bool PoisonObjects(SlubCache s) => (s.flags & SLAB_POISON) != 0 && s.ctor is null && (s.flags & SLAB_TYPESAFE_BY_RCU) == 0;

    private static void PoisonFree(SlubCache s, kptr obj)
    {
        var bytes = Arch.raw_span(obj, s.object_size);
        bytes.Fill(POISON_FREE);
        bytes[^1] = POISON_END;
    }

    private void AllocDebug(SlubCache s, page slab, kptr obj)
    {
        CheckObject(s, obj, free: true, out _);
        if ((s.flags & SLAB_RED_ZONE) != 0)
        {
            Arch.raw_span(obj - s.red_left_pad, s.red_left_pad).Fill(SLUB_RED_ACTIVE);
            Arch.raw_span(obj + s.object_size, s.Inuse - s.object_size).Fill(SLUB_RED_ACTIVE);
        }
        if (s.OrigSizeOffset != 0)
            Arch.raw_ref<ulong>(obj + s.OrigSizeOffset) = s.object_size; // kmem_cache_alloc: the whole object was asked for
        _ = slab;
    }

    private void FreeDebug(SlubCache s, kptr obj)
    {
        CheckObject(s, obj, free: false, out _);
        if ((s.flags & SLAB_RED_ZONE) != 0)
        {
            Arch.raw_span(obj - s.red_left_pad, s.red_left_pad).Fill(SLUB_RED_INACTIVE);
            Arch.raw_span(obj + s.object_size, s.Inuse - s.object_size).Fill(SLUB_RED_INACTIVE);
        }
        if (PoisonObjects(s))
            PoisonFree(s, obj);
    }

    /// <summary><c>check_object</c>: red zones and poison; each damage is reported and repaired. Returns the errors found.</summary>
    private int CheckObject(SlubCache s, kptr obj, bool free, out bool damaged)
    {
        int errors = 0;
        byte red = free ? SLUB_RED_INACTIVE : SLUB_RED_ACTIVE;
        if ((s.flags & SLAB_RED_ZONE) != 0)
        {
            errors += CheckBytes(s, obj, "Left Redzone", obj - s.red_left_pad, s.red_left_pad, red);
            errors += CheckBytes(s, obj, "Redzone", obj + s.object_size, s.Inuse - s.object_size, red);
            if (!free && s.OrigSizeOffset != 0)
            {
                ulong orig = GetOrigSize(s, obj);
                if (orig < s.object_size)
                    errors += CheckBytes(s, obj, "kmalloc Redzone", obj + orig, s.object_size - orig, SLUB_RED_ACTIVE);
            }
        }
        if (free && PoisonObjects(s))
        {
            errors += CheckBytes(s, obj, "Poison", obj, s.object_size - 1, POISON_FREE);
            errors += CheckBytes(s, obj, "End Poison", obj + (s.object_size - 1), 1, POISON_END);
        }
        damaged = errors > 0;
        return errors;
    }

    /// <summary><c>check_bytes_and_report</c>: "%s overwritten", then the bytes are restored.</summary>
    private int CheckBytes(SlubCache s, kptr obj, string what, kptr start, ulong len, byte value)
    {
        if (len == 0)
            return 0;
        var bytes = Arch.raw_span(start, len);
        int bad = bytes.IndexOfAnyExcept(value);
        if (bad < 0)
            return 0;
        M.Report(ReportKind.SlabCorruption, $"BUG {s.name} (Not tainted): {what} overwritten",
            new[] { string.Create(CultureInfo.InvariantCulture, $"0x{start.addr + (ulong)bad:x}-0x{start.addr + len - 1:x} @offset={start.addr + (ulong)bad - obj.addr + s.red_left_pad}. First byte 0x{bytes[bad]:x} instead of 0x{value:x}"),
                    $"Object 0x{obj.addr:x}" }, "check_object");
        bytes.Fill(value);
        return 1;
    }

    /// <summary><c>check_valid_pointer</c>: the start of object k of the slab, 0 &lt;= k &lt; objects (S-4), found by <c>obj_to_index</c>'s reciprocal division.</summary>
    private static bool ValidPointer(SlubCache s, page slab, kptr p)
    {
        ulong basePtr = PAGE_OFFSET + (slab.pfn << PAGE_SHIFT);
        ulong off = p.addr - basePtr - s.red_left_pad;
        if (p.addr < basePtr + s.red_left_pad || off >= (ulong)slab.objects * s.size)
            return false;
        ulong index = (ulong)(((UInt128)s.SizeReciprocal * off) >> 64); // exact for off < 2^32 (Lemire's fastdiv): slabs are at most 4 MiB
        return index * s.size == off;
    }

    private static bool OnFreelist(SlubCache s, page slab, kptr search)
    {
        var fp = slab.freelist;
        for (int nr = 0; fp.addr != 0 && nr <= slab.objects; nr++)
        {
            if (fp == search)
                return true;
            if (!ValidPointer(s, slab, fp))
                return false;
            fp = GetFreePointer(s, fp);
        }
        return false;
    }

    private void SlabErr(SlubCache s, string fn, string what) =>
        M.Report(ReportKind.SlabCorruption, $"BUG {s.name} (Not tainted): {what}", null, fn);

    private void SlabFix(SlubCache s, string what) =>
        M.Log.Append(3, $"FIX {s.name}: {what}");

    /// <summary>
    /// <c>validate_slab_cache</c>: walks every slab's freelist (<c>on_freelist</c>) and checks every
    /// object (<c>check_object</c>), reporting and repairing each problem. Returns the number of errors,
    /// counted as <c>lib/tests/slub_kunit.c</c> expects: each problem found, plus one for the fix of each
    /// damaged slab.
    /// </summary>
    public int validate_slab_cache(kmem_cache cachep)
    {
        var s = AsSlub(cachep);
        int errors = 0;
        foreach (var slab in s.Slabs)
        {
            int found = ValidateSlab(s, slab);
            if (found > 0)
            {
                SlabFix(s, "fixing broken cache");
                errors += found + 1;
            }
        }
        return errors;
    }

    private int ValidateSlab(SlubCache s, page slab)
    {
        int errors = 0;
        var free = new HashSet<ulong>();
        var fp = slab.freelist;
        kptr prev = default;
        int nr = 0;
        while (fp.addr != 0 && nr <= slab.objects)
        {
            if (!ValidPointer(s, slab, fp) || free.Contains(fp.addr))
            {
                if (prev.addr != 0)
                {
                    SlabErr(s, "validate_slab", $"Freechain corrupt (object 0x{prev.addr:x})");
                    SetFreePointer(s, prev, default);
                }
                else
                {
                    SlabErr(s, "validate_slab", "Freepointer corrupt");
                    slab.freelist = default;
                    free.Clear();
                    nr = 0;
                }
                errors++;
                break;
            }
            free.Add(fp.addr);
            prev = fp;
            fp = GetFreePointer(s, fp);
            nr++;
        }
        if (slab.inuse != slab.objects - nr)
        {
            SlabErr(s, "validate_slab", string.Create(CultureInfo.InvariantCulture, $"Wrong object count. Counter is {slab.inuse} but counted were {slab.objects - nr}"));
            slab.inuse = slab.objects - nr;
            errors++;
        }
        if (s.Debug)
        {
            ulong basePtr = PAGE_OFFSET + (slab.pfn << PAGE_SHIFT);
            for (int k = 0; k < slab.objects; k++)
            {
                var obj = new kptr(basePtr + (ulong)k * s.size + s.red_left_pad);
                errors += CheckObject(s, obj, free.Contains(obj.addr), out _);
            }
        }
        return errors;
    }

    /// <summary>The offset of a cache's free pointer inside a free object (<c>s-&gt;offset</c>).</summary>
    public static ulong FreePointerOffset(kmem_cache s) => s.offset;

    /// <summary>Slab pages a cache holds (for tests: S-12 and shrink).</summary>
    public static int SlabCount(kmem_cache s) => ((SlubCache)s).Slabs.Count;

    /// <summary>The kmalloc cache of a size class (for tests).</summary>
    public kmem_cache KmallocCacheFor(ulong size) => KmallocCache(size, 0);
}
