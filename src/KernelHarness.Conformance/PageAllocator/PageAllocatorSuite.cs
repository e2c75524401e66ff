using System;
using System.Collections.Generic;
using System.Linq;
using KernelHarness.Conformance.Memory;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.PageAllocator;

/// <summary>
/// The buddy page allocator's contracts (kernel-api.md §2, conformance-notes.md §2): contiguity and
/// alignment, the order limit, splitting and coalescing, zones and fallback, watermarks and reserves,
/// zeroing, reference counts, double and wrong-order frees, exhaustion, random traces against a
/// bitmap model, concurrency with interrupts, and performance against the reference.
/// </summary>
[ConformanceSuite("page allocator")]
public sealed class PageAllocatorSuite
{
    private static readonly gfp_t NoWarn = __GFP_NOWARN;

    private sealed record Block(page Page, int Order);

    /// <summary>Allocates blocks of decreasing order until even order 0 fails.</summary>
    private static List<Block> Exhaust(ConformanceContext ctx, gfp_t gfp, int maxOrder = MAX_PAGE_ORDER)
    {
        var blocks = new List<Block>();
        for (int order = maxOrder; order >= 0; order--)
        {
            for (int guard = 0; guard < 100_000; guard++)
            {
                var p = alloc_pages(gfp | NoWarn, order);
                if (p is null)
                    break;
                blocks.Add(new Block(p, order));
            }
        }
        ctx.Step($"exhausted with {gfp}: {blocks.Count} blocks, {blocks.Sum(b => 1L << b.Order)} pages");
        return blocks;
    }

    private static void FreeAll(List<Block> blocks)
    {
        foreach (var b in blocks)
            __free_pages(b.Page, b.Order);
        blocks.Clear();
    }

    // ---------------- directed ----------------

    [ConformanceTest("__rmqueue_smallest() and expand() in mm/page_alloc.c: alloc_pages(order) returns 2^order contiguous pages, pfn aligned to 2^order (B-1)")]
    public void alloc_pages_returns_aligned_blocks_for_every_order(ConformanceContext ctx)
    {
        var blocks = new List<Block>();
        for (int order = 0; order <= MAX_PAGE_ORDER; order++)
        {
            ctx.Step($"alloc_pages(GFP_KERNEL, {order})");
            var p = alloc_pages(GFP_KERNEL, order);
            ctx.Check(p is not null, $"alloc_pages(GFP_KERNEL, {order}) on a fresh machine must succeed (order {MAX_PAGE_ORDER} is valid: MAX_PAGE_ORDER is inclusive)", "a page", "NULL");
            ulong pfn = page_to_pfn(p!);
            ctx.Check((pfn & ((1UL << order) - 1)) == 0, $"an order-{order} block starts at a pfn that is a multiple of {1 << order}", "aligned pfn", MemKit.Hex(pfn));
            var addr = page_address(p!);
            ctx.Equal(PAGE_OFFSET + (pfn << PAGE_SHIFT), addr.addr, "page_address(page) is PAGE_OFFSET + (pfn << PAGE_SHIFT) (the direct map)");
            ctx.Check(ReferenceEquals(virt_to_page(addr), p), "virt_to_page(page_address(page)) returns the same struct page");
            ctx.Check(ReferenceEquals(pfn_to_page(pfn), p), "pfn_to_page(page_to_pfn(page)) returns the same struct page");
            ctx.Check(ReferenceEquals(virt_to_page(addr + (PAGE_SIZE << order) - 1), pfn_to_page(pfn + (1UL << order) - 1)), "the last byte of the block lies in its last page");
            ctx.Equal(1, page_count(p!), "a freshly allocated page has _refcount 1 (set_page_refcounted in prep_new_page)");
            blocks.Add(new Block(p!, order));
        }
        FreeAll(blocks);
    }

