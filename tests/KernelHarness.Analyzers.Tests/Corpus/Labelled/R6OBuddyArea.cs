// The free-area core of a student's IPageAllocator: per-zone buddy lists under a zone spinlock, split and
// merge helpers, an order map (metadata) grown on hot-add. Holds lock leaks, GFP choices under the lock, free orders.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6OBuddyArea;

public sealed class free_zone
{
    public readonly spinlock_t zlock = new();
    public readonly page?[] free_head = new page?[NR_PAGE_ORDERS];
    public readonly ulong[] nr_free = new ulong[NR_PAGE_ORDERS];
    public page[] mem_map = new page[0];
    public ulong start_pfn;
    public ulong spanned;
    public ulong min_free;
    public kptr order_map;      // one byte per pfn: the order of the free block starting there, NO_BLOCK otherwise
    public ulong map_bytes;
}

public sealed class BuddyArea
{
    private const byte NO_BLOCK = 0xff;

    private readonly free_zone[] zones;
    private readonly int[] last_zone;
    private readonly mutex grow_mutex = new();
    private readonly work_struct compact_work = new();
    private readonly timer_list watermark_timer = new();
    private int compact_target_order = 3;

    public BuddyArea(free_zone[] zs)
    {
        zones = zs;
        last_zone = new int[nr_cpu_ids];
        INIT_WORK(compact_work, compact_work_fn);
        timer_setup(watermark_timer, watermark_timer_fn, 0);
        mod_timer(watermark_timer, jiffies + HZ);
    }

    [Acquires("z.zlock")]
    private static void lock_zone(free_zone z) => spin_lock(z.zlock); // ok: KH2003 [Acquires] helper: returning with the lock held is its contract

    [Releases("z.zlock")]
    private static void unlock_zone(free_zone z) => spin_unlock(z.zlock); // ok: KH2003 [Releases] helper: releases the lock its caller took

    private static void set_map(free_zone z, ulong pfn, byte v)
    {
        if (z.order_map != NULL && pfn - z.start_pfn < z.map_bytes)
            ptr_ref<byte>(z.order_map + (pfn - z.start_pfn)) = v;
    }

    private static void add_to_free_list(free_zone z, page pg, int order)
    {
        pg.flags |= PG_buddy;
        pg.@private = (ulong)order;
        pg.lru_prev = null;
        pg.lru_next = z.free_head[order];
        if (pg.lru_next != null) pg.lru_next.lru_prev = pg;
        z.free_head[order] = pg;
        z.nr_free[order]++;
        set_map(z, pg.pfn, (byte)order);
    }

    private static void del_from_free_list(free_zone z, page pg, int order)
    {
        if (pg.lru_prev != null) pg.lru_prev.lru_next = pg.lru_next;
        else z.free_head[order] = pg.lru_next;
        if (pg.lru_next != null) pg.lru_next.lru_prev = pg.lru_prev;
        pg.lru_next = pg.lru_prev = null;
        pg.flags &= ~PG_buddy;
        z.nr_free[order]--;
        set_map(z, pg.pfn, NO_BLOCK);
    }

    // Split: gives the upper halves of a block of order high back to the lists until it is of order low.
    private static void expand(free_zone z, page pg, int low, int high)
    {
        ulong idx = pg.pfn - z.start_pfn;
        while (high-- > low)
            add_to_free_list(z, z.mem_map[idx + (1UL << high)], high);
    }

    private static page? rmqueue_locked(free_zone z, int order)
    {
        for (int o = order; o < NR_PAGE_ORDERS; o++)
        {
            page? pg = z.free_head[o];
            if (pg == null) continue;
            del_from_free_list(z, pg, o);
            expand(z, pg, order, o);
            return pg;
        }
        return null;
    }

    // Merge: frees a block, coalescing with its buddy while the buddy is free and of the same order.
    private static void merge_locked(free_zone z, page pg, int order)
    {
        ulong idx = pg.pfn - z.start_pfn;
        while (order < MAX_PAGE_ORDER)
        {
            ulong buddy_idx = idx ^ (1UL << order);
            if (buddy_idx >= z.spanned) break;
            page buddy = z.mem_map[buddy_idx];
            if ((buddy.flags & PG_buddy) == 0 || buddy.@private != (ulong)order) break;
            del_from_free_list(z, buddy, order);
            idx &= buddy_idx;
            order++;
        }
        add_to_free_list(z, z.mem_map[idx], order);
    }

    private static ulong count_free_locked(free_zone z)
    {
        ulong pages = 0;
        for (int o = 0; o < NR_PAGE_ORDERS; o++)
            pages += z.nr_free[o] << o;
        return pages;
    }

