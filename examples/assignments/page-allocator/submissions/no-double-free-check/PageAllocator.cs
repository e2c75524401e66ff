using System;
using System.Globalization;
using KernelHarness;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace Student.PageAllocator.NoDoubleFreeCheck;

/// <summary>
/// The buddy page allocator (mm/page_alloc.c), per zone.
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>A free block of order o starts at a pfn that is a multiple of 2^o, lies inside one zone, has
/// <c>PG_buddy</c> set on its head page, <c>private == o</c>, <c>_refcount == 0</c>, and is on
/// <c>free_area[o]</c> of its zone (a doubly linked list through <c>lru_next/lru_prev</c>).</item>
/// <item>Conservation (B-5): Σ nr_free[o]·2^o + allocated pages == managed pages, per zone.</item>
/// <item>Two free buddies of the same order never coexist: <c>__free_one_page</c> merges them.</item>
/// </list>
/// Concurrency: the simulated machine switches CPUs and delivers interrupts only at kernel API calls.
/// No code below calls the kernel API while a free list is inconsistent, which is the guarantee
/// Linux gets from <c>spin_lock_irqsave(&amp;zone-&gt;lock)</c>; the only sleep (direct reclaim) happens
/// between attempts.
/// </summary>
public sealed class StudentPageAllocator : IPageAllocator
{
    private const int MaxReclaimRetries = 3;

    /// <summary><c>sysctl_lowmem_reserve_ratio</c> (mm/page_alloc.c): DMA 256, DMA32 256, NORMAL 32, HIGHMEM 0.</summary>
    private static readonly ulong[] LowmemReserveRatio = { 256, 256, 32, 0, 0 };

    private sealed class Zone
    {
        public zone_type Type;
        public ulong Start, End, Managed, FreePages;
        public readonly page?[] FreeArea = new page?[NR_PAGE_ORDERS];
        public readonly ulong[] NrFree = new ulong[NR_PAGE_ORDERS];
        public ulong WmarkMin, WmarkLow, WmarkHigh;
        public readonly ulong[] LowmemReserve = new ulong[MAX_NR_ZONES];
        public bool Empty => End <= Start;
    }

    private readonly Zone[] zones = new Zone[MAX_NR_ZONES];
    private bool booted;

    // The order each allocated block was handed out with, plus one (0: not an allocated block head), so a
    // free with the wrong order is caught (Linux only catches it with debug options; B-6).
    private byte[] allocOrder = Array.Empty<byte>();

    // ---- Boot ----

    public void mem_init()
    {
        allocOrder = new byte[Arch.max_pfn];
        for (int z = 0; z < MAX_NR_ZONES; z++)
        {
            var zone = new Zone { Type = (zone_type)z, Start = Arch.zone_start_pfn((zone_type)z), End = Arch.zone_end_pfn((zone_type)z) };
            zones[z] = zone;
            // memblock_free_all: hand each zone over in the largest aligned blocks that fit.
            for (ulong pfn = zone.Start; pfn < zone.End;)
            {
                int order = MAX_PAGE_ORDER;
                while (order > 0 && ((pfn & ((1UL << order) - 1)) != 0 || pfn + (1UL << order) > zone.End))
                    order--;
                zone.Managed += 1UL << order;
                AddToFreeArea(zone, Arch.mem_map(pfn), order);
                pfn += 1UL << order;
            }
        }
        SetupWatermarks();
        booted = true;
    }

    /// <summary>
    /// <c>__setup_per_zone_wmarks</c>: <c>min_free_kbytes = sqrt(lowmem_kbytes * 16)</c> shared between the
    /// lowmem zones in proportion to their size; low = min + min/4, high = min + min/2. Highmem gets a
    /// small fixed minimum. Then <c>setup_per_zone_lowmem_reserve</c>.
    /// </summary>
    private void SetupWatermarks()
    {
        ulong lowmem = 0;
        for (int z = 0; z < (int)zone_type.ZONE_HIGHMEM; z++)
            lowmem += zones[z].Managed;
        ulong minFreeKb = (ulong)Math.Sqrt(lowmem * (PAGE_SIZE / 1024) * 16.0);
        ulong minPages = minFreeKb / (PAGE_SIZE / 1024);
        foreach (var zone in zones)
        {
            if (zone.Empty)
                continue;
            ulong min = zone.Type >= zone_type.ZONE_HIGHMEM
                ? Math.Clamp(zone.Managed / 1024, 32, 128)
                : lowmem == 0 ? 0 : minPages * zone.Managed / lowmem;
            zone.WmarkMin = min;
            zone.WmarkLow = min + min / 4;
            zone.WmarkHigh = min + min / 2;
        }
        for (int i = 0; i < MAX_NR_ZONES; i++)
        {
            ulong sum = 0;
            for (int j = i + 1; j < MAX_NR_ZONES; j++)
            {
                sum += zones[j].Managed;
                zones[i].LowmemReserve[j] = LowmemReserveRatio[i] == 0 ? 0 : sum / LowmemReserveRatio[i];
            }
        }
    }