    [ConformanceTest("__alloc_pages() in mm/page_alloc.c: order > MAX_PAGE_ORDER fails with NULL (WARN_ON_ONCE_GFP, silenced by __GFP_NOWARN) (B-2)")]
    public void order_above_max_page_order_returns_null(ConformanceContext ctx)
    {
        ctx.AllowReports(ReportKind.Warning);
        var p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER + 1);
        ctx.Check(p is null, $"alloc_pages(order {MAX_PAGE_ORDER + 1}) returns NULL: orders go up to MAX_PAGE_ORDER ({MAX_PAGE_ORDER}) inclusive", "NULL", p?.ToString());
        ctx.Equal(0UL, __get_free_pages(GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER + 5), "__get_free_pages(order > MAX_PAGE_ORDER) returns 0");
        var ok = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
        ctx.Check(ok is not null, "order == MAX_PAGE_ORDER is valid (Linux >= 6.4 made MAX_ORDER inclusive)");
        __free_pages(ok!, MAX_PAGE_ORDER);
    }

    [ConformanceTest("expand() in mm/page_alloc.c: splitting keeps the lower half and puts one block on each lower free list (B-4)")]
    public void splitting_a_max_order_block_leaves_one_free_block_per_lower_order(ConformanceContext ctx)
    {
        var before = MemKit.BuddyInfo();
        var p = alloc_pages(GFP_KERNEL, 0);
        ctx.Check(p is not null, "alloc_pages(GFP_KERNEL, 0) succeeds");
        var zone = (int)page_zone(p!);
        var after = MemKit.BuddyInfo();
        ctx.Check(before[zone, 0] == 0 && before[zone, MAX_PAGE_ORDER] > 0, "a fresh zone holds only MAX_PAGE_ORDER blocks (memblock_free_all frees in the largest blocks)",
            "only order-10 blocks", MemKit.Describe(before));
        for (int o = 0; o < MAX_PAGE_ORDER; o++)
            ctx.Equal(1UL, after[zone, o], $"after one order-0 allocation from a fresh zone, free_area[{o}].nr_free is 1 (expand() split an order-{MAX_PAGE_ORDER} block)");
        ctx.Equal(before[zone, MAX_PAGE_ORDER] - 1, after[zone, MAX_PAGE_ORDER], "one order-10 block was split");
        __free_pages(p!, 0);
        var back = MemKit.BuddyInfo();
        ctx.Check(MemKit.Same(before, back), "__free_one_page() merges the page with its buddies all the way back to order 10 (B-3)", MemKit.Describe(before), MemKit.Describe(back));
    }

    [ConformanceTest("__free_one_page() in mm/page_alloc.c: freeing everything merges buddies back to the initial free areas (B-3, B-5)")]
    public void freeing_everything_coalesces_back_to_the_largest_orders(ConformanceContext ctx)
    {
        var before = MemKit.BuddyInfo();
        ulong free0 = nr_free_pages();
        var blocks = new List<Block>();
        for (int i = 0; i < 400; i++)
        {
            int order = ctx.Next(0, 4);
            var gfp = ctx.Next(4) switch { 0 => GFP_DMA, 1 => GFP_DMA32, 2 => GFP_HIGHUSER, _ => GFP_KERNEL };
            var p = alloc_pages(gfp, order);
            ctx.Check(p is not null, $"alloc_pages({gfp}, {order}) succeeds with plenty of memory free");
            blocks.Add(new Block(p!, order));
        }
        ctx.Equal(free0 - (ulong)blocks.Sum(b => 1L << b.Order), nr_free_pages(), "nr_free_pages() drops by exactly the pages handed out (conservation, B-5)");
        // Free in a shuffled order so merges happen in every direction.
        for (int i = blocks.Count - 1; i > 0; i--)
        {
            int j = ctx.Next(i + 1);
            (blocks[i], blocks[j]) = (blocks[j], blocks[i]);
        }
        FreeAll(blocks);
        ctx.Equal(free0, nr_free_pages(), "after every block is freed, nr_free_pages() is back to its initial value");
        var after = MemKit.BuddyInfo();
        ctx.Check(MemKit.Same(before, after), "after every block is freed, buddies have merged back: the free areas equal the initial ones (all order-10 blocks)",
            MemKit.Describe(before), MemKit.Describe(after));
    }

    [ConformanceTest("gfp_zone() and GFP_ZONE_TABLE in include/linux/gfp.h: GFP_DMA from ZONE_DMA, GFP_DMA32 at most DMA32, GFP_KERNEL never HIGHMEM, GFP_HIGHUSER prefers HIGHMEM (B-7)")]
    public void zone_modifiers_choose_the_zone(ConformanceContext ctx)
    {
        var dma = alloc_pages(GFP_DMA, 0);
        ctx.Check(dma is not null && page_zone(dma) == zone_type.ZONE_DMA, "GFP_DMA memory lies in ZONE_DMA", "ZONE_DMA", dma is null ? "NULL" : page_zone(dma).ToString());
        var dma32 = alloc_pages(GFP_DMA32, 0);
        ctx.Check(dma32 is not null && page_zone(dma32) == zone_type.ZONE_DMA32, "GFP_DMA32 is served from ZONE_DMA32 while it has free memory", "ZONE_DMA32", dma32 is null ? "NULL" : page_zone(dma32).ToString());
        var normal = alloc_pages(GFP_KERNEL, 0);
        ctx.Check(normal is not null && page_zone(normal) == zone_type.ZONE_NORMAL, "GFP_KERNEL is served from ZONE_NORMAL while it has free memory", "ZONE_NORMAL", normal is null ? "NULL" : page_zone(normal).ToString());
        var high = alloc_pages(GFP_HIGHUSER, 0);
        ctx.Check(high is not null && page_zone(high) == zone_type.ZONE_HIGHMEM, "__GFP_HIGHMEM prefers ZONE_HIGHMEM", "ZONE_HIGHMEM", high is null ? "NULL" : page_zone(high).ToString());
        ulong addr = __get_free_pages(GFP_KERNEL, 1);
        ctx.Check(addr != 0 && addr >= PAGE_OFFSET && (addr & (2 * PAGE_SIZE - 1)) == 0, "__get_free_pages returns an order-aligned direct-map address");
        ctx.Check(page_zone(virt_to_page(new kptr(addr))) <= zone_type.ZONE_NORMAL, "__get_free_pages memory is lowmem");
        free_pages(addr, 1);
        __free_pages(dma!, 0);
        __free_pages(dma32!, 0);
        __free_pages(normal!, 0);
        __free_pages(high!, 0);
    }

    [ConformanceTest("zonelists in mm/page_alloc.c and include/linux/gfp.h: fallback goes MOVABLE=>HIGHMEM=>NORMAL=>DMA32=>DMA, never upward (B-8)")]
    public void zone_fallback_goes_down_never_up(ConformanceContext ctx)
    {
        var blocks = Exhaust(ctx, GFP_DMA32);
        ctx.Check(blocks.All(b => page_zone(b.Page) <= zone_type.ZONE_DMA32), "a GFP_DMA32 request is never served from a zone above DMA32",
            "zones DMA32, DMA", string.Join(",", blocks.Select(b => page_zone(b.Page)).Distinct()));
        ctx.Check(blocks.Any(b => page_zone(b.Page) == zone_type.ZONE_DMA), "when ZONE_DMA32 runs out, GFP_DMA32 falls back to ZONE_DMA", "some ZONE_DMA pages", "none");
        var k = Exhaust(ctx, GFP_KERNEL, 6);
        ctx.Check(k.All(b => page_zone(b.Page) <= zone_type.ZONE_NORMAL), "a GFP_KERNEL request never gets a highmem page", "zones <= NORMAL",
            string.Join(",", k.Select(b => page_zone(b.Page)).Distinct()));
        var h = alloc_pages(GFP_HIGHUSER | __GFP_NOWARN, 0);
        ctx.Check(h is not null && page_zone(h) == zone_type.ZONE_HIGHMEM, "lowmem exhaustion leaves ZONE_HIGHMEM to __GFP_HIGHMEM requests");
        __free_pages(h!, 0);
        FreeAll(k);
        FreeAll(blocks);
    }

    [ConformanceTest("__zone_watermark_ok() and gfp_to_alloc_flags() in mm/page_alloc.c: GFP_ATOMIC may dip below the min watermark, GFP_KERNEL and GFP_NOWAIT may not (B-9, B-10)")]
    public void gfp_atomic_dips_into_the_reserve_that_gfp_kernel_may_not_touch(ConformanceContext ctx)
    {
        var blocks = Exhaust(ctx, GFP_KERNEL);
        ctx.Check(blocks.Count > 0, "GFP_KERNEL allocations succeed before memory runs out");
        ulong left = nr_free_pages();
        ctx.Check(left > 0, "GFP_KERNEL fails while free pages remain: the min watermarks and lowmem_reserve keep a reserve", "free pages left", "0");
        var nowait = alloc_pages(GFP_NOWAIT | __GFP_NOWARN, 0);
        ctx.Check(nowait is null, "GFP_NOWAIT gets no access to the min reserve (\"Other non-blocking allocations requests such as GFP_NOWAIT ... do not get access to the min reserve\")",
            "NULL", nowait?.ToString());
        var atomic = alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 0);
        ctx.Check(atomic is not null, "GFP_ATOMIC (__GFP_HIGH, non-blocking) may use part of the min reserve: ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK", "a page", "NULL");
        if (atomic is not null)
            blocks.Add(new Block(atomic, 0));
        FreeAll(blocks);
    }

    [ConformanceTest("__alloc_pages_slowpath() in mm/page_alloc.c: GFP_ATOMIC never sleeps or reclaims, even when memory runs out (B-12; might_sleep is the oracle)")]
    public void gfp_atomic_never_sleeps_even_when_memory_runs_out(ConformanceContext ctx)
    {
        var blocks = new List<Block>();
        local_irq_disable();
        try
        {
            for (int order = MAX_PAGE_ORDER; order >= 0; order--)
            {
                page? p;
                while ((p = alloc_pages(GFP_ATOMIC | __GFP_NOWARN, order)) is not null)
                    blocks.Add(new Block(p, order));
            }
        }
        finally
        {
            local_irq_enable();
        }
        ctx.Check(blocks.Count > 0, "GFP_ATOMIC allocations with interrupts off succeed while memory lasts");
        FreeAll(blocks);
    }

    [ConformanceTest("prep_new_page() in mm/page_alloc.c: __GFP_ZERO and get_zeroed_page() return zeroed pages, even recycled dirty ones (B-11, test_meminit.c test_pages)")]
    public void gfp_zero_returns_zeroed_pages_even_when_recycled(ConformanceContext ctx)
    {
        for (int order = 0; order <= 3; order++)
        {
            var p = alloc_pages(GFP_KERNEL, order);
            ctx.Check(p is not null, "alloc_pages succeeds");
            memset(page_address(p!), 0xa5, PAGE_SIZE << order);
            __free_pages(p!, order);
            var z = alloc_pages(GFP_KERNEL | __GFP_ZERO, order);
            ctx.Check(z is not null, "alloc_pages(__GFP_ZERO) succeeds");
            ctx.Check(ptr_span(page_address(z!), PAGE_SIZE << order).IndexOfAnyExcept((byte)0) < 0, $"alloc_pages(GFP_KERNEL | __GFP_ZERO, {order}) returns zeroed pages (after the previous owner wrote 0xa5)");
            __free_pages(z!, order);
        }
        ulong a = __get_free_page(GFP_KERNEL);
        memset(new kptr(a), 0x5a, PAGE_SIZE);
        free_page(a);
        ulong b = get_zeroed_page(GFP_KERNEL);
        ctx.Check(b != 0 && ptr_span(new kptr(b), PAGE_SIZE).IndexOfAnyExcept((byte)0) < 0, "get_zeroed_page() returns a zeroed page");
        free_page(b);
    }

    [ConformanceTest("__free_pages() in mm/page_alloc.c and lib/test_free_pages.c: with an extra reference, free_pages frees the tail pieces and the last put_page frees the first page (B-6)")]
    public void get_page_then_free_pages_then_put_page_does_not_leak(ConformanceContext ctx)
    {
        ulong free0 = nr_free_pages();
        var before = MemKit.BuddyInfo();
        foreach (var comp in new[] { false, true })
        {
            var gfp = GFP_KERNEL | (comp ? __GFP_COMP : 0);
            ulong addr = __get_free_pages(gfp, 3);
            ctx.Check(addr != 0, "__get_free_pages(gfp, 3) succeeds");
            var page = virt_to_page(new kptr(addr));
            get_page(page);
            ctx.Equal(2, page_count(page), "get_page takes a reference: page_count is 2");
            free_pages(addr, 3);
            ctx.Equal(1, page_count(page), "free_pages with another reference held only drops a reference");
            ctx.Equal(free0 - (comp ? 8UL : 1UL), nr_free_pages(),
                comp ? "a compound page stays whole until its last reference goes" : "a non-compound block's tail pages (all but the first) are freed at once by __free_pages");
            put_page(page);
            ctx.Equal(free0, nr_free_pages(), $"the last put_page frees the rest: no leak ({(comp ? "with" : "without")} __GFP_COMP)");
        }
        // Many rounds, as test_free_pages.c does (called directly: the facade keeps no records of put_page frees).
        var pa = ctx.Subject<IPageAllocator>();
        for (int i = 0; i < 500; i++)
        {
            ulong addr = pa.__get_free_pages(GFP_KERNEL, 3);
            var page = pa.virt_to_page(new kptr(addr));
            pa.get_page(page);
            pa.free_pages(addr, 3);
            pa.put_page(page);
        }
        ctx.Equal(free0, pa.nr_free_pages(), "500 rounds of get_page/free_pages/put_page leak nothing");
        ctx.Check(MemKit.Same(before, MemKit.BuddyInfo()), "and the free areas merged back", MemKit.Describe(before), MemKit.Describe(MemKit.BuddyInfo()));
    }

    [ConformanceTest("bad_page() in mm/page_alloc.c: freeing a page that is already free is reported (\"Bad page state\") and not put on a free list twice (B-6)")]
    public void double_free_of_a_page_is_reported_and_ignored(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var pa = ctx.Subject<IPageAllocator>();
        ulong free0 = pa.nr_free_pages();
        var p = pa.alloc_pages(GFP_KERNEL, 1);
        ctx.Check(p is not null, "alloc_pages succeeds");
        pa.__free_pages(p!, 1);
        var mark = MemKit.Now(ctx);
        ctx.Step("__free_pages(page, 1) a second time");
        pa.__free_pages(p!, 1);
        ctx.Check(MemKit.Detected(ctx, mark, "bad page", "double free", "already free", "double-free"),
            "a double __free_pages() is reported (bad_page: \"BUG: Bad page state\")", "a report or log line saying 'Bad page state' or 'double free'", "nothing reported");
        ctx.Equal(free0, pa.nr_free_pages(), "the second free is ignored: nr_free_pages() does not count the block twice");
        var a = pa.alloc_pages(GFP_KERNEL, 1);
        var b = pa.alloc_pages(GFP_KERNEL, 1);
        ctx.Check(a is not null && b is not null && !ReferenceEquals(a, b), "after a double free, two allocations never return the same block");
        pa.__free_pages(a!, 1);
        pa.__free_pages(b!, 1);
    }

    [ConformanceTest("bad_page() in mm/page_alloc.c: freeing a block with another order than it was allocated with is reported (B-6)")]
    public void free_with_the_wrong_order_is_reported(ConformanceContext ctx)
    {
        MemKit.AllowErrorReports(ctx);
        var pa = ctx.Subject<IPageAllocator>();
        ulong free0 = pa.nr_free_pages();
        var p = pa.alloc_pages(GFP_KERNEL, 2);
        ctx.Check(p is not null, "alloc_pages(order 2) succeeds");
        var mark = MemKit.Now(ctx);
        ctx.Step("__free_pages(page, 1) of an order-2 block");
        pa.__free_pages(p!, 1);
        ctx.Check(MemKit.Detected(ctx, mark, "bad page", "order"), "freeing an order-2 block with order 1 is reported", "a report or log line about the bad page / order", "nothing reported");
        pa.__free_pages(p!, 2);
        ctx.Equal(free0, pa.nr_free_pages(), "the block freed with the right order afterwards is whole again");
    }

    [ConformanceTest("__alloc_pages() in mm/page_alloc.c: exhaustion returns NULL, never throws; freeing recovers (conformance-notes §2)")]
    public void exhaustion_returns_null_and_frees_recover(ConformanceContext ctx)
    {
        ulong free0 = nr_free_pages();
        var before = MemKit.BuddyInfo();
        var blocks = Exhaust(ctx, GFP_KERNEL);
        blocks.AddRange(Exhaust(ctx, GFP_HIGHUSER));
        ctx.Check(alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is null, "once memory is exhausted, alloc_pages(GFP_KERNEL) returns NULL");
        ctx.Check(alloc_pages(GFP_HIGHUSER | __GFP_NOWARN, 0) is null, "once memory is exhausted, alloc_pages(GFP_HIGHUSER) returns NULL");
        ctx.Check(alloc_pages(GFP_NOWAIT | __GFP_NOWARN, MAX_PAGE_ORDER) is null, "and NULL for a large order too");
        FreeAll(blocks);
        ctx.Equal(free0, nr_free_pages(), "after freeing, every page is free again");
        ctx.Check(MemKit.Same(before, MemKit.BuddyInfo()), "and merged back to the initial free areas", MemKit.Describe(before), MemKit.Describe(MemKit.BuddyInfo()));
        var again = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
        ctx.Check(again is not null, "a MAX_PAGE_ORDER allocation succeeds again after recovery");
        __free_pages(again!, MAX_PAGE_ORDER);
    }

    // ---------------- property ----------------

    [ConformanceTest("mm/page_alloc.c invariants under a random trace: alignment, no overlap, zone placement, conservation (B-1, B-5, B-7, B-8)", Group = "property", Seed = 42)]
    public void random_trace_keeps_buddy_invariants(ConformanceContext ctx)
    {
        ulong total = nr_free_pages();
        var owned = new bool[Arch.max_pfn];
        var live = new List<Block>();
        ulong allocated = 0;
        var gfps = new[] { GFP_KERNEL, GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_HIGHUSER, GFP_KERNEL | __GFP_ZERO, GFP_NOWAIT };
        for (int op = 0; op < 3000; op++)
        {
            if (live.Count == 0 || ctx.Next(100) < 55)
            {
                var gfp = gfps[ctx.Next(gfps.Length)];
                int order = ctx.Next(8) == 0 ? ctx.Next(4, 7) : ctx.Next(0, 3);
                ctx.Step($"op {op}: alloc_pages({gfp}, {order})");
                var p = alloc_pages(gfp | __GFP_NOWARN, order);
                if (p is null)
                    continue;
                ulong pfn = page_to_pfn(p);
                ctx.Check((pfn & ((1UL << order) - 1)) == 0, $"op {op}: the block is aligned to its order", null, MemKit.Hex(pfn));
                int want = gfp_zone(gfp);
                ctx.Check((int)page_zone(p) <= want, $"op {op}: {gfp} was served from {page_zone(p)}, above its preferred zone {(zone_type)want} (zone fallback goes down only)");
                for (ulong i = 0; i < 1UL << order; i++)
                {
                    ctx.Check(!owned[pfn + i], $"op {op}: alloc_pages returned pfn {MemKit.Hex(pfn + i)}, which is still allocated (two live blocks overlap)");
                    owned[pfn + i] = true;
                }
                if ((gfp & __GFP_ZERO) != 0)
                    ctx.Check(ptr_span(page_address(p), PAGE_SIZE << order).IndexOfAnyExcept((byte)0) < 0, $"op {op}: __GFP_ZERO pages are zero");
                live.Add(new Block(p, order));
                allocated += 1UL << order;
            }
            else
            {
                int i = ctx.Next(live.Count);
                var b = live[i];
                live[i] = live[^1];
                live.RemoveAt(live.Count - 1);
                ctx.Step($"op {op}: __free_pages(pfn {MemKit.Hex(b.Page.pfn)}, {b.Order})");
                __free_pages(b.Page, b.Order);
                for (ulong k = 0; k < 1UL << b.Order; k++)
                    owned[b.Page.pfn + k] = false;
                allocated -= 1UL << b.Order;
            }
            if (op % 250 == 0)
                CheckConservation(ctx, op, total, allocated);
        }
        foreach (var b in live)
            __free_pages(b.Page, b.Order);
        CheckConservation(ctx, 3000, total, 0);
    }

    private static void CheckConservation(ConformanceContext ctx, int op, ulong total, ulong allocated)
    {
        ulong free = nr_free_pages();
        ctx.Equal(total, free + allocated, $"after op {op}: free pages + allocated pages == managed pages (B-5)");
        ulong sum = 0;
        for (int z = 0; z < MAX_NR_ZONES; z++)
            for (int o = 0; o <= MAX_PAGE_ORDER; o++)
                sum += zone_nr_free((zone_type)z, o) << o;
        ctx.Equal(free, sum, $"after op {op}: sum over zones and orders of nr_free[o] * 2^o == nr_free_pages()");
    }

    // ---------------- differential ----------------

    [ConformanceTest("__free_one_page() in mm/page_alloc.c against a bitmap model: the free areas are always the canonical buddy decomposition of the free pages (B-3, B-5)", Group = "differential", Seed = 7)]
    public void free_areas_match_the_bitmap_model(ConformanceContext ctx)
    {
        var owned = new bool[Arch.max_pfn];
        var live = new List<Block>();
        for (int op = 0; op < 1500; op++)
        {
            if (live.Count == 0 || ctx.Next(100) < 60)
            {
                int order = ctx.Next(0, 5);
                var gfp = ctx.Next(3) switch { 0 => GFP_DMA32, 1 => GFP_HIGHUSER, _ => GFP_KERNEL };
                ctx.Step($"op {op}: alloc_pages({gfp}, {order})");
                var p = alloc_pages(gfp | __GFP_NOWARN, order);
                if (p is null)
                    continue;
                for (ulong i = 0; i < 1UL << order; i++)
                    owned[p.pfn + i] = true;
                live.Add(new Block(p, order));
            }
            else
            {
                int i = ctx.Next(live.Count);
                var b = live[i];
                live.RemoveAt(i);
                ctx.Step($"op {op}: __free_pages(pfn {MemKit.Hex(b.Page.pfn)}, {b.Order})");
                __free_pages(b.Page, b.Order);
                for (ulong k = 0; k < 1UL << b.Order; k++)
                    owned[b.Page.pfn + k] = false;
            }
            if (op % 100 == 99)
            {
                var model = MemKit.CanonicalBuddyInfo(owned);
                var actual = MemKit.BuddyInfo();
                ctx.Check(MemKit.Same(model, actual), $"after op {op}: the free areas (zone_nr_free) equal the model's: every free buddy pair merged, nothing else",
                    MemKit.Describe(model), MemKit.Describe(actual));
            }
        }
        foreach (var b in live)
            __free_pages(b.Page, b.Order);
    }

    // ---------------- concurrency ----------------

    [ConformanceTest("zone->lock in mm/page_alloc.c: allocations on several CPUs and GFP_ATOMIC allocations in softirq context never hand out a block twice", Group = "concurrency", Seed = 3, Cpus = 4)]
    public void concurrent_allocations_with_atomic_softirq_allocations(ConformanceContext ctx)
    {
        ulong free0 = nr_free_pages();
        var owner = new Dictionary<ulong, string>();
        string? error = null;
        void Claim(page p, int order, string who)
        {
            for (ulong i = 0; i < 1UL << order; i++)
            {
                if (owner.TryGetValue(p.pfn + i, out var other))
                    error ??= $"{who} got pfn {MemKit.Hex(p.pfn + i)} while {other} still owns it";
                owner[p.pfn + i] = who;
            }
        }
        void Release(page p, int order)
        {
            for (ulong i = 0; i < 1UL << order; i++)
                owner.Remove(p.pfn + i);
        }

        const int Workers = 3;
        var done = new completion();
        init_completion(done);
        for (int w = 0; w < Workers; w++)
        {
            int id = w;
            kthread_run(_ =>
            {
                var mine = new List<Block>();
                ulong state = (ulong)(id + 1) * 0x9E3779B97F4A7C15UL ^ ctx.Seed;
                for (int op = 0; op < 300; op++)
                {
                    state = state * 6364136223846793005UL + 1442695040888963407UL;
                    int r = (int)(state >> 33);
                    if (mine.Count == 0 || r % 3 != 0)
                    {
                        int order = r % 4;
                        var p = alloc_pages(GFP_KERNEL, order);
                        if (p is null)
                            continue;
                        Claim(p, order, $"worker {id}");
                        mine.Add(new Block(p, order));
                    }
                    else
                    {
                        var b = mine[r % mine.Count];
                        mine.Remove(b);
                        Release(b.Page, b.Order);
                        __free_pages(b.Page, b.Order);
                    }
                }
                foreach (var b in mine)
                {
                    Release(b.Page, b.Order);
                    __free_pages(b.Page, b.Order);
                }
                complete(done);
                return 0;
            }, null, $"pa-worker/{w}");
        }
        var timer = new timer_list();
        int fired = 0;
        var held = new List<Block>();
        timer_setup(timer, t =>
        {
            fired++;
            // Softirq context: only GFP_ATOMIC.
            var p = alloc_pages(GFP_ATOMIC, fired % 3);
            if (p is not null)
            {
                Claim(p, fired % 3, "timer softirq");
                held.Add(new Block(p, fired % 3));
            }
            if (held.Count > 4)
            {
                var b = held[0];
                held.RemoveAt(0);
                Release(b.Page, b.Order);
                __free_pages(b.Page, b.Order);
            }
            if (fired < 200)
                mod_timer(t, jiffies + 1);
        }, 0);
        mod_timer(timer, jiffies + 1);
        for (int w = 0; w < Workers; w++)
            wait_for_completion(done);
        del_timer_sync(timer);
        foreach (var b in held)
        {
            Release(b.Page, b.Order);
            __free_pages(b.Page, b.Order);
        }
        ctx.Check(error is null, "no block is handed to two owners at once (the free lists are protected against other CPUs and interrupts)", "distinct blocks", error);
        ctx.Check(fired > 0, "the timer ran in softirq context during the test");
        ctx.Equal(free0, nr_free_pages(), "after every owner freed its blocks, every page is free again");
    }

    // ---------------- performance ----------------

    [ConformanceTest("mm/page_alloc.c under malloc-lab-style traces: fragmentation (free memory usable for order-3 requests) and deterministic cost, as ratios to the reference", Group = "performance", TimeoutMs = 60_000)]
    public void trace_performance_relative_to_the_reference(ConformanceContext ctx)
    {
        var subjectType = ctx.Subject<IPageAllocator>().GetType();
        var student = PageTraces.Measure(() => (IPageAllocator)Activator.CreateInstance(subjectType)!);
        ctx.Check(student.Error is null, "the traces run without errors (an error scores 0, as in mdriver)", "no error", student.Error);
        var reference = PageTraces.Measure(() => new KernelHarness.Reference.PageAllocator.ReferencePageAllocator());
        ctx.RecordMetric("utilization", reference.Usable <= 0 ? 1 : student.Usable / reference.Usable);
        ctx.RecordMetric("throughput", student.Cost <= 0 ? 1 : reference.Cost / student.Cost);
    }
}
