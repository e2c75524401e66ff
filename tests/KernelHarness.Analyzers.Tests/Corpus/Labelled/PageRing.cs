// A page-buffer ring for a capture card: __get_free_pages slots, a vmalloc'd descriptor map, a bounce page
// and a user mapping. Holds order and allocator mismatches, unchecked page/vmalloc memory, double frees and a leak.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.PageRing;

public struct ring_desc
{
    public ulong addr;
    public uint len;
    public uint flags;
}

public sealed class CaptureRing
{
    private const int RING_ORDER = 2;
    private const int NR_SLOTS = 8;
    private const ulong DESC_SIZE = 16;

    private readonly ulong[] slots = new ulong[NR_SLOTS];
    private readonly spinlock_t ring_lock = new();
    private readonly tasklet_struct drain_tasklet = new();
    private int slot_order = RING_ORDER;
    private kptr desc_map;
    private page? bounce;
    private int head;
    private int tail;
    private ulong dropped;
    private ulong user_base;

    public int ring_setup(int order)
    {
        slot_order = order;
        var map = vzalloc(NR_SLOTS * DESC_SIZE);
        if (map == NULL)
            return -ENOMEM;
        for (int i = 0; i < NR_SLOTS; i++)
        {
            ulong addr = __get_free_pages(GFP_KERNEL, slot_order);
            if (addr == 0)
            {
                while (--i >= 0)
                {
                    free_pages(slots[i], slot_order); // ok: KH3001 (order is a variable, not a constant: not compared)
                    slots[i] = 0;
                }
                vfree(map); // ok: KH3001 (vzalloc memory freed with vfree)
                return -ENOMEM; // ok: KH3004 (map is freed above and every slot already stored was released)
            }
            slots[i] = addr;
            ref var d = ref ptr_ref<ring_desc>(map + (ulong)i * DESC_SIZE);
            d.addr = addr;
            d.len = (uint)(PAGE_SIZE << slot_order);
        }
        var pg = alloc_pages(GFP_KERNEL, 1);
        if (pg == null)
        {
            release_slots();
            return -ENOMEM; // expect: KH3004 (the vzalloc'd descriptor map is neither freed nor stored on this path)
        }
        bounce = pg;
        desc_map = map;
        tasklet_setup(drain_tasklet, t => drain());
        return 0;
    }

    private void release_slots()
    {
        for (int i = 0; i < NR_SLOTS; i++)
        {
            if (slots[i] != 0)
                free_pages(slots[i], slot_order);
            slots[i] = 0;
        }
    }

    public int calibrate()
    {
        ulong probe_buf = __get_free_pages(GFP_KERNEL, 2);
        if (probe_buf == 0)
            return -ENOMEM;
        memset((kptr)probe_buf, 0x5a, PAGE_SIZE << 2); // ok: KH3002 (probe_buf was checked against 0 above)
        int drift = ptr_ref<int>((kptr)probe_buf);
        free_pages(probe_buf, 1); // expect: KH3001 (allocated with order 2, freed with constant order 1)
        return drift;
    }

    public int fill_test_pattern()
    {
        ulong big = __get_free_pages(GFP_KERNEL, RING_ORDER);
        if (big == 0)
            return -ENOMEM;
        memset((kptr)big, 0xff, PAGE_SIZE << RING_ORDER);
        var page_buf = (kptr)__get_free_page(GFP_KERNEL);
        memcpy(page_buf, (kptr)big, PAGE_SIZE); // expect: KH3002 (__get_free_page can fail; page_buf is written without a check)
        free_page((ulong)page_buf);
        free_pages(big, RING_ORDER); // ok: KH3001 (same constant order as the allocation)
        return 0;
    }

    public int snapshot_descs()
    {
        ulong len = NR_SLOTS * DESC_SIZE;
        var copy = vmalloc(len);
        var view = ptr_span(copy, len); // expect: KH3002 (vmalloc can return NULL; ptr_span before any check)
        spin_lock_bh(ring_lock);
        int n = (head - tail + NR_SLOTS) % NR_SLOTS;
        ptr_span(desc_map, len).CopyTo(view);
        spin_unlock_bh(ring_lock);
        vfree(copy);
        return n;
    }

    public int rebuild_descs()
    {
        ulong len = NR_SLOTS * DESC_SIZE;
        var tmp = kmalloc(len, GFP_KERNEL);
        if (tmp == NULL)
            return -ENOMEM;
        memcpy(tmp, desc_map, len);
        for (int i = 0; i < NR_SLOTS; i++)
            ptr_ref<ring_desc>(tmp + (ulong)i * DESC_SIZE).flags = 0;
        memcpy(desc_map, tmp, len);
        vfree(tmp); // expect: KH3001 (kmalloc memory freed with vfree)
        return 0;
    }

    public int resize_map(ulong entries)
    {
        if (entries < NR_SLOTS)
            return -EINVAL;
        var map = vmalloc(entries * DESC_SIZE);
        if (map == NULL)
            return -ENOMEM;
        var cursor = map;
        memset(cursor, 0, entries * DESC_SIZE);
        if (entries == NR_SLOTS)
        {
            kfree(cursor); // expect: KH3001 (cursor aliases vmalloc memory, freed with kfree)
            return 0;
        }
        memcpy(map, desc_map, NR_SLOTS * DESC_SIZE);
        kvfree(desc_map); // ok: KH3001 (kvfree accepts vzalloc/vmalloc memory)
        desc_map = map;
        return 0;
    }