    public page? alloc_block(free_zone z, int order)
    {
        if (order > MAX_PAGE_ORDER) return null;
        lock_zone(z); // ok: KH2003 [Acquires] helper, undone by unlock_zone on both paths below
        page? pg = rmqueue_locked(z, order);
        if (pg != null) pg._refcount = 1;
        unlock_zone(z);
        return pg;
    }

    // Takes a block off the lists for a caller that maps it later: 0, -EINVAL or -ENOMEM.
    public int reserve_block(free_zone z, int order, out page? result)
    {
        result = null;
        if (order > MAX_PAGE_ORDER)
            return -EINVAL;
        spin_lock(z.zlock); // expect: KH2003 (the -ENOMEM return below leaves z.zlock held)
        page? pg = rmqueue_locked(z, order);
        if (pg == null)
            return -ENOMEM;
        pg._refcount = 1;
        pg.flags |= PG_reserved;
        spin_unlock(z.zlock);
        result = pg;
        return 0;
    }

    // Memory offline: takes one free block of the given order out of the zone for good.
    public int offline_block(free_zone z, int order)
    {
        int err = 0;
        if (order > MAX_PAGE_ORDER)
        {
            err = -EINVAL;
            goto out_unlock;
        }
        spin_lock(z.zlock);
        page? pg = z.free_head[order];
        if (pg == null) err = -EBUSY;
        else del_from_free_list(z, pg, order);
    out_unlock:
        spin_unlock(z.zlock); // expect: KH2003 (the order > MAX_PAGE_ORDER path jumps here before z.zlock is taken: release of a lock not held)
        return err;
    }

    private static kptr alloc_order_map(ulong span, gfp_t gfp)
    {
        kptr map = kzalloc(span, gfp); // ok: KH1002 gfp is this helper's parameter: the callers are checked
        if (map != NULL) memset(map, NO_BLOCK, span);
        return map;
    }

    // Rebuilds the order map from the free lists; the caller holds z.zlock and chooses the flags.
    private static int rebuild_map_locked(free_zone z, gfp_t gfp)
    {
        kptr map = alloc_order_map(z.spanned, gfp); // ok: KH1002 the caller's gfp passed through to the allocating helper
        if (map == NULL) return -ENOMEM;
        kptr old = z.order_map;
        z.order_map = map;
        z.map_bytes = z.spanned;
        for (int o = 0; o < NR_PAGE_ORDERS; o++)
            for (page? pg = z.free_head[o]; pg != null; pg = pg.lru_next)
                set_map(z, pg.pfn, (byte)o);
        kfree(old);
        return 0;
    }

    // Hot-add: pages right after the zone's end join the zone; the bigger order map is allocated first.
    public int online_range(free_zone z, page[] added)
    {
        ulong new_span = z.spanned + (ulong)added.Length;
        kptr map = kzalloc(new_span, GFP_KERNEL); // ok: KH1002 allocated before the zone lock is taken
        if (map == NULL)
            return -ENOMEM; // ok: KH3004 map is NULL on this path: nothing to free
        memset(map, NO_BLOCK, new_span);
        spin_lock(z.zlock);
        if (added.Length == 0 || added[0].pfn != z.start_pfn + z.spanned)
        {
            spin_unlock(z.zlock);
            return -EINVAL; // expect: KH3004 (map is neither freed nor stored on this error path)
        }
        if (z.order_map != NULL) memcpy(map, z.order_map, z.map_bytes);
        kptr old = z.order_map;
        z.order_map = map;
        z.map_bytes = new_span;
        page[] grown = new page[new_span];
        z.mem_map.CopyTo(grown, 0);
        added.CopyTo(grown, (int)z.spanned);
        z.mem_map = grown;
        z.spanned = new_span;
        foreach (page pg in added)
            merge_locked(z, pg, 0);
        spin_unlock(z.zlock);
        kfree(old);
        return 0;
    }

    public void set_min_free(free_zone z, ulong pages)
    {
        spin_lock(z.zlock);
        z.min_free = pages;
        if (count_free_locked(z) < pages)
        {
            mutex_lock(grow_mutex); // expect: KH1001 (mutex_lock may sleep while spinlock z.zlock is held)
            compact_target_order = 0;
            mutex_unlock(grow_mutex);
        }
        mdelay(1); // ok: KH1001 busy wait, allowed with a spinlock held
        spin_unlock(z.zlock);
    }

    public int grow_target(int by)
    {
        mutex_lock(grow_mutex); // expect: KH2003 (the -EINVAL return leaves grow_mutex held)
        if (by <= 0 || compact_target_order + by > MAX_PAGE_ORDER)
            return -EINVAL;
        compact_target_order += by;
        mutex_unlock(grow_mutex);
        return 0;
    }

    private static bool zone_trylock(free_zone z)
    {
        if (z.spanned == 0) return false;
        return spin_trylock(z.zlock);
    }

