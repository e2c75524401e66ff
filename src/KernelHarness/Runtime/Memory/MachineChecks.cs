using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using KernelHarness.Annotations;

namespace KernelHarness.Runtime;

/// <summary>
/// The run-time contract checks the generated facade makes around allocators, independent of which
/// implementation is bound: KASAN-style shadow memory (which bytes may be touched), the allocation
/// records behind its reports (allocated and freed by whom), double and invalid frees (reported and
/// not passed on, as KASAN does), contract checks on what an allocator returns (alignment, zeroing,
/// overlap with live objects, zone), and kmemleak-style leak scans.
/// </summary>
public sealed class MachineChecks
{
    // Shadow values, as mm/kasan/kasan.h: 0 = the 8-byte granule is accessible, 1..7 = that many
    // leading bytes are, negative-looking codes say why not.
    internal const byte KASAN_PAGE_FREE = 0xFF;
    internal const byte KASAN_PAGE_REDZONE = 0xFE;
    internal const byte KASAN_SLAB_REDZONE = 0xFC;
    internal const byte KASAN_SLAB_FREE = 0xFB;
    internal const byte KASAN_VMALLOC_INVALID = 0xF8;
    private const int Granule = 8;
    private const int GranulesPerPage = (int)(Kernel.PAGE_SIZE / Granule);
    private const int QuarantineSize = 4096;

    private readonly Machine machine;
    private readonly Dictionary<ulong, byte[]> shadow = new();
    private readonly Dictionary<ulong, Allocation> live = new();
    private readonly SortedSet<ulong> liveStarts = new();              // ordered: floor lookups in O(log n)
    private readonly Dictionary<ulong, Allocation> quarantine = new();
    private readonly Queue<Allocation> quarantineOrder = new();
    private readonly Dictionary<ulong, PageBlock> pageBlocks = new(); // by head pfn
    private readonly SortedSet<ulong> blockHeads = new();              // the keys of pageBlocks, ordered

    internal MachineChecks(Machine machine)
    {
        this.machine = machine;
        Enabled = machine.Config.Kasan;
    }

    /// <summary>KASAN checks on (set from <see cref="MachineConfig.Kasan"/>; tests may switch them off for speed).</summary>
    public bool Enabled { get; set; }

    /// <summary>One object handed out by an allocator, as KASAN's alloc/free metadata.</summary>
    public sealed class Allocation
    {
        internal Allocation(ulong start, ulong size, AllocFamily family, string function, kmem_cache? cache, string allocatedBy, IReadOnlyList<string> allocStack)
        {
            Start = start;
            Size = size;
            Family = family;
            Function = function;
            Cache = cache;
            AllocatedBy = allocatedBy;
            AllocStack = allocStack;
        }

        public ulong Start { get; }
        public ulong Size { get; internal set; }
        public AllocFamily Family { get; }
        public string Function { get; }
        public kmem_cache? Cache { get; }
        public string AllocatedBy { get; }
        public IReadOnlyList<string> AllocStack { get; }
        public string? FreedBy { get; internal set; }
        public IReadOnlyList<string>? FreeStack { get; internal set; }
        public string? FreeFunction { get; internal set; }
    }

    private sealed record PageBlock(ulong Pfn, int Order, bool Slab, bool RefDropped = false);

    /// <summary>
    /// The "simulated work" of memory-management code: calls of <see cref="Arch.mem_map"/>,
    /// <see cref="Arch.raw_span"/> and <see cref="Arch.raw_ref{T}"/> (each a memory access a real allocator
    /// pays for). Performance tests add it to the kernel API calls for a deterministic cost.
    /// </summary>
    public long ArchMemoryOps => machine.Memory.ArchOps;

    /// <summary>Objects currently allocated (kmalloc, kmem_cache, vmalloc), by address.</summary>
    public IReadOnlyCollection<Allocation> LiveObjects => live.Values;