    public int scrub_slot(int idx)
    {
        ulong tmp = __get_free_pages(GFP_KERNEL, RING_ORDER);
        if (tmp == 0)
            return -ENOMEM;
        int err = 0;
        spin_lock_bh(ring_lock);
        ulong cur = slots[idx];
        spin_unlock_bh(ring_lock);
        if (cur == 0)
        {
            err = -EINVAL;
            goto out_free;
        }
        memcpy((kptr)tmp, (kptr)cur, PAGE_SIZE << RING_ORDER);
        memset((kptr)cur, 0, PAGE_SIZE << RING_ORDER);
        free_pages(tmp, RING_ORDER);
    out_free:
        free_pages(tmp, RING_ORDER); // expect: KH3003 (on the success path tmp was already freed just before out_free)
        return err;
    }

    public int stage_bounce(ulong len)
    {
        var staging = vmalloc(len);
        if (staging == NULL)
            return -ENOMEM;
        var alias = staging;
        memset(staging, 0, len);
        vfree(staging);
        vfree(alias); // expect: KH3003 (alias points to the same vmalloc memory, already freed)
        return 0;
    }

    public int stage_frames(ulong frames)
    {
        ulong len = frames * PAGE_SIZE;
        var stage = vmalloc(len);
        if (stage == NULL)
            return -ENOMEM;
        memset(stage, 0, len);
        if (frames > NR_SLOTS)
        {
            // Too big for one pass: fall back to a single slot's worth.
            vfree(stage);
            len = PAGE_SIZE << RING_ORDER;
            stage = vzalloc(len);
            if (stage == NULL)
                return -ENOMEM;
        }
        spin_lock_bh(ring_lock);
        ulong first = slots[0];
        if (first != 0)
            memcpy(stage, (kptr)first, PAGE_SIZE);
        spin_unlock_bh(ring_lock);
        vfree(stage); // ok: KH3003 (on the fallback path stage was reassigned to a fresh vzalloc after the first free)
        return 0;
    }

    public int swap_bounce()
    {
        var pg = alloc_pages(GFP_KERNEL | __GFP_ZERO, 1);
        if (pg == null)
            return -ENOMEM;
        var old = bounce;
        bounce = pg;
        if (old != null)
            __free_pages(old, 1);
        return 0;
    }

    public int probe_order(int order)
    {
        var pg = alloc_pages(GFP_KERNEL, 3);
        if (pg == null)
            return -ENOMEM;
        var va = page_address(pg);
        memset(va, 0, PAGE_SIZE << 3);
        __free_pages(pg, 3); // ok: KH3001 (same constant order as alloc_pages)
        ulong addr = __get_free_pages(GFP_KERNEL, order);
        if (addr == 0)
            return -ENOMEM;
        bool clean = ptr_ref<uint>((kptr)addr) == 0; // ok: KH3002 (addr was checked against 0 just above)
        if (clean)
        {
            memset((kptr)addr, 0, PAGE_SIZE);
            free_pages(addr, order);
        }
        else
        {
            pr_warn("capring: dirty page from the buddy allocator\n");
            free_pages(addr, order); // ok: KH3003 (this free and the one above are on disjoint branches)
        }
        return 0;
    }

    // Softirq: copy the newest slot into the bounce page.
    private void drain()
    {
        var scratch = kmalloc(DESC_SIZE, GFP_ATOMIC);
        if (scratch == NULL)
        {
            dropped++;
            return;
        }
        memset(scratch, 0, DESC_SIZE); // ok: KH3002 (checked above, with an early return)
        spin_lock(ring_lock);
        int idx = tail;
        tail = (tail + 1) % NR_SLOTS;
        spin_unlock(ring_lock);
        var dst = bounce;
        if (dst != null && slots[idx] != 0)
            memcpy(page_address(dst), (kptr)slots[idx], PAGE_SIZE);
        kfree(scratch);
    }

    public int map_to_user()
    {
        if (current.mm == init_mm) // expect: KH6001 (no task's mm is init_mm; a kernel thread has mm == null)
            return -EPERM;
        ulong len = (ulong)NR_SLOTS * (PAGE_SIZE << RING_ORDER);
        ulong addr = do_mmap(null, 0, len, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, 0);
        if (IS_ERR_VALUE(addr))
            return -ENOMEM;
        user_base = addr;
        return 0;
    }

    public int unmap_from_user()
    {
        if (current.mm == null) // ok: KH6001 (the correct kernel-thread test)
            return -EPERM;
        if (user_base == 0)
            return -EINVAL;
        int err = vm_munmap(user_base, (ulong)NR_SLOTS * (PAGE_SIZE << RING_ORDER));
        user_base = 0;
        return err;
    }

    public void ring_teardown()
    {
        tasklet_kill(drain_tasklet);
        release_slots();
        vfree(desc_map); // ok: KH3001 (desc_map only ever holds vzalloc/vmalloc memory)
        desc_map = NULL;
        if (bounce != null)
            __free_pages(bounce, 1);
        bounce = null;
    }
}