    // ---- Allocation ----

    public page? alloc_pages(gfp_t gfp, int order) => __alloc_pages(gfp, order);

    public page? alloc_page(gfp_t gfp) => __alloc_pages(gfp, 0);

    public ulong __get_free_pages(gfp_t gfp, int order)
    {
        // __get_free_pages cannot hand out highmem: it has no permanent kernel address.
        var page = __alloc_pages(gfp & ~__GFP_HIGHMEM, order);
        return page is null ? 0 : page_address(page).addr;
    }

    public ulong __get_free_page(gfp_t gfp) => __get_free_pages(gfp, 0);

    public ulong get_zeroed_page(gfp_t gfp) => __get_free_pages(gfp | __GFP_ZERO, 0);

    /// <summary><c>__alloc_pages</c>: the fast path at the low watermark, then the slow path (min watermark, reserves, reclaim).</summary>
    private page? __alloc_pages(gfp_t gfp, int order)
    {
        if (order < 0 || order > MAX_PAGE_ORDER)
        {
            // WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)
            if ((gfp & __GFP_NOWARN) == 0)
                Report(ReportKind.Warning, string.Create(CultureInfo.InvariantCulture,
                    $"WARNING: CPU: {Arch.raw_smp_processor_id()} at mm/page_alloc.c __alloc_pages: order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER})"), null, "alloc_pages");
            return null;
        }
        int highest = gfp_zone(gfp);
        if (highest < 0 || !booted)
            return null; // GFP_ZONE_BAD
        var page = GetPageFromFreelist(gfp, order, highest, Watermark.Low);
        if (page is not null)
            return Prepare(page, order, gfp);

        // __alloc_pages_slowpath: wake kswapd (nothing to do), retry at min with the caller's reserves.
        for (int attempt = 0; ; attempt++)
        {
            page = GetPageFromFreelist(gfp, order, highest, Watermark.Min);
            if (page is not null)
                return Prepare(page, order, gfp);
            bool nofail = (gfp & __GFP_NOFAIL) != 0;
            if (!gfpflags_allow_blocking(gfp) || (attempt >= MaxReclaimRetries && !nofail) || attempt > 1000)
                break;
            Arch.reclaim_sleep(); // direct reclaim: a sleep point; nothing here is reclaimable
        }
        if ((gfp & __GFP_NOWARN) == 0)
        {
            printk(string.Create(CultureInfo.InvariantCulture,
                $"{KERN_WARNING}{current.comm}: page allocation failure: order:{order}, mode:0x{(uint)gfp:x}"));
        }
        return null;
    }

    private enum Watermark { Min, Low }

    /// <summary><c>get_page_from_freelist</c>: the preferred zone, then the zones below it (never above).</summary>
    private page? GetPageFromFreelist(gfp_t gfp, int order, int highest, Watermark wm)
    {
        for (int z = Math.Min(highest, MAX_NR_ZONES - 1); z >= 0; z--)
        {
            var zone = zones[z];
            if (zone.Empty || !ZoneWatermarkOk(zone, order, gfp, highest, wm))
                continue;
            var page = RmqueueSmallest(zone, order);
            if (page is not null)
                return page;
        }
        return null;
    }

    /// <summary><c>__zone_watermark_ok</c> with the reserves of <c>gfp_to_alloc_flags</c> (B-9, B-10).</summary>
    private static bool ZoneWatermarkOk(Zone zone, int order, gfp_t gfp, int highest, Watermark wm)
    {
        long min = (long)(wm == Watermark.Low ? zone.WmarkLow : zone.WmarkMin);
        if (wm == Watermark.Min && (gfp & __GFP_HIGH) != 0)
        {
            min -= min / 2;                          // ALLOC_MIN_RESERVE
            if (!gfpflags_allow_blocking(gfp))
                min -= min / 4;                      // ALLOC_NON_BLOCK (GFP_ATOMIC): 3/8 of min
        }
        long free = (long)zone.FreePages - ((1L << order) - 1);
        if (free <= min + (long)zone.LowmemReserve[Math.Min(highest, MAX_NR_ZONES - 1)])
            return false;
        if (order == 0)
            return true;
        for (int o = order; o <= MAX_PAGE_ORDER; o++)
        {
            if (zone.NrFree[o] > 0)
                return true;
        }
        return false;
    }