    // ---- Facade hooks (called by the generated Kernel facade) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnAlloc(KernelFunctionId id, AllocFamily family, kptr result, ulong size, gfp_t gfp, kmem_cache? cache, bool zeroes)
    {
        if (result.addr <= 16)
            return;
        // Production configuration, a kmem_cache object that need not be zero: only the alignment contract.
        if (!Enabled && family == AllocFamily.KmemCache && cache is not null && !zeroes && (gfp & gfp_t.__GFP_ZERO) == 0
            && (result.addr & (Math.Max(cache.align, 1) - 1)) == 0)
            return;
        OnAllocSlow(id, family, result, size, gfp, cache, zeroes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OnAllocSlow(KernelFunctionId id, AllocFamily family, kptr result, ulong size, gfp_t gfp, kmem_cache? cache, bool zeroes)
    {
        if (cache is not null && size == 0)
            size = cache.object_size;
        var fn = KernelFunctions.All[(int)id].Name;
        CheckAllocContract(fn, family, result, size, gfp, zeroes, cache);
        if (!Enabled)
            return;
        var site = Site(out var stack);
        AddLive(new Allocation(result.addr, size, family, fn, cache, site, stack));
        MarkObjectAllocated(result.addr, size, family, cache);
    }

    public bool OnReallocating(KernelFunctionId id, kptr p)
    {
        if (p.addr <= 16 || !Enabled)
            return true;
        if (live.ContainsKey(p.addr))
            return true;
        var fn = KernelFunctions.All[(int)id].Name;
        if (quarantine.TryGetValue(p.addr, out var freed))
        {
            // krealloc_uaf: krealloc reads the freed object (ksize) before anything else.
            var details = new List<string> { string.Create(CultureInfo.InvariantCulture, $"Read of size 1 at addr {p.addr:x16} by task {machine.CurrentSim.Comm}/{machine.CurrentSim.Pid}") };
            AddHistory(details, freed);
            machine.Report(ReportKind.KasanUseAfterFree, $"BUG: KASAN: slab-use-after-free in {fn}", details, fn);
            return false;
        }
        return ReportBadFree(fn, p, AllocFamily.Kmalloc);
    }

    public void OnRealloc(KernelFunctionId id, kptr old, kptr result, ulong size, gfp_t gfp)
    {
        if (!Enabled)
        {
            if (result.addr > 16)
                CheckAllocContract(KernelFunctions.All[(int)id].Name, AllocFamily.Kmalloc, result, size, gfp & ~gfp_t.__GFP_ZERO, false, null);
            return;
        }
        if (old.addr > 16 && (result.addr > 16 || size == 0) && live.TryGetValue(old.addr, out var previous))
        {
            if (result.addr == old.addr)
            {
                // Resized in place: only the new size is accessible (krealloc_less_oob / krealloc_more_oob).
                ulong oldSize = previous.Size;
                previous.Size = size;
                ulong end = Math.Min(ALIGNUp(old.addr + Math.Max(oldSize, size), Granule), NextLiveStart(old.addr));
                Poison(old.addr, end - old.addr, KASAN_SLAB_REDZONE, fromExisting: true);
                Unpoison(old.addr, size);
                RepoisonTailToEndOfGranules(old.addr, size);
                return;
            }
            Retire(previous, KernelFunctions.All[(int)id].Name);
        }
        if (result.addr > 16)
            OnAlloc(id, AllocFamily.Kmalloc, result, size, gfp & ~gfp_t.__GFP_ZERO, null, false); // krealloc copies the old bytes first
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool OnFree(KernelFunctionId id, AllocFamily family, kptr p, kmem_cache? cache)
    {
        if (p.addr <= 16 || !Enabled)
            return true; // kfree(NULL) and kfree(ZERO_SIZE_PTR) are no-ops; the implementation decides
        return OnFreeSlow(id, family, p, cache);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool OnFreeSlow(KernelFunctionId id, AllocFamily family, kptr p, kmem_cache? cache)
    {
        var fn = KernelFunctions.All[(int)id].Name;
        if (!live.TryGetValue(p.addr, out var a))
            return ReportBadFree(fn, p, family);
        if ((a.Family & family) == 0)
        {
            machine.Report(ReportKind.KasanInvalidFree,
                $"BUG: KASAN: invalid-free in {fn}+0x0/0x0",
                new[]
                {
                    $"Freeing 0x{p.addr:x}, allocated by {a.Function}(), with {fn}(): memory must go back to the allocator it came from.",
                    $"Allocated by task {a.AllocatedBy}",
                }, fn);
            return false;
        }
        if (cache is not null && a.Cache is not null && !ReferenceEquals(cache, a.Cache))
        {
            // mm/slab.h cache_from_obj: warns and frees into the right cache.
            machine.Report(ReportKind.SlabCorruption,
                $"cache_from_obj: Wrong slab cache. {cache.name} but object is from {a.Cache.name}",
                new[] { $"kmem_cache_free(cache, 0x{p.addr:x}): the object belongs to '{a.Cache.name}'." }, fn);
            return false;
        }
        Retire(a, fn);
        return true;
    }

    public void OnAllocPages(KernelFunctionId id, page? result, int order, gfp_t gfp)
    {
        if (result is null)
            return;
        var fn = KernelFunctions.All[(int)id].Name;
        CheckPagesContract(fn, result.pfn, order, gfp);
        if (!Enabled)
            return;
        RecordPageBlock(result.pfn, order);
    }

    public void OnAllocPagesAddr(KernelFunctionId id, ulong result, int order, gfp_t gfp)
    {
        if (result == 0)
            return;
        var fn = KernelFunctions.All[(int)id].Name;
        if (!machine.Memory.IsDirectMap(result) || (result & (Kernel.PAGE_SIZE - 1)) != 0)
        {
            machine.ReportContract($"{fn}() returned 0x{result:x}, which is not a page-aligned direct-map address");
            return;
        }
        ulong pfn = (result - Kernel.PAGE_OFFSET) >> Kernel.PAGE_SHIFT;
        CheckPagesContract(fn, pfn, order, gfp);
        if (Enabled)
            RecordPageBlock(pfn, order);
    }

    public bool OnFreePages(KernelFunctionId id, page? page, int order)
    {
        if (page is null || !Enabled)
            return true;
        return FreePageBlock(KernelFunctions.All[(int)id].Name, page.pfn, order, page);
    }

    public bool OnFreePagesAddr(KernelFunctionId id, ulong addr, int order)
    {
        if (addr == 0 || !Enabled)
            return true;
        var fn = KernelFunctions.All[(int)id].Name;
        if (!machine.Memory.IsDirectMap(addr))
        {
            machine.Report(ReportKind.BadPageState, $"BUG: Bad page state: {fn}(0x{addr:x}) is not a direct-map address", null, fn);
            return false;
        }
        ulong pfn = (addr - Kernel.PAGE_OFFSET) >> Kernel.PAGE_SHIFT;
        return FreePageBlock(fn, pfn, order, machine.Memory.PfnToPage(pfn));
    }

    // ---- Accessor checks (called by the memory-access subsystem) ----

    /// <summary>
    /// <c>kasan_check_range</c>: true when [addr, addr+len) may be touched; otherwise reports
    /// use-after-free, out-of-bounds or a wild access and returns false.
    /// </summary>
    public bool CheckAccess(ulong addr, ulong len, bool write, string function)
    {
        if (len == 0)
            return true;
        if (addr + len < addr)
        {
            ReportBadAccess(ReportKind.KasanOutOfBounds, "out-of-bounds", addr, len, write, function, null);
            return false;
        }
        if (addr < Kernel.PAGE_SIZE)
        {
            ReportBadAccess(ReportKind.KasanWildAccess, addr <= 16 && addr != 0 ? "null-ptr-deref (ZERO_SIZE_PTR)" : "null-ptr-deref", addr, len, write, function, null);
            return false;
        }
        if (!Enabled)
            return true;
        for (ulong a = addr; a < addr + len;)
        {
            byte s = ShadowAt(a);
            ulong offsetInGranule = a & (Granule - 1);
            if (s != 0 && (s >= Granule || offsetInGranule >= s))
            {
                ReportPoisoned(a, addr, len, write, function, s);
                return false;
            }
            ulong next = (a | (Granule - 1)) + 1;
            if (s != 0 && next > addr + len && addr + len - (a & ~(ulong)(Granule - 1)) > s)
            {
                ReportPoisoned(a + (s - offsetInGranule), addr, len, write, function, s);
                return false;
            }
            a = next;
        }
        return true;
    }

    /// <summary>After <c>ksize()</c>, the whole bucket is accessible (KASAN <c>ksize_unpoisons_memory</c>).</summary>
    public void OnKsize(kptr p, ulong bucket)
    {
        if (!Enabled || !live.TryGetValue(p.addr, out var a) || bucket <= a.Size)
            return;
        a.Size = bucket;
        Unpoison(p.addr, bucket);
    }

    // ---- kmemleak ----

    /// <summary>
    /// kmemleak's scan: every live object (kmalloc, kmem_cache, vmalloc) not reachable from
    /// <paramref name="roots"/> — directly, or through pointers stored in reachable objects — is
    /// reported as "unreferenced object". Returns the leaked objects.
    /// </summary>
    public IReadOnlyList<Allocation> ScanForLeaks(IEnumerable<kptr> roots, Func<Allocation, bool>? ignore = null)
    {
        var reachable = new HashSet<ulong>();
        var work = new Stack<Allocation>();
        // Objects waiting in kfree_rcu are referenced by RCU's callback list, as in Linux.
        var pendingRcu = machine.KfreeRcuQueue?.Entries.Select(e => e.P) ?? Enumerable.Empty<kptr>();
        foreach (var r in roots.Concat(pendingRcu))
        {
            var a = FindLive(r.addr);
            if (a is not null && reachable.Add(a.Start))
                work.Push(a);
        }
        while (work.Count > 0)
        {
            var a = work.Pop();
            if (a.Size < 8 || !machine.Memory.TryTranslate(a.Start, a.Size, out var bytes))
                continue;
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes);
            foreach (var w in words)
            {
                var target = FindLive(w);
                if (target is not null && reachable.Add(target.Start))
                    work.Push(target);
            }
        }
        var leaks = new List<Allocation>();
        foreach (var a in live.Values)
        {
            if (reachable.Contains(a.Start) || (ignore?.Invoke(a) ?? false))
                continue;
            leaks.Add(a);
        }
        leaks.Sort((x, y) => x.Start.CompareTo(y.Start));
        foreach (var a in leaks)
        {
            var details = new List<string>
            {
                string.Create(CultureInfo.InvariantCulture, $"  comm \"{Comm(a.AllocatedBy)}\", pid {Pid(a.AllocatedBy)}, jiffies {machine.Jiffies}"),
                "  backtrace:",
            };
            foreach (var f in a.AllocStack)
                details.Add("    " + f);
            machine.AddReport(new KernelReport
            {
                Kind = ReportKind.Kmemleak,
                Title = string.Create(CultureInfo.InvariantCulture, $"unreferenced object 0x{a.Start:x} (size {a.Size}):"),
                Details = details,
                Jiffies = machine.Jiffies,
                Location = StackCapture.FirstUserLocation(a.AllocStack),
                CallTrace = a.AllocStack,
                Function = a.Function,
            });
        }
        return leaks;
    }

    // AllocatedBy is "pid:comm".
    private static string Pid(string allocatedBy) => allocatedBy.Split(':', 2)[0];

    private static string Comm(string allocatedBy) => allocatedBy.Split(':', 2) is { Length: 2 } parts ? parts[1] : allocatedBy;

    /// <summary>The live object containing <paramref name="addr"/>, if any (O(log n)).</summary>
    public Allocation? FindLive(ulong addr)
    {
        if (live.TryGetValue(addr, out var exact))
            return exact;
        var a = Floor(addr);
        return a is not null && addr < a.Start + Math.Max(a.Size, 1) ? a : null;
    }

    /// <summary>The live object with the greatest start at or below <paramref name="addr"/>.</summary>
    private Allocation? Floor(ulong addr)
    {
        if (liveStarts.Count == 0 || liveStarts.Min > addr)
            return null;
        ulong start = liveStarts.GetViewBetween(liveStarts.Min, addr).Max;
        return live[start];
    }

    /// <summary>The start of the first live object above <paramref name="addr"/>, or <see cref="ulong.MaxValue"/>.</summary>
    private ulong NextLiveStart(ulong addr)
    {
        if (liveStarts.Count == 0 || liveStarts.Max <= addr)
            return ulong.MaxValue;
        return liveStarts.GetViewBetween(addr + 1, liveStarts.Max).Min;
    }

    private void AddLive(Allocation a)
    {
        live[a.Start] = a;
        liveStarts.Add(a.Start);
        if (quarantine.TryGetValue(a.Start, out var q) && q.Start == a.Start)
            quarantine.Remove(a.Start); // the address is an object again: a free of it is no longer a double free
    }

    private void RemoveLive(Allocation a)
    {
        live.Remove(a.Start);
        liveStarts.Remove(a.Start);
    }

    /// <summary>Recorded page blocks whose head lies in [lo, hi].</summary>
    private List<PageBlock> BlocksBetween(ulong lo, ulong hi)
    {
        var list = new List<PageBlock>();
        if (blockHeads.Count == 0 || lo > hi || blockHeads.Min > hi || blockHeads.Max < lo)
            return list;
        foreach (var head in blockHeads.GetViewBetween(Math.Max(lo, blockHeads.Min), Math.Min(hi, blockHeads.Max)))
            list.Add(pageBlocks[head]);
        return list;
    }

    private List<PageBlock> BlocksOverlapping(ulong pfn, int order)
    {
        ulong span = 1UL << Kernel.MAX_PAGE_ORDER;
        var result = new List<PageBlock>();
        foreach (var b in BlocksBetween(pfn >= span ? pfn - span + 1 : 0, pfn + (1UL << order) - 1))
        {
            if (pfn < b.Pfn + (1UL << b.Order) && b.Pfn < pfn + (1UL << order))
                result.Add(b);
        }
        return result;
    }

    // ---- Internals ----

    private string Site(out IReadOnlyList<string> stack)
    {
        stack = StackCapture.Capture(2);
        var t = machine.CurrentSim;
        return $"{t.Pid}:{t.Comm}";
    }

    private void CheckAllocContract(string fn, AllocFamily family, kptr result, ulong size, gfp_t gfp, bool zeroes, kmem_cache? cache)
    {
        ulong minAlign = family == AllocFamily.Kmalloc ? Kernel.ARCH_KMALLOC_MINALIGN : 1;
        if (family == AllocFamily.Kmalloc && size > 0 && size <= Kernel.PAGE_SIZE && (size & (size - 1)) == 0)
            minAlign = size; // power-of-two kmalloc sizes are naturally aligned (commit 59bb47985c1d)
        if (cache is not null && cache.align > minAlign)
            minAlign = cache.align;
        if (minAlign > 1 && (result.addr & (minAlign - 1)) != 0)
            machine.ReportContract($"{fn}() returned 0x{result.addr:x}, not aligned to {minAlign} bytes");
        if (Enabled)
        {
            var a = Floor(result.addr + Math.Max(size, 1) - 1);
            if (a is not null && result.addr < a.Start + Math.Max(a.Size, 1))
                machine.ReportContract($"{fn}() returned [0x{result.addr:x}, +{size}) which overlaps live object [0x{a.Start:x}, +{a.Size}) from {a.Function}()");
        }
        if ((zeroes || (gfp & gfp_t.__GFP_ZERO) != 0) && size > 0 && machine.Memory.TryTranslate(result.addr, size, out var bytes)
            && bytes.IndexOfAnyExcept((byte)0) >= 0)
        {
            machine.ReportContract($"{fn}() with __GFP_ZERO returned memory that is not zeroed (0x{result.addr:x}, {size} bytes)");
        }
    }

    private void CheckPagesContract(string fn, ulong pfn, int order, gfp_t gfp)
    {
        if (order >= 0 && order <= Kernel.MAX_PAGE_ORDER && (pfn & ((1UL << order) - 1)) != 0)
            machine.ReportContract($"{fn}(order {order}) returned pfn 0x{pfn:x}, not aligned to its order");
        int zone = Kernel.gfp_zone(gfp);
        if (zone == (int)zone_type.ZONE_DMA && machine.Memory.ZoneOf(pfn) != zone_type.ZONE_DMA)
            machine.ReportContract($"{fn}(GFP_DMA) returned pfn 0x{pfn:x} outside ZONE_DMA");
        if (zone >= 0 && zone < (int)zone_type.ZONE_HIGHMEM && machine.Memory.ZoneOf(pfn) > (zone_type)zone && machine.Memory.ZoneOf(pfn) != zone_type.ZONE_MOVABLE)
            machine.ReportContract($"{fn}() returned pfn 0x{pfn:x} from {machine.Memory.ZoneOf(pfn)}, above the zone its gfp allows");
        if (Enabled && order >= 0 && order <= Kernel.MAX_PAGE_ORDER)
        {
            foreach (var b in BlocksOverlapping(pfn, order))
            {
                if (b.RefDropped || machine.Memory.PfnToPage(b.Pfn)._refcount <= 0)
                    continue; // freed (or to be freed) through put_page behind the facade's back: stale
                machine.ReportContract($"{fn}() returned pfn 0x{pfn:x} (order {order}) overlapping a block still in use at pfn 0x{b.Pfn:x} (order {b.Order})");
                break;
            }
        }
        if ((gfp & gfp_t.__GFP_ZERO) != 0 && machine.Memory.TryTranslate(Kernel.PAGE_OFFSET + (pfn << Kernel.PAGE_SHIFT), Kernel.PAGE_SIZE << order, out var bytes)
            && bytes.IndexOfAnyExcept((byte)0) >= 0)
        {
            machine.ReportContract($"{fn}(__GFP_ZERO) returned pages that are not zeroed (pfn 0x{pfn:x})");
        }
    }

    private void RecordPageBlock(ulong pfn, int order)
    {
        if (order < 0 || order > Kernel.MAX_PAGE_ORDER)
            return;
        foreach (var b in BlocksOverlapping(pfn, order))
        {
            pageBlocks.Remove(b.Pfn);
            blockHeads.Remove(b.Pfn);
        }
        pageBlocks[pfn] = new PageBlock(pfn, order, Slab: false);
        blockHeads.Add(pfn);
        Unpoison(Kernel.PAGE_OFFSET + (pfn << Kernel.PAGE_SHIFT), Kernel.PAGE_SIZE << order);
    }

    private bool FreePageBlock(string fn, ulong pfn, int order, page page)
    {
        if (!pageBlocks.TryGetValue(pfn, out var block))
        {
            machine.Report(ReportKind.BadPageState,
                string.Create(CultureInfo.InvariantCulture, $"BUG: Bad page state in process {machine.CurrentSim.Comm}  pfn:{pfn:x5}"),
                new[] { $"page:{page} {fn}(order {order}) of a page that is not an allocated block head: already free (double free) or never allocated" }, fn);
            return false;
        }
        if (block.Order != order)
        {
            machine.Report(ReportKind.BadPageState,
                string.Create(CultureInfo.InvariantCulture, $"BUG: Bad page state in process {machine.CurrentSim.Comm}  pfn:{pfn:x5}"),
                new[] { $"page:{page} freed with order {order} but allocated with order {block.Order}" }, fn);
            return false;
        }
        if (page._refcount > 1)
        {
            // Only a reference is dropped. A non-compound block's tail pages are freed now
            // (__free_pages in mm/page_alloc.c); the first page waits for the last put_page.
            if ((page.flags & Kernel.PG_head) == 0 && order > 0)
            {
                pageBlocks[pfn] = block with { Order = 0, RefDropped = true };
                Poison(Kernel.PAGE_OFFSET + ((pfn + 1) << Kernel.PAGE_SHIFT), (Kernel.PAGE_SIZE << order) - Kernel.PAGE_SIZE, KASAN_PAGE_FREE, fromExisting: false);
            }
            else
                pageBlocks[pfn] = block with { RefDropped = true };
            return true;
        }
        pageBlocks.Remove(pfn);
        blockHeads.Remove(pfn);
        Poison(Kernel.PAGE_OFFSET + (pfn << Kernel.PAGE_SHIFT), Kernel.PAGE_SIZE << order, KASAN_PAGE_FREE, fromExisting: false);
        return true;
    }

    private void MarkObjectAllocated(ulong addr, ulong size, AllocFamily family, kmem_cache? cache)
    {
        if (machine.Memory.IsDirectMap(addr))
        {
            ulong pfn = (addr - Kernel.PAGE_OFFSET) >> Kernel.PAGE_SHIFT;
            var block = FindBlock(pfn);
            if (block is not null && !block.Slab)
            {
                // First object carved out of this block: the rest of it is slab red zone until handed out
                // (page red zone for a large kmalloc, which has the block to itself).
                pageBlocks[block.Pfn] = block with { Slab = true };
                byte code = size > Kernel.KMALLOC_MAX_CACHE_SIZE ? KASAN_PAGE_REDZONE : KASAN_SLAB_REDZONE;
                Poison(Kernel.PAGE_OFFSET + (block.Pfn << Kernel.PAGE_SHIFT), Kernel.PAGE_SIZE << block.Order, code, fromExisting: false);
            }
            else if (block is not null && family == AllocFamily.Kmalloc)
            {
                // kasan_poison_kmalloc_redzone: the bytes between the requested size and the end of the
                // object (its cache's object size, or the size class) are red zone (never past the next live object).
                ulong end = ALIGNUp(addr + size, Granule);
                ulong objectSize = cache is not null && cache.object_size >= size ? cache.object_size : KmallocClass(size);
                ulong classEnd = Math.Min(addr + objectSize, NextLiveStart(addr));
                if (classEnd > end)
                    Poison(end, classEnd - end, KASAN_SLAB_REDZONE, fromExisting: false);
            }
        }
        else if (PhysicalMemory.IsVmalloc(addr))
        {
            var area = machine.Memory.FindVmArea(addr);
            if (area is not null)
                Poison(area.Start, (ulong)area.Data.Length, KASAN_VMALLOC_INVALID, fromExisting: false);
        }
        Unpoison(addr, size);
        RepoisonTailToEndOfGranules(addr, size);
    }

    private PageBlock? FindBlock(ulong pfn)
    {
        for (int o = 0; o <= Kernel.MAX_PAGE_ORDER; o++)
        {
            ulong head = pfn & ~((1UL << o) - 1);
            if (pageBlocks.TryGetValue(head, out var b) && b.Order >= o)
                return b;
        }
        return null;
    }

    private static ulong ALIGNUp(ulong x, ulong a) => (x + a - 1) & ~(a - 1);

    /// <summary>Linux's kmalloc size class of a request (kmalloc_size_roundup), used to place red zones.</summary>
    private static ulong KmallocClass(ulong size)
    {
        if (size <= 8) return 8;
        if (size <= 16) return 16;
        if (size <= 32) return 32;
        if (size <= 64) return 64;
        if (size <= 96) return 96;
        if (size <= 128) return 128;
        if (size <= 192) return 192;
        if (size > Kernel.KMALLOC_MAX_CACHE_SIZE) return ALIGNUp(size, Kernel.PAGE_SIZE);
        return 1UL << (64 - System.Numerics.BitOperations.LeadingZeroCount(size - 1));
    }

    private void Retire(Allocation a, string fn)
    {
        RemoveLive(a);
        a.FreedBy = $"{machine.CurrentSim.Pid}:{machine.CurrentSim.Comm}";
        a.FreeStack = StackCapture.Capture(3);
        a.FreeFunction = fn;
        Poison(a.Start, Math.Max(a.Size, 1), KASAN_SLAB_FREE, fromExisting: false);
        quarantine[a.Start] = a;
        quarantineOrder.Enqueue(a);
        while (quarantineOrder.Count > QuarantineSize)
        {
            var old = quarantineOrder.Dequeue();
            if (quarantine.TryGetValue(old.Start, out var q) && ReferenceEquals(q, old))
                quarantine.Remove(old.Start);
        }
    }

    private bool ReportBadFree(string fn, kptr p, AllocFamily family)
    {
        if (quarantine.TryGetValue(p.addr, out var freed))
        {
            var details = new List<string> { $"The buggy address 0x{p.addr:x} belongs to an object freed by {freed.FreeFunction}()." };
            AddHistory(details, freed);
            machine.Report(ReportKind.KasanDoubleFree, $"BUG: KASAN: double-free in {fn}+0x0/0x0", details, fn);
            return false;
        }
        var inside = FindLive(p.addr);
        var why = inside is not null
            ? $"0x{p.addr:x} is {p.addr - inside.Start} bytes inside the {inside.Size}-byte object at 0x{inside.Start:x} from {inside.Function}(): free takes the object's start"
            : $"0x{p.addr:x} was not returned by an allocator of this kind ({family})";
        machine.Report(ReportKind.KasanInvalidFree, $"BUG: KASAN: invalid-free in {fn}+0x0/0x0", new[] { why }, fn);
        return false;
    }

    private void ReportPoisoned(ulong bad, ulong addr, ulong len, bool write, string function, byte s)
    {
        var kind = s == KASAN_SLAB_FREE || s == KASAN_PAGE_FREE ? ReportKind.KasanUseAfterFree : ReportKind.KasanOutOfBounds;
        Allocation? owner = null;
        if (kind == ReportKind.KasanUseAfterFree)
        {
            foreach (var q in quarantine.Values)
            {
                if (bad >= q.Start && bad < q.Start + Math.Max(q.Size, 1))
                {
                    owner = q;
                    break;
                }
            }
        }
        owner ??= NearestLive(bad);
        string what = (kind, s) switch
        {
            (ReportKind.KasanUseAfterFree, KASAN_PAGE_FREE) => "use-after-free",
            (ReportKind.KasanUseAfterFree, _) => "slab-use-after-free",
            (_, KASAN_VMALLOC_INVALID) => "vmalloc-out-of-bounds",
            (_, KASAN_PAGE_REDZONE) => "out-of-bounds",
            _ => "slab-out-of-bounds",
        };
        ReportBadAccess(kind, what, addr, len, write, function, owner, bad);
    }

    private Allocation? NearestLive(ulong addr) => Floor(addr);

    private void ReportBadAccess(ReportKind kind, string what, ulong addr, ulong len, bool write, string function, Allocation? owner, ulong? bad = null)
    {
        var t = machine.CurrentSim;
        var details = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{(write ? "Write" : "Read")} of size {len} at addr {addr:x16} by task {t.Comm}/{t.Pid}"),
        };
        if (owner is not null)
        {
            ulong at = bad ?? addr;
            string relation = at >= owner.Start + owner.Size
                ? $"{at - owner.Start - owner.Size} bytes to the right of"
                : $"{at - owner.Start} bytes inside of";
            details.Add(string.Create(CultureInfo.InvariantCulture,
                $"The buggy address belongs to the object at {owner.Start:x16} which belongs to the cache {owner.Cache?.name ?? owner.Function} of size {owner.Size}"));
            details.Add(string.Create(CultureInfo.InvariantCulture,
                $"The buggy address is located {relation} {(owner.FreedBy is null ? "allocated" : "freed")} {owner.Size}-byte region [{owner.Start:x16}, {owner.Start + owner.Size:x16})"));
            AddHistory(details, owner);
        }
        machine.Report(kind, $"BUG: KASAN: {what} in {function}", details, function);
    }

    private static void AddHistory(List<string> details, Allocation a)
    {
        details.Add($"Allocated by task {a.AllocatedBy} in {a.Function}():");
        foreach (var f in a.AllocStack)
            details.Add("  " + f);
        if (a.FreedBy is not null)
        {
            details.Add($"Freed by task {a.FreedBy} in {a.FreeFunction}():");
            foreach (var f in a.FreeStack ?? Array.Empty<string>())
                details.Add("  " + f);
        }
    }

    private byte ShadowAt(ulong addr)
    {
        ulong vpage = addr >> Kernel.PAGE_SHIFT;
        if (shadow.TryGetValue(vpage, out var s))
            return s[(int)((addr & (Kernel.PAGE_SIZE - 1)) / Granule)];
        if (machine.Memory.IsDirectMap(addr))
            return KASAN_PAGE_FREE; // never handed out through the facade: free memory
        return KASAN_VMALLOC_INVALID;
    }

    private byte[] ShadowPage(ulong vpage, byte fill)
    {
        if (!shadow.TryGetValue(vpage, out var s))
        {
            s = new byte[GranulesPerPage];
            Array.Fill(s, fill);
            shadow[vpage] = s;
        }
        return s;
    }

    private void Unpoison(ulong addr, ulong size)
    {
        if (size == 0)
            return;
        byte fill = machine.Memory.IsDirectMap(addr) ? KASAN_PAGE_FREE : KASAN_VMALLOC_INVALID;
        ulong end = addr + size;
        ulong first = addr & ~(ulong)(Granule - 1);
        ulong fullEnd = end & ~(ulong)(Granule - 1);   // granules before this one are wholly accessible
        // Whole granules, a shadow page at a time.
        for (ulong a = first; a < fullEnd;)
        {
            ulong pageEnd = Math.Min((a | (Kernel.PAGE_SIZE - 1)) + 1, fullEnd);
            var page = ShadowPage(a >> Kernel.PAGE_SHIFT, fill);
            int from = (int)((a & (Kernel.PAGE_SIZE - 1)) / Granule);
            page.AsSpan(from, (int)((pageEnd - a) / Granule)).Clear();
            a = pageEnd;
        }
        if (fullEnd < end)
        {
            var page = ShadowPage(fullEnd >> Kernel.PAGE_SHIFT, fill);
            page[(int)((fullEnd & (Kernel.PAGE_SIZE - 1)) / Granule)] = (byte)(end - fullEnd); // the accessible leading bytes
        }
    }

    private void RepoisonTailToEndOfGranules(ulong addr, ulong size)
    {
        // Unpoison leaves a partial last granule; nothing else to do for 8-byte granules.
        _ = addr;
        _ = size;
    }

    private void Poison(ulong addr, ulong size, byte code, bool fromExisting)
    {
        byte fill = machine.Memory.IsDirectMap(addr) ? KASAN_PAGE_FREE : KASAN_VMALLOC_INVALID;
        ulong start = addr & ~(ulong)(Granule - 1);
        ulong end = addr + size;
        for (ulong a = start; a < end;)
        {
            ulong pageEnd = Math.Min((a | (Kernel.PAGE_SIZE - 1)) + 1, end);
            ulong vpage = a >> Kernel.PAGE_SHIFT;
            if (!fromExisting || shadow.ContainsKey(vpage))
            {
                var page = ShadowPage(vpage, fill);
                int from = (int)((a & (Kernel.PAGE_SIZE - 1)) / Granule);
                int to = (int)(((pageEnd - 1) & (Kernel.PAGE_SIZE - 1)) / Granule); // the granule of the last byte
                page.AsSpan(from, to - from + 1).Fill(code);
            }
            a = pageEnd;
        }
    }
}