    public ulong peek_free(free_zone z)
    {
        if (!zone_trylock(z))
            return 0; // ok: KH2003 zone_trylock holds the lock only when it returns true
        ulong n = count_free_locked(z);
        spin_unlock(z.zlock);
        return n;
    }

    public int hot_zone_hint()
    {
        preempt_disable(); // expect: KH2001 (the early return -ENODEV leaves preemption disabled)
        int cpu = smp_processor_id();
        if (last_zone[cpu] >= zones.Length) return -ENODEV;
        int idx = last_zone[cpu];
        preempt_enable();
        return idx;
    }

    public int dump_free_list(free_zone z, int order)
    {
        local_irq_disable(); // expect: KH2002 (the -EINVAL return leaves interrupts disabled)
        if (order > MAX_PAGE_ORDER) return -EINVAL;
        int n = 0;
        spin_lock(z.zlock);
        for (page? pg = z.free_head[order]; pg != null; pg = pg.lru_next) n++;
        spin_unlock(z.zlock);
        local_irq_enable();
        pr_info($"buddy: order {order}: {n} blocks");
        return n;
    }

    // Self-test of the zone modifiers and orders on real blocks, run from the compaction work.
    private int selftest_orders()
    {
        int err = 0;
        ulong a = __get_free_pages(GFP_KERNEL | __GFP_DMA, 2); // ok: KH1004 GFP_KERNEL with the one zone modifier __GFP_DMA
        if (a == 0)
            return -ENOMEM;
        memset((kptr)a, 0, PAGE_SIZE << 2);
        page? b = alloc_pages(GFP_KERNEL | __GFP_DMA32, 1); // ok: KH1004 __GFP_DMA32 alone is a valid zone modifier for the page allocator
        if (b == null)
            return -ENOMEM; // expect: KH3004 (the order-2 block at a is neither freed nor stored on this path)
        page? lo = alloc_pages(GFP_KERNEL | __GFP_DMA | __GFP_DMA32, 0); // expect: KH1004 (two zone modifiers: __GFP_DMA with __GFP_DMA32)
        if (lo != null)
            __free_pages(lo, 0);
        if (page_zone(b) != zone_type.ZONE_DMA32)
        {
            free_pages(a, 2);
            err = -EIO;
        }
        __free_pages(b, 1); // ok: KH3001 same constant order as the allocation
        free_pages(a, 2); // expect: KH3003 (a was already freed on the -EIO path)
        ulong buf = __get_free_pages(GFP_KERNEL, 2);
        if (buf == 0)
            return -ENOMEM;
        free_pages(buf, 1); // expect: KH3001 (buf came from __get_free_pages of order 2, freed with order 1)
        return err;
    }

    private page? grab_scan_page() => alloc_pages(GFP_ATOMIC, 0); // expect: KH1003 (called only from the compaction work, with nothing held)

    // Timer (softirq): checks the watermarks without waiting for a busy zone.
    private void watermark_timer_fn(timer_list t)
    {
        foreach (free_zone z in zones)
        {
            if (spin_trylock(z.zlock)) // ok: KH2003 balanced conditional locking: unlocked inside the taken branch
            {
                ulong free = count_free_locked(z);
                if (z.map_bytes != z.spanned)
                    rebuild_map_locked(z, GFP_ATOMIC); // ok: KH1002 GFP_ATOMIC passed with the zone lock held in softirq context
                spin_unlock(z.zlock);
                if (free < z.min_free) schedule_work(compact_work);
            }
        }
        mod_timer(watermark_timer, jiffies + HZ / 10);
    }

    // Work item (process context).
    private void compact_work_fn(work_struct w)
    {
        foreach (free_zone z in zones)
        {
            spin_lock(z.zlock);
            int err = rebuild_map_locked(z, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL passed to a helper that allocates with it while z.zlock is held)
            kptr note = kmalloc(32, GFP_ATOMIC); // ok: KH1003 z.zlock is held here: atomic even in a work item
            spin_unlock(z.zlock);
            if (err != 0) pr_warn("buddy: order map rebuild failed");
            kfree(note);
        }
        kptr scan = kcalloc(NR_PAGE_ORDERS, 8, GFP_ATOMIC); // expect: KH1003 (work item: process context with nothing held)
        if (scan == NULL) return;
        page? tmp = grab_scan_page();
        if (tmp != null) __free_pages(tmp, 0);
        mutex_lock(grow_mutex); // ok: KH1001 work item: process context, no spinlock held
        ptr_ref<ulong>(scan) = (ulong)compact_target_order;
        mutex_unlock(grow_mutex);
        if (selftest_orders() != 0) pr_err("buddy: self-test failed");
        kfree(scan);
    }
}