    /// <summary><c>__rmqueue_smallest</c> + <c>expand</c>: take the smallest free block that fits, keep the lower half each split.</summary>
    private static page? RmqueueSmallest(Zone zone, int order)
    {
        for (int current = order; current <= MAX_PAGE_ORDER; current++)
        {
            var page = zone.FreeArea[current];
            if (page is null)
                continue;
            RemoveFromFreeArea(zone, page, current);
            // expand(): the upper halves go back on the lower free lists.
            for (int high = current; high > order; high--)
            {
                ulong size = 1UL << (high - 1);
                AddToFreeArea(zone, Arch.mem_map(page.pfn + size), high - 1);
            }
            return page;
        }
        return null;
    }

    private page Prepare(page page, int order, gfp_t gfp)
    {
        allocOrder[page.pfn] = (byte)(order + 1);
        page._refcount = 1;
        page._mapcount = -1;
        page.mapping = null;
        page.@private = 0;
        page.flags &= ~(PG_buddy | PG_slab | PG_head | PG_tail);
        page.compound_order = 0;
        page.compound_head = null;
        if ((gfp & __GFP_COMP) != 0 && order > 0)
        {
            page.flags |= PG_head;
            page.compound_order = order;
            for (ulong i = 1; i < 1UL << order; i++)
            {
                var tail = Arch.mem_map(page.pfn + i);
                tail.flags |= PG_tail;
                tail.compound_head = page;
            }
        }
        if ((gfp & __GFP_ZERO) != 0)
            Arch.raw_span(new kptr(PAGE_OFFSET + (page.pfn << PAGE_SHIFT)), PAGE_SIZE << order).Clear();
        return page;
    }

    // ---- Freeing ----

    /// <summary>
    /// <c>__free_pages</c>: drops a reference; at zero frees the block. With other references left on a
    /// non-compound block, the tail pieces are freed now and the first page by the last <c>put_page</c>.
    /// </summary>
    public void __free_pages(page page, int order)
    {
        if (!CheckFree(page, order, "__free_pages"))
            return;
        if (--page._refcount <= 0)
        {
            FreeOnePage(page, order);
        }
        else if ((page.flags & PG_head) == 0)
        {
            allocOrder[page.pfn] = 1; // the first page stays, as an order-0 block, until the last put_page
            while (order-- > 0)
                FreeOnePage(Arch.mem_map(page.pfn + (1UL << order)), order);
        }
    }

    public void __free_page(page page) => __free_pages(page, 0);

    public void free_pages(ulong addr, int order)
    {
        if (addr == 0)
            return;
        if (addr < PAGE_OFFSET || ((addr - PAGE_OFFSET) >> PAGE_SHIFT) >= Arch.max_pfn || (addr & (PAGE_SIZE - 1)) != 0)
        {
            BadPage(null, (addr - PAGE_OFFSET) >> PAGE_SHIFT, $"free_pages(0x{addr:x}) of an address that is not a page in the direct map");
            return;
        }
        __free_pages(virt_to_page(new kptr(addr)), order);
    }

    public void free_page(ulong addr) => free_pages(addr, 0);

    private bool CheckFree(page page, int order, string fn)
    {
        // BUG: no check that the page is still allocated
        if ((page.flags & PG_tail) != 0)
        {
            BadPage(page, page.pfn, $"{fn}() of a tail page of a compound page");
            return false;
        }
        if (order < 0 || order > MAX_PAGE_ORDER || (page.pfn & ((1UL << order) - 1)) != 0)
        {
            BadPage(page, page.pfn, $"{fn}(order {order}) of a block not aligned to its order");
            return false;
        }
        if ((page.flags & PG_head) != 0 && page.compound_order != order)
        {
            BadPage(page, page.pfn, $"{fn}(order {order}) of a compound page of order {page.compound_order}");
            return false;
        }
        // BUG: the order is not checked either
        return true;
    }

    private static void BadPage(page? page, ulong pfn, string reason)
    {
        Report(ReportKind.BadPageState,
            string.Create(CultureInfo.InvariantCulture, $"BUG: Bad page state in process {current.comm}  pfn:{pfn:x5}"),
            new[] { $"page:{page?.ToString() ?? "?"} {reason}", "bad because of flags or _refcount" }, "free_pages");
    }

    /// <summary><c>__free_one_page</c>: merge with the buddy while it is free, of the same order and in the same zone.</summary>
    private void FreeOnePage(page page, int order)
    {
        var zone = zones[(int)page.zone];
        allocOrder[page.pfn] = 0;
        if ((page.flags & PG_head) != 0)
        {
            for (ulong i = 1; i < 1UL << order; i++)
            {
                var tail = Arch.mem_map(page.pfn + i);
                tail.flags &= ~PG_tail;
                tail.compound_head = null;
            }
        }
        page.flags &= ~(PG_head | PG_slab);
        page.compound_order = 0;
        page.slab_cache = null;
        page.mapping = null;
        ulong pfn = page.pfn;
        while (order < MAX_PAGE_ORDER)
        {
            ulong buddyPfn = pfn ^ (1UL << order);           // __find_buddy_pfn
            if (buddyPfn < zone.Start || buddyPfn >= zone.End)
                break;
            var buddy = Arch.mem_map(buddyPfn);
            if (!PageIsBuddy(buddy, order, zone))
                break;
            RemoveFromFreeArea(zone, buddy, order);
            pfn &= buddyPfn;                                  // the merged block starts at the lower one
            order++;
        }
        AddToFreeArea(zone, Arch.mem_map(pfn), order);
    }

    private static bool PageIsBuddy(page buddy, int order, Zone zone) =>
        (buddy.flags & PG_buddy) != 0 && (int)buddy.@private == order && buddy.zone == zone.Type;

    private static void AddToFreeArea(Zone zone, page page, int order)
    {
        page.flags |= PG_buddy;
        page.@private = (ulong)order;
        page._refcount = 0;
        page.lru_prev = null;
        page.lru_next = zone.FreeArea[order];
        if (page.lru_next is not null)
            page.lru_next.lru_prev = page;
        zone.FreeArea[order] = page;
        zone.NrFree[order]++;
        zone.FreePages += 1UL << order;
    }

    private static void RemoveFromFreeArea(Zone zone, page page, int order)
    {
        if (page.lru_prev is not null)
            page.lru_prev.lru_next = page.lru_next;
        else
            zone.FreeArea[order] = page.lru_next;
        if (page.lru_next is not null)
            page.lru_next.lru_prev = page.lru_prev;
        page.lru_next = page.lru_prev = null;
        page.flags &= ~PG_buddy;
        page.@private = 0;
        zone.NrFree[order]--;
        zone.FreePages -= 1UL << order;
    }

    // ---- Address conversions and references ----

    public kptr page_address(page page) => new(PAGE_OFFSET + (page.pfn << PAGE_SHIFT));

    public page virt_to_page(kptr addr) => Arch.mem_map((addr.addr - PAGE_OFFSET) >> PAGE_SHIFT);

    public ulong page_to_pfn(page page) => page.pfn;

    public page pfn_to_page(ulong pfn) => Arch.mem_map(pfn);

    public zone_type page_zone(page page) => page.zone;

    public int page_count(page page) => (page.compound_head ?? page)._refcount;

    public void get_page(page page) => (page.compound_head ?? page)._refcount++;

    public void put_page(page page)
    {
        var head = page.compound_head ?? page;
        if (head._refcount <= 0)
        {
            BadPage(head, head.pfn, "put_page() of a page whose _refcount is already zero");
            return;
        }
        if (--head._refcount == 0)
            FreeOnePage(head, head.compound_order);
    }

    public ulong nr_free_pages()
    {
        ulong sum = 0;
        foreach (var z in zones)
            sum += z?.FreePages ?? 0;
        return sum;
    }

    public ulong zone_nr_free(zone_type zone, int order) =>
        (int)zone < 0 || (int)zone >= MAX_NR_ZONES || order < 0 || order > MAX_PAGE_ORDER || zones[(int)zone] is null ? 0 : zones[(int)zone].NrFree[order];

    /// <summary>The zone's watermarks (min, low, high) in pages, for tests and /proc/zoneinfo-like output.</summary>
    public (ulong Min, ulong Low, ulong High) Watermarks(zone_type zone) =>
        (zones[(int)zone].WmarkMin, zones[(int)zone].WmarkLow, zones[(int)zone].WmarkHigh);

    /// <summary>Managed pages of a zone.</summary>
    public ulong ManagedPages(zone_type zone) => zones[(int)zone].Managed;

    // How this allocator reports a bug it finds: in the kernel log (pr_err), or as a WARN for warnings.
    private static void Report(ReportKind kind, string title, System.Collections.Generic.IReadOnlyList<string>? details = null, string? function = null)
    {
        _ = function;
        if (kind == ReportKind.Warning || kind == ReportKind.SlabCacheBusy)
            WARN(true, title);
        else
            pr_err(title);
        foreach (var line in details ?? System.Array.Empty<string>())
            pr_err("  " + line);
    }
}
